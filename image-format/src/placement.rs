//! Where each chunk of an image goes on the target, as data.
//!
//! A region's data extents are filled by its chunk stream in order, so a
//! chunk's bytes can straddle extents. [`Placement::new`] walks the extent
//! and chunk lists once and records, for every chunk of the image, the
//! disk segments it covers ([`Slot`]), and every zero extent. Nothing is
//! fetched or written here.
//!
//! With the placement in hand, a restore no longer has to receive chunks
//! in the disk's order: the unicast restore fetches them slot by slot, and
//! a receiver that gets chunks in a sender's order looks each one up with
//! [`Placement::by_chunk`] and writes it wherever it belongs.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::id::ChunkId;
use crate::manifest::Region;
use crate::store::ReadStore;
use crate::table::{ExtentKind, PieceReader};

/// A run of target bytes: `len` bytes at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub offset: u64,
    pub len: u64,
}

/// One occurrence of a chunk in the image: its id, its plain length, and
/// where its bytes go (see [`Placement::segments`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub id: ChunkId,
    pub len: u32,
    first: u32,
    count: u32,
}

/// Every chunk and zero run of an image, laid out on the target.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    slots: Vec<Slot>,
    segments: Vec<Segment>,
    zeros: Vec<Segment>,
    data_bytes: u64,
    zero_bytes: u64,
}

impl Placement {
    /// Reads the regions' extent and chunk lists (pieces) from `store`.
    /// Fails when a chunk list is longer than its region's data extents,
    /// naming the first chunk that does not fit.
    pub fn new(regions: &[Region], store: &dyn ReadStore) -> Result<Placement> {
        let mut p = Placement::default();
        for region in regions {
            p.add_region(region, store)?;
        }
        Ok(p)
    }

    fn add_region(&mut self, region: &Region, store: &dyn ReadStore) -> Result<()> {
        let mut extents = PieceReader::extents(store, &region.extents);
        // The data extent being filled and how much of it is left.
        let mut current: Option<Segment> = None;
        for chunk in PieceReader::chunks(store, &region.chunks) {
            let chunk = chunk?;
            let first = self.segments.len() as u32;
            let mut need = chunk.len as u64;
            while need > 0 {
                let seg = match current.take() {
                    Some(c) => c,
                    None => loop {
                        let e = extents.next().ok_or_else(|| Error::ManifestCorrupt {
                            id: chunk.id.to_hex(),
                            store: store.describe(),
                            detail: "chunk list is longer than the region's data extents".into(),
                        })??;
                        match e.kind {
                            ExtentKind::Data => {
                                break Segment {
                                    offset: e.offset,
                                    len: e.len,
                                }
                            }
                            ExtentKind::Zero => self.add_zero(e.offset, e.len),
                        }
                    },
                };
                let take = need.min(seg.len);
                self.segments.push(Segment {
                    offset: seg.offset,
                    len: take,
                });
                need -= take;
                if take < seg.len {
                    current = Some(Segment {
                        offset: seg.offset + take,
                        len: seg.len - take,
                    });
                }
            }
            self.data_bytes += chunk.len as u64;
            self.slots.push(Slot {
                id: chunk.id,
                len: chunk.len,
                first,
                count: self.segments.len() as u32 - first,
            });
        }
        // Zero extents after the last data.
        for e in extents {
            let e = e?;
            if e.kind == ExtentKind::Zero {
                self.add_zero(e.offset, e.len);
            }
        }
        Ok(())
    }

    fn add_zero(&mut self, offset: u64, len: u64) {
        self.zeros.push(Segment { offset, len });
        self.zero_bytes += len;
    }

    /// Every chunk occurrence, in image order.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// The target segments `slot`'s bytes fill, in order.
    pub fn segments(&self, slot: &Slot) -> &[Segment] {
        &self.segments[slot.first as usize..(slot.first + slot.count) as usize]
    }

    /// Every zero run, in image order.
    pub fn zeros(&self) -> &[Segment] {
        &self.zeros
    }

    /// Data bytes the chunks fill.
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    pub fn zero_bytes(&self) -> u64 {
        self.zero_bytes
    }

