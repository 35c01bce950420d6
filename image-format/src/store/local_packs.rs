//! A local store's packs (format 2): writing chunks as a pack with a
//! pointer per chunk, reading a chunk through its pointer, and giving back
//! the space of packs whose chunks gc removed.
//!
//! Durability follows the loose chunks' rule: a pack is renamed into
//! `packs/` before its pointers are pending, and pending pointers are
//! renamed into `chunks/` only after a `syncfs` (`flush`), so a pointer
//! never reaches the disk before its pack. A crash leaves at worst a pack
//! nothing points into, which [`LocalStore::reclaim_packs`] removes.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

use super::names;
use super::pack::{self, PackId, Pointer, PACK_BYTES, PACK_LEVEL};
use super::{LocalStore, ReadStore, Reclaimed, WriteStore};
use crate::error::{Error, Result};
use crate::id::ChunkId;

/// A pack is packed afresh once less than this share of its bytes is live.
const REPACK_BELOW: f64 = 0.5;

impl LocalStore {
    pub(super) fn pack_path(&self, id: &PackId) -> PathBuf {
        self.root.join(names::pack_key(id))
    }

    /// Packs the chunks the store lacks (each once) and points them at it.
    pub(super) fn put_packed(
        &self,
        chunks: &[(ChunkId, &[u8])],
        level: i32,
    ) -> Result<(Vec<bool>, u64)> {
        let mut added = vec![false; chunks.len()];
        let mut seen = HashSet::new();
        let mut fresh = Vec::new();
        for (i, (id, _)) in chunks.iter().enumerate() {
            if seen.insert(*id) && !self.has_or_pending(id)? {
                fresh.push(i);
            }
        }
        if fresh.is_empty() {
            return Ok((added, 0));
        }
        let items: Vec<(ChunkId, &[u8])> = fresh.iter().map(|&i| chunks[i]).collect();
        // A chunk another thread stored meanwhile keeps its file; its copy
        // in this pack is dead weight until the pack is repacked.
        let (pointed, bytes) = self.pack_and_point(&items, level)?;
        for (&i, p) in fresh.iter().zip(pointed) {
            added[i] = p;
        }
        Ok((added, bytes))
    }

    /// Writes `items` as one pack and a pending pointer for each, taken at
    /// the next flush. Returns, for each, whether its pointer was taken
    /// (false when another thread's file for it is pending), and the
    /// pack's size.
    fn pack_and_point(&self, items: &[(ChunkId, &[u8])], level: i32) -> Result<(Vec<bool>, u64)> {
        let built = pack::build(items, level);
        self.write_pack(&built)?;
        let mut pointed = Vec::with_capacity(items.len());
        for ((id, _), pointer) in items.iter().zip(&built.pointers) {
            let tmp = self.write_beside(id, &pointer.encode())?;
            pointed.push(self.add_pending(id, tmp, pointer.share as u64)?);
        }
        Ok((pointed, built.compressed.len() as u64))
    }

    /// Puts a pack in place. Not synced here: the `flush` that makes its
    /// pointers visible syncs it first.
    fn write_pack(&self, built: &pack::Built) -> Result<()> {
        let dest = self.pack_path(&built.id);
        if dest.exists() {
            return Ok(());
        }
        let dir = dest.parent().expect("pack path has a parent");
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tmp = self.tmp_path(&dest);
        let written = fs::write(&tmp, &built.compressed)
            .and_then(|()| fs::rename(&tmp, &dest))
            .map_err(|e| Error::io(&dest, e));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }

    /// A packed chunk's plain bytes, verified against its name, and its
    /// share of the pack.
    pub(super) fn unpack(&self, id: &ChunkId, file: &[u8]) -> Result<(Vec<u8>, u64)> {
        let store = self.describe();
        let p = Pointer::parse(file, id, &store)?;
        let corrupt = |detail: String| Error::ChunkCorrupt {
            id: *id,
            store: store.clone(),
            detail,
        };
        let plain = self
            .packs
            .get(&p.pack, || self.read_pack(&p.pack))
            .map_err(corrupt)?;
        let (from, to) = (p.offset as usize, p.offset as usize + p.len as usize);
        if to > plain.len() {
            return Err(corrupt(format!(
                "its pointer reaches byte {to} of pack {}, which holds {}",
                p.pack,
                plain.len()
            )));
        }
        let chunk = plain[from..to].to_vec();
        let actual = ChunkId::of(&chunk);
        if actual != *id {
            return Err(corrupt(format!(
                "content in pack {} hashes to {actual}",
                p.pack
            )));
        }
        Ok((chunk, p.share as u64))
    }

