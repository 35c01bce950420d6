//! btrfs's logical-to-physical map: the chunk items of the superblock's
//! system chunk array and of the chunk tree (btrfs documentation,
//! "On-disk Format": CHUNK_ITEM, and "Chunk tree").

use std::collections::BTreeMap;

use crate::disk::{le16, le64};

/// `BTRFS_CHUNK_ITEM_KEY`.
pub const CHUNK_ITEM: u8 = 228;
/// A chunk item before its stripes: length, owner, stripe_len, type,
/// io_align, io_width, sector_size, num_stripes, sub_stripes.
const CHUNK_HEADER: usize = 48;
const STRIPE: usize = 32;
/// Block group profile bits (`BTRFS_BLOCK_GROUP_RAID0` and the rest).
const RAID0: u64 = 1 << 3;
const RAID1: u64 = 1 << 4;
const DUP: u64 = 1 << 5;
const RAID10: u64 = 1 << 6;
const RAID5: u64 = 1 << 7;
const RAID6: u64 = 1 << 8;
const RAID1C3: u64 = 1 << 9;
const RAID1C4: u64 = 1 << 10;

#[derive(Debug, Clone)]
struct Chunk {
    len: u64,
    /// Where each copy of the chunk starts on this device. Single has one,
    /// DUP two; mirrors on other devices are not this device's business.
    copies: Vec<u64>,
}

/// Chunks by logical start.
#[derive(Debug, Default)]
pub struct ChunkMap {
    chunks: BTreeMap<u64, Chunk>,
}

impl ChunkMap {
    /// Adds the chunk item `item` that maps logical `start`. Only profiles
    /// whose every stripe is a whole copy can be mapped without the striping
    /// arithmetic, and only those exist on a single device.
    pub fn add(&mut self, start: u64, item: &[u8], devid: u64) -> Result<(), String> {
        if item.len() < CHUNK_HEADER {
            return Err(format!("chunk item at {start} is truncated"));
        }
        let len = le64(item, 0);
        let kind = le64(item, 24);
        let stripes = le16(item, 44) as usize;
        if len == 0 || start.checked_add(len).is_none() {
            return Err(format!("chunk at {start} has length {len}"));
        }
        if stripes == 0 || item.len() < CHUNK_HEADER + stripes * STRIPE {
            return Err(format!(
                "chunk at {start} claims {stripes} stripes in {} bytes",
                item.len()
            ));
        }
        if kind & (RAID0 | RAID10 | RAID5 | RAID6) != 0 {
            return Err(format!(
                "chunk at {start} is striped (type {kind:#x}); Marrow maps single, DUP and mirrored chunks"
            ));
        }
        let whole_copies = RAID1 | DUP | RAID1C3 | RAID1C4;
        if kind & whole_copies == 0 && stripes != 1 {
            return Err(format!("single chunk at {start} has {stripes} stripes"));
        }
        let copies: Vec<u64> = (0..stripes)
            .map(|i| CHUNK_HEADER + i * STRIPE)
            .filter(|&at| le64(item, at) == devid)
            .map(|at| le64(item, at + 8))
            .collect();
        if copies.iter().any(|c| c.checked_add(len).is_none()) {
            return Err(format!("chunk at {start} has a stripe past 2^64"));
        }
        if let Some((&prev, c)) = self.chunks.range(..start.saturating_add(len)).next_back() {
            if prev + c.len > start && prev != start {
                return Err(format!("chunk at {start} overlaps the chunk at {prev}"));
            }
        }
        self.chunks.insert(start, Chunk { len, copies });
        Ok(())
    }

