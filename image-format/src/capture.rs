//! Capture: read a disk's layout and used blocks, chunk the data, store the
//! chunks a store lacks, and build the manifest. Nothing is committed here:
//! the caller stores the manifest last, so an interrupted capture leaves
//! only reusable chunks behind.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::aligned::AlignedBuf;
use crate::chunker::{cut, ChunkParams};
use crate::disk::{is_zero, ReadAt};
use crate::error::{Error, Result};
use crate::fs::{self, FsKind};
use crate::id::ChunkId;
use crate::layout::{read_layout, DiskLayout, TableKind};
use crate::manifest::{Manifest, Region, RegionRole, SkippedFile, FORMAT};
use crate::progress::Progress;
use crate::ranges::RangeSet;
use crate::store::pack::{PACK_BYTES, PACK_LEVEL};
use crate::store::WriteStore;
use crate::table::{ChunkRef, Extent, ExtentKind, PieceWriter};

/// Zero runs are found at this granularity.
const ZERO_BLOCK: usize = 4096;
const READ_BLOCK: usize = 4 << 20;
const READ_AHEAD: u64 = 64 << 20;

#[derive(Debug, Clone)]
pub struct CaptureOptions {
    pub params: ChunkParams,
    /// zstd level for new chunks stored one by one.
    pub level: i32,
    /// zstd level for new chunks a store packs together.
    pub pack_level: i32,
    pub threads: usize,
    /// Keep the content of Windows' page, swap and hibernation files,
    /// which is otherwise recorded as zeros.
    pub keep_windows_temp: bool,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            params: ChunkParams::DEFAULT,
            level: DEFAULT_LEVEL,
            pack_level: PACK_LEVEL,
            threads: crate::default_threads(),
            keep_windows_temp: false,
        }
    }
}

/// The fastest level whose store stays within 5% of level 3 on the
/// benchmark disks (docs/image-format.md).
pub const DEFAULT_LEVEL: i32 = 1;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CaptureStats {
    /// Size of the source disk.
    pub logical_bytes: u64,
    /// Bytes the filesystems use (data and zeros).
    pub used_bytes: u64,
    /// Used bytes that are not zero: what was chunked.
    pub data_bytes: u64,
    pub chunks: u64,
    pub new_chunks: u64,
    /// Compressed bytes this capture added to the store.
    pub new_bytes: u64,
    /// Used bytes of throwaway files, recorded as zeros.
    pub skipped_bytes: u64,
}

/// A region to capture and the byte ranges of it that are used.
#[derive(Debug, Clone)]
pub struct RegionSource {
    pub role: RegionRole,
    pub partition: Option<u32>,
    pub start: u64,
    pub length: u64,
    pub fs: FsKind,
    /// Absolute disk byte ranges to read.
    pub used: RangeSet,
    /// The part of `used` recorded as zeros without being read: the
    /// clusters of [`RegionSource::skipped`].
    pub zeroed: RangeSet,
    pub skipped: Vec<SkippedFile>,
}

/// Decides what to read: the boot area, each partition's used blocks (all of
/// it when the filesystem is unknown), and the gaps between partitions.
/// Windows' throwaway files are recorded as zeros.
pub fn plan_regions(disk: &dyn ReadAt, layout: &DiskLayout) -> Result<Vec<RegionSource>> {
    plan_regions_keeping(disk, layout, false)
}

