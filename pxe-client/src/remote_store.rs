//! The server's chunk store, seen through the client API: capture and
//! restore in `image-format` run against it unchanged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use image_format::store::ChunkStore;
use image_format::{ChunkId, Error as ImageError, Result};
use marrow_protocol::api::MAX_HAS_BATCH;

use crate::api::Client;

pub struct HttpStore {
    client: Arc<Client>,
    image: String,
    pub uploaded_bytes: AtomicU64,
    pub uploaded_chunks: AtomicU64,
    pub known_chunks: AtomicU64,
}

impl HttpStore {
    pub fn new(client: Arc<Client>, image: &str) -> HttpStore {
        HttpStore {
            client,
            image: image.to_owned(),
            uploaded_bytes: AtomicU64::new(0),
            uploaded_chunks: AtomicU64::new(0),
            known_chunks: AtomicU64::new(0),
        }
    }

    fn fail(&self, e: crate::Error) -> ImageError {
        ImageError::Store {
            store: self.describe(),
            detail: e.to_string(),
        }
    }

    fn unsupported(&self, what: &str) -> ImageError {
        ImageError::Unsupported(format!(
            "{what} is not offered by the server API ({})",
            self.describe()
        ))
    }
}

impl ChunkStore for HttpStore {
    fn describe(&self) -> String {
        format!("{} image {}", self.client.base(), self.image)
    }

    fn has(&self, id: &ChunkId) -> Result<bool> {
        Ok(self.has_many(std::slice::from_ref(id))?[0])
    }

    fn has_many(&self, ids: &[ChunkId]) -> Result<Vec<bool>> {
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(MAX_HAS_BATCH) {
            let hex: Vec<String> = batch.iter().map(ChunkId::to_hex).collect();
            let have = self
                .client
                .has(&self.image, &hex)
                .map_err(|e| self.fail(e))?;
            let known = have.iter().filter(|h| **h).count() as u64;
            self.known_chunks.fetch_add(known, Ordering::Relaxed);
            out.extend(have);
        }
        Ok(out)
    }

    fn put(&self, id: &ChunkId, compressed: &[u8]) -> Result<bool> {
        let created = self
            .client
            .put_chunk(&self.image, &id.to_hex(), compressed)
            .map_err(|e| self.fail(e))?;
        if created {
            self.uploaded_bytes
                .fetch_add(compressed.len() as u64, Ordering::Relaxed);
            self.uploaded_chunks.fetch_add(1, Ordering::Relaxed);
        }
        Ok(created)
    }

    fn get_raw(&self, id: &ChunkId) -> Result<Vec<u8>> {
        self.client
            .get_chunk(&self.image, &id.to_hex())
            .map_err(|e| match e {
                crate::Error::Server { status: 404, .. } => ImageError::ChunkMissing {
                    id: *id,
                    store: self.describe(),
                },
                other => self.fail(other),
            })
    }

    fn stored_size(&self, _id: &ChunkId) -> Result<Option<u64>> {
        Err(self.unsupported("chunk sizes"))
    }

    fn remove(&self, _id: &ChunkId) -> Result<()> {
        Err(self.unsupported("removing chunks"))
    }

    fn for_each(&self, _f: &mut dyn FnMut(ChunkId, u64) -> Result<()>) -> Result<()> {
        Err(self.unsupported("listing chunks"))
    }
}
