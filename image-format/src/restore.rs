//! Executes a restore plan: streams each region's chunks from the store,
//! verifies every chunk against its name before writing it, and skips chunks
//! the target already holds (desync-style seeding), which also makes an
//! interrupted restore resumable.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crossbeam_channel::bounded;

use crate::disk::is_zero;
use crate::error::{Error, Result};
use crate::id::ChunkId;
use crate::manifest::Manifest;
use crate::plan::RestorePlan;
use crate::progress::Progress;
use crate::store::{decode_chunk, ChunkStore};
use crate::table::{ChunkRef, ExtentKind, PieceReader};

const ZERO_STEP: u64 = 1 << 20;

/// How often written data is flushed to the disk during a restore. A
/// restore cut short by a power loss or a reset resumes from what reached
/// the disk (the delta pass skips it); without checkpoints that is nothing
/// until the kernel's writeback, up to 30 s later. One flush a second costs
/// little and bounds the loss to about a second of writes.
const CHECKPOINT: std::time::Duration = std::time::Duration::from_secs(1);

/// A disk or image file opened for writing.
pub struct Target {
    file: File,
    path: PathBuf,
    size: u64,
    last_sync: std::sync::Mutex<std::time::Instant>,
}

impl Target {
    /// Opens a disk or image file for restoring. A block device that holds
    /// a mounted filesystem (itself or one of its partitions) is refused:
    /// writing under a live filesystem destroys both.
    pub fn open(path: &Path) -> Result<Target> {
        if let Some(mounts) = mounted_from(path) {
            return Err(Error::Unsupported(format!(
                "{} is in use: {mounts}; unmount it before restoring onto it",
                path.display()
            )));
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let size = file
            .seek(SeekFrom::End(0))
            .map_err(|e| Error::io(path, e))?;
        Ok(Target {
            file,
            path: path.to_path_buf(),
            size,
            last_sync: std::sync::Mutex::new(std::time::Instant::now()),
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| Error::io(&self.path, e))
    }

    fn write(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.file
            .write_all_at(buf, offset)
            .map_err(|e| Error::io(&self.path, e))?;
        self.checkpoint()
    }

    /// Flushes written data when the last flush is [`CHECKPOINT`] old. One
    /// writer flushes; the others carry on rather than queue behind it.
    fn checkpoint(&self) -> Result<()> {
        let Ok(mut last) = self.last_sync.try_lock() else {
            return Ok(());
        };
        if last.elapsed() >= CHECKPOINT {
            self.file
                .sync_data()
                .map_err(|e| Error::io(&self.path, e))?;
            *last = std::time::Instant::now();
        }
        Ok(())
    }

    /// Zeroes a range: a hole in a file, otherwise written zeros.
    fn zero(&self, offset: u64, len: u64) -> Result<()> {
        use nix::fcntl::{fallocate, FallocateFlags};
        let punched = fallocate(
            std::os::fd::AsRawFd::as_raw_fd(&self.file),
            FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
            offset as i64,
            len as i64,
        );
        if punched.is_ok() {
            return self.checkpoint();
        }
        let zeros = vec![0u8; ZERO_STEP.min(len) as usize];
        let mut at = 0;
        while at < len {
            let n = (len - at).min(ZERO_STEP) as usize;
            self.write(&zeros[..n], offset + at)?;
            at += n as u64;
        }
        Ok(())
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync_all().map_err(|e| Error::io(&self.path, e))
    }
}

/// Where a block device or its partitions are mounted, from /proc/mounts.
fn mounted_from(path: &Path) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let device = std::fs::canonicalize(path).ok()?;
    if !std::fs::metadata(&device)
        .ok()?
        .file_type()
        .is_block_device()
    {
        return None;
    }
    let device = device.to_str()?.to_string();
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    let users = mounts_of(&device, &mounts);
    (!users.is_empty()).then(|| users.join(", "))
}

/// Mount lines whose source is `device` or one of its partitions
/// (`/dev/sda` → `/dev/sda1`, `/dev/nvme0n1` → `/dev/nvme0n1p2`).
fn mounts_of(device: &str, mounts: &str) -> Vec<String> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let source = fields.next()?;
            let target = fields.next()?;
            let rest = source.strip_prefix(device)?;
            let partition = rest.is_empty()
                || rest.chars().all(|c| c.is_ascii_digit())
                || (rest.starts_with('p')
                    && rest[1..].chars().all(|c| c.is_ascii_digit())
                    && rest.len() > 1);
            partition.then(|| format!("{source} on {target}"))
        })
        .collect()
}

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