/// [`plan_regions`], keeping the content of Windows' throwaway files when
/// `keep_windows_temp` is set.
pub fn plan_regions_keeping(
    disk: &dyn ReadAt,
    layout: &DiskLayout,
    keep_windows_temp: bool,
) -> Result<Vec<RegionSource>> {
    let mut out = Vec::new();
    let whole = |role, partition, start: u64, length: u64, fs| {
        let mut used = RangeSet::new();
        used.push(start, length);
        RegionSource {
            role,
            partition,
            start,
            length,
            fs,
            used,
            zeroed: RangeSet::new(),
            skipped: Vec::new(),
        }
    };
    if layout.table == TableKind::None {
        let kind = fs::detect(disk, 0, layout.size);
        let mut region = whole(RegionRole::WholeDisk, None, 0, layout.size, kind);
        if let Some(u) = fs::usage(disk, 0, layout.size, kind)? {
            region.used = u.used;
        }
        out.push(region);
        return Ok(out);
    }
    let end = layout.tail_start();
    let first = layout.partitions.first().map_or(end, |p| p.start);
    out.push(whole(RegionRole::BootArea, None, 0, first, FsKind::Unknown));
    let mut cursor = first;
    for p in &layout.partitions {
        if p.start > cursor {
            out.push(whole(
                RegionRole::Gap,
                None,
                cursor,
                p.start - cursor,
                FsKind::Unknown,
            ));
        }
        let kind = if p.is_bios_boot() {
            FsKind::Unknown
        } else {
            fs::detect(disk, p.start, p.size)
        };
        let mut region = whole(RegionRole::Partition, Some(p.number), p.start, p.size, kind);
        if let Some(u) = fs::usage(disk, p.start, p.size, kind)? {
            let mut used = RangeSet::new();
            for (s, l) in u.used.iter() {
                used.push(p.start + s, l);
            }
            used.clamp(p.end());
            region.used = used;
            if !keep_windows_temp {
                skip_throwaway(disk, p.start, p.size, &mut region)?;
            }
        }
        out.push(region);
        cursor = cursor.max(p.end());
    }
    // Space after the last partition is unallocated: like other imagers,
    // Marrow does not keep it.
    Ok(out)
}

/// Records the partition's throwaway files as zeros: only what the
/// filesystem marks used, so a file's stale runs cannot widen the region.
fn skip_throwaway(
    disk: &dyn ReadAt,
    start: u64,
    len: u64,
    region: &mut RegionSource,
) -> Result<()> {
    for file in fs::throwaway(disk, start, len, region.fs)? {
        let mut absolute = RangeSet::new();
        for (s, l) in file.ranges.iter() {
            absolute.push(start + s, l);
        }
        let zero = region.used.subtract(&region.used.subtract(&absolute));
        if zero.is_empty() {
            continue;
        }
        for (s, l) in zero.iter() {
            region.zeroed.push(s, l);
        }
        region.skipped.push(SkippedFile {
            path: file.name,
            bytes: zero.total(),
        });
    }
    region.zeroed.normalize();
    Ok(())
}

/// Captures `disk` into `store`. Returns the manifest (not yet committed).
pub fn capture(
    disk: &dyn ReadAt,
    store: &dyn WriteStore,
    opts: &CaptureOptions,
    progress: &dyn Progress,
) -> Result<(Manifest, CaptureStats)> {
    let layout = read_layout(disk)?;
    let sources = plan_regions_keeping(disk, &layout, opts.keep_windows_temp)?;
    let mut stats = CaptureStats {
        logical_bytes: layout.size,
        used_bytes: sources.iter().map(|s| s.used.total()).sum(),
        skipped_bytes: sources.iter().map(|s| s.zeroed.total()).sum(),
        ..Default::default()
    };
    progress.start("capture", stats.used_bytes);
    let mut regions = Vec::with_capacity(sources.len());
    for src in &sources {
        regions.push(capture_region(
            disk, store, opts, src, &mut stats, progress,
        )?);
    }
    store.flush()?;
    progress.finish();
    let manifest = Manifest {
        format: FORMAT.into(),
        version: Manifest::version_for(&regions),
        chunking: opts.params,
        layout,
        regions,
    };
    Ok((manifest, stats))
}

/// Chunks one worker takes at once, for a store that stores them one by
/// one: one `has_many` round trip each for a remote store.
const HAS_BATCH: usize = 16;

/// Consecutive chunks cut from the data stream, the first numbered `seq`
/// in stream order. For a store that packs, a run is a pack's worth, so
/// a pack holds neighbours on the disk, which compress best together.
struct Work {
    seq: u64,
    chunks: Vec<Vec<u8>>,
}

