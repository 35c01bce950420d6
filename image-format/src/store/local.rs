//! The store as a local directory (layout in docs/image-format.md):
//!
//! ```text
//! marrow-store.json          format marker and version (1: loose chunks; 2: packs too)
//! chunks/<4 hex>/<64 hex>    one zstd frame per chunk, or a pointer into a pack
//! packs/<2 hex>/<64 hex>     chunks compressed together (format 2; see pack.rs)
//! manifests/<64 hex>.json    canonical manifests, named by their BLAKE3
//! manifests/<64 hex>.sig     a manifest's detached signature (site sync)
//! refs/<name>                a name's history: "<image id> <unix time>" per line
//! tmp/                       manifests and refs being written; renamed into place when whole
//! chunks/<4 hex>/.<…>.tmp    chunks being written, renamed once synced
//! lock                       shared while capturing or restoring, exclusive for gc
//! ```

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::{LockMode, LockStore, ManifestStore, PruneStore, ReadStore, RefEntry, WriteStore};
use crate::error::{Error, Result};
use crate::id::{ChunkId, ImageId};

use super::names::{self, MARKER};
use super::pack::{PackCache, Pointer, POINTER_LEN};
use super::{decode_chunk, encode_chunk, Reclaimed};
use crate::capture::DEFAULT_LEVEL;

pub struct LocalStore {
    pub(super) root: PathBuf,
    tmp_counter: AtomicU64,
    pub(super) pending: Mutex<Pending>,
    /// Held through a flush, so that the last flush of a capture waits for
    /// one that another thread started, and its chunks are in place too.
    flush_lock: Mutex<()>,
    /// The store's format: packs are written only into a store of format 2,
    /// so a format-1 store stays readable by the marrow that made it.
    version: u32,
    pub(super) packs: PackCache,
}

/// Chunks written to tmp/ but not yet synced and renamed into place. One
/// `syncfs` per batch replaces an fsync per chunk, which dominated capture
/// time; a chunk still becomes visible only once it is durable.
#[derive(Default)]
pub(super) struct Pending {
    pub(super) files: HashMap<ChunkId, PathBuf>,
    pub(super) bytes: u64,
    /// The batch a flush is syncing: taken out of `files` so that `syncfs`
    /// runs without the lock, and the other workers keep adding to the next
    /// batch meanwhile (a `syncfs` takes about 70 ms, and a capture makes
    /// about 16).
    pub(super) flushing: HashMap<ChunkId, PathBuf>,
}

impl Pending {
    fn get(&self, id: &ChunkId) -> Option<&PathBuf> {
        self.files.get(id).or_else(|| self.flushing.get(id))
    }
}

pub(super) const BATCH_FILES: usize = 2048;
pub(super) const BATCH_BYTES: u64 = 128 << 20;

/// Held for the duration of a capture, restore or gc. Dropping releases it.
/// A shared hold on read-only media holds nothing: no one can sweep it.
pub struct StoreLock {
    _file: Option<File>,
}

impl LocalStore {
    /// Opens an existing store, or creates an empty one at `root`. A
    /// folder that holds other things is not taken over.
    pub fn create(root: &Path) -> Result<LocalStore> {
        let marker = root.join(MARKER);
        if !marker.exists() {
            let occupied = fs::read_dir(root)
                .map(|mut entries| entries.next().is_some())
                .unwrap_or(false);
            if occupied {
                return Err(Error::Store {
                    store: root.display().to_string(),
                    detail: format!(
                        "is not a Marrow store (no {MARKER}) and is not empty; give an empty or new folder"
                    ),
                });
            }
            for dir in ["chunks", "manifests", "refs", "tmp"] {
                fs::create_dir_all(root.join(dir)).map_err(|e| Error::io(root.join(dir), e))?;
            }
            let body = names::marker_body(names::PACKED_VERSION);
            let store = LocalStore::at(root, names::PACKED_VERSION);
            store.write_atomic(&marker, body.as_bytes(), true)?;
        }
        Self::open(root)
    }

