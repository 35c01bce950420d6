//! Where chunks and manifests live.
//!
//! Chunk stores form a ladder of traits (after desync's `Store` →
//! `WriteStore` → `PruneStore` and rustic's `ReadBackend` →
//! `WriteBackend`), and each backend implements the rungs it can:
//!
//! | trait | adds | implemented by |
//! |---|---|---|
//! | [`ReadStore`] | `has`, `get` | every store |
//! | [`WriteStore`] | `put`, `flush` | local, memory, the client's HTTP store, [`Counting`] |
//! | [`PruneStore`] | listing, sizes, `remove` | local, memory |
//! | [`LockStore`] | a shared or exclusive hold on the whole store | local |
//!
//! Capture needs a [`WriteStore`], restore and verify a [`ReadStore`], gc
//! a [`PruneStore`] it can lock. Wrappers add one behaviour each and pass
//! the rest through ([`Counting`] counts what a capture sends).
//!
//! Manifests and the names that point at them are a [`ManifestStore`].
//! A manifest's bytes are canonical and refuse unknown fields, so a
//! signature (site sync) will sit beside the manifest as a detached file,
//! not inside it; see docs/design.md.
//!
//! Network backends (the client's HTTP store, an S3 store) live outside
//! this crate, which does no network I/O.

mod codec;
mod counting;
mod local;
mod local_packs;
mod local_recover;
mod memory;
pub mod names;
pub mod pack;

pub use codec::{decode_chunk, encode_chunk, identify_chunk, MAX_CHUNK_LEN};
pub use counting::{Counting, Counts};
pub use local::{LocalStore, StoreLock};
pub use local_recover::Recovered;
pub use memory::MemoryStore;

use crate::error::Result;
use crate::id::{ChunkId, ImageId};

/// Content-addressed chunks, read. Chunks are stored zstd-compressed and
/// named by the BLAKE3 of their plain bytes.
pub trait ReadStore: Send + Sync {
    /// How errors name this store (a path or a URL).
    fn describe(&self) -> String;
    fn has(&self, id: &ChunkId) -> Result<bool>;
    /// Asks about many chunks at once, so remote stores can batch.
    fn has_many(&self, ids: &[ChunkId]) -> Result<Vec<bool>> {
        ids.iter().map(|id| self.has(id)).collect()
    }
    /// The chunk as one zstd frame of its own, unverified: what goes over
    /// the wire. A store that packs chunks compresses a packed one afresh.
    /// Use [`ReadStore::get`] to read a chunk.
    fn get_raw(&self, id: &ChunkId) -> Result<Vec<u8>>;

    /// Reads, decompresses and verifies a chunk against its name.
    fn get(&self, id: &ChunkId) -> Result<Vec<u8>> {
        self.get_counted(id).map(|(plain, _)| plain)
    }

    /// [`ReadStore::get`], with the stored bytes the chunk accounts for
    /// (its frame, or its share of a pack), for restore reports.
    fn get_counted(&self, id: &ChunkId) -> Result<(Vec<u8>, u64)> {
        let raw = self.get_raw(id)?;
        let plain = decode_chunk(id, &raw, &self.describe())?;
        Ok((plain, raw.len() as u64))
    }
}

/// A store chunks can be added to.
pub trait WriteStore: ReadStore {
    /// Stores compressed bytes; returns false when the chunk was already there.
    fn put(&self, id: &ChunkId, compressed: &[u8]) -> Result<bool>;
    /// Makes every chunk put so far durable. A manifest may name a chunk
    /// only after this returns.
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    /// Whether [`WriteStore::put_many`] compresses chunks together (store
    /// format 2), so a capture hands it runs of new chunks and a pack level.
    fn packs(&self) -> bool {
        false
    }
    /// Stores chunks given plain; for each, whether it was added, and the
    /// compressed bytes added in all. By default each is compressed on its
    /// own at `level` and [`WriteStore::put`].
    fn put_many(&self, chunks: &[(ChunkId, &[u8])], level: i32) -> Result<(Vec<bool>, u64)> {
        put_each(self, chunks, level)
    }
}

/// [`WriteStore::put_many`] one chunk at a time, for stores that do not
/// pack.
pub fn put_each<S: WriteStore + ?Sized>(
    store: &S,
    chunks: &[(ChunkId, &[u8])],
    level: i32,
) -> Result<(Vec<bool>, u64)> {
    let mut added = Vec::with_capacity(chunks.len());
    let mut bytes = 0;
    for (id, plain) in chunks {
        let (_, compressed) = encode_chunk(plain, level);
        let new = store.put(id, &compressed)?;
        if new {
            bytes += compressed.len() as u64;
        }
        added.push(new);
    }
    Ok((added, bytes))
}

/// What [`PruneStore::reclaim`] freed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reclaimed {
    /// Packs no chunk pointed into any more, removed.
    pub removed_packs: u64,
    /// Packs mostly dead, whose live chunks were packed afresh.
    pub repacked_packs: u64,
    /// Stored bytes freed.
    pub bytes: u64,
}

/// A store that can be listed and swept.
pub trait PruneStore: WriteStore {
    /// Calls `f` with every chunk id and its stored size.
    fn for_each(&self, f: &mut dyn FnMut(ChunkId, u64) -> Result<()>) -> Result<()>;
    /// Size of the stored (compressed) chunk, or None when absent.
    fn stored_size(&self, id: &ChunkId) -> Result<Option<u64>>;
    fn remove(&self, id: &ChunkId) -> Result<()>;
    /// Removes what crashed writers left half-written; returns how many
    /// items went. Only safe under an exclusive [`LockStore::lock`].
    fn clean_temporaries(&self) -> Result<u64> {
        Ok(0)
    }
    /// What crashed writers left half-written: how many items, how many
    /// bytes. `clean_temporaries` removes them.
    fn orphans(&self) -> Result<(u64, u64)> {
        Ok((0, 0))
    }
    /// The length of the chunk's frame as [`ReadStore::get_raw`] gives it
    /// (what goes over the wire), or None when absent. A store that packs
    /// compresses a packed chunk afresh to tell.
    fn frame_size(&self, id: &ChunkId) -> Result<Option<u64>> {
        self.stored_size(id)
    }
    /// After chunks were removed: frees the space of packs they leave dead
    /// or mostly dead. Only safe under an exclusive [`LockStore::lock`].
    fn reclaim(&self) -> Result<Reclaimed> {
        Ok(Reclaimed::default())
    }
}

/// How a store is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Captures and restores: many at once.
    Shared,
    /// gc, which must not delete a chunk a running capture has just reused.
    Exclusive,
}

/// A store that can be held against concurrent sweeping.
pub trait LockStore {
    /// Released when dropped.
    type Guard;
    /// Waits until the store can be held in `mode`.
    fn lock(&self, mode: LockMode) -> Result<Self::Guard>;
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
    /// Keeps a detached signature of a manifest (site sync): opaque bytes,
    /// replaced whole. The signature signs the id, so it cannot live in
    /// the manifest (docs/design.md).
    fn put_signature(&self, id: &ImageId, bytes: &[u8]) -> Result<()>;
    /// A manifest's signature, if it has one.
    fn get_signature(&self, id: &ImageId) -> Result<Option<Vec<u8>>>;
}