struct Done {
    seq: u64,
    chunk: ChunkRef,
    /// This capture stored the chunk.
    new: bool,
    /// Compressed bytes stored with it (a pack's are counted on its first).
    bytes: u64,
}

/// A region's chunk list and what storing it added.
struct Collected {
    chunks: PieceWriter,
    count: u64,
    new_chunks: u64,
    new_bytes: u64,
}

/// Reads a region's used ranges, cuts the data into chunks and stores
/// those the store lacks, with its threads: one reads ahead
/// ([`read_blocks`]), this one finds zero runs and chunk boundaries
/// ([`Cutter`]), `threads` workers hash, ask and store ([`store_chunks`]),
/// and one puts the chunk list back in order ([`collect_chunks`]).
fn capture_region(
    disk: &dyn ReadAt,
    store: &dyn WriteStore,
    opts: &CaptureOptions,
    src: &RegionSource,
    stats: &mut CaptureStats,
    progress: &dyn Progress,
) -> Result<Region> {
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    let fail = |e: Error| {
        failed.store(true, Ordering::SeqCst);
        first_error.lock().unwrap().get_or_insert(e);
    };
    let threads = opts.threads.max(1);
    let packs = store.packs();
    let level = if packs { opts.pack_level } else { opts.level };
    let (work_tx, work_rx) = bounded::<Work>(threads * 2);
    let (done_tx, done_rx) = bounded::<Done>(threads * 4);
    let cutter = Cutter {
        store,
        opts,
        progress,
        failed: &failed,
        work: work_tx,
        packs,
        run: Vec::new(),
        run_bytes: 0,
        extents: PieceWriter::extents(),
        data_bytes: 0,
        zero_bytes: 0,
    };

    let result = std::thread::scope(|s| -> Result<(Cut, Collected)> {
        for _ in 0..threads {
            let work_rx = work_rx.clone();
            let done_tx = done_tx.clone();
            let fail = &fail;
            s.spawn(move || store_chunks(&work_rx, &done_tx, store, level, fail));
        }
        drop(done_tx);
        drop(work_rx);
        let collector = s.spawn(|| collect_chunks(done_rx, store, opts.level));

        // The reader fills recycled buffers while the cutter looks for zero
        // blocks and chunk boundaries, so the kernel's copy overlaps with
        // hashing and compression.
        let (block_tx, block_rx) = bounded::<Result<Block>>(3);
        let (free_tx, free_rx) = bounded::<AlignedBuf>(4);
        for _ in 0..4 {
            free_tx
                .send(AlignedBuf::with_capacity(READ_BLOCK))
                .expect("room for the pool");
        }
        let reader =
            s.spawn(move || read_blocks(disk, &src.used, &src.zeroed, &block_tx, &free_rx));
        // The cutter's end closes the workers' queue; then unblock the
        // reader if the cutter stopped early, and wait for both.
        let cut = cutter.run(&block_rx, &free_tx);
        drop(block_rx);
        drop(free_tx);
        let reader = reader.join().expect("reader thread panicked");
        let collected = collector.join().expect("collector thread panicked");
        let cut = cut?;
        reader?;
        Ok((cut, collected?))
    });
    if let Some(e) = first_error.into_inner().unwrap() {
        return Err(e);
    }
    let (
        Cut {
            extents,
            data_bytes,
            zero_bytes,
        },
        c,
    ) = result?;
    stats.data_bytes += data_bytes;
    stats.chunks += c.count;
    stats.new_chunks += c.new_chunks;
    stats.new_bytes += c.new_bytes + extents.stored_bytes + c.chunks.stored_bytes;
    Ok(Region {
        role: src.role,
        partition: src.partition,
        start: src.start,
        length: src.length,
        fs: src.fs,
        data_bytes,
        zero_bytes,
        chunk_count: c.count,
        extents: extents.pieces,
        chunks: c.chunks.pieces,
        skipped: src.skipped.clone(),
    })
}