    /// Opens a store, refusing a directory that is not one or a newer format.
    pub fn open(root: &Path) -> Result<LocalStore> {
        let marker = root.join(MARKER);
        let body = fs::read_to_string(&marker).map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::Store {
                store: root.display().to_string(),
                detail: format!("not a Marrow store (no {MARKER}); capture into it to create one"),
            },
            _ => Error::io(&marker, e),
        })?;
        let version = names::check_marker(&body, &root.display().to_string())?;
        Ok(LocalStore::at(root, version))
    }

    fn at(root: &Path, version: u32) -> LocalStore {
        LocalStore {
            root: root.to_path_buf(),
            tmp_counter: AtomicU64::new(0),
            pending: Mutex::default(),
            flush_lock: Mutex::default(),
            version,
            packs: PackCache::default(),
        }
    }

    /// The store's format version (see [`names::FORMAT_VERSION`]).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Whether `root` holds a store (its format marker), without opening it.
    pub fn is_store(root: &Path) -> bool {
        root.join(MARKER).is_file()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The one place that maps a chunk id to its file.
    pub fn chunk_path(&self, id: &ChunkId) -> PathBuf {
        self.root.join(names::chunk_key(id))
    }

    fn manifest_path(&self, id: &ImageId) -> PathBuf {
        self.root.join(names::manifest_key(id))
    }

    /// A manifest's detached signature, beside it.
    fn signature_path(&self, id: &ImageId) -> PathBuf {
        self.root.join(names::signature_key(id))
    }

    fn ref_path(&self, name: &str) -> PathBuf {
        self.root.join(names::ref_key(name))
    }

    /// Writes to tmp/, fsyncs, then renames into place, so a reader never
    /// sees a partial file and a crash leaves only a stray temporary.
    pub(super) fn tmp_path(&self, dest: &Path) -> PathBuf {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        self.root.join("tmp").join(format!(
            "{}.{}.{n}",
            dest.file_name().and_then(|s| s.to_str()).unwrap_or("file"),
            std::process::id()
        ))
    }

    fn write_atomic(&self, dest: &Path, bytes: &[u8], sync_dir: bool) -> Result<()> {
        let tmp = self.tmp_path(dest);
        let result = (|| {
            let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
            f.sync_all().map_err(|e| Error::io(&tmp, e))?;
            fs::rename(&tmp, dest).map_err(|e| Error::io(dest, e))?;
            if sync_dir {
                if let Some(parent) = dest.parent() {
                    File::open(parent)
                        .and_then(|d| d.sync_all())
                        .map_err(|e| Error::io(parent, e))?;
                }
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Flushes everything written so far to disk: called before a manifest
    /// is committed, so a manifest never names a chunk a crash could lose.
    pub fn sync(&self) -> Result<()> {
        let dir = File::open(&self.root).map_err(|e| Error::io(&self.root, e))?;
        nix::unistd::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir))
            .map_err(|e| Error::io(&self.root, e.into()))
    }
}

impl LocalStore {
    /// True while someone holds the store (a capture, a restore, or a
    /// server with running tasks), so an exclusive lock would wait.
    pub fn in_use(&self) -> Result<bool> {
        let path = self.root.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(false),
            Err(std::fs::TryLockError::WouldBlock) => Ok(true),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
        }
    }
}

impl LockStore for LocalStore {
    type Guard = StoreLock;

    /// Shared: captures and restores run side by side. Exclusive: gc, which
    /// must not delete a chunk a running capture has just reused.
    fn lock(&self, mode: LockMode) -> Result<StoreLock> {
        lock_file(&self.root.join("lock"), mode == LockMode::Exclusive)
    }
}

fn lock_file(path: &Path, exclusive: bool) -> Result<StoreLock> {
    let opened = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path);
    let file = match opened {
        Ok(f) => f,
        // A store on read-only media: flock works on a file opened for
        // reading, and if even that is missing nothing can sweep the store.
        Err(e) if !exclusive && is_read_only(&e) => match File::open(path) {
            Ok(f) => f,
            Err(_) => return Ok(StoreLock { _file: None }),
        },
        Err(e) => return Err(Error::io(path, e)),
    };
    let locked = if exclusive {
        file.lock()
    } else {
        file.lock_shared()
    };
    locked.map_err(|e| Error::io(path, e))?;
    Ok(StoreLock { _file: Some(file) })
}

/// The store's filesystem is read-only, or the lock file is not ours to write.
fn is_read_only(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(nix::errno::Errno::EROFS as i32)
        || e.kind() == ErrorKind::PermissionDenied
}

