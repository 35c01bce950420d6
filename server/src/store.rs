//! The chunk store a command or the service works on: a local folder or a
//! prefix of an S3 bucket, chosen by `--store DIR|s3://BUCKET/PREFIX` or
//! the configuration's `store =`, and used through the image-format store
//! traits whichever it is. A local store is the default
//! (`DATA_DIR/store`); S3 is the way out when a site outgrows one disk.

use std::path::{Path, PathBuf};

use image_format::store::{
    LocalStore, LockMode, LockStore, ManifestStore, PruneStore, ReadStore, RefEntry, StoreLock,
    WriteStore,
};
use image_format::{ChunkId, ImageId};
use marrow_s3_store::{Partial, S3Location, S3Lock, S3Settings, S3Store};

use crate::error::{Error, Result};

/// Where a store is, resolved: a folder, or a bucket prefix with how to
/// reach it and the local folder its locks live in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    Local(PathBuf),
    S3 {
        location: S3Location,
        settings: S3Settings,
        lock_dir: PathBuf,
    },
}

impl StoreSpec {
    /// `text` is a folder or `s3://BUCKET/PREFIX`; `s3` is the
    /// configuration's `[s3]`, completed from the `AWS_*` variables;
    /// `lock_dir` is the data directory.
    pub fn parse(text: &str, s3: &Partial, lock_dir: &Path) -> Result<StoreSpec> {
        if !S3Location::is_s3(text) {
            return Ok(StoreSpec::Local(PathBuf::from(text)));
        }
        let settings_err = |e: marrow_s3_store::S3Error| Error::Usage(e.to_string());
        Ok(StoreSpec::S3 {
            location: S3Location::parse(text).map_err(settings_err)?,
            settings: S3Settings::resolve(s3, &|k| std::env::var(k).ok()).map_err(settings_err)?,
            lock_dir: lock_dir.to_path_buf(),
        })
    }

    /// How messages name it: the folder, or `s3://BUCKET/PREFIX`.
    pub fn describe(&self) -> String {
        match self {
            StoreSpec::Local(p) => p.display().to_string(),
            StoreSpec::S3 { location, .. } => location.to_string(),
        }
    }

    /// Whether a store is there yet (without making one).
    pub fn exists(&self) -> Result<bool> {
        Ok(match self {
            StoreSpec::Local(p) => LocalStore::is_store(p),
            StoreSpec::S3 {
                location,
                settings,
                lock_dir,
            } => S3Store::is_store(location, settings, lock_dir)?,
        })
    }

    /// Opens the store, or makes an empty one.
    pub fn create(&self) -> Result<Store> {
        Ok(match self {
            StoreSpec::Local(p) => Store::Local(LocalStore::create(p)?),
            StoreSpec::S3 {
                location,
                settings,
                lock_dir,
            } => Store::S3(Box::new(S3Store::create(location, settings, lock_dir)?)),
        })
    }

    /// Opens an existing store.
    pub fn open(&self) -> Result<Store> {
        Ok(match self {
            StoreSpec::Local(p) => Store::Local(LocalStore::open(p)?),
            StoreSpec::S3 {
                location,
                settings,
                lock_dir,
            } => Store::S3(Box::new(S3Store::open(location, settings, lock_dir)?)),
        })
    }

    /// The store when there is one, `None` before the first capture.
    pub fn open_if_there(&self) -> Result<Option<Store>> {
        match self.exists()? {
            true => self.open().map(Some),
            false => Ok(None),
        }
    }
}

/// A store of either kind. (The S3 one is boxed: its client is large, and
/// a store is made once per command or service.)
pub enum Store {
    Local(LocalStore),
    S3(Box<S3Store>),
}

/// A held [`LockStore`] lock of either kind.
pub enum StoreGuard {
    Local(StoreLock),
    S3(S3Lock),
}

impl Store {
    /// True while a capture, restore or server holds the store, so gc's
    /// exclusive hold would wait.
    pub fn in_use(&self) -> Result<bool> {
        Ok(match self {
            Store::Local(s) => s.in_use()?,
            Store::S3(s) => s.in_use()?,
        })
    }

    /// A local folder for large temporaries (an import's raw disk): the
    /// store's own `tmp/`, or, on S3, `fallback`.
    pub fn scratch_dir(&self, fallback: &Path) -> PathBuf {
        match self {
            Store::Local(s) => s.root().join("tmp"),
            Store::S3(_) => fallback.to_path_buf(),
        }
    }
}