struct Counters {
    written: AtomicU64,
    skipped: AtomicU64,
    fetched: AtomicU64,
    fetched_chunks: AtomicU64,
}

pub fn restore(
    plan: &RestorePlan,
    manifest: &Manifest,
    store: &dyn ChunkStore,
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
    let counters = Counters {
        written: AtomicU64::new(0),
        skipped: AtomicU64::new(0),
        fetched: AtomicU64::new(0),
        fetched_chunks: AtomicU64::new(0),
    };
    progress.start("restore", plan.data_bytes() + plan.zero_bytes());
    let mut chunks = 0;
    for region in &manifest.regions {
        chunks += region.chunk_count;
        restore_region(
            &region.extents,
            &region.chunks,
            store,
            target,
            plan.delta,
            threads.max(1),
            &counters,
            progress,
        )?;
    }
    for w in &plan.table_writes {
        target.write(&w.bytes, w.offset)?;
        counters
            .written
            .fetch_add(w.bytes.len() as u64, Ordering::Relaxed);
    }
    target.sync()?;
    progress.finish();
    Ok(RestoreStats {
        data_bytes: plan.data_bytes(),
        written_bytes: counters.written.into_inner(),
        skipped_bytes: counters.skipped.into_inner(),
        fetched_bytes: counters.fetched.into_inner(),
        fetched_chunks: counters.fetched_chunks.into_inner(),
        chunks,
    })
}

/// Where one chunk's bytes go: disk segments (offset, length) in order.
type Work = (ChunkRef, Vec<(u64, u64)>);

#[allow(clippy::too_many_arguments)]
fn restore_region(
    extent_pieces: &[ChunkId],
    chunk_pieces: &[ChunkId],
    store: &dyn ChunkStore,
    target: &Target,
    delta: bool,
    threads: usize,
    counters: &Counters,
    progress: &dyn Progress,
) -> Result<()> {
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let fail = |e: Error| {
        failed.store(true, Ordering::SeqCst);
        first_error.lock().unwrap().get_or_insert(e);
    };
    let (tx, rx) = bounded::<Work>(threads * 4);
    let produced = std::thread::scope(|s| {
        for _ in 0..threads {
            let rx = rx.clone();
            let fail = &fail;
            s.spawn(move || {
                let mut buf = Vec::new();
                for (chunk, segments) in rx {
                    if let Err(e) =
                        write_chunk(&chunk, &segments, store, target, delta, counters, &mut buf)
                    {
                        fail(e);
                        return;
                    }
                    progress.advance(chunk.len as u64);
                }
            });
        }
        drop(rx);
        let result = (|| -> Result<()> {
            let mut extents = PieceReader::extents(store, extent_pieces);
            // The data extent being filled and how much of it is used up.
            let mut current: Option<(u64, u64)> = None;
            for chunk in PieceReader::chunks(store, chunk_pieces) {
                let chunk = chunk?;
                let mut need = chunk.len as u64;
                let mut segments = Vec::new();
                while need > 0 {
                    let (off, len) = match current.take() {
                        Some(c) => c,
                        None => loop {
                            let e = extents.next().ok_or_else(|| Error::ManifestCorrupt {
                                id: chunk.id.to_hex(),
                                store: store.describe(),
                                detail: "chunk list is longer than the region's data extents"
                                    .into(),
                            })??;
                            match e.kind {
                                ExtentKind::Data => break (e.offset, e.len),
                                ExtentKind::Zero => {
                                    zero_extent(target, e.offset, e.len, delta, counters)?;
                                    progress.advance(e.len);
                                }
                            }
                        },
                    };
                    let take = need.min(len);
                    segments.push((off, take));
                    need -= take;
                    if take < len {
                        current = Some((off + take, len - take));
                    }
                }
                if failed.load(Ordering::SeqCst) || tx.send((chunk, segments)).is_err() {
                    return Err(Error::Cancelled {
                        what: "restore".into(),
                    });
                }
            }
            // Zero extents after the last data.
            for e in extents {
                let e = e?;
                if e.kind == ExtentKind::Zero {
                    zero_extent(target, e.offset, e.len, delta, counters)?;
                    progress.advance(e.len);
                }
            }
            Ok(())
        })();
        drop(tx);
        result
    });
    if let Some(e) = first_error.into_inner().unwrap() {
        return Err(e);
    }
    produced
}

