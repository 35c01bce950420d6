//! Boot files held in memory. In a boot storm every machine fetches the
//! same kernel and initramfs: read from disk for each client, each byte is
//! copied twice (page cache to the server, server to the socket) and each
//! read is a trip to the blocking pool. Held once, every answer is a
//! reference to the same bytes and only the copy to the socket is left,
//! which is what nginx's sendfile saves too.
//!
//! An entry is keyed by the file's real path and checked against its
//! length, modification time, inode and device on every request, so a
//! file replaced or rewritten is read again; a file that changes while it
//! is being read is not kept. Concurrent first requests share one read.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use tokio::sync::OnceCell;

/// Larger files are streamed from disk, not held.
pub(crate) const MAX_FILE: u64 = 128 << 20;
/// What all held files may take together; the least recently used go first.
const MAX_TOTAL: u64 = 384 << 20;

/// What identifies one version of a file's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Version {
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
    ino: u64,
    dev: u64,
}

impl Version {
    pub(crate) fn of(m: &std::fs::Metadata) -> Version {
        Version {
            len: m.len(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
            ino: m.ino(),
            dev: m.dev(),
        }
    }
}

struct Entry {
    version: Version,
    data: Arc<OnceCell<Bytes>>,
    used: u64,
}

#[derive(Default)]
pub(crate) struct FileCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<PathBuf, Entry>,
    tick: u64,
}

impl FileCache {
    /// The content of `path` as of `version`: held, or read once (by a
    /// blocking task) for everyone asking meanwhile. `None` when it cannot
    /// be held: too large, unreadable, or changed during the read; the
    /// caller streams it from disk instead.
    pub(crate) async fn get(&self, path: &Path, version: Version) -> Option<Bytes> {
        if version.len > MAX_FILE {
            return None;
        }
        let cell = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            inner.tick += 1;
            let tick = inner.tick;
            let entry = inner
                .entries
                .entry(path.to_path_buf())
                .or_insert_with(|| Entry {
                    version,
                    data: Arc::default(),
                    used: tick,
                });
            if entry.version != version {
                *entry = Entry {
                    version,
                    data: Arc::default(),
                    used: tick,
                };
            }
            entry.used = tick;
            entry.data.clone()
        };
        let owned = path.to_path_buf();
        let loaded = cell
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || read_version(&owned, version))
                    .await
                    .map_err(|_| ())?
            })
            .await;
        match loaded {
            Ok(bytes) => {
                let bytes = bytes.clone();
                self.trim();
                Some(bytes)
            }
            Err(()) => {
                self.forget(path, version);
                None
            }
        }
    }

    fn forget(&self, path: &Path, version: Version) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner
            .entries
            .get(path)
            .is_some_and(|e| e.version == version)
        {
            inner.entries.remove(path);
        }
    }

    /// Drops the least recently used entries beyond [`MAX_TOTAL`].
    fn trim(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let held: Vec<(PathBuf, u64, u64)> = inner
            .entries
            .iter()
            .filter(|(_, e)| e.data.initialized())
            .map(|(p, e)| (p.clone(), e.version.len, e.used))
            .collect();
        for path in over_limit(held, MAX_TOTAL) {
            inner.entries.remove(&path);
        }
    }
}

/// The whole file, if it still is `version` once read.
fn read_version(path: &Path, version: Version) -> Result<Bytes, ()> {
    let data = std::fs::read(path).map_err(|_| ())?;
    let after = std::fs::metadata(path).map_err(|_| ())?;
    if data.len() as u64 != version.len || Version::of(&after) != version {
        return Err(());
    }
    Ok(Bytes::from(data))
}

/// Which of `held` (path, bytes, last use) to drop, least recently used
/// first, so that the rest fit in `limit`.
fn over_limit(mut held: Vec<(PathBuf, u64, u64)>, limit: u64) -> Vec<PathBuf> {
    let mut total: u64 = held.iter().map(|(_, len, _)| len).sum();
    held.sort_by_key(|(_, _, used)| *used);
    let mut out = Vec::new();
    for (path, len, _) in held {
        if total <= limit {
            break;
        }
        total -= len;
        out.push(path);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_go_first_until_the_rest_fit() {
        let held = vec![
            (PathBuf::from("/a"), 40, 3),
            (PathBuf::from("/b"), 40, 1),
            (PathBuf::from("/c"), 40, 2),
        ];
        assert_eq!(over_limit(held.clone(), 120), Vec::<PathBuf>::new());
        assert_eq!(over_limit(held.clone(), 100), vec![PathBuf::from("/b")]);
        assert_eq!(
            over_limit(held, 40),
            vec![PathBuf::from("/b"), PathBuf::from("/c")]
        );
    }

    #[tokio::test]
    async fn a_file_is_read_once_and_again_after_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vmlinuz");
        std::fs::write(&path, b"first kernel").unwrap();
        let cache = FileCache::default();
        let v1 = Version::of(&std::fs::metadata(&path).unwrap());
        assert_eq!(cache.get(&path, v1).await.unwrap(), &b"first kernel"[..]);
        // Held: the same bytes, not a second read.
        let a = cache.get(&path, v1).await.unwrap();
        let b = cache.get(&path, v1).await.unwrap();
        assert_eq!(a.as_ptr(), b.as_ptr());

        // Replaced by a rename, as `initramfs build` does: a new inode.
        let tmp = dir.path().join("vmlinuz.new");
        std::fs::write(&tmp, b"second kernel, longer").unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let v2 = Version::of(&std::fs::metadata(&path).unwrap());
        assert_ne!(v1, v2);
        assert_eq!(
            cache.get(&path, v2).await.unwrap(),
            &b"second kernel, longer"[..]
        );
    }

    #[tokio::test]
    async fn a_stale_version_is_not_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("initrd");
        std::fs::write(&path, b"old").unwrap();
        let old = Version::of(&std::fs::metadata(&path).unwrap());
        std::fs::write(&path, b"new content").unwrap();
        // Asked for the version seen before the write: the read finds
        // another, so nothing is held and the caller streams instead.
        assert!(FileCache::default().get(&path, old).await.is_none());
    }

    #[tokio::test]
    async fn concurrent_first_requests_share_one_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, vec![7u8; 1 << 20]).unwrap();
        let v = Version::of(&std::fs::metadata(&path).unwrap());
        let cache = Arc::new(FileCache::default());
        let mut all = Vec::new();
        for _ in 0..16 {
            let (cache, path) = (cache.clone(), path.clone());
            all.push(tokio::spawn(
                async move { cache.get(&path, v).await.unwrap() },
            ));
        }
        let mut ptrs = std::collections::HashSet::new();
        for task in all {
            ptrs.insert(task.await.unwrap().as_ptr() as usize);
        }
        assert_eq!(ptrs.len(), 1, "one buffer for all");
    }
}