impl ReadStore for LocalStore {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    /// True only for a chunk that is durably stored: one written but not
    /// yet flushed is not there yet (a crash would lose it), so a capture
    /// asking about it sends it again, and the second `put` keeps the
    /// pending copy.
    fn has(&self, id: &ChunkId) -> Result<bool> {
        let path = self.chunk_path(id);
        match fs::metadata(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn get_raw(&self, id: &ChunkId) -> Result<Vec<u8>> {
        self.frame_of(id, self.chunk_file(id)?)
    }

    fn get_counted(&self, id: &ChunkId) -> Result<(Vec<u8>, u64)> {
        let file = self.chunk_file(id)?;
        if Pointer::is_pointer(&file) {
            return self.unpack(id, &file);
        }
        let plain = decode_chunk(id, &file, &self.describe())?;
        Ok((plain, file.len() as u64))
    }
}

impl LocalStore {
    /// The frame [`ReadStore::get_raw`] gives for a chunk whose file is
    /// `file`: the file itself, or for a pointer the chunk compressed
    /// afresh, since over the wire every chunk is a frame of its own.
    fn frame_of(&self, id: &ChunkId, file: Vec<u8>) -> Result<Vec<u8>> {
        if !Pointer::is_pointer(&file) {
            return Ok(file);
        }
        let (plain, _) = self.unpack(id, &file)?;
        Ok(encode_chunk(&plain, DEFAULT_LEVEL).1)
    }

    /// A chunk's file: its frame or its pointer, pending or in place.
    fn chunk_file(&self, id: &ChunkId) -> Result<Vec<u8>> {
        let pending = self.pending.lock().unwrap().get(id).cloned();
        let read = match pending {
            // A flush may have renamed it into place since.
            Some(tmp) => fs::read(&tmp).or_else(|e| match e.kind() {
                ErrorKind::NotFound => fs::read(self.chunk_path(id)),
                _ => Err(e),
            }),
            None => fs::read(self.chunk_path(id)),
        };
        let path = self.chunk_path(id);
        read.map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::ChunkMissing {
                id: *id,
                store: self.describe(),
            },
            _ => Error::io(path, e),
        })
    }

    /// Takes a pending file (a chunk's frame or pointer, written beside its
    /// final name) into the next flush. Returns false, removing `tmp`, when
    /// another thread got the chunk there first.
    pub(super) fn add_pending(&self, id: &ChunkId, tmp: PathBuf, bytes: u64) -> Result<bool> {
        let full = {
            let mut pending = self.pending.lock().unwrap();
            if pending.get(id).is_some() {
                drop(pending);
                let _ = fs::remove_file(&tmp);
                return Ok(false);
            }
            pending.files.insert(*id, tmp);
            pending.bytes += bytes;
            pending.files.len() >= BATCH_FILES || pending.bytes >= BATCH_BYTES
        };
        // A flush already running takes no more files; this batch waits for
        // the next one rather than this worker for the disk.
        if full {
            if let Ok(held) = self.flush_lock.try_lock() {
                self.flush_holding(held)?;
            }
        }
        Ok(true)
    }

    /// Writes a chunk's file (a frame or a pointer) to a temporary beside
    /// its final name. Creating files spread over the prefix folders, and
    /// renaming within one folder, costs the filesystem much less than
    /// funnelling every chunk through tmp/.
    pub(super) fn write_beside(&self, id: &ChunkId, bytes: &[u8]) -> Result<PathBuf> {
        let path = self.chunk_path(id);
        let dir = path.parent().expect("chunk path has a parent");
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{}.{}.{n}.tmp", id.short(), std::process::id()));
        let written = File::create(&tmp)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| Error::io(&tmp, e));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(tmp)
    }

    /// Syncs the pending batch and renames it into place, holding
    /// `flush_lock` but not the pending lock while the disk works.
    fn flush_holding(&self, _held: std::sync::MutexGuard<'_, ()>) -> Result<()> {
        let batch = {
            let mut pending = self.pending.lock().unwrap();
            if pending.files.is_empty() {
                return Ok(());
            }
            pending.bytes = 0;
            let batch = std::mem::take(&mut pending.files);
            pending.flushing = batch.clone();
            batch
        };
        let renamed = self.sync().and_then(|()| {
            for (id, tmp) in &batch {
                let path = self.chunk_path(id);
                fs::rename(tmp, &path).map_err(|e| Error::io(&path, e))?;
            }
            // The renames themselves must reach the disk before a manifest does.
            self.sync()
        });
        let mut pending = self.pending.lock().unwrap();
        match renamed {
            Ok(()) => pending.flushing.clear(),
            // Left pending, so that the next flush tries them again and a
            // capture never names a chunk that is not on disk.
            Err(_) => {
                for (id, tmp) in std::mem::take(&mut pending.flushing) {
                    if tmp.exists() {
                        pending.files.insert(id, tmp);
                    }
                }
            }
        }
        renamed
    }

    /// Whether a chunk is stored or about to be.
    pub(super) fn has_or_pending(&self, id: &ChunkId) -> Result<bool> {
        Ok(self.pending.lock().unwrap().get(id).is_some() || self.has(id)?)
    }
}