/// A worker: hashes a run of chunks, asks the store which it lacks, and
/// stores those (compressed together by a store that packs).
fn store_chunks(
    work: &Receiver<Work>,
    done: &Sender<Done>,
    store: &dyn WriteStore,
    level: i32,
    fail: &(dyn Fn(Error) + Sync),
) {
    while let Ok(Work { seq, chunks }) = work.recv() {
        let ids: Vec<ChunkId> = chunks.iter().map(|d| ChunkId::of(d)).collect();
        let have = match store.has_many(&ids) {
            Ok(h) => h,
            Err(e) => return fail(e),
        };
        let lacking: Vec<usize> = (0..chunks.len()).filter(|&i| !have[i]).collect();
        let mut added = vec![false; chunks.len()];
        let mut bytes = 0;
        if !lacking.is_empty() {
            let new: Vec<(ChunkId, &[u8])> =
                lacking.iter().map(|&i| (ids[i], &chunks[i][..])).collect();
            match store.put_many(&new, level) {
                Ok((stored, b)) => {
                    for (&i, s) in lacking.iter().zip(stored) {
                        added[i] = s;
                    }
                    bytes = b;
                }
                Err(e) => return fail(e),
            }
        }
        for (i, (data, id)) in chunks.iter().zip(ids).enumerate() {
            let sent = done.send(Done {
                seq: seq + i as u64,
                chunk: ChunkRef {
                    id,
                    len: data.len() as u32,
                },
                new: added[i],
                bytes: std::mem::take(&mut bytes),
            });
            if sent.is_err() {
                return;
            }
        }
    }
}

/// Puts the workers' chunks back in stream order into the chunk list.
fn collect_chunks(done: Receiver<Done>, store: &dyn WriteStore, level: i32) -> Result<Collected> {
    let mut c = Collected {
        chunks: PieceWriter::chunks(),
        count: 0,
        new_chunks: 0,
        new_bytes: 0,
    };
    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    for d in done {
        pending.insert(d.seq, d);
        while let Some(d) = pending.remove(&next) {
            c.chunks.push_chunk(&d.chunk, store, level)?;
            c.count += 1;
            c.new_chunks += u64::from(d.new);
            c.new_bytes += d.bytes;
            next += 1;
        }
    }
    c.chunks.flush(store, level)?;
    Ok(c)
}

/// Turns read blocks into extents (data or zero runs) and data chunks.
struct Cutter<'a> {
    store: &'a dyn WriteStore,
    opts: &'a CaptureOptions,
    progress: &'a dyn Progress,
    failed: &'a AtomicBool,
    work: Sender<Work>,
    /// The store packs: runs are a pack's worth, not [`HAS_BATCH`] chunks.
    packs: bool,
    /// Chunks cut but not yet handed to a worker, and their bytes.
    run: Vec<Vec<u8>>,
    run_bytes: usize,
    extents: PieceWriter,
    data_bytes: u64,
    zero_bytes: u64,
}

/// What cutting a region produced.
struct Cut {
    extents: PieceWriter,
    data_bytes: u64,
    zero_bytes: u64,
}