fn write_chunk(
    chunk: &ChunkRef,
    segments: &[(u64, u64)],
    store: &dyn ChunkStore,
    target: &Target,
    delta: bool,
    counters: &Counters,
    buf: &mut Vec<u8>,
) -> Result<()> {
    if delta {
        buf.resize(chunk.len as usize, 0);
        let mut at = 0;
        for &(off, len) in segments {
            target.read(&mut buf[at..at + len as usize], off)?;
            at += len as usize;
        }
        if ChunkId::of(buf) == chunk.id {
            counters
                .skipped
                .fetch_add(chunk.len as u64, Ordering::Relaxed);
            return Ok(());
        }
    }
    let raw = store.get_raw(&chunk.id)?;
    counters
        .fetched
        .fetch_add(raw.len() as u64, Ordering::Relaxed);
    counters.fetched_chunks.fetch_add(1, Ordering::Relaxed);
    let plain = decode_chunk(&chunk.id, &raw, &store.describe())?;
    if plain.len() != chunk.len as usize {
        return Err(Error::ChunkCorrupt {
            id: chunk.id,
            store: store.describe(),
            detail: format!(
                "holds {} bytes, the image expects {}",
                plain.len(),
                chunk.len
            ),
        });
    }
    let mut at = 0;
    for &(off, len) in segments {
        target.write(&plain[at..at + len as usize], off)?;
        at += len as usize;
    }
    counters
        .written
        .fetch_add(chunk.len as u64, Ordering::Relaxed);
    Ok(())
}

fn zero_extent(
    target: &Target,
    offset: u64,
    len: u64,
    delta: bool,
    counters: &Counters,
) -> Result<()> {
    if !delta {
        target.zero(offset, len)?;
        counters.written.fetch_add(len, Ordering::Relaxed);
        return Ok(());
    }
    let mut buf = vec![0u8; ZERO_STEP.min(len) as usize];
    let mut at = 0;
    while at < len {
        let n = (len - at).min(ZERO_STEP);
        target.read(&mut buf[..n as usize], offset + at)?;
        if is_zero(&buf[..n as usize]) {
            counters.skipped.fetch_add(n, Ordering::Relaxed);
        } else {
            target.zero(offset + at, n)?;
            counters.written.fetch_add(n, Ordering::Relaxed);
        }
        at += n;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mounted_partitions_of_a_disk_but_not_of_its_neighbours() {
        let mounts = "/dev/sda2 / ext4 rw 0 0\n/dev/sdab1 /mnt ext4 rw 0 0\n\
                      /dev/nvme0n1p1 /boot/efi vfat rw 0 0\nproc /proc proc rw 0 0\n";
        assert_eq!(mounts_of("/dev/sda", mounts), vec!["/dev/sda2 on /"]);
        assert_eq!(
            mounts_of("/dev/nvme0n1", mounts),
            vec!["/dev/nvme0n1p1 on /boot/efi"]
        );
        assert!(mounts_of("/dev/sdb", mounts).is_empty());
    }
}
