//! `marrow drivers`: import, list, remove and match Windows driver packages.

use std::io::IsTerminal;
use std::path::PathBuf;

use driver_store::{excluded_matches, rank};
use driver_store::{Device, PciDevice, TargetOs, UsbDevice};
use driver_store::{ImportProgress, Store};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::Global;
use crate::error::{Error, Result};

#[derive(Debug, clap::Subcommand)]
pub enum DriversCommand {
    /// Import the driver packages in a directory or ZIP file.
    Add {
        /// Directories or ZIP files; every folder holding an .inf is a package.
        #[arg(required = true)]
        sources: Vec<PathBuf>,
        /// Windows the packages are for: win10-x64, win11-x64, win11-arm64,
        /// win10-x86, ws2022-x64, ... (repeat for several).
        #[arg(long = "os", required = true)]
        os: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List the stored packages.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove packages by id (or unique id prefix) or name.
    Remove {
        #[arg(required = true)]
        packages: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show which packages would be injected for the given devices, and why.
    Match {
        /// A PCI device: VVVV:DDDD[:SSSS:ssss][@RR][/CCSSPP] (vendor, device,
        /// subsystem vendor and id, revision, class code).
        #[arg(long = "pci")]
        pci: Vec<String>,
        /// A USB device: VVVV:PPPP[@RRRR][/CCSSPP].
        #[arg(long = "usb")]
        usb: Vec<String>,
        /// A registered host (MAC or name), using the hardware its client reported.
        #[arg(long, conflicts_with_all = ["pci", "usb", "inventory"])]
        host: Option<String>,
        /// A machine inventory as `marrow-client inventory --json` prints it:
        /// every PCI and USB device in it.
        #[arg(long, conflicts_with_all = ["pci", "usb"])]
        inventory: Option<PathBuf>,
        /// The Windows to match for, e.g. win11-x64.
        #[arg(long = "os", required = true)]
        os: String,
        #[arg(long)]
        json: bool,
    },
}

fn store(global: &Global) -> Result<Store> {
    Ok(Store::open(&global.dirs().drivers())?)
}

/// A file counter on stderr when it is a terminal; nothing in a pipe.
struct ImportBar(Option<ProgressBar>);

impl ImportBar {
    fn new() -> ImportBar {
        if !std::io::stderr().is_terminal() {
            return ImportBar(None);
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("  import {spinner} {pos} files, {msg}")
                .expect("valid template"),
        );
        ImportBar(Some(bar))
    }
}

impl ImportProgress for ImportBar {
    fn file(&self, path: &std::path::Path, _bytes: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
            bar.set_message(path.display().to_string());
        }
    }
}

impl Drop for ImportBar {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

fn targets(names: &[String]) -> Result<Vec<TargetOs>> {
    Ok(names
        .iter()
        .map(|n| n.parse::<TargetOs>())
        .collect::<Result<_, _>>()?)
}

pub fn run(global: &Global, cmd: DriversCommand) -> Result<()> {
    match cmd {
        DriversCommand::Add { sources, os, json } => add(global, &sources, &os, json),
        DriversCommand::List { json } => list(global, json),
        DriversCommand::Remove { packages, json } => remove(global, &packages, json),
        DriversCommand::Match {
            pci,
            usb,
            host,
            inventory,
            os,
            json,
        } => {
            let target: TargetOs = os.parse()?;
            let mut devices = Vec::new();
            if let Some(host) = &host {
                devices = host_devices(global, host)?;
            }
            if let Some(path) = &inventory {
                let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
                devices = driver_store::devices_from_inventory(&text)?;
            }
            for p in &pci {
                devices.push(Device::Pci(p.parse::<PciDevice>()?));
            }
            for u in &usb {
                devices.push(Device::Usb(u.parse::<UsbDevice>()?));
            }
            if devices.is_empty() {
                return Err(Error::Usage(
                    "marrow drivers match needs --pci, --usb, --inventory or --host (and found no device)".into(),
                ));
            }
            match_devices(global, &devices, &target, json)
        }
    }
}

/// The devices of a host's last reported inventory.
fn host_devices(global: &Global, host: &str) -> Result<Vec<Device>> {
    let db = crate::db::Db::open_for_reading(&global.dirs().db())?;
    let mac = match host.parse::<marrow_protocol::MacAddr>() {
        Ok(mac) => mac,
        Err(_) => {
            db.hosts()
                .by_name(host)?
                .ok_or_else(|| {
                    Error::Usage(format!("no host named {host:?} (and it is not a MAC)"))
                })?
                .mac
        }
    };
    let (inventory, _) = db.hosts().inventory(mac)?.ok_or_else(|| {
        Error::Usage(format!(
            "host {mac} has reported no inventory yet; it reports one each time the Marrow client boots on it"
        ))
    })?;
    Ok(driver_store::devices_from_inventory(&inventory)?)
}

fn add(global: &Global, sources: &[PathBuf], os: &[String], json: bool) -> Result<()> {
    let targets = targets(os)?;
    let mut store = store(global)?;
    let mut report = Vec::new();
    for source in sources {
        let bar = ImportBar::new();
        let imported = store.add(source, &targets, &bar)?;
        drop(bar);
        for i in imported {
            if !json {
                let p = &i.package;
                println!(
                    "{} {}  {}  {} file(s), {} bytes, for {}",
                    if i.newly_stored { "stored " } else { "already" },
                    p.id.short(),
                    p.name,
                    p.files,
                    p.bytes,
                    p.os.join(", ")
                );
                for inf in &p.infs {
                    for note in &inf.notes {
                        eprintln!(
                            "marrow: note: package {} ({}) {}: {note}",
                            p.id.short(),
                            p.name,
                            inf.path
                        );
                    }
                }
                for problem in p.problems() {
                    eprintln!("marrow: warning: package {} ({}) is broken and will not be matched: {problem}", p.id.short(), p.name);
                }
            }
            report.push(json!({
                "package": i.package,
                "newly_stored": i.newly_stored,
                "broken": i.package.broken(),
            }));
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "imported": report })).unwrap()
        );
    }
    Ok(())
}

