//! A store in memory, for tests and for staging.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{PruneStore, ReadStore, WriteStore};
use crate::error::{Error, Result};
use crate::id::ChunkId;

#[derive(Default)]
pub struct MemoryStore {
    chunks: Mutex<HashMap<ChunkId, Vec<u8>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces a chunk's stored bytes, to test corruption handling.
    pub fn tamper(&self, id: &ChunkId, raw: Vec<u8>) {
        self.chunks.lock().unwrap().insert(*id, raw);
    }
}

impl ReadStore for MemoryStore {
    fn describe(&self) -> String {
        "memory store".into()
    }

    fn has(&self, id: &ChunkId) -> Result<bool> {
        Ok(self.chunks.lock().unwrap().contains_key(id))
    }

    fn get_raw(&self, id: &ChunkId) -> Result<Vec<u8>> {
        self.chunks
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::ChunkMissing {
                id: *id,
                store: self.describe(),
            })
    }
}

impl WriteStore for MemoryStore {
    fn put(&self, id: &ChunkId, compressed: &[u8]) -> Result<bool> {
        let mut map = self.chunks.lock().unwrap();
        if map.contains_key(id) {
            return Ok(false);
        }
        map.insert(*id, compressed.to_vec());
        Ok(true)
    }
}

impl PruneStore for MemoryStore {
    fn stored_size(&self, id: &ChunkId) -> Result<Option<u64>> {
        Ok(self.chunks.lock().unwrap().get(id).map(|c| c.len() as u64))
    }

    fn remove(&self, id: &ChunkId) -> Result<()> {
        self.chunks.lock().unwrap().remove(id);
        Ok(())
    }

    fn for_each(&self, f: &mut dyn FnMut(ChunkId, u64) -> Result<()>) -> Result<()> {
        let entries: Vec<_> = self
            .chunks
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (*k, v.len() as u64))
            .collect();
        for (id, len) in entries {
            f(id, len)?;
        }
        Ok(())
    }
}