impl Cutter<'_> {
    /// Cuts every block; the workers' queue closes when this returns.
    fn run(mut self, blocks: &Receiver<Result<Block>>, free: &Sender<AlignedBuf>) -> Result<Cut> {
        let mut stream: Vec<u8> = Vec::with_capacity(READ_BLOCK + self.opts.params.max);
        let mut seq = 0u64;
        let mut last: Option<Extent> = None;
        for block in blocks {
            let block = block?;
            for &(from, to) in &block.used {
                for (i, piece) in block.buf[from..to].chunks(ZERO_BLOCK).enumerate() {
                    let at = block.at + (from + i * ZERO_BLOCK) as u64;
                    let kind = if is_zero(piece) {
                        self.zero_bytes += piece.len() as u64;
                        ExtentKind::Zero
                    } else {
                        self.data_bytes += piece.len() as u64;
                        stream.extend_from_slice(piece);
                        ExtentKind::Data
                    };
                    self.extend(&mut last, at, piece.len() as u64, kind)?;
                }
                self.progress.advance((to - from) as u64);
            }
            self.emit(&mut stream, &mut seq, false)?;
            let _ = free.send(block.buf);
        }
        self.emit(&mut stream, &mut seq, true)?;
        if let Some(e) = last.take() {
            self.extents.push_extent(&e, self.store, self.opts.level)?;
        }
        self.extents.flush(self.store, self.opts.level)?;
        Ok(Cut {
            extents: self.extents,
            data_bytes: self.data_bytes,
            zero_bytes: self.zero_bytes,
        })
    }

    /// Grows the current extent when `at` continues it with the same kind;
    /// otherwise stores it and starts a new one.
    fn extend(
        &mut self,
        last: &mut Option<Extent>,
        at: u64,
        len: u64,
        kind: ExtentKind,
    ) -> Result<()> {
        match last {
            Some(e) if e.kind == kind && e.offset + e.len == at => e.len += len,
            _ => {
                if let Some(e) = last.take() {
                    self.extents.push_extent(&e, self.store, self.opts.level)?;
                }
                *last = Some(Extent {
                    offset: at,
                    len,
                    kind,
                });
            }
        }
        Ok(())
    }

    /// Cuts every whole chunk at the front of `stream` and hands them to the
    /// workers in runs; at the end, the rest too.
    fn emit(&mut self, stream: &mut Vec<u8>, seq: &mut u64, at_end: bool) -> Result<()> {
        let mut pos = 0;
        while pos < stream.len() {
            let Some(n) = cut(&stream[pos..], &self.opts.params, at_end) else {
                break;
            };
            self.run.push(stream[pos..pos + n].to_vec());
            self.run_bytes += n;
            pos += n;
            let full = if self.packs {
                self.run_bytes >= PACK_BYTES
            } else {
                self.run.len() >= HAS_BATCH
            };
            if full {
                self.send_run(seq)?;
            }
        }
        stream.drain(..pos);
        if at_end && !self.run.is_empty() {
            self.send_run(seq)?;
        }
        Ok(())
    }

    fn send_run(&mut self, seq: &mut u64) -> Result<()> {
        let chunks = std::mem::take(&mut self.run);
        let count = chunks.len() as u64;
        self.run_bytes = 0;
        if self.failed.load(Ordering::SeqCst) || self.work.send(Work { seq: *seq, chunks }).is_err()
        {
            return Err(Error::Cancelled {
                what: "capture".into(),
            });
        }
        *seq += count;
        Ok(())
    }
}

/// A stretch of the disk read in one go, and which parts of it are used.
struct Block {
    buf: AlignedBuf,
    /// Disk offset of `buf[0]`.
    at: u64,
    /// Used byte ranges within `buf`, in order.
    used: Vec<(usize, usize)>,
}

/// Unused gaps up to this size are read through rather than skipped: one
/// larger read beats many small ones on fragmented filesystems.
const COALESCE_GAP: u64 = 16 << 10;

/// Used ranges at least this long are read past the page cache, where the
/// disk can; shorter ones are hinted ahead, which direct reads of one
/// range at a time cannot match.
const UNCACHED_RANGE: u64 = 1 << 20;

