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
    Add {
        /// The host's MAC address (aa:bb:cc:dd:ee:ff).
        mac: String,
        #[arg(long)]
        name: String,
        /// Give a named host this name instead.
        #[arg(long)]
        rename: bool,
        /// The group (room) it stands in, which a session can restore at
        /// once; `--group ""` takes it out of its group.
        #[arg(long, value_name = "ROOM")]
        group: Option<String>,
    },
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
        HostCommand::Add {
            mac,
            name,
            rename,
            group,
        } => {
            let host = backend.add_host(&AddHost {
                mac,
                name,
                rename,
                group: group.clone(),
            })?;
            let (mac, name) = (&host.mac, host.name.as_deref().unwrap_or("-"));
            match group.as_deref() {
                Some("") => println!("host {mac} is {name}, in no group"),
                Some(g) => println!("host {mac} is {name}, in group {g}"),
                None => println!("host {mac} is {name}"),
            }
            Ok(())
        }
        cmd @ HostCommand::Wake { .. } => wake(backend.as_mut(), cmd),
    }
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