fn list(global: &Global, json: bool) -> Result<()> {
    let packages = store(global)?.list()?;
    if json {
        let list: Vec<_> = packages
            .iter()
            .map(|p| json!({ "package": p, "broken": p.broken() }))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "packages": list })).unwrap()
        );
        return Ok(());
    }
    if packages.is_empty() {
        println!("no driver packages");
        return Ok(());
    }
    println!(
        "{:<12}  {:<28}  {:<10}  {:<22}  {:>6}  status",
        "id", "name", "class", "os", "models"
    );
    for p in &packages {
        let class = p
            .infs
            .iter()
            .filter_map(|i| i.class.clone())
            .next()
            .unwrap_or_default();
        let models: usize = p.infs.iter().map(|i| i.models).sum();
        let status = if p.broken() { "broken" } else { "ok" };
        println!(
            "{:<12}  {:<28}  {:<10}  {:<22}  {:>6}  {status}",
            p.id.short(),
            p.name,
            class,
            p.os.join(","),
            models
        );
        for problem in p.problems() {
            println!("{:14}{problem}", "");
        }
    }
    Ok(())
}

fn remove(global: &Global, keys: &[String], json: bool) -> Result<()> {
    let mut store = store(global)?;
    let mut removed = Vec::new();
    for key in keys {
        let p = store.remove(key)?;
        if !json {
            println!("removed {}  {}", p.id.short(), p.name);
        }
        removed.push(p);
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "removed": removed })).unwrap()
        );
    }
    Ok(())
}

fn match_devices(global: &Global, devices: &[Device], target: &TargetOs, json: bool) -> Result<()> {
    let store = store(global)?;
    let ids: Vec<_> = devices.iter().map(Device::ids).collect();
    let loaded = store.load(target, Some(&ids))?;
    let names: std::collections::BTreeMap<String, String> = store
        .list()?
        .into_iter()
        .map(|p| (p.id.short(), p.name))
        .collect();
    let mut out = Vec::new();
    for (device, ids) in devices.iter().zip(&ids) {
        let candidates = rank(ids, &loaded.index);
        if json {
            out.push(json!({
                "device": device.to_string(),
                "hardware_ids": ids.hardware_ids,
                "compatible_ids": ids.compatible_ids,
                "candidates": candidates.iter().map(|c| json!({
                    "package": c.package,
                    "inf": c.inf,
                    "matched_id": c.matched_id,
                    "rank": c.rank,
                    "reason": c.reason,
                })).collect::<Vec<_>>(),
            }));
            continue;
        }
        println!("{device}  (for {target})");
        println!("  hardware IDs:   {}", ids.hardware_ids.join("  "));
        println!("  compatible IDs: {}", ids.compatible_ids.join("  "));
        if candidates.is_empty() {
            println!("  nothing to inject");
        }
        for (n, c) in candidates.iter().enumerate() {
            let name = names.get(&c.package).map(String::as_str).unwrap_or("");
            let pick = if n == 0 { "inject" } else { "      " };
            println!(
                "  {pick} {} {name}  {}  rank 0x{:08X}",
                c.package, c.inf, c.rank
            );
            println!("         {}", c.reason);
        }
        for e in excluded_matches(ids, &loaded.index) {
            let name = names.get(&e.package).map(String::as_str).unwrap_or("");
            println!("  not for {target}: {} {name}: {}", e.package, e.reason);
        }
        let own: Vec<String> = ids
            .hardware_ids
            .iter()
            .chain(&ids.compatible_ids)
            .map(|i| i.to_ascii_uppercase())
            .collect();
        for s in loaded
            .skipped
            .iter()
            .filter(|s| own.iter().any(|i| s.ids.contains(i)))
        {
            println!(
                "  skipped {} {}: {}",
                s.package.id.short(),
                s.package.name,
                s.reason
            );
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "devices": out })).unwrap()
        );
    }
    Ok(())
}