/// Reads the used ranges in order, coalescing nearby ranges into blocks of
/// up to READ_BLOCK bytes. Long ranges are read past the page cache where
/// the disk can; the kernel is asked to read ahead the rest.
fn read_blocks(
    disk: &dyn ReadAt,
    used: &RangeSet,
    zeroed: &RangeSet,
    out: &Sender<Result<Block>>,
    free: &Receiver<AlignedBuf>,
) -> Result<()> {
    let long = |len: u64| disk.bypasses_cache() && len >= UNCACHED_RANGE;
    let mut ranges = used.iter().peekable();
    let mut advisor = Advisor::new(used, zeroed, &long);
    let mut consumed = 0u64;
    // The remainder of a range longer than one block, and whether that
    // range is long enough to read uncached.
    let mut carry: Option<(u64, u64, bool)> = None;
    loop {
        let Some((start, len, uncached)) = carry
            .take()
            .or_else(|| ranges.next().map(|(s, l)| (s, l, long(l))))
        else {
            return Ok(());
        };
        let mut used_in = vec![(0usize, 0usize)];
        let first = len.min(READ_BLOCK as u64);
        used_in[0].1 = first as usize;
        if first < len {
            carry = Some((start + first, len - first, uncached));
        }
        let mut end = start + first;
        // A long range is a block of its own: coalesced with short ones, the
        // short ones' cached copies would be read a second time.
        while carry.is_none() && !uncached {
            let Some(&(s, l)) = ranges.peek() else { break };
            if s - end > COALESCE_GAP || s + l - start > READ_BLOCK as u64 || long(l) {
                break;
            }
            ranges.next();
            used_in.push(((s - start) as usize, (s + l - start) as usize));
            end = s + l;
        }
        consumed += used_in.iter().map(|(a, b)| (b - a) as u64).sum::<u64>();
        advisor.advise_until(disk, consumed + READ_AHEAD);
        let Ok(mut buf) = free.recv() else {
            return Ok(()); // the consumer stopped
        };
        buf.set_len((end - start) as usize);
        let block = read_skipping(disk, &mut buf, start, zeroed, uncached).map(|()| Block {
            buf,
            at: start,
            used: used_in,
        });
        let failed = block.is_err();
        if out.send(block).is_err() || failed {
            return Ok(());
        }
    }
}

/// Fills `buf` from `at`, with zeros where `zeroed` says, reading only
/// the rest.
fn read_skipping(
    disk: &dyn ReadAt,
    buf: &mut [u8],
    at: u64,
    zeroed: &RangeSet,
    uncached: bool,
) -> Result<()> {
    let read = |buf: &mut [u8], offset: u64| {
        if uncached {
            disk.read_uncached(buf, offset)
        } else {
            disk.read_at(buf, offset)
        }
    };
    let end = at + buf.len() as u64;
    let mut done = 0usize;
    for (s, l) in zeroed.overlapping(at, end) {
        let (from, to) = ((s.max(at) - at) as usize, ((s + l).min(end) - at) as usize);
        if from > done {
            read(&mut buf[done..from], at + done as u64)?;
        }
        buf[from..to].fill(0);
        done = to;
    }
    if done < buf.len() {
        read(&mut buf[done..], at + done as u64)?;
    }
    Ok(())
}

/// Scattered used ranges defeat the kernel's sequential readahead, so
/// Marrow asks for the next used bytes itself, and only for used bytes
/// that are read through the page cache.
struct Advisor {
    /// Used ranges in order, less the zeroed ones, and whether to hint each
    /// (not those read uncached, which would be read twice).
    ranges: Vec<(u64, u64, bool)>,
    next: usize,
    /// How far into `ranges[next]` has been advised.
    within: u64,
    /// Used bytes advised (or passed over) so far.
    advised: u64,
}

impl Advisor {
    fn new(used: &RangeSet, zeroed: &RangeSet, long: &dyn Fn(u64) -> bool) -> Self {
        let mut ranges = Vec::new();
        for (s, l) in used.iter() {
            let mut one = RangeSet::new();
            one.push(s, l);
            let hint = !long(l);
            ranges.extend(one.subtract(zeroed).iter().map(|(s, l)| (s, l, hint)));
        }
        Advisor {
            ranges,
            next: 0,
            within: 0,
            advised: 0,
        }
    }

    fn advise_until(&mut self, disk: &dyn ReadAt, used_bytes: u64) {
        while self.advised < used_bytes && self.next < self.ranges.len() {
            let (start, len, hint) = self.ranges[self.next];
            let step = (len - self.within)
                .min(used_bytes - self.advised)
                .max(1 << 20)
                .min(len - self.within);
            if hint {
                disk.will_need(start + self.within, step);
            }
            self.within += step;
            self.advised += step;
            if self.within == len {
                self.next += 1;
                self.within = 0;
            }
        }
    }
}
