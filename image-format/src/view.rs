//! An image version as a read-only disk, without restoring it: any byte
//! range is put together from the chunks that cover it (each read from
//! the store and checked against its name), zeros elsewhere, and the
//! partition tables a same-size restore would write. Recently read chunks
//! are kept in a cache of bounded size.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::Result;
use crate::id::{ChunkId, ImageId};
use crate::manifest::Manifest;
use crate::placement::Placement;
use crate::plan::{RestoreOptions, RestorePlan, TableWrite};
use crate::store::ReadStore;

/// A run of disk bytes filled from part of one chunk.
#[derive(Debug, Clone, Copy)]
struct Piece {
    offset: u64,
    len: u64,
    id: ChunkId,
    /// Where in the chunk's plain bytes the run starts.
    within: u64,
}

/// Chunks by id, each with the tick of its last use.
#[derive(Default)]
struct Cache {
    chunks: HashMap<ChunkId, (Arc<Vec<u8>>, u64)>,
    bytes: usize,
    tick: u64,
}

pub struct ImageView {
    size: u64,
    store: Arc<dyn ReadStore>,
    /// Sorted by `offset`, not overlapping.
    pieces: Vec<Piece>,
    tables: Vec<TableWrite>,
    cache: Mutex<Cache>,
    cache_limit: usize,
}

impl ImageView {
    /// The disk of image `id` (whose manifest is `manifest`) at its
    /// captured size, reading chunks from `store` and keeping up to
    /// `cache_limit` bytes of them.
    pub fn open(
        id: ImageId,
        manifest: &Manifest,
        store: Arc<dyn ReadStore>,
        cache_limit: usize,
    ) -> Result<ImageView> {
        let placement = Placement::new(&manifest.regions, store.as_ref())?;
        let mut pieces = Vec::new();
        for slot in placement.slots() {
            let mut within = 0;
            for seg in placement.segments(slot) {
                pieces.push(Piece {
                    offset: seg.offset,
                    len: seg.len,
                    id: slot.id,
                    within,
                });
                within += seg.len;
            }
        }
        pieces.sort_unstable_by_key(|p| p.offset);
        let size = manifest.layout.size;
        let plan = RestorePlan::new(id, manifest, "an export", size, &RestoreOptions::default())?;
        Ok(ImageView {
            size,
            store,
            pieces,
            tables: plan.table_writes,
            cache: Mutex::new(Cache::default()),
            cache_limit,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// `len` bytes at `offset`, which must lie inside the disk. Fails,
    /// naming the chunk, when a chunk the range needs is missing or does
    /// not match its name; other ranges are unaffected.
    pub fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let end = offset + len as u64;
        let mut buf = vec![0u8; len];
        let first = self.pieces.partition_point(|p| p.offset + p.len <= offset);
        for p in &self.pieces[first..] {
            if p.offset >= end {
                break;
            }
            let chunk = self.chunk(&p.id)?;
            let (from, to) = (p.offset.max(offset), (p.offset + p.len).min(end));
            let src = (p.within + from - p.offset) as usize;
            buf[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&chunk[src..src + (to - from) as usize]);
        }
        // A restore writes the tables last, over the data.
        for t in &self.tables {
            let t_end = t.offset + t.bytes.len() as u64;
            if t_end <= offset || t.offset >= end {
                continue;
            }
            let (from, to) = (t.offset.max(offset), t_end.min(end));
            buf[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&t.bytes[(from - t.offset) as usize..(to - t.offset) as usize]);
        }
        Ok(buf)
    }

    fn chunk(&self, id: &ChunkId) -> Result<Arc<Vec<u8>>> {
        {
            let mut cache = self.cache.lock().expect("cache lock");
            cache.tick += 1;
            let tick = cache.tick;
            if let Some((data, used)) = cache.chunks.get_mut(id) {
                *used = tick;
                return Ok(data.clone());
            }
        }
        // Read and checked outside the lock, so readers of other chunks
        // do not wait.
        let data = Arc::new(self.store.get(id)?);
        let mut cache = self.cache.lock().expect("cache lock");
        let tick = cache.tick;
        if cache.chunks.insert(*id, (data.clone(), tick)).is_none() {
            cache.bytes += data.len();
        }
        while cache.bytes > self.cache_limit && cache.chunks.len() > 1 {
            let oldest = cache
                .chunks
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(id, _)| *id)
                .expect("not empty");
            if let Some((gone, _)) = cache.chunks.remove(&oldest) {
                cache.bytes -= gone.len();
            }
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{capture, CaptureOptions};
    use crate::disk::MemDisk;
    use crate::progress::NoProgress;
    use crate::store::MemoryStore;

    /// A bare disk (no table) of patterned data with a zero hole: every
    /// read, at any offset and length, is the disk's own bytes.
    #[test]
    fn any_range_reads_as_the_captured_disk() {
        let mut bytes: Vec<u8> = (0..3u32 << 20).map(|i| (i * 7 % 251) as u8).collect();
        bytes[1 << 20..(1 << 20) + 300_000].fill(0);
        let store = Arc::new(MemoryStore::new());
        let (manifest, _) = capture(
            &MemDisk::new(bytes.clone()),
            store.as_ref(),
            &CaptureOptions::default(),
            &NoProgress,
        )
        .unwrap();
        let view = ImageView::open(manifest.id(), &manifest, store, 256 << 10).unwrap();
        assert_eq!(view.size(), bytes.len() as u64);
        let mut next = marrow_test_support::xorshift(0x5eed);
        for _ in 0..200 {
            let off = next() % bytes.len() as u64;
            let len = (next() % 200_000).min(bytes.len() as u64 - off) as usize;
            let got = view.read(off, len).unwrap();
            assert_eq!(got, bytes[off as usize..off as usize + len], "{off}+{len}");
        }
        assert!(view.cache.lock().unwrap().bytes <= (256 << 10) + (256 << 10));
    }
}
