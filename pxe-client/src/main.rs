//! `marrow-client`: PID 1 of the boot initramfs, or a shell tool. Argument
//! parsing and exit codes only; the work lives in the library.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use marrow_client::{boot, inventory, net, Error};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "marrow-client", version, about = "Marrow imaging client")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the inventory of this machine (DMI, CPU, memory, disks, NICs,
    /// PCI and USB devices).
    Inventory {
        #[arg(long)]
        json: bool,
        /// Read /sys and /proc under this directory instead of /.
        #[arg(long, value_name = "DIR", default_value = "/", hide = true)]
        root: PathBuf,
    },
    /// Get a DHCP lease on an interface and configure it (address and
    /// default route), as the boot does without a static ip=.
    Dhcp {
        #[arg(long, value_name = "IF")]
        interface: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 64)]
        timeout: u64,
        #[arg(long)]
        json: bool,
    },
    /// Capture a disk to a Marrow server.
    Capture {
        #[arg(long)]
        server: String,
        #[arg(long)]
        disk: PathBuf,
    },
    /// Restore a disk from a Marrow server.
    Restore {
        #[arg(long)]
        server: String,
        #[arg(long)]
        disk: PathBuf,
    },
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Inventory { json, root } => {
            let inv = inventory::collect(&root)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&inv).expect("inventory serializes")
                );
            } else {
                print!("{}", inv.render());
            }
            Ok(())
        }
        Command::Dhcp {
            interface,
            timeout,
            json,
        } => {
            let link = net::link_named(&interface)?;
            let lease = net::dhcp(&link, Duration::from_secs(timeout), |m| {
                eprintln!("marrow-client: {m}")
            })?;
            net::configure_lease(&link, &lease)?;
            if json {
                let value = serde_json::json!({
                    "interface": interface,
                    "address": lease.address.to_string(),
                    "prefix_len": lease.prefix_len,
                    "router": lease.router.map(|r| r.to_string()),
                    "dns": lease.dns.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "server_id": lease.server_id.to_string(),
                    "lease_secs": lease.lease_secs,
                });
                println!("{value}");
            } else {
                let via = lease.router.map_or(String::new(), |r| format!(" via {r}"));
                println!(
                    "{interface}: {}/{}{via} from {}",
                    lease.address, lease.prefix_len, lease.server_id
                );
            }
            Ok(())
        }
        Command::Capture { .. } => Err(Error::NotBuilt {
            what: "marrow-client capture",
        }),
        Command::Restore { .. } => Err(Error::NotBuilt {
            what: "marrow-client restore",
        }),
    }
}

fn main() -> ExitCode {
    // As the initramfs's /init the client is the boot stage, whatever its
    // arguments (the kernel passes none, or unknown ones).
    if std::process::id() == 1 {
        boot::run_as_init();
    }
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("marrow-client: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}
