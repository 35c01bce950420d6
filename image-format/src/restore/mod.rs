//! Executes a restore plan, unicast: every chunk of the image's
//! [`Placement`] is compared with what the target holds (desync-style
//! seeding, which also makes an interrupted restore resumable), fetched
//! from the store when it differs, verified against its name, and written
//! where it belongs ([`Writer`]). A receiver that gets chunks in another
//! order drives the same placement and writer.

mod target;
mod writer;

pub use target::Target;
pub use writer::Writer;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::placement::Placement;
use crate::plan::RestorePlan;
use crate::progress::Progress;
use crate::store::ReadStore;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RestoreStats {
    /// Data bytes the image holds.
    pub data_bytes: u64,
    /// Bytes actually written to the target (data, zeros and tables).
    pub written_bytes: u64,
    /// Data bytes found already in place and left alone.
    pub skipped_bytes: u64,
    /// Compressed bytes read from the store.
    pub fetched_bytes: u64,
    pub fetched_chunks: u64,
    pub chunks: u64,
}

pub fn restore(
    plan: &RestorePlan,
    manifest: &Manifest,
    store: &dyn ReadStore,
    target: &Target,
    threads: usize,
    progress: &dyn Progress,
) -> Result<RestoreStats> {
    if target.size() != plan.target_size {
        return Err(Error::Store {
            store: target.path().display().to_string(),
            detail: format!(
                "target changed size since planning ({} bytes, planned for {})",
                target.size(),
                plan.target_size
            ),
        });
    }
    let placement = Placement::new(&manifest.regions, store)?;
    let writer = Writer::new(target, &placement);
    progress.start("restore", plan.data_bytes() + plan.zero_bytes());
    let fetched = fetch_and_write(&placement, &writer, store, plan.delta, threads, progress)?;
    for w in &plan.table_writes {
        writer.write_raw(&w.bytes, w.offset)?;
    }
    target.sync()?;
    progress.finish();
    Ok(RestoreStats {
        data_bytes: plan.data_bytes(),
        written_bytes: writer.written(),
        skipped_bytes: writer.skipped(),
        fetched_bytes: fetched.bytes.into_inner(),
        fetched_chunks: fetched.chunks.into_inner(),
        chunks: manifest.regions.iter().map(|r| r.chunk_count).sum(),
    })
}

#[derive(Default)]
struct Fetched {
    bytes: AtomicU64,
    chunks: AtomicU64,
}

/// Zero runs on one thread and chunks on `threads` workers, all at once;
/// the first error stops every worker.
fn fetch_and_write(
    placement: &Placement,
    writer: &Writer<'_>,
    store: &dyn ReadStore,
    delta: bool,
    threads: usize,
    progress: &dyn Progress,
) -> Result<Fetched> {
    let fetched = Fetched::default();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let fail = |e: Error| {
        failed.store(true, Ordering::SeqCst);
        first_error.lock().unwrap().get_or_insert(e);
    };
    let source = store.describe();
    std::thread::scope(|s| {
        s.spawn(|| {
            for zero in placement.zeros() {
                if failed.load(Ordering::SeqCst) {
                    return;
                }
                if let Err(e) = writer.zero(zero, delta) {
                    return fail(e);
                }
                progress.advance(zero.len);
            }
        });
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                let mut buf = Vec::new();
                let slots = placement.slots();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(slot) = slots.get(i) else { return };
                    if failed.load(Ordering::SeqCst) {
                        return;
                    }
                    let done = (|| -> Result<()> {
                        if delta && writer.in_place(slot, &mut buf)? {
                            return Ok(());
                        }
                        let (plain, stored) = store.get_counted(&slot.id)?;
                        fetched.bytes.fetch_add(stored, Ordering::Relaxed);
                        fetched.chunks.fetch_add(1, Ordering::Relaxed);
                        writer.write_plain(&[slot], &plain, &source)
                    })();
                    if let Err(e) = done {
                        return fail(e);
                    }
                    progress.advance(slot.len as u64);
                }
            });
        }
    });
    match first_error.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(fetched),
    }
}
