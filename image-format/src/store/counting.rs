//! A wrapper that counts what passes through a store: how many chunks it
//! already had when asked, and how many chunks and bytes were newly
//! stored. A capture's report is made of these numbers, whatever the store.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{ReadStore, WriteStore};
use crate::error::Result;
use crate::id::ChunkId;

/// The counts so far.
#[derive(Debug, Default)]
pub struct Counts {
    /// Chunks a `has` or `has_many` answered true for.
    pub known_chunks: AtomicU64,
    /// Chunks a `put` newly stored.
    pub stored_chunks: AtomicU64,
    /// Compressed bytes of those chunks.
    pub stored_bytes: AtomicU64,
}

impl Counts {
    fn get(n: &AtomicU64) -> u64 {
        n.load(Ordering::Relaxed)
    }

    pub fn known(&self) -> u64 {
        Self::get(&self.known_chunks)
    }

    pub fn stored(&self) -> u64 {
        Self::get(&self.stored_chunks)
    }

    pub fn bytes(&self) -> u64 {
        Self::get(&self.stored_bytes)
    }
}

/// `S`, counting.
pub struct Counting<S> {
    inner: S,
    pub counts: Counts,
}

impl<S> Counting<S> {
    pub fn new(inner: S) -> Self {
        Counting {
            inner,
            counts: Counts::default(),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: ReadStore> ReadStore for Counting<S> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn has(&self, id: &ChunkId) -> Result<bool> {
        let have = self.inner.has(id)?;
        self.counts
            .known_chunks
            .fetch_add(u64::from(have), Ordering::Relaxed);
        Ok(have)
    }

    fn has_many(&self, ids: &[ChunkId]) -> Result<Vec<bool>> {
        let have = self.inner.has_many(ids)?;
        let known = have.iter().filter(|h| **h).count() as u64;
        self.counts.known_chunks.fetch_add(known, Ordering::Relaxed);
        Ok(have)
    }

    fn get_raw(&self, id: &ChunkId) -> Result<Vec<u8>> {
        self.inner.get_raw(id)
    }

    fn get_counted(&self, id: &ChunkId) -> Result<(Vec<u8>, u64)> {
        self.inner.get_counted(id)
    }
}

impl<S: WriteStore> WriteStore for Counting<S> {
    fn put(&self, id: &ChunkId, compressed: &[u8]) -> Result<bool> {
        let created = self.inner.put(id, compressed)?;
        if created {
            self.counts.stored_chunks.fetch_add(1, Ordering::Relaxed);
            self.counts
                .stored_bytes
                .fetch_add(compressed.len() as u64, Ordering::Relaxed);
        }
        Ok(created)
    }

    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    fn packs(&self) -> bool {
        self.inner.packs()
    }

    fn put_many(&self, chunks: &[(ChunkId, &[u8])], level: i32) -> Result<(Vec<bool>, u64)> {
        let (added, bytes) = self.inner.put_many(chunks, level)?;
        let stored = added.iter().filter(|a| **a).count() as u64;
        self.counts
            .stored_chunks
            .fetch_add(stored, Ordering::Relaxed);
        self.counts.stored_bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok((added, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{encode_chunk, MemoryStore};

    #[test]
    fn counts_known_and_newly_stored_chunks_only() {
        let store = Counting::new(MemoryStore::new());
        let (a, raw_a) = encode_chunk(b"first chunk", 1);
        let (b, raw_b) = encode_chunk(b"second chunk", 1);
        assert!(store.put(&a, &raw_a).unwrap());
        assert!(!store.put(&a, &raw_a).unwrap(), "already there");
        assert_eq!(store.has_many(&[a, b]).unwrap(), vec![true, false]);
        assert!(store.has(&a).unwrap());
        assert!(store.put(&b, &raw_b).unwrap());
        assert_eq!(store.counts.known(), 2);
        assert_eq!(store.counts.stored(), 2);
        assert_eq!(
            store.counts.bytes(),
            (raw_a.len() + raw_b.len()) as u64,
            "the repeated put adds nothing"
        );
        assert_eq!(store.get(&b).unwrap(), b"second chunk");
    }
}
