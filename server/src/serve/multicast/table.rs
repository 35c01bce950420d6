//! A session's chunk table and the symbols of its chunks.
//!
//! The table is the image's distinct chunks in first-use order
//! (`Placement::distinct`), with the length of each chunk's frame (its
//! stored bytes, or for a packed chunk the frame it is sent as):
//! the sender and every receiver derive it alike from the manifest. The
//! sender reads a chunk's stored bytes when the carousel reaches it and
//! keeps the encoders of the last few, since a pass sends each chunk's
//! symbols in bursts.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use image_format::manifest::Manifest;
use image_format::placement::Placement;
use image_format::store::{ManifestStore, PruneStore, ReadStore};

use crate::store::Store;
use marrow_protocol::multicast::fec::ChunkEncoder;
use marrow_protocol::multicast::sender::ChunkMeta;
use marrow_protocol::multicast::wire::MAX_CHUNK_LEN;
use marrow_protocol::ImageId;

use crate::error::{Error, Result};

/// Encoders kept at once.
const CACHED: usize = 32;

pub(crate) struct Table {
    pub chunks: Vec<ChunkMeta>,
}

impl Table {
    pub fn build(store: &Store, manifest: &ImageId) -> Result<Table> {
        let bytes = store.get_manifest(manifest)?;
        let m = Manifest::parse(&bytes, &manifest.to_hex(), &store.describe())?;
        let placement = Placement::new(&m.regions, store)?;
        let ids = placement.distinct();
        // A packed chunk's frame is compressed afresh to learn its length,
        // so the lengths are found on every core.
        let threads = image_format::default_threads().clamp(1, ids.len().max(1));
        let per = ids.len().div_ceil(threads).max(1);
        let parts = std::thread::scope(|s| {
            let workers: Vec<_> = ids
                .chunks(per)
                .map(|part| s.spawn(move || frame_lengths(store, manifest, part)))
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("frame length worker panicked"))
                .collect::<Result<Vec<_>>>()
        })?;
        let chunks = parts.into_iter().flatten().collect();
        Ok(Table { chunks })
    }
}

/// Each chunk with the length of the frame the sender will read for it.
fn frame_lengths(
    store: &Store,
    manifest: &ImageId,
    ids: &[image_format::ChunkId],
) -> Result<Vec<ChunkMeta>> {
    ids.iter()
        .map(|&id| {
            let len = store
                .frame_size(&id)?
                .ok_or(image_format::Error::ChunkMissing {
                    id,
                    store: store.describe(),
                })?;
            if len == 0 || len > MAX_CHUNK_LEN as u64 {
                return Err(Error::Usage(format!(
                    "chunk {id} of image {} is {len} bytes stored, which a multicast frame cannot describe",
                    manifest.short()
                )));
            }
            Ok(ChunkMeta { id, len: len as u32 })
        })
        .collect()
}

/// Encoders for the chunks the sender is at.
pub(crate) struct Symbols {
    store: Arc<Store>,
    table: Arc<Table>,
    symbol_size: u16,
    cache: HashMap<u32, ChunkEncoder>,
    order: VecDeque<u32>,
}

impl Symbols {
    pub fn new(store: Arc<Store>, table: Arc<Table>, symbol_size: u16) -> Symbols {
        Symbols {
            store,
            table,
            symbol_size,
            cache: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The encoder of chunk `index`, reading its stored bytes when it is
    /// not cached.
    pub fn encoder(&mut self, index: u32) -> Result<&mut ChunkEncoder> {
        if !self.cache.contains_key(&index) {
            let meta = self.table.chunks[index as usize];
            let raw = self.store.get_raw(&meta.id)?;
            if raw.len() != meta.len as usize {
                return Err(Error::Usage(format!(
                    "chunk {} changed size in the store ({} bytes, the session's table says {})",
                    meta.id,
                    raw.len(),
                    meta.len
                )));
            }
            if self.order.len() >= CACHED {
                if let Some(old) = self.order.pop_front() {
                    self.cache.remove(&old);
                }
            }
            self.order.push_back(index);
            self.cache
                .insert(index, ChunkEncoder::new(raw, self.symbol_size));
        }
        Ok(self.cache.get_mut(&index).expect("inserted above"))
    }
}
