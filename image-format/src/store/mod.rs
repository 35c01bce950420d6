//! Where chunks and manifests live. Backends implement two small traits so
//! that a local directory, an HTTP server or an S3 bucket can stand behind
//! the same capture and restore code.

mod codec;
mod local;
mod memory;

pub use codec::{decode_chunk, encode_chunk, MAX_CHUNK_LEN};
pub use local::{LocalStore, StoreLock};
pub use memory::MemoryStore;

use crate::error::Result;
use crate::id::{ChunkId, ImageId};

/// Content-addressed chunk storage. Chunks are stored zstd-compressed and
/// named by the BLAKE3 of their plain bytes.
pub trait ChunkStore: Send + Sync {
    /// How errors name this store (a path or a URL).
    fn describe(&self) -> String;
    fn has(&self, id: &ChunkId) -> Result<bool>;
    /// Asks about many chunks at once, so remote stores can batch.
    fn has_many(&self, ids: &[ChunkId]) -> Result<Vec<bool>> {
        ids.iter().map(|id| self.has(id)).collect()
    }
    /// Stores compressed bytes; returns false when the chunk was already there.
    fn put(&self, id: &ChunkId, compressed: &[u8]) -> Result<bool>;
    /// The stored bytes, unverified. Use [`ChunkStore::get`] to read a chunk.
    fn get_raw(&self, id: &ChunkId) -> Result<Vec<u8>>;
    /// Size of the stored (compressed) chunk, or None when absent.
    fn stored_size(&self, id: &ChunkId) -> Result<Option<u64>>;
    fn remove(&self, id: &ChunkId) -> Result<()>;
    /// Calls `f` with every chunk id and its stored size.
    fn for_each(&self, f: &mut dyn FnMut(ChunkId, u64) -> Result<()>) -> Result<()>;
    /// Makes every chunk put so far durable. A manifest may name a chunk
    /// only after this returns.
    fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// Reads, decompresses and verifies a chunk against its name.
    fn get(&self, id: &ChunkId) -> Result<Vec<u8>> {
        let raw = self.get_raw(id)?;
        decode_chunk(id, &raw, &self.describe())
    }
}

/// One entry of an image name's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RefEntry {
    pub id: ImageId,
    /// Seconds since the Unix epoch when the version was committed.
    pub created: u64,
}

/// Manifests (content-addressed) and the names that point at them.
pub trait ManifestStore: Send + Sync {
    fn put_manifest(&self, bytes: &[u8]) -> Result<ImageId>;
    /// The manifest's bytes, verified against its id.
    fn get_manifest(&self, id: &ImageId) -> Result<Vec<u8>>;
    fn remove_manifest(&self, id: &ImageId) -> Result<()>;
    fn manifest_ids(&self) -> Result<Vec<ImageId>>;
    /// Appends a version to a name's history, creating the name.
    fn push_ref(&self, name: &str, entry: RefEntry) -> Result<()>;
    /// Oldest first. Empty when the name is unknown.
    fn history(&self, name: &str) -> Result<Vec<RefEntry>>;
    /// Replaces a name's history; an empty history removes the name.
    fn set_history(&self, name: &str, entries: &[RefEntry]) -> Result<()>;
    fn names(&self) -> Result<Vec<String>>;
}
