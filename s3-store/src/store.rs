//! The store traits on a bucket prefix. Objects are written whole (S3
//! shows an object only once its PUT is complete), so there are no
//! temporaries to sweep and nothing to flush: a chunk is durable when its
//! PUT returns, before any manifest names it.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use image_format::store::names::{self, MARKER};
use image_format::store::{
    LockMode, LockStore, ManifestStore, PruneStore, ReadStore, RefEntry, WriteStore,
};
use image_format::{ChunkId, Error, ImageId, Result};

use crate::client::Client;
use crate::error::S3Error;
use crate::settings::{S3Location, S3Settings};

/// Requests in flight at once when many chunks are asked about.
const PARALLEL: usize = 16;

pub struct S3Store {
    client: Client,
    location: S3Location,
    describe: String,
    /// Where the file locks of this store live (a local folder).
    lock_dir: PathBuf,
}

/// A held lock on the store (a file lock in the lock folder); dropping it
/// releases it.
pub struct S3Lock {
    _file: File,
}

impl S3Store {
    /// Opens the store at `location`, or makes it (its format marker)
    /// when the prefix is empty. `lock_dir` holds its local locks.
    pub fn create(
        location: &S3Location,
        settings: &S3Settings,
        lock_dir: &Path,
    ) -> Result<S3Store> {
        let store = Self::connect(location, settings, lock_dir)?;
        if store
            .client
            .head(&store.key(MARKER))
            .map_err(|e| store.err(e))?
            .is_none()
        {
            let mut occupied = false;
            store
                .client
                .list(&store.location.prefix, &mut |_, _| {
                    occupied = true;
                    Ok(())
                })
                .map_err(|e| store.err(e))?;
            if occupied {
                return Err(Error::Store {
                    store: store.describe.clone(),
                    detail: format!(
                        "is not a Marrow store (no {MARKER}) and is not empty; give an empty or new prefix"
                    ),
                });
            }
            store
                .client
                .put(
                    &store.key(MARKER),
                    names::marker_body(names::LOOSE_VERSION).as_bytes(),
                )
                .map_err(|e| store.err(e))?;
        }
        Self::open(location, settings, lock_dir)
    }

    /// Opens an existing store, refusing a prefix that holds none or a
    /// newer format.
    pub fn open(location: &S3Location, settings: &S3Settings, lock_dir: &Path) -> Result<S3Store> {
        let store = Self::connect(location, settings, lock_dir)?;
        let body = store
            .client
            .get(&store.key(MARKER))
            .map_err(|e| store.err(e))?
            .ok_or_else(|| Error::Store {
                store: store.describe.clone(),
                detail: format!("not a Marrow store (no {MARKER}); capture into it to create one"),
            })?;
        let version = names::check_marker(&String::from_utf8_lossy(&body), &store.describe)?;
        // Packs are a local store's: this backend reads every chunk as a
        // frame of its own, so a copied local store of format 2 is refused.
        if version != names::LOOSE_VERSION {
            return Err(Error::Store {
                store: store.describe.clone(),
                detail: format!(
                    "store format {version} keeps chunks in packs, which only a local store reads; an S3 store is format {}",
                    names::LOOSE_VERSION
                ),
            });
        }
        Ok(store)
    }

    /// Whether `location` holds a store (its format marker).
    pub fn is_store(location: &S3Location, settings: &S3Settings, lock_dir: &Path) -> Result<bool> {
        let store = Self::connect(location, settings, lock_dir)?;
        Ok(store
            .client
            .head(&store.key(MARKER))
            .map_err(|e| store.err(e))?
            .is_some())
    }