    fn read_pack(&self, id: &PackId) -> Result<Vec<u8>> {
        let path = self.pack_path(id);
        let compressed = fs::read(&path).map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::Store {
                store: self.describe(),
                detail: format!("pack {id} is missing"),
            },
            _ => Error::io(&path, e),
        })?;
        pack::open(id, &compressed, &self.describe())
    }

    /// Every pack file and its size.
    fn pack_files(&self) -> Result<Vec<(PackId, PathBuf, u64)>> {
        let root = self.root.join("packs");
        let mut out = Vec::new();
        let prefixes = match fs::read_dir(&root) {
            Ok(p) => p,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io(&root, e)),
        };
        for prefix in prefixes {
            let dir = prefix.map_err(|e| Error::io(&root, e))?.path();
            for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
                let entry = entry.map_err(|e| Error::io(&dir, e))?;
                let Some(id) = entry.file_name().to_str().and_then(PackId::from_hex) else {
                    continue;
                };
                let len = entry
                    .metadata()
                    .map_err(|e| Error::io(entry.path(), e))?
                    .len();
                out.push((id, entry.path(), len));
            }
        }
        Ok(out)
    }

    /// Removes packs no chunk points into, and packs afresh the live
    /// chunks of packs that are mostly dead. Runs under gc's exclusive
    /// lock, so no capture is writing packs.
    pub(super) fn reclaim_packs(&self) -> Result<Reclaimed> {
        let mut report = Reclaimed::default();
        if !self.packs() {
            return Ok(report);
        }
        let mut live: HashMap<PackId, (u64, Vec<ChunkId>)> = HashMap::new();
        self.walk_chunks(&mut |id, path, len| {
            if let Some(p) = self.pointer_at(&id, &path, len)? {
                let entry = live.entry(p.pack).or_default();
                entry.0 += p.share as u64;
                entry.1.push(id);
            }
            Ok(())
        })?;
        let mut sparse = Vec::new();
        for (id, path, len) in self.pack_files()? {
            match live.get(&id) {
                None => {
                    fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                    self.packs.forget(&id);
                    report.removed_packs += 1;
                    report.bytes += len;
                }
                Some((share, _)) if (*share as f64) < len as f64 * REPACK_BELOW => {
                    sparse.push((id, path, len));
                }
                Some(_) => {}
            }
        }
        if sparse.is_empty() {
            return Ok(report);
        }
        let mut written = 0u64;
        let mut run: Vec<(ChunkId, Vec<u8>)> = Vec::new();
        let mut run_bytes = 0;
        for (pack_id, _, _) in &sparse {
            for chunk in &live[pack_id].1 {
                let (plain, _) = self.get_counted(chunk)?;
                run_bytes += plain.len();
                run.push((*chunk, plain));
                if run_bytes >= PACK_BYTES {
                    written += self.repack(&run)?;
                    run.clear();
                    run_bytes = 0;
                }
            }
        }
        if !run.is_empty() {
            written += self.repack(&run)?;
        }
        // The new pointers replace the old ones before an old pack goes.
        self.flush()?;
        let mut freed = 0u64;
        for (id, path, len) in &sparse {
            fs::remove_file(path).map_err(|e| Error::io(path, e))?;
            self.packs.forget(id);
            freed += len;
        }
        report.repacked_packs = sparse.len() as u64;
        report.bytes += freed.saturating_sub(written);
        Ok(report)
    }

    /// Writes `chunks` (already stored) as a new pack and points them at it
    /// once flushed. Returns the pack's size.
    fn repack(&self, chunks: &[(ChunkId, Vec<u8>)]) -> Result<u64> {
        let items: Vec<(ChunkId, &[u8])> = chunks.iter().map(|(id, d)| (*id, &d[..])).collect();
        Ok(self.pack_and_point(&items, PACK_LEVEL)?.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PruneStore;

    /// Chunks that compress, each different.
    fn chunks(tag: u8, n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let line = format!("chunk {tag} number {i}: some text that repeats. ");
                line.repeat(4000 / line.len()).into_bytes()
            })
            .collect()
    }

    fn put(store: &LocalStore, data: &[Vec<u8>]) -> Vec<ChunkId> {
        let items: Vec<(ChunkId, &[u8])> = data.iter().map(|d| (ChunkId::of(d), &d[..])).collect();
        let (added, bytes) = store.put_many(&items, PACK_LEVEL).unwrap();
        assert!(added.iter().all(|a| *a));
        assert!(bytes > 0);
        store.flush().unwrap();
        items.iter().map(|(id, _)| *id).collect()
    }

    #[test]
    fn a_new_store_packs_and_reads_each_chunk_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::create(dir.path()).unwrap();
        assert_eq!(store.version(), names::PACKED_VERSION);
        assert!(store.packs());
        let data = chunks(1, 20);
        let ids = put(&store, &data);
        assert_eq!(store.pack_files().unwrap().len(), 1, "one pack for the run");
        // A chunk already there is not packed again.
        let again: Vec<(ChunkId, &[u8])> = vec![(ids[0], &data[0][..])];
        assert_eq!(
            store.put_many(&again, PACK_LEVEL).unwrap(),
            (vec![false], 0)
        );
        for (id, d) in ids.iter().zip(&data) {
            assert!(store.has(id).unwrap());
            assert_eq!(&store.get(id).unwrap(), d);
            // Over the wire it is a frame of its own.
            let raw = store.get_raw(id).unwrap();
            assert_eq!(&crate::store::decode_chunk(id, &raw, "s").unwrap(), d);
            let size = store.stored_size(id).unwrap().unwrap();
            assert!(size > 0 && size < d.len() as u64, "its share: {size}");
        }
    }

    #[test]
    fn a_damaged_or_missing_pack_is_named_with_the_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::create(dir.path()).unwrap();
        let ids = put(&store, &chunks(2, 4));
        let (pack, path, _) = store.pack_files().unwrap().remove(0);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        let fresh = LocalStore::open(dir.path()).unwrap();
        let err = fresh.get(&ids[1]).unwrap_err().to_string();
        assert!(err.contains(&ids[1].to_hex()), "{err}");
        assert!(err.contains(&pack.to_hex()), "{err}");
        fs::remove_file(&path).unwrap();
        let fresh = LocalStore::open(dir.path()).unwrap();
        let err = fresh.get(&ids[2]).unwrap_err().to_string();
        assert!(
            err.contains("is missing") && err.contains(&ids[2].to_hex()),
            "{err}"
        );
    }

    #[test]
    fn gc_removes_dead_packs_and_repacks_mostly_dead_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::create(dir.path()).unwrap();
        let dead = put(&store, &chunks(3, 10));
        let sparse_data = chunks(4, 10);
        let sparse = put(&store, &sparse_data);
        let kept = put(&store, &chunks(5, 10));
        assert_eq!(store.pack_files().unwrap().len(), 3);
        for id in dead.iter().chain(&sparse[..8]) {
            store.remove(id).unwrap();
        }
        let before: u64 = store.pack_files().unwrap().iter().map(|p| p.2).sum();
        let report = store.reclaim_packs().unwrap();
        assert_eq!(report.removed_packs, 1);
        assert_eq!(report.repacked_packs, 1);
        let after: u64 = store.pack_files().unwrap().iter().map(|p| p.2).sum();
        assert_eq!(report.bytes, before - after);
        assert_eq!(store.pack_files().unwrap().len(), 2);
        let fresh = LocalStore::open(dir.path()).unwrap();
        for (id, d) in sparse[8..].iter().zip(&sparse_data[8..]) {
            assert_eq!(&fresh.get(id).unwrap(), d);
        }
        for id in &kept {
            fresh.get(id).unwrap();
        }
        assert_eq!(
            fresh.reclaim_packs().unwrap(),
            Reclaimed::default(),
            "nothing left to reclaim"
        );
    }

    #[test]
    fn a_pack_nothing_points_into_is_removed() {
        // What a capture killed between writing a pack and flushing its
        // pointers leaves.
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::create(dir.path()).unwrap();
        let data = chunks(6, 3);
        let items: Vec<(ChunkId, &[u8])> = data.iter().map(|d| (ChunkId::of(d), &d[..])).collect();
        store.write_pack(&pack::build(&items, PACK_LEVEL)).unwrap();
        let report = store.reclaim_packs().unwrap();
        assert_eq!(report.removed_packs, 1);
        assert!(store.pack_files().unwrap().is_empty());
    }
}