    /// Reads the superblock's system chunk array: (key, chunk item) pairs.
    pub fn from_sys_array(array: &[u8], devid: u64) -> Result<Self, String> {
        let mut map = ChunkMap::default();
        let mut at = 0;
        while at < array.len() {
            let key = array
                .get(at..at + 17)
                .ok_or("system chunk array ends inside a key")?;
            if key[8] != CHUNK_ITEM {
                return Err(format!(
                    "system chunk array holds item type {}, not a chunk",
                    key[8]
                ));
            }
            let start = le64(key, 9);
            at += 17;
            let head = array
                .get(at..at + CHUNK_HEADER)
                .ok_or("system chunk array ends inside a chunk")?;
            let size = CHUNK_HEADER + le16(head, 44) as usize * STRIPE;
            let item = array
                .get(at..at + size)
                .ok_or("system chunk array ends inside a chunk's stripes")?;
            map.add(start, item, devid)?;
            at += size;
        }
        Ok(map)
    }

    /// The physical ranges, on this device, of every copy of the logical
    /// range `[start, start + len)`.
    pub fn map(&self, start: u64, len: u64) -> Result<Vec<(u64, u64)>, String> {
        let mut out = Vec::new();
        let (mut at, end) = (start, start.saturating_add(len));
        while at < end {
            let (&c_start, chunk) = self
                .chunks
                .range(..=at)
                .next_back()
                .filter(|(&s, c)| at < s + c.len)
                .ok_or_else(|| format!("logical address {at} is in no chunk"))?;
            let piece = (end - at).min(c_start + chunk.len - at);
            for &copy in &chunk.copies {
                out.push((copy + (at - c_start), piece));
            }
            at += piece;
        }
        Ok(out)
    }

    /// The first copy's physical address of `logical`, for reading.
    pub fn first(&self, logical: u64) -> Result<Vec<u64>, String> {
        Ok(self.map(logical, 1)?.into_iter().map(|(p, _)| p).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(len: u64, kind: u64, stripes: &[(u64, u64)]) -> Vec<u8> {
        let mut b = vec![0u8; CHUNK_HEADER];
        b[0..8].copy_from_slice(&len.to_le_bytes());
        b[24..32].copy_from_slice(&kind.to_le_bytes());
        b[44..46].copy_from_slice(&(stripes.len() as u16).to_le_bytes());
        for &(dev, off) in stripes {
            let mut s = vec![0u8; STRIPE];
            s[0..8].copy_from_slice(&dev.to_le_bytes());
            s[8..16].copy_from_slice(&off.to_le_bytes());
            b.extend(s);
        }
        b
    }

    #[test]
    fn maps_single_and_both_copies_of_dup() {
        let mut m = ChunkMap::default();
        m.add(1 << 20, &item(1 << 20, 1, &[(1, 8 << 20)]), 1)
            .unwrap();
        m.add(
            4 << 20,
            &item(1 << 20, 4 | DUP, &[(1, 20 << 20), (1, 30 << 20)]),
            1,
        )
        .unwrap();
        assert_eq!(m.map((1 << 20) + 10, 5).unwrap(), vec![((8 << 20) + 10, 5)]);
        assert_eq!(
            m.map(4 << 20, 4096).unwrap(),
            vec![(20 << 20, 4096), (30 << 20, 4096)]
        );
        assert!(m.map(3 << 20, 1).unwrap_err().contains("in no chunk"));
    }

    #[test]
    fn a_range_over_two_chunks_is_split() {
        let mut m = ChunkMap::default();
        m.add(0, &item(100, 1, &[(1, 1000)]), 1).unwrap();
        m.add(100, &item(100, 1, &[(1, 5000)]), 1).unwrap();
        assert_eq!(m.map(90, 20).unwrap(), vec![(1090, 10), (5000, 10)]);
    }

    #[test]
    fn refuses_striped_and_overlapping_chunks() {
        let mut m = ChunkMap::default();
        let raid0 = item(100, 1 | RAID0, &[(1, 0), (2, 0)]);
        assert!(m.add(0, &raid0, 1).unwrap_err().contains("striped"));
        m.add(0, &item(100, 1, &[(1, 0)]), 1).unwrap();
        assert!(m
            .add(50, &item(100, 1, &[(1, 500)]), 1)
            .unwrap_err()
            .contains("overlaps"));
    }
}
