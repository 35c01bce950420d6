//! Verify, check, delete and garbage-collect, on any store that has the
//! rungs each needs: verify reads, check lists, gc lists, removes and locks.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::catalog::{load, resolve, ImageRef};
use crate::error::{Error, Result};
use crate::id::{ChunkId, ImageId};
use crate::manifest::Manifest;
use crate::progress::Progress;
use crate::store::{LockMode, LockStore, ManifestStore, PruneStore, ReadStore};
use crate::table::PieceReader;

/// Every chunk id an image needs: its pieces and the data chunks they list.
pub fn referenced_chunks(
    manifest: &Manifest,
    store: &dyn ReadStore,
    out: &mut HashSet<ChunkId>,
) -> Result<()> {
    for region in &manifest.regions {
        out.extend(region.extents.iter().copied());
        out.extend(region.chunks.iter().copied());
        for c in PieceReader::chunks(store, &region.chunks) {
            out.insert(c?.id);
        }
    }
    Ok(())
}

#[derive(Debug, Default, serde::Serialize)]
pub struct VerifyReport {
    pub image: String,
    pub chunks: u64,
    pub bytes: u64,
}

/// Checks an image's lists against its regions, then reads and verifies
/// every chunk. A manifest that contradicts itself fails, naming the image.
pub fn verify_image(
    store: &dyn ReadStore,
    manifest: &Manifest,
    image: &ImageId,
    threads: usize,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    crate::validate::pieces(manifest, store)?.map_err(|detail| Error::ManifestCorrupt {
        id: image.to_hex(),
        store: store.describe(),
        detail,
    })?;
    let mut ids = HashSet::new();
    referenced_chunks(manifest, store, &mut ids)?;
    let ids: Vec<ChunkId> = ids.into_iter().collect();
    progress.start("verify", ids.len() as u64);
    let bytes = Mutex::new(0u64);
    parallel(&ids, threads, |id| {
        let plain = store.get(id)?;
        *bytes.lock().unwrap() += plain.len() as u64;
        progress.advance(1);
        Ok(())
    })?;
    progress.finish();
    Ok(VerifyReport {
        image: image.to_hex(),
        chunks: ids.len() as u64,
        bytes: bytes.into_inner().unwrap(),
    })
}

fn parallel<T: Sync>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> Result<()> + Sync,
) -> Result<()> {
    let per = items.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|part| s.spawn(|| part.iter().try_for_each(&f)))
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("verify thread panicked"))
    })
}

#[derive(Debug, Default, serde::Serialize)]
pub struct CheckReport {
    pub chunks: u64,
    pub chunk_bytes: u64,
    pub manifests: u64,
    pub names: u64,
    pub problems: Vec<String>,
    /// Chunks no image refers to: left by an interrupted capture or a delete; `gc` removes them.
    pub unreferenced_chunks: u64,
    pub unreferenced_manifests: u64,
    /// Half-written files of crashed or killed writers, and their bytes;
    /// `gc` removes them.
    pub orphaned_temporaries: u64,
    pub orphaned_bytes: u64,
}