    fn connect(location: &S3Location, settings: &S3Settings, lock_dir: &Path) -> Result<S3Store> {
        let describe = location.to_string();
        let client = Client::new(settings, &location.bucket).map_err(|e| Error::Backend {
            store: describe.clone(),
            source: Box::new(e),
        })?;
        Ok(S3Store {
            client,
            location: location.clone(),
            describe,
            lock_dir: lock_dir.to_path_buf(),
        })
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.location.prefix)
    }

    fn err(&self, e: S3Error) -> Error {
        Error::Backend {
            store: self.describe.clone(),
            source: Box::new(e),
        }
    }

    /// Every key under `dir/` (relative to the prefix), with its size.
    fn list(&self, dir: &str, each: &mut dyn FnMut(&str, u64) -> Result<()>) -> Result<()> {
        let base = self.key(dir);
        let mut failed = None;
        self.client
            .list(&base, &mut |key, size| {
                let rel = key.strip_prefix(&self.location.prefix).unwrap_or(key);
                match each(rel, size) {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        failed = Some(e);
                        // Stop the listing; the error is returned below.
                        Err(S3Error::Listing {
                            prefix: base.clone(),
                            detail: "stopped".into(),
                        })
                    }
                }
            })
            .map_err(|e| failed.take().unwrap_or_else(|| self.err(e)))
    }

    /// The lock file named `name` in the lock folder, one per store: a
    /// hash of the location keeps stores apart.
    fn lock_path(&self, name: &str) -> PathBuf {
        let tag = blake3_hex(self.describe.as_bytes());
        self.lock_dir.join(format!("s3-{}.{name}", &tag[..16]))
    }

    fn lock_file(&self, name: &str, exclusive: bool) -> Result<S3Lock> {
        let path = self.lock_path(name);
        std::fs::create_dir_all(&self.lock_dir).map_err(|e| Error::Io {
            path: self.lock_dir.clone(),
            source: e,
        })?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            })?;
        let locked = if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        };
        locked.map_err(|e| Error::Io { path, source: e })?;
        Ok(S3Lock { _file: file })
    }

    /// True while someone holds the store, so gc's exclusive hold would wait.
    pub fn in_use(&self) -> Result<bool> {
        let path = self.lock_path("lock");
        let Ok(file) = File::open(&path) else {
            return Ok(false);
        };
        match file.try_lock() {
            Ok(()) => Ok(false),
            Err(std::fs::TryLockError::WouldBlock) => Ok(true),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::Io { path, source: e }),
        }
    }

    fn write_history(&self, name: &str, entries: &[RefEntry]) -> Result<()> {
        let key = self.key(&names::ref_key(name));
        let done = match entries.is_empty() {
            true => self.client.delete(&key),
            false => self
                .client
                .put(&key, names::format_history(entries).as_bytes()),
        };
        done.map_err(|e| self.err(e))
    }
}

/// The BLAKE3 of `bytes` in hex, by way of the chunk id type.
fn blake3_hex(bytes: &[u8]) -> String {
    ChunkId::of(bytes).to_hex()
}

impl ReadStore for S3Store {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn has(&self, id: &ChunkId) -> Result<bool> {
        let key = self.key(&names::chunk_key(id));
        Ok(self.client.head(&key).map_err(|e| self.err(e))?.is_some())
    }

    /// HEADs in parallel: each is a round trip.
    fn has_many(&self, ids: &[ChunkId]) -> Result<Vec<bool>> {
        let mut out = vec![false; ids.len()];
        let per = ids.len().div_ceil(PARALLEL).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = ids
                .chunks(per)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|id| self.has(id))
                            .collect::<Result<Vec<bool>>>()
                    })
                })
                .collect();
            let mut at = 0;
            for h in handles {
                let part = h.join().map_err(|_| Error::Store {
                    store: self.describe.clone(),
                    detail: "a lookup thread panicked".into(),
                })??;
                out[at..at + part.len()].copy_from_slice(&part);
                at += part.len();
            }
            Ok(out)
        })
    }

    fn get_raw(&self, id: &ChunkId) -> Result<Vec<u8>> {
        let key = self.key(&names::chunk_key(id));
        self.client
            .get(&key)
            .map_err(|e| self.err(e))?
            .ok_or_else(|| Error::ChunkMissing {
                id: *id,
                store: self.describe.clone(),
            })
    }
}

impl WriteStore for S3Store {
    fn put(&self, id: &ChunkId, compressed: &[u8]) -> Result<bool> {
        if self.has(id)? {
            return Ok(false);
        }
        let key = self.key(&names::chunk_key(id));
        self.client.put(&key, compressed).map_err(|e| self.err(e))?;
        Ok(true)
    }
}

