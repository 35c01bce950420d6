//! `marrow drivers`: import, list, remove and match Windows driver packages.

use std::io::IsTerminal;
use std::path::PathBuf;

use driver_store::ImportProgress;
use driver_store::{Device, PciDevice, TargetOs, UsbDevice};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use super::Global;
use crate::admin::{drivers, Ctx};
use crate::clock::{Clock, SystemClock};
use crate::db::Db;
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

pub fn run(global: &Global, cmd: DriversCommand) -> Result<()> {
    let dir = global.dirs().drivers();
    let ctx = Ctx::local(SystemClock.now());
    match cmd {
        DriversCommand::Add { sources, os, json } => {
            let bar = ImportBar::new();
            let imported = drivers::add_drivers(
                &mut Db::open(&global.dirs().db())?,
                &ctx,
                &dir,
                &sources,
                &os,
                &bar,
            )?;
            drop(bar);
            if json {
                return super::print_json(&json!({ "imported": imported }));
            }
            for i in &imported {
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
            Ok(())
        }
        DriversCommand::List { json } => list(&dir, json),
        DriversCommand::Remove { packages, json } => {
            let removed = drivers::remove_drivers(
                &mut Db::open(&global.dirs().db())?,
                &ctx,
                &dir,
                &packages,
            )?;
            if json {
                return super::print_json(&json!({ "removed": removed }));
            }
            for p in &removed {
                println!("removed {}  {}", p.id.short(), p.name);
            }
            Ok(())
        }
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
                devices = drivers::host_devices(&Db::open_for_reading(&global.dirs().db())?, host)?;
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
            let matched = drivers::match_drivers(&dir, &devices, &target)?;
            if json {
                return super::print_json(&json!({ "devices": matched }));
            }
            print_matches(&matched, &target);
            Ok(())
        }
    }
}

fn list(dir: &std::path::Path, json: bool) -> Result<()> {
    let packages = drivers::list_drivers(dir)?;
    if json {
        return super::print_json(&json!({ "packages": packages }));
    }
    if packages.is_empty() {
        println!("no driver packages");
        return Ok(());
    }
    println!(
        "{:<12}  {:<28}  {:<10}  {:<22}  {:>6}  status",
        "id", "name", "class", "os", "models"
    );
    for v in &packages {
        let p = &v.package;
        let class = p
            .infs
            .iter()
            .filter_map(|i| i.class.clone())
            .next()
            .unwrap_or_default();
        let models: usize = p.infs.iter().map(|i| i.models).sum();
        let status = if v.broken { "broken" } else { "ok" };
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

fn print_matches(matched: &[drivers::DeviceMatch], target: &TargetOs) {
    for m in matched {
        println!("{}  (for {target})", m.device);
        println!("  hardware IDs:   {}", m.hardware_ids.join("  "));
        println!("  compatible IDs: {}", m.compatible_ids.join("  "));
        if m.candidates.is_empty() {
            println!("  nothing to inject");
        }
        for (n, c) in m.candidates.iter().enumerate() {
            let pick = if n == 0 { "inject" } else { "      " };
            println!(
                "  {pick} {} {}  {}  rank 0x{:08X}",
                c.package, c.name, c.inf, c.rank
            );
            println!("         {}", c.reason);
        }
        for e in &m.excluded {
            println!("  not for {target}: {} {}: {}", e.package, e.name, e.reason);
        }
        for s in &m.skipped {
            println!("  skipped {} {}: {}", s.package, s.name, s.reason);
        }
    }
}