    /// Each distinct chunk once, in the order of its first slot: a
    /// multicast session's chunk table, which the server and every
    /// receiver derive alike from the manifest.
    pub fn distinct(&self) -> Vec<ChunkId> {
        let mut seen = std::collections::HashSet::new();
        self.slots
            .iter()
            .filter(|s| seen.insert(s.id))
            .map(|s| s.id)
            .collect()
    }

    /// For each distinct chunk, the indexes of its slots: a chunk that
    /// arrives out of order is written to all of them at once.
    pub fn by_chunk(&self) -> HashMap<ChunkId, Vec<usize>> {
        let mut map: HashMap<ChunkId, Vec<usize>> = HashMap::new();
        for (i, slot) in self.slots.iter().enumerate() {
            map.entry(slot.id).or_default().push(i);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::FsKind;
    use crate::manifest::RegionRole;
    use crate::store::MemoryStore;
    use crate::table::{ChunkRef, Extent, PieceWriter};

    /// A region whose data extents are `data` and zero extents `zero`,
    /// carried by chunks of `lens` bytes (the ids are made up).
    fn region(store: &MemoryStore, extents: &[Extent], lens: &[u32]) -> Region {
        let mut e = PieceWriter::extents();
        for x in extents {
            e.push_extent(x, store, 1).unwrap();
        }
        e.flush(store, 1).unwrap();
        let mut c = PieceWriter::chunks();
        for (i, len) in lens.iter().enumerate() {
            let r = ChunkRef {
                id: ChunkId::of(&[i as u8]),
                len: *len,
            };
            c.push_chunk(&r, store, 1).unwrap();
        }
        c.flush(store, 1).unwrap();
        Region {
            role: RegionRole::Partition,
            partition: Some(1),
            start: 0,
            length: 1 << 20,
            fs: FsKind::Unknown,
            data_bytes: lens.iter().map(|l| *l as u64).sum(),
            zero_bytes: 0,
            skipped: Vec::new(),
            chunk_count: lens.len() as u64,
            extents: e.pieces,
            chunks: c.pieces,
        }
    }

    fn data(offset: u64, len: u64) -> Extent {
        Extent {
            offset,
            len,
            kind: ExtentKind::Data,
        }
    }

    fn zero(offset: u64, len: u64) -> Extent {
        Extent {
            offset,
            len,
            kind: ExtentKind::Zero,
        }
    }

    #[test]
    fn a_chunk_that_straddles_extents_gets_a_segment_in_each() {
        let store = MemoryStore::new();
        let r = region(
            &store,
            &[data(0, 100), zero(100, 50), data(150, 100), zero(250, 10)],
            &[60, 80, 60],
        );
        let p = Placement::new(&[r], &store).unwrap();
        let segs: Vec<Vec<(u64, u64)>> = p
            .slots()
            .iter()
            .map(|s| p.segments(s).iter().map(|g| (g.offset, g.len)).collect())
            .collect();
        assert_eq!(
            segs,
            vec![vec![(0, 60)], vec![(60, 40), (150, 40)], vec![(190, 60)]]
        );
        let zeros: Vec<(u64, u64)> = p.zeros().iter().map(|z| (z.offset, z.len)).collect();
        assert_eq!(zeros, vec![(100, 50), (250, 10)]);
        assert_eq!((p.data_bytes(), p.zero_bytes()), (200, 60));
    }

    #[test]
    fn a_chunk_list_longer_than_the_extents_is_refused_naming_the_chunk() {
        let store = MemoryStore::new();
        let r = region(&store, &[data(0, 100)], &[60, 60]);
        let err = Placement::new(&[r], &store).unwrap_err().to_string();
        assert!(
            err.contains(&ChunkId::of(&[1]).to_hex()) && err.contains("longer"),
            "{err}"
        );
    }

    #[test]
    fn by_chunk_finds_every_slot_of_a_repeated_chunk() {
        let store = MemoryStore::new();
        let r = region(&store, &[data(0, 30)], &[10, 10, 10]);
        let mut p = Placement::new(&[r], &store).unwrap();
        // Make the first and last slot the same chunk, as a file repeated
        // on the disk would be.
        p.slots[2].id = p.slots[0].id;
        let map = p.by_chunk();
        assert_eq!(map[&p.slots[0].id], vec![0, 2]);
        assert_eq!(map.len(), 2);
        assert_eq!(p.distinct(), vec![p.slots[0].id, p.slots[1].id]);
    }
}
