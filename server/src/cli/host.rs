//! `marrow host`: list and register hosts.

use super::Global;
use crate::admin::backend::{Backend, Local};
use crate::admin::requests::{AddHost, WakeRequest};
use crate::admin::views::WakeReport;
use crate::error::{Error, Result};
use crate::when::format_time;

#[derive(Debug, clap::Subcommand)]
pub enum HostCommand {
    /// List registered hosts (registered on their first PXE boot or by `add`).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Pre-register a host, or name one that booted unnamed.
    Add(HostArgs),
    /// Change a host's name, group or UEFI boot chain (registering the
    /// MAC if new); a named host is renamed without --rename.
    Set(HostArgs),
    /// Send Wake-on-LAN magic packets to hosts, or to a whole group.
    Wake {
        /// MACs or registered names.
        hosts: Vec<String>,
        /// Every host of this group (room).
        #[arg(long, value_name = "ROOM")]
        group: Option<String>,
        /// Send on this interface (default: the one `marrow serve` last
        /// woke hosts on); not with --server, where the server chooses.
        #[arg(long, value_name = "IF")]
        interface: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// What `host add` and `host set` take.
#[derive(Debug, clap::Args)]
pub struct HostArgs {
    /// The host's MAC address (aa:bb:cc:dd:ee:ff).
    mac: String,
    #[arg(long)]
    name: Option<String>,
    /// Give a named host this name instead (implied by `set`).
    #[arg(long)]
    rename: bool,
    /// The group (room) it stands in, which a session can restore at
    /// once; `--group ""` takes it out of its group.
    #[arg(long, value_name = "ROOM")]
    group: Option<String>,
    /// What it boots first on UEFI x64: signed (shim, GRUB, Debian's
    /// kernel, accepted by Secure Boot), ipxe, or default (the server's
    /// boot.uefi).
    #[arg(long, value_name = "signed|ipxe|default")]
    uefi_boot: Option<String>,
}

/// `woke MAC (NAME), … on IF (BROADCAST)`.
pub(crate) fn print_woke(r: &WakeReport) {
    let hosts: Vec<String> = r
        .hosts
        .iter()
        .map(|h| match &h.name {
            Some(n) => format!("{} ({n})", h.mac),
            None => h.mac.clone(),
        })
        .collect();
    println!(
        "woke {} on {} ({})",
        hosts.join(", "),
        r.interface,
        r.broadcast
    );
}

pub fn run(global: &Global, cmd: HostCommand) -> Result<()> {
    if let HostCommand::Wake {
        interface: Some(i), ..
    } = &cmd
    {
        if global.server.is_none() {
            let mut local = Local {
                dirs: global.dirs(),
                store: global.store_spec(None)?,
                interface: Some(i.clone()),
            };
            return wake(&mut local, cmd);
        }
        return Err(Error::Usage(
            "--interface is for waking from the server's shell; with --server the server chooses"
                .into(),
        ));
    }
    let mut backend = global.backend()?;
    match cmd {
        HostCommand::List { json } => {
            let hosts = backend.hosts()?;
            if json {
                return super::print_json(&hosts);
            }
            if hosts.is_empty() {
                println!("no hosts registered");
                return Ok(());
            }
            println!(
                "{:<17}  {:<16}  {:<12}  {:<10}  {:<19}  IP",
                "MAC", "NAME", "GROUP", "ARCH", "LAST BOOT (UTC)"
            );
            for h in hosts {
                println!(
                    "{:<17}  {:<16}  {:<12}  {:<10}  {:<19}  {}",
                    h.mac,
                    h.name.as_deref().unwrap_or("-"),
                    h.group.as_deref().unwrap_or("-"),
                    h.arch.as_deref().unwrap_or("-"),
                    h.last_boot.map(format_time).unwrap_or_else(|| "-".into()),
                    h.ip.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
        HostCommand::Add(a) => add_or_set(backend.as_mut(), a, false),
        HostCommand::Set(a) => add_or_set(backend.as_mut(), a, true),
        cmd @ HostCommand::Wake { .. } => wake(backend.as_mut(), cmd),
    }
}

fn add_or_set(backend: &mut dyn Backend, a: HostArgs, set: bool) -> Result<()> {
    if a.name.is_none() && a.group.is_none() && a.uefi_boot.is_none() {
        return Err(Error::Usage(format!(
            "host {}: give --name, --group or --uefi-boot",
            a.mac
        )));
    }
    let host = backend.add_host(&AddHost {
        mac: a.mac,
        name: a.name,
        rename: a.rename || set,
        group: a.group.clone(),
        uefi_boot: a.uefi_boot.clone(),
    })?;
    let (mac, name) = (&host.mac, host.name.as_deref().unwrap_or("(no name)"));
    let mut said = format!("host {mac} is {name}");
    match a.group.as_deref() {
        Some("") => said.push_str(", in no group"),
        Some(g) => said.push_str(&format!(", in group {g}")),
        None => {}
    }
    if a.uefi_boot.is_some() {
        match host.uefi_boot.as_deref() {
            Some(c) => said.push_str(&format!(", UEFI boot {c}")),
            None => said.push_str(", UEFI boot as the server's boot.uefi"),
        }
    }
    println!("{said}");
    Ok(())
}

fn wake(backend: &mut dyn Backend, cmd: HostCommand) -> Result<()> {
    let HostCommand::Wake {
        hosts, group, json, ..
    } = cmd
    else {
        unreachable!("only wake comes here")
    };
    let report = backend.wake(&WakeRequest { hosts, group })?;
    if json {
        return super::print_json(&report);
    }
    print_woke(&report);
    Ok(())
}
