//! `marrow store`: maintenance of the chunk store.

use image_format::maintenance;
use image_format::{default_threads, human};

use super::image::StoreArg;
use super::Global;
use crate::error::{Error, Result};
use crate::progress::Bar;

#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Remove chunks and manifests that no image refers to.
    Gc {
        #[command(flatten)]
        store: StoreArg,
        #[arg(long)]
        json: bool,
    },
    /// Verify every chunk and manifest, and that every image is complete.
    Check {
        #[command(flatten)]
        store: StoreArg,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(global: &Global, cmd: StoreCommand) -> Result<()> {
    match cmd {
        StoreCommand::Gc { store, json } => {
            let store = store.open(global)?;
            if store.in_use()? {
                // gc waits for the exclusive lock: say why it is waiting.
                eprintln!(
                    "marrow: store {} is in use (a capture or restore, or marrow serve with running tasks); gc waits until it is free",
                    image_format::store::ReadStore::describe(&store)
                );
            }
            let report = maintenance::gc(&store)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap());
            } else {
                println!(
                    "removed {} chunks ({}), {} manifests, {} temporaries; kept {} chunks",
                    report.removed_chunks,
                    human(report.removed_bytes),
                    report.removed_manifests,
                    report.removed_temporaries,
                    report.kept_chunks
                );
                let packs = report.packs;
                if packs.removed_packs + packs.repacked_packs > 0 {
                    println!(
                        "packs: removed {}, packed afresh {}; freed {}",
                        packs.removed_packs,
                        packs.repacked_packs,
                        human(packs.bytes)
                    );
                }
            }
            Ok(())
        }
        StoreCommand::Check { store, json } => {
            let spec = store.spec(global)?;
            let store = spec.open()?;
            let report = maintenance::check_store(&store, default_threads(), &Bar::new())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap());
            } else {
                println!(
                    "{} chunks ({}), {} manifests, {} names checked",
                    report.chunks,
                    human(report.chunk_bytes),
                    report.manifests,
                    report.names
                );
                if report.unreferenced_chunks + report.unreferenced_manifests > 0 {
                    println!(
                        "{} chunks and {} manifests are unreferenced (`marrow store gc` removes them)",
                        report.unreferenced_chunks, report.unreferenced_manifests
                    );
                }
                if report.orphaned_temporaries > 0 {
                    println!(
                        "{} half-written files ({}) of crashed or killed writers (`marrow store gc` removes them)",
                        report.orphaned_temporaries,
                        human(report.orphaned_bytes)
                    );
                }
                for p in &report.problems {
                    println!("problem: {p}");
                }
            }
            if report.problems.is_empty() {
                Ok(())
            } else {
                Err(Error::Usage(format!(
                    "store {} has {} problems",
                    spec.describe(),
                    report.problems.len()
                )))
            }
        }
    }
}