/// Verifies every chunk and manifest, and that every name resolves to
/// complete images.
pub fn check_store<S: PruneStore + ManifestStore>(
    store: &S,
    threads: usize,
    progress: &dyn Progress,
) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let mut all = Vec::new();
    store.for_each(&mut |id, len| {
        all.push(id);
        report.chunk_bytes += len;
        Ok(())
    })?;
    report.chunks = all.len() as u64;
    progress.start("check", all.len() as u64);
    let problems = Mutex::new(Vec::new());
    parallel(&all, threads, |id| {
        if let Err(e) = store.get(id) {
            problems.lock().unwrap().push(e.to_string());
        }
        progress.advance(1);
        Ok(())
    })?;
    progress.finish();
    report.problems = problems.into_inner().unwrap();
    let present: HashSet<ChunkId> = all.into_iter().collect();
    let mut referenced = HashSet::new();
    let mut live_manifests = HashSet::new();
    let names = store.names()?;
    report.names = names.len() as u64;
    for name in &names {
        for entry in store.history(name)? {
            live_manifests.insert(entry.id);
        }
    }
    let manifest_ids = store.manifest_ids()?;
    report.manifests = manifest_ids.len() as u64;
    for id in &live_manifests {
        match load(store, id, &store.describe()) {
            Ok(m) => {
                let mut needed = HashSet::new();
                if let Err(e) = referenced_chunks(&m, store, &mut needed) {
                    report.problems.push(format!("image {id}: {e}"));
                }
                for c in &needed {
                    if !present.contains(c) {
                        report
                            .problems
                            .push(format!("image {id} needs chunk {c}, which is missing"));
                    }
                }
                referenced.extend(needed);
            }
            Err(e) => report.problems.push(e.to_string()),
        }
    }
    report.unreferenced_manifests = manifest_ids
        .iter()
        .filter(|m| !live_manifests.contains(m))
        .count() as u64;
    report.unreferenced_chunks = present.difference(&referenced).count() as u64;
    (report.orphaned_temporaries, report.orphaned_bytes) = store.orphans()?;
    report.problems.sort();
    report.problems.dedup();
    Ok(report)
}

#[derive(Debug, Default, serde::Serialize)]
pub struct GcReport {
    pub removed_chunks: u64,
    /// The stored bytes of the removed chunks (for packed chunks, their
    /// shares of their packs, freed as `packs` says).
    pub removed_bytes: u64,
    pub removed_manifests: u64,
    pub removed_temporaries: u64,
    pub kept_chunks: u64,
    /// Packs removed or packed afresh, and the bytes that freed.
    pub packs: crate::store::Reclaimed,
}

/// Removes chunks and manifests no name refers to. Takes the store's
/// exclusive lock, so it waits for running captures and restores to finish
/// and none starts while it sweeps.
pub fn gc<S: PruneStore + ManifestStore + LockStore>(store: &S) -> Result<GcReport> {
    let _lock = store.lock(LockMode::Exclusive)?;
    let mut report = GcReport::default();
    let mut live = HashSet::new();
    for name in store.names()? {
        for entry in store.history(&name)? {
            live.insert(entry.id);
        }
    }
    let mut keep = HashSet::new();
    for id in &live {
        let m = load(store, id, &store.describe())?;
        referenced_chunks(&m, store, &mut keep)?;
    }
    for id in store.manifest_ids()? {
        if !live.contains(&id) {
            store.remove_manifest(&id)?;
            report.removed_manifests += 1;
        }
    }
    let mut doomed = Vec::new();
    store.for_each(&mut |id, len| {
        if keep.contains(&id) {
            report.kept_chunks += 1;
        } else {
            doomed.push(id);
            report.removed_bytes += len;
        }
        Ok(())
    })?;
    for id in &doomed {
        store.remove(id)?;
    }
    report.removed_chunks = doomed.len() as u64;
    report.removed_temporaries = store.clean_temporaries()?;
    report.packs = store.reclaim()?;
    Ok(report)
}

/// Deletes a whole name (`NAME`) or one version of it (`NAME@ID`). Chunks
/// stay until `gc`, which also removes the unreferenced manifest.
pub fn delete<S: ManifestStore + ReadStore>(store: &S, reference: &str) -> Result<Vec<ImageId>> {
    let r = ImageRef::parse(reference)?;
    let history = store.history(&r.name)?;
    let removed: Vec<ImageId> = match &r.version {
        None => {
            if history.is_empty() {
                return Err(Error::ImageNotFound {
                    name: r.name,
                    store: store.describe(),
                });
            }
            history.iter().map(|e| e.id).collect()
        }
        Some(_) => vec![resolve(store, &r, &store.describe())?.id],
    };
    let rest: Vec<_> = history
        .into_iter()
        .filter(|e| !removed.contains(&e.id))
        .collect();
    store.set_history(&r.name, &rest)?;
    Ok(removed)
}