impl WriteStore for LocalStore {
    fn put(&self, id: &ChunkId, compressed: &[u8]) -> Result<bool> {
        if self.has_or_pending(id)? {
            return Ok(false);
        }
        let tmp = self.write_beside(id, compressed)?;
        // Another thread may have put the same chunk meanwhile; then its
        // file is kept.
        self.add_pending(id, tmp, compressed.len() as u64)
    }

    fn packs(&self) -> bool {
        self.version >= names::PACKED_VERSION
    }

    fn put_many(&self, chunks: &[(ChunkId, &[u8])], level: i32) -> Result<(Vec<bool>, u64)> {
        if self.packs() {
            self.put_packed(chunks, level)
        } else {
            super::put_each(self, chunks, level)
        }
    }

    fn flush(&self) -> Result<()> {
        self.flush_holding(self.flush_lock.lock().unwrap())
    }
}

impl PruneStore for LocalStore {
    fn stored_size(&self, id: &ChunkId) -> Result<Option<u64>> {
        let path = self.chunk_path(id);
        match fs::metadata(&path) {
            Ok(m) => self.size_of(id, &path, m.len()).map(Some),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn remove(&self, id: &ChunkId) -> Result<()> {
        let path = self.chunk_path(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn for_each(&self, f: &mut dyn FnMut(ChunkId, u64) -> Result<()>) -> Result<()> {
        self.walk_chunks(&mut |id, path, len| f(id, self.size_of(&id, &path, len)?))
    }

    /// Removes temporaries whose writer is gone (a crashed or killed
    /// capture), in tmp/ and beside the chunks. A live writer's, such as a
    /// running server's chunks waiting for their batch to be flushed, stay.
    fn clean_temporaries(&self) -> Result<u64> {
        let mut removed = 0;
        for t in self.temporaries()? {
            if !t.live {
                match fs::remove_file(&t.path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&t.path, e)),
                }
            }
        }
        Ok(removed)
    }

    fn reclaim(&self) -> Result<Reclaimed> {
        self.reclaim_packs()
    }

    fn frame_size(&self, id: &ChunkId) -> Result<Option<u64>> {
        match self.chunk_file(id) {
            Ok(file) => Ok(Some(self.frame_of(id, file)?.len() as u64)),
            Err(Error::ChunkMissing { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn orphans(&self) -> Result<(u64, u64)> {
        let dead: Vec<Temporary> = self
            .temporaries()?
            .into_iter()
            .filter(|t| !t.live)
            .collect();
        Ok((dead.len() as u64, dead.iter().map(|t| t.bytes).sum()))
    }
}

impl LocalStore {
    /// Calls `f` with every chunk's id, file and file length, in prefix
    /// order.
    pub(super) fn walk_chunks(
        &self,
        f: &mut dyn FnMut(ChunkId, PathBuf, u64) -> Result<()>,
    ) -> Result<()> {
        let chunks = self.root.join("chunks");
        let mut prefixes: Vec<_> = fs::read_dir(&chunks)
            .map_err(|e| Error::io(&chunks, e))?
            .filter_map(|e| e.ok())
            .collect();
        prefixes.sort_by_key(|e| e.file_name());
        for prefix in prefixes {
            let dir = prefix.path();
            for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
                let entry = entry.map_err(|e| Error::io(&dir, e))?;
                let name = entry.file_name();
                let Some(id) = name.to_str().and_then(|n| n.parse::<ChunkId>().ok()) else {
                    continue;
                };
                let len = entry
                    .metadata()
                    .map_err(|e| Error::io(entry.path(), e))?
                    .len();
                f(id, entry.path(), len)?;
            }
        }
        Ok(())
    }

    /// The stored bytes a chunk accounts for: its file's length, or for a
    /// pointer its share of the pack.
    fn size_of(&self, id: &ChunkId, path: &Path, len: u64) -> Result<u64> {
        Ok(self
            .pointer_at(id, path, len)?
            .map_or(len, |p| p.share as u64))
    }

    /// The pointer in chunk file `path` of length `len`, or None when the
    /// file is a frame. Only a file of a pointer's length is read.
    pub(super) fn pointer_at(
        &self,
        id: &ChunkId,
        path: &Path,
        len: u64,
    ) -> Result<Option<Pointer>> {
        if len != POINTER_LEN as u64 {
            return Ok(None);
        }
        let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
        if !Pointer::is_pointer(&bytes) {
            return Ok(None);
        }
        Pointer::parse(&bytes, id, &self.describe()).map(Some)
    }
}

/// A file being written: in tmp/, or a chunk beside its final name.
#[derive(Debug, Clone)]
pub struct Temporary {
    pub path: PathBuf,
    pub bytes: u64,
    /// Its writer is still running.
    pub live: bool,
}

impl LocalStore {
    /// Every temporary of the store, and whether its writer still runs.
    /// Names carry the writer's process id (`NAME.PID.N` in tmp/,
    /// `.ID.PID.N.tmp` beside chunks); one that does not is an orphan.
    pub fn temporaries(&self) -> Result<Vec<Temporary>> {
        let mut out = Vec::new();
        let mut dirs = vec![(self.root.join("tmp"), true)];
        let chunks = self.root.join("chunks");
        for entry in fs::read_dir(&chunks).map_err(|e| Error::io(&chunks, e))? {
            dirs.push((entry.map_err(|e| Error::io(&chunks, e))?.path(), false));
        }
        for (dir, all) in dirs {
            for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
                let entry = entry.map_err(|e| Error::io(&dir, e))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let pid = if all {
                    writer_pid(&name)
                } else if name.starts_with('.') {
                    name.strip_suffix(".tmp").and_then(writer_pid)
                } else {
                    continue;
                };
                let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
                out.push(Temporary {
                    path: entry.path(),
                    bytes,
                    live: pid.is_some_and(process_runs),
                });
            }
        }
        Ok(out)
    }
}

/// The process id in a temporary's name `….PID.N`.
fn writer_pid(name: &str) -> Option<i32> {
    let mut parts = name.rsplitn(3, '.');
    let _n: u64 = parts.next()?.parse().ok()?;
    parts.next()?.parse().ok()
}

/// Whether a process with this id runs (signal 0 checks without sending).
fn process_runs(pid: i32) -> bool {
    use nix::errno::Errno;
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        // It exists but is not ours to signal.
        Err(Errno::EPERM) => true,
        Err(_) => false,
    }
}

impl ManifestStore for LocalStore {
    fn put_manifest(&self, bytes: &[u8]) -> Result<ImageId> {
        let id = ImageId::of(bytes);
        let path = self.manifest_path(&id);
        if !path.exists() {
            self.write_atomic(&path, bytes, true)?;
        }
        Ok(id)
    }

    fn get_manifest(&self, id: &ImageId) -> Result<Vec<u8>> {
        let path = self.manifest_path(id);
        let bytes = fs::read(&path).map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::ManifestCorrupt {
                id: id.to_hex(),
                store: self.describe(),
                detail: "the manifest file is missing".into(),
            },
            _ => Error::io(&path, e),
        })?;
        let actual = ImageId::of(&bytes);
        if actual != *id {
            return Err(Error::ManifestCorrupt {
                id: id.to_hex(),
                store: self.describe(),
                detail: format!(
                    "{} hashes to {actual} ({} bytes): truncated or altered",
                    path.display(),
                    bytes.len()
                ),
            });
        }
        Ok(bytes)
    }

    fn remove_manifest(&self, id: &ImageId) -> Result<()> {
        for path in [self.manifest_path(id), self.signature_path(id)] {
            match fs::remove_file(&path) {
                Err(e) if e.kind() != ErrorKind::NotFound => return Err(Error::io(path, e)),
                _ => {}
            }
        }
        Ok(())
    }

    fn put_signature(&self, id: &ImageId, bytes: &[u8]) -> Result<()> {
        self.write_atomic(&self.signature_path(id), bytes, true)
    }

    fn get_signature(&self, id: &ImageId) -> Result<Option<Vec<u8>>> {
        let path = self.signature_path(id);
        match fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    fn manifest_ids(&self) -> Result<Vec<ImageId>> {
        let dir = self.root.join("manifests");
        let mut ids = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            if let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse().ok())
            {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }

    fn push_ref(&self, name: &str, entry: RefEntry) -> Result<()> {
        // Serialise writers of the refs so two captures of one name both land.
        let _guard = self.refs_lock()?;
        let mut history = self.history(name)?;
        history.push(entry);
        self.write_history(name, &history)
    }

    fn history(&self, name: &str) -> Result<Vec<RefEntry>> {
        let path = self.ref_path(name);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(path, e)),
        };
        names::parse_history(&text, &self.describe(), &path.display().to_string())
    }

