//! The server's chunk store, seen through the client API: capture and
//! restore in `image-format` run against it unchanged. It can read and
//! write, which is all the API offers; listing and removing chunks are the
//! server's own business, so it implements no `PruneStore`.

use std::sync::Arc;

use image_format::store::{ReadStore, WriteStore};
use image_format::{ChunkId, Error as ImageError, Result};
use marrow_protocol::api::MAX_HAS_BATCH;

use crate::api::Client;

pub struct HttpStore {
    client: Arc<Client>,
    image: String,
}

impl HttpStore {
    pub fn new(client: Arc<Client>, image: &str) -> HttpStore {
        HttpStore {
            client,
            image: image.to_owned(),
        }
    }

    fn fail(&self, e: crate::Error) -> ImageError {
        ImageError::Backend {
            store: self.describe(),
            source: Box::new(e),
        }
    }
}

impl ReadStore for HttpStore {
    fn describe(&self) -> String {
        format!("{} image {}", self.client.base(), self.image)
    }

    fn has(&self, id: &ChunkId) -> Result<bool> {
        Ok(self.has_many(std::slice::from_ref(id))?[0])
    }

    fn has_many(&self, ids: &[ChunkId]) -> Result<Vec<bool>> {
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(MAX_HAS_BATCH) {
            let have = self
                .client
                .has(&self.image, batch)
                .map_err(|e| self.fail(e))?;
            out.extend(have);
        }
        Ok(out)
    }

    fn get_raw(&self, id: &ChunkId) -> Result<Vec<u8>> {
        self.client.get_chunk(&self.image, id).map_err(|e| match e {
            crate::Error::Server { status: 404, .. } => ImageError::ChunkMissing {
                id: *id,
                store: self.describe(),
            },
            other => self.fail(other),
        })
    }
}

impl WriteStore for HttpStore {
    fn put(&self, id: &ChunkId, compressed: &[u8]) -> Result<bool> {
        self.client
            .put_chunk(&self.image, id, compressed)
            .map_err(|e| self.fail(e))
    }
}