/// Passes each method to the store inside.
macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Local($s) => $e,
            Store::S3($s) => $e,
        }
    };
}

impl ReadStore for Store {
    fn describe(&self) -> String {
        each!(self, s => s.describe())
    }
    fn has(&self, id: &ChunkId) -> image_format::Result<bool> {
        each!(self, s => s.has(id))
    }
    fn has_many(&self, ids: &[ChunkId]) -> image_format::Result<Vec<bool>> {
        each!(self, s => s.has_many(ids))
    }
    fn get_raw(&self, id: &ChunkId) -> image_format::Result<Vec<u8>> {
        each!(self, s => s.get_raw(id))
    }
    fn get_counted(&self, id: &ChunkId) -> image_format::Result<(Vec<u8>, u64)> {
        each!(self, s => s.get_counted(id))
    }
}

impl WriteStore for Store {
    fn put(&self, id: &ChunkId, compressed: &[u8]) -> image_format::Result<bool> {
        each!(self, s => s.put(id, compressed))
    }
    fn flush(&self) -> image_format::Result<()> {
        each!(self, s => s.flush())
    }
    fn packs(&self) -> bool {
        each!(self, s => s.packs())
    }
    fn put_many(
        &self,
        chunks: &[(ChunkId, &[u8])],
        level: i32,
    ) -> image_format::Result<(Vec<bool>, u64)> {
        each!(self, s => s.put_many(chunks, level))
    }
}

impl PruneStore for Store {
    fn for_each(
        &self,
        f: &mut dyn FnMut(ChunkId, u64) -> image_format::Result<()>,
    ) -> image_format::Result<()> {
        each!(self, s => s.for_each(f))
    }
    fn stored_size(&self, id: &ChunkId) -> image_format::Result<Option<u64>> {
        each!(self, s => s.stored_size(id))
    }
    fn remove(&self, id: &ChunkId) -> image_format::Result<()> {
        each!(self, s => s.remove(id))
    }
    fn clean_temporaries(&self) -> image_format::Result<u64> {
        each!(self, s => s.clean_temporaries())
    }
    fn orphans(&self) -> image_format::Result<(u64, u64)> {
        each!(self, s => s.orphans())
    }
    fn frame_size(&self, id: &ChunkId) -> image_format::Result<Option<u64>> {
        each!(self, s => s.frame_size(id))
    }
    fn reclaim(&self) -> image_format::Result<image_format::store::Reclaimed> {
        each!(self, s => s.reclaim())
    }
}

impl LockStore for Store {
    type Guard = StoreGuard;

    fn lock(&self, mode: LockMode) -> image_format::Result<StoreGuard> {
        Ok(match self {
            Store::Local(s) => StoreGuard::Local(s.lock(mode)?),
            Store::S3(s) => StoreGuard::S3(s.lock(mode)?),
        })
    }
}

impl ManifestStore for Store {
    fn put_manifest(&self, bytes: &[u8]) -> image_format::Result<ImageId> {
        each!(self, s => s.put_manifest(bytes))
    }
    fn get_manifest(&self, id: &ImageId) -> image_format::Result<Vec<u8>> {
        each!(self, s => s.get_manifest(id))
    }
    fn remove_manifest(&self, id: &ImageId) -> image_format::Result<()> {
        each!(self, s => s.remove_manifest(id))
    }
    fn manifest_ids(&self) -> image_format::Result<Vec<ImageId>> {
        each!(self, s => s.manifest_ids())
    }
    fn push_ref(&self, name: &str, entry: RefEntry) -> image_format::Result<()> {
        each!(self, s => s.push_ref(name, entry))
    }
    fn history(&self, name: &str) -> image_format::Result<Vec<RefEntry>> {
        each!(self, s => s.history(name))
    }
    fn set_history(&self, name: &str, entries: &[RefEntry]) -> image_format::Result<()> {
        each!(self, s => s.set_history(name, entries))
    }
    fn names(&self) -> image_format::Result<Vec<String>> {
        each!(self, s => s.names())
    }
    fn put_signature(&self, id: &ImageId, bytes: &[u8]) -> image_format::Result<()> {
        each!(self, s => s.put_signature(id, bytes))
    }
    fn get_signature(&self, id: &ImageId) -> image_format::Result<Option<Vec<u8>>> {
        each!(self, s => s.get_signature(id))
    }
}