impl PruneStore for S3Store {
    fn for_each(&self, f: &mut dyn FnMut(ChunkId, u64) -> Result<()>) -> Result<()> {
        self.list("chunks/", &mut |key, size| match names::chunk_of_key(key) {
            Some(id) => f(id, size),
            None => Ok(()),
        })
    }

    fn stored_size(&self, id: &ChunkId) -> Result<Option<u64>> {
        let key = self.key(&names::chunk_key(id));
        self.client.head(&key).map_err(|e| self.err(e))
    }

    fn remove(&self, id: &ChunkId) -> Result<()> {
        let key = self.key(&names::chunk_key(id));
        self.client.delete(&key).map_err(|e| self.err(e))
    }
}

impl LockStore for S3Store {
    type Guard = S3Lock;

    fn lock(&self, mode: LockMode) -> Result<S3Lock> {
        self.lock_file("lock", mode == LockMode::Exclusive)
    }
}

impl ManifestStore for S3Store {
    fn put_manifest(&self, bytes: &[u8]) -> Result<ImageId> {
        let id = ImageId::of(bytes);
        let key = self.key(&names::manifest_key(&id));
        self.client.put(&key, bytes).map_err(|e| self.err(e))?;
        Ok(id)
    }

    fn get_manifest(&self, id: &ImageId) -> Result<Vec<u8>> {
        let key = self.key(&names::manifest_key(id));
        let bytes = self
            .client
            .get(&key)
            .map_err(|e| self.err(e))?
            .ok_or_else(|| Error::ManifestCorrupt {
                id: id.to_hex(),
                store: self.describe.clone(),
                detail: "missing".into(),
            })?;
        if ImageId::of(&bytes) != *id {
            return Err(Error::ManifestCorrupt {
                id: id.to_hex(),
                store: self.describe.clone(),
                detail: format!("its bytes hash to {}", ImageId::of(&bytes)),
            });
        }
        Ok(bytes)
    }

    fn remove_manifest(&self, id: &ImageId) -> Result<()> {
        for key in [names::manifest_key(id), names::signature_key(id)] {
            self.client
                .delete(&self.key(&key))
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn manifest_ids(&self) -> Result<Vec<ImageId>> {
        let mut ids = Vec::new();
        self.list("manifests/", &mut |key, _| {
            ids.extend(names::manifest_of_key(key));
            Ok(())
        })?;
        ids.sort();
        Ok(ids)
    }

    fn push_ref(&self, name: &str, entry: RefEntry) -> Result<()> {
        // Serialise writers of the refs so two captures of one name both
        // land: S3 itself offers no compare-and-swap here.
        let _guard = self.lock_file("refs", true)?;
        let mut history = self.history(name)?;
        history.push(entry);
        self.write_history(name, &history)
    }

    fn history(&self, name: &str) -> Result<Vec<RefEntry>> {
        let key = names::ref_key(name);
        match self.client.get(&self.key(&key)).map_err(|e| self.err(e))? {
            None => Ok(Vec::new()),
            Some(bytes) => {
                names::parse_history(&String::from_utf8_lossy(&bytes), &self.describe, &key)
            }
        }
    }

    fn set_history(&self, name: &str, entries: &[RefEntry]) -> Result<()> {
        let _guard = self.lock_file("refs", true)?;
        self.write_history(name, entries)
    }

    fn names(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        self.list("refs/", &mut |key, _| {
            if let Some(n) = key.strip_prefix("refs/") {
                if !n.is_empty() && !n.contains('/') {
                    out.push(n.to_string());
                }
            }
            Ok(())
        })?;
        out.sort();
        Ok(out)
    }

    fn put_signature(&self, id: &ImageId, bytes: &[u8]) -> Result<()> {
        let key = self.key(&names::signature_key(id));
        self.client.put(&key, bytes).map_err(|e| self.err(e))
    }

    fn get_signature(&self, id: &ImageId) -> Result<Option<Vec<u8>>> {
        let key = self.key(&names::signature_key(id));
        self.client.get(&key).map_err(|e| self.err(e))
    }
}
