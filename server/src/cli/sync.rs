//! `marrow sync pull|status`: pull an upstream's signed images, only the
//! chunks this site lacks, and show what the pulls did.

use image_format::human;

use super::image::StoreArg;
use super::Global;
use crate::admin::{self, views::SyncRunView, Ctx};
use crate::clock::{Clock, SystemClock};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::progress::Bar;
use crate::sites::pull::{PullOptions, PullReport};
use crate::sites::run::pull_site;
use crate::sites::window::Window;
use crate::when::{format_time, parse_bandwidth};

#[derive(Debug, clap::Subcommand)]
pub enum SyncCommand {
    /// Fetch what this site lacks of an upstream's images, verified, and
    /// publish each version once it is whole.
    Pull {
        /// The upstream, as `marrow site add` named it.
        #[arg(long = "from", value_name = "SITE")]
        from: String,
        /// Only images whose names match (`*` and `?`).
        #[arg(long, value_name = "GLOB")]
        images: Option<String>,
        /// Cap on the link, in bits per second: 50M, 500K, 1G.
        #[arg(long, value_name = "RATE", value_parser = parse_bandwidth)]
        bandwidth: Option<u64>,
        /// Move bytes only between these local times, e.g. 22:00-06:00;
        /// outside them the pull waits.
        #[arg(long, value_name = "HH:MM-HH:MM")]
        window: Option<String>,
        #[command(flatten)]
        store: StoreArg,
        #[arg(long)]
        json: bool,
    },
    /// Each site's last pull: when, what it published, its bytes and errors.
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(global: &Global, cmd: SyncCommand) -> Result<()> {
    let dirs = global.dirs();
    match cmd {
        SyncCommand::Pull {
            from,
            images,
            bandwidth,
            window,
            store,
            json,
        } => {
            let opts = PullOptions {
                images,
                bandwidth,
                window: window.as_deref().map(Window::parse).transpose()?,
                version: None,
            };
            let store = store.spec(global)?.create()?;
            let ctx = Ctx::local(SystemClock.now());
            let report = pull_site(&dirs, &store, &from, &opts, &ctx, &Bar::new())?;
            if json {
                super::print_json(&report)?;
            } else {
                print_report(&report);
            }
            match report.failed.len() {
                0 => Ok(()),
                n => Err(Error::Usage(format!(
                    "{n} version(s) from site {} were refused and not published: {}",
                    report.site,
                    report
                        .failed
                        .iter()
                        .map(|f| format!(
                            "{}@{}: {}",
                            f.image,
                            &f.id[..f.id.len().min(12)],
                            f.reason
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ))),
            }
        }
        SyncCommand::Status { json } => {
            let sites = admin::list_sites(&Db::open_for_reading(&dirs.db())?, &dirs)?;
            let runs: Vec<SyncRunView> = sites.iter().filter_map(|s| s.last_run.clone()).collect();
            if json {
                return super::print_json(&sites);
            }
            if sites.is_empty() {
                println!("no sites; add an upstream with `marrow site add`");
                return Ok(());
            }
            println!(
                "{:<16}  {:<11}  {:<19}  {:<19}  {:>9}  {:>6}  {:>8}  {:>10}  ERROR",
                "SITE", "STATE", "STARTED (UTC)", "ENDED", "PUBLISHED", "FAILED", "CHUNKS", "BYTES"
            );
            for s in &sites {
                match runs.iter().find(|r| r.site.eq_ignore_ascii_case(&s.name)) {
                    None => println!("{:<16}  never pulled", s.name),
                    Some(r) => println!(
                        "{:<16}  {:<11}  {:<19}  {:<19}  {:>9}  {:>6}  {:>8}  {:>10}  {}",
                        s.name,
                        r.state,
                        format_time(r.started),
                        r.ended.map(format_time).unwrap_or_else(|| "-".into()),
                        r.published,
                        r.failed,
                        r.chunks,
                        human(r.bytes as u64),
                        r.error.as_deref().unwrap_or("")
                    ),
                }
            }
            Ok(())
        }
    }
}

fn print_report(r: &PullReport) {
    println!(
        "site {}: {} version(s) published, {} refused, {} up to date",
        r.site,
        r.published.len(),
        r.failed.len(),
        r.up_to_date
    );
    for p in &r.published {
        println!(
            "  published {}@{}  {} chunks fetched ({})",
            p.image,
            &p.id[..12],
            p.chunks_fetched,
            human(p.bytes_fetched)
        );
    }
    for f in &r.failed {
        println!(
            "  refused   {}@{}  {}",
            f.image,
            &f.id[..f.id.len().min(12)],
            f.reason
        );
    }
    println!(
        "fetched {} chunks ({} stored), {} already here; {} read from the link, {} requests in flight, {:.1} s{}",
        r.chunks_fetched,
        human(r.bytes_fetched),
        r.chunks_present,
        human(r.wire_bytes),
        r.in_flight,
        r.seconds,
        if r.paused_seconds > 0.0 {
            format!(" ({:.0} s paused outside the window)", r.paused_seconds)
        } else {
            String::new()
        }
    );
}
