//! `marrow-client`: PID 1 of the boot initramfs, or a shell tool. Argument
//! parsing and exit codes only; the work lives in the library.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use marrow_client::api::Client;
use marrow_client::job::{self, Console};
use marrow_client::{boot, inventory, net, Error};
use marrow_protocol::api::{Report, TaskKind};
use std::io::IsTerminal;
use std::sync::Arc;
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
    /// Capture a disk (or disk image file) for a capture task of a Marrow
    /// server.
    Capture(TaskArgs),
    /// Restore a restore task's image onto a disk (or disk image file).
    Restore(TaskArgs),
}

#[derive(Debug, clap::Args)]
struct TaskArgs {
    /// The server's base URL, e.g. http://10.0.0.1:8080.
    #[arg(long)]
    server: String,
    /// The task's one-time token (`marrow task ... --show-token`).
    #[arg(long, env = "MARROW_TOKEN", hide_env_values = true)]
    token: String,
    /// The disk or image file to read or write.
    #[arg(long)]
    disk: PathBuf,
    /// Print the final report as JSON.
    #[arg(long)]
    json: bool,
    /// For a session's restore: join its group on this interface instead
    /// of the one that routes to the server.
    #[arg(long, value_name = "IF")]
    interface: Option<String>,
}

fn run_task(want: TaskKind, args: TaskArgs) -> Result<(), Error> {
    let client = Arc::new(Client::new(&args.server, &args.token)?);
    let task = client.claim()?;
    if task.kind != want {
        return Err(Error::Usage(format!(
            "task {} is a {:?} task; run marrow-client {} for it",
            task.id,
            task.kind,
            if task.kind == TaskKind::Capture {
                "capture"
            } else {
                "restore"
            }
        )));
    }
    let console = if std::io::stderr().is_terminal() {
        Console::Terminal
    } else {
        Console::Quiet
    };
    // What this machine is, as the boot stage reports it: the server shows
    // it and plans drivers from it. The task goes on without it.
    match inventory::collect(std::path::Path::new("/")) {
        Ok(inv) => {
            if let Err(e) = client.put_inventory(&inv) {
                eprintln!("marrow-client: inventory not stored on the server (carrying on): {e}");
            }
        }
        Err(e) => eprintln!("marrow-client: no inventory (carrying on): {e}"),
    }
    let outcome = job::run_on(
        &client,
        &task,
        &args.disk,
        console,
        args.interface.as_deref(),
    );
    let report = match &outcome {
        Ok(r) => r.clone(),
        Err(e) => Report {
            error: Some(e.to_string()),
            disk: Some(args.disk.display().to_string()),
            ..Report::default()
        },
    };
    client.report(&report)?;
    outcome?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        );
    } else {
        println!(
            "task      {} ({:?} of image {})",
            task.id, task.kind, task.image
        );
        if let Some(id) = &report.image_id {
            println!("image id  {id}");
        }
        println!("disk      {}", args.disk.display());
        match task.kind {
            TaskKind::Capture => println!(
                "uploaded  {} bytes in {} chunks; {} chunks already on the server; {} bytes read",
                report.uploaded_bytes, report.uploaded_chunks, report.known_chunks, report.read_bytes
            ),
            TaskKind::Restore => println!(
                "fetched   {} bytes in {} chunks, each verified; written {} bytes; {} bytes already in place",
                report.fetched_bytes, report.fetched_chunks, report.written_bytes, report.skipped_bytes
            ),
        }
        if task.session.is_some() {
            println!(
                "session   {} bytes by multicast, {} bytes over HTTP",
                report.multicast_bytes, report.unicast_bytes
            );
        }
        if let Some(d) = &report.drivers {
            println!("drivers   {d}");
        }
        if let Some(h) = &report.hostname {
            let files: Vec<String> = h
                .files
                .iter()
                .map(|f| format!("partition {} {}", f.partition, f.path))
                .collect();
            println!("hostname  {} in {}", h.name, files.join(", "));
        }
        if let Some(s) = &report.post_script {
            println!("script    {} {} in {:.1} s", s.name, s.status, s.seconds);
            for line in s.output.lines() {
                println!("  | {line}");
            }
        }
        println!("time      {:.1} s", report.seconds);
    }
    // A failed post-deploy script: the report above shows its output.
    match report.error {
        Some(e) => Err(Error::Usage(e)),
        None => Ok(()),
    }
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
        Command::Capture(args) => run_task(TaskKind::Capture, args),
        Command::Restore(args) => run_task(TaskKind::Restore, args),
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
            for cause in marrow_protocol::causes::causes(&err) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
