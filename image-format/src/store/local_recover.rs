//! After a crash: the chunks a killed writer had written beside their
//! final names (`chunks/<4 hex>/.<short id>.<pid>.<n>.tmp`) but not yet
//! renamed into place. The server acknowledges an upload once its file is
//! written and renames a batch after one `syncfs`; a server killed between
//! the two leaves files that its clients believe are stored. Each one
//! whose content hashes to the name it was written under is kept, so a
//! capture that carries on after a restart commits without uploading them
//! again; anything else (cut short by a power loss, say) is removed.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::Path;

use super::local::LocalStore;
use super::pack::Pointer;
use super::{identify_chunk, ReadStore};
use crate::error::{Error, Result};
use crate::id::ChunkId;

/// What [`LocalStore::recover_chunks`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// Renamed into place: whole, and what their name says.
    pub kept: u64,
    /// Removed: not a whole chunk, another name's content, a pack pointer
    /// (its pack may not have reached the disk), or stored already.
    pub removed: u64,
}

impl LocalStore {
    /// Keeps or removes every chunk temporary whose writer no longer runs.
    /// Call it before serving, while no other process writes the store.
    pub fn recover_chunks(&self) -> Result<Recovered> {
        let mut done = Recovered::default();
        let tmp_dir = self.root().join("tmp");
        for t in self.temporaries()? {
            if t.live || t.path.parent() == Some(tmp_dir.as_path()) {
                continue;
            }
            match self.whole_chunk(&t.path)? {
                Some(id) if !self.has(&id)? => {
                    let dest = self.chunk_path(&id);
                    File::open(&t.path)
                        .and_then(|f| f.sync_all())
                        .map_err(|e| Error::io(&t.path, e))?;
                    fs::rename(&t.path, &dest).map_err(|e| Error::io(&dest, e))?;
                    done.kept += 1;
                }
                _ => {
                    match fs::remove_file(&t.path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => return Err(Error::io(&t.path, e)),
                    }
                    done.removed += 1;
                }
            }
        }
        if done.kept > 0 {
            // The renames reach the disk before anything names them.
            self.sync()?;
        }
        Ok(done)
    }

    /// The id of the chunk a temporary holds, when it is a whole zstd
    /// frame whose content matches the name and folder it was written to.
    fn whole_chunk(&self, path: &Path) -> Result<Option<ChunkId>> {
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        if Pointer::is_pointer(&bytes) {
            return Ok(None);
        }
        let Ok(id) = identify_chunk(&bytes) else {
            return Ok(None);
        };
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let named = name.starts_with(&format!(".{}.", id.short()));
        let placed = path.parent() == self.chunk_path(&id).parent();
        Ok((named && placed).then_some(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{encode_chunk, WriteStore};

    /// A temporary as a killed server (pid 0x7fffffff never runs) leaves it.
    fn leave(store: &LocalStore, id: &ChunkId, bytes: &[u8], n: u32) -> std::path::PathBuf {
        let dir = store.chunk_path(id).parent().unwrap().to_path_buf();
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!(".{}.2147483647.{n}.tmp", id.short()));
        fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn whole_chunks_are_kept_and_the_rest_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::create(dir.path()).unwrap();
        let (whole, raw) = encode_chunk(b"acknowledged, then the server died", 3);
        let kept = leave(&store, &whole, &raw, 0);
        // Cut short (a power loss before the data reached the disk).
        let (cut, cut_raw) = encode_chunk(&[7u8; 5000], 3);
        let cut_path = leave(&store, &cut, &cut_raw[..cut_raw.len() / 2], 1);
        // Whole, but under another chunk's name.
        let (other, _) = encode_chunk(b"the name says this", 3);
        let (_, wrong_raw) = encode_chunk(b"the content says that", 3);
        let wrong = leave(&store, &other, &wrong_raw, 2);
        // A chunk stored already.
        let (dup, dup_raw) = encode_chunk(b"stored before", 3);
        store.put(&dup, &dup_raw).unwrap();
        store.flush().unwrap();
        let dup_path = leave(&store, &dup, &dup_raw, 3);
        // This process's own pending chunk is left alone.
        let (mine, mine_raw) = encode_chunk(b"still being written", 3);
        store.put(&mine, &mine_raw).unwrap();

        let done = store.recover_chunks().unwrap();
        assert_eq!(
            done,
            Recovered {
                kept: 1,
                removed: 3
            }
        );
        assert_eq!(
            store.get(&whole).unwrap(),
            b"acknowledged, then the server died"
        );
        for p in [kept, cut_path, wrong, dup_path] {
            assert!(!p.exists(), "{} is left", p.display());
        }
        assert!(!store.has(&cut).unwrap());
        assert!(!store.has(&other).unwrap());
        store.flush().unwrap();
        assert_eq!(store.get(&mine).unwrap(), b"still being written");
        assert_eq!(store.recover_chunks().unwrap(), Recovered::default());
    }
}