    fn set_history(&self, name: &str, entries: &[RefEntry]) -> Result<()> {
        let _guard = self.refs_lock()?;
        self.write_history(name, entries)
    }

    fn names(&self) -> Result<Vec<String>> {
        let dir = self.root.join("refs");
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            if let Some(n) = entry.file_name().to_str() {
                if !n.starts_with('.') {
                    names.push(n.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }
}

impl LocalStore {
    fn refs_lock(&self) -> Result<StoreLock> {
        lock_file(&self.root.join("refs").join(".lock"), true)
    }

    fn write_history(&self, name: &str, entries: &[RefEntry]) -> Result<()> {
        let path = self.ref_path(name);
        if entries.is_empty() {
            return match fs::remove_file(&path) {
                Err(e) if e.kind() != ErrorKind::NotFound => Err(Error::io(path, e)),
                _ => Ok(()),
            };
        }
        let body = names::format_history(entries);
        self.write_atomic(&path, body.as_bytes(), true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::encode_chunk;

    #[test]
    fn racing_puts_of_one_chunk_keep_a_readable_copy() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::create(dir.path()).unwrap();
        let (id, raw) = encode_chunk(b"the same chunk from many threads", 1);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| store.put(&id, &raw).unwrap());
            }
        });
        store.flush().unwrap();
        assert_eq!(store.get(&id).unwrap(), b"the same chunk from many threads");
        let mut n = 0;
        store
            .for_each(&mut |_, _| {
                n += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn pending_chunk_is_readable_before_it_is_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::create(dir.path()).unwrap();
        let (id, raw) = encode_chunk(b"pending", 1);
        assert!(store.put(&id, &raw).unwrap());
        assert!(!store.has(&id).unwrap(), "not claimed before it is durable");
        assert!(!store.put(&id, &raw).unwrap(), "the pending copy is kept");
        assert!(
            !store.chunk_path(&id).exists(),
            "not visible before it is durable"
        );
        assert_eq!(store.get(&id).unwrap(), b"pending");
        store.flush().unwrap();
        assert!(store.chunk_path(&id).exists());
        assert!(store.has(&id).unwrap());
    }

    #[test]
    fn a_full_folder_that_is_not_a_store_is_not_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
        let err = LocalStore::create(dir.path()).err().unwrap().to_string();
        assert!(err.contains("not empty"), "{err}");
        assert!(!dir.path().join("chunks").exists());
    }

    #[test]
    fn gc_sweeps_the_temporaries_of_dead_writers_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::create(dir.path()).unwrap();
        let (id, raw) = encode_chunk(b"pending in this process", 1);
        store.put(&id, &raw).unwrap();
        // A killed writer's leftovers: pid 0x7fffffff never runs.
        std::fs::write(dir.path().join("tmp/manifest.2147483647.0"), b"x").unwrap();
        let temps = store.temporaries().unwrap();
        assert_eq!(temps.len(), 2, "{temps:?}");
        assert_eq!(temps.iter().filter(|t| t.live).count(), 1);
        assert_eq!(store.clean_temporaries().unwrap(), 1);
        store.flush().unwrap();
        assert_eq!(store.get(&id).unwrap(), b"pending in this process");
    }

    #[test]
    fn refuses_directory_that_is_not_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let err = LocalStore::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("not a Marrow store"), "{err}");
    }
}
