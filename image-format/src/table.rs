//! Extent and chunk lists, packed into fixed-size records and stored as
//! ordinary chunks ("pieces"), so a manifest stays a few kilobytes however
//! large the disk: it names only the pieces.
//!
//! Pieces end after a record whose content marks a boundary (a chunk id
//! starting with a zero byte; an extent whose mixed offset and length has a
//! zero top byte), once they hold 16 records, or at 1 MiB.
//!
//! Piece: magic `MRWP`, kind byte (`E` extents, `C` chunks), u32 LE count,
//! then records. Extent record: u64 offset, u64 length, u8 kind (0 data,
//! 1 zero), 17 bytes. Chunk record: 32-byte id, u32 length, 36 bytes.

use crate::error::{Error, Result};
use crate::id::ChunkId;
use crate::store::{encode_chunk, ReadStore, WriteStore};

const MAGIC: &[u8; 4] = b"MRWP";
/// Plain size a piece grows to before it is stored.
pub const PIECE_BYTES: usize = 1 << 20;
const EXTENT_RECORD: usize = 17;
const MIN_PIECE_RECORDS: u32 = 16;
const CHUNK_RECORD: usize = 36;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtentKind {
    Data,
    Zero,
}

/// A run of disk bytes: data carried by the region's chunk stream, or zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub len: u64,
    pub kind: ExtentKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRef {
    pub id: ChunkId,
    pub len: u32,
}

/// Accumulates records and stores a piece each time one fills up.
pub struct PieceWriter {
    kind: u8,
    buf: Vec<u8>,
    count: u32,
    pub pieces: Vec<ChunkId>,
    pub stored_bytes: u64,
}

impl PieceWriter {
    pub fn extents() -> Self {
        Self::new(b'E')
    }

    pub fn chunks() -> Self {
        Self::new(b'C')
    }

    fn new(kind: u8) -> Self {
        PieceWriter {
            kind,
            buf: Vec::new(),
            count: 0,
            pieces: Vec::new(),
            stored_bytes: 0,
        }
    }

    pub fn push_extent(&mut self, e: &Extent, store: &dyn WriteStore, level: i32) -> Result<()> {
        debug_assert_eq!(self.kind, b'E');
        self.begin();
        self.buf.extend_from_slice(&e.offset.to_le_bytes());
        self.buf.extend_from_slice(&e.len.to_le_bytes());
        self.buf.push(matches!(e.kind, ExtentKind::Zero) as u8);
        let mixed = (e.offset ^ e.len).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.record(store, level, mixed >> 56 == 0)
    }

    pub fn push_chunk(&mut self, c: &ChunkRef, store: &dyn WriteStore, level: i32) -> Result<()> {
        debug_assert_eq!(self.kind, b'C');
        self.begin();
        self.buf.extend_from_slice(&c.id.0);
        self.buf.extend_from_slice(&c.len.to_le_bytes());
        self.record(store, level, c.id.0[0] == 0)
    }

    fn begin(&mut self) {
        if self.buf.is_empty() {
            self.buf.extend_from_slice(MAGIC);
            self.buf.push(self.kind);
            self.buf.extend_from_slice(&[0; 4]);
        }
    }

    /// Pieces end where the content says (about one record in 256), not at
    /// fixed counts, so a change to one chunk changes one small piece and the
    /// rest of a new version's lists dedup against the old one.
    fn record(&mut self, store: &dyn WriteStore, level: i32, boundary: bool) -> Result<()> {
        self.count += 1;
        if (boundary && self.count >= MIN_PIECE_RECORDS)
            || self.buf.len() + CHUNK_RECORD > PIECE_BYTES
        {
            self.flush(store, level)?;
        }
        Ok(())
    }

    pub fn flush(&mut self, store: &dyn WriteStore, level: i32) -> Result<()> {
        if self.count == 0 {
            return Ok(());
        }
        self.buf[5..9].copy_from_slice(&self.count.to_le_bytes());
        let (id, compressed) = encode_chunk(&self.buf, level);
        if store.put(&id, &compressed)? {
            self.stored_bytes += compressed.len() as u64;
        }
        self.pieces.push(id);
        self.buf.clear();
        self.count = 0;
        Ok(())
    }
}

fn parse_piece(id: &ChunkId, plain: &[u8], kind: u8, record: usize) -> Result<usize> {
    let bad = |detail: String| Error::ChunkCorrupt {
        id: *id,
        store: "index".into(),
        detail,
    };
    if plain.len() < 9 || &plain[..4] != MAGIC || plain[4] != kind {
        return Err(bad(format!("not a {} list piece", kind as char)));
    }
    let count = u32::from_le_bytes(plain[5..9].try_into().unwrap()) as usize;
    if plain.len() != 9 + count * record {
        return Err(bad(format!(
            "piece says {count} records but holds {} bytes",
            plain.len()
        )));
    }
    Ok(count)
}

pub fn decode_extents(id: &ChunkId, plain: &[u8]) -> Result<Vec<Extent>> {
    let count = parse_piece(id, plain, b'E', EXTENT_RECORD)?;
    Ok((0..count)
        .map(|i| {
            let r = &plain[9 + i * EXTENT_RECORD..9 + (i + 1) * EXTENT_RECORD];
            Extent {
                offset: u64::from_le_bytes(r[..8].try_into().unwrap()),
                len: u64::from_le_bytes(r[8..16].try_into().unwrap()),
                kind: if r[16] == 0 {
                    ExtentKind::Data
                } else {
                    ExtentKind::Zero
                },
            }
        })
        .collect())
}

pub fn decode_chunks(id: &ChunkId, plain: &[u8]) -> Result<Vec<ChunkRef>> {
    let count = parse_piece(id, plain, b'C', CHUNK_RECORD)?;
    Ok((0..count)
        .map(|i| {
            let r = &plain[9 + i * CHUNK_RECORD..9 + (i + 1) * CHUNK_RECORD];
            ChunkRef {
                id: ChunkId(r[..32].try_into().unwrap()),
                len: u32::from_le_bytes(r[32..36].try_into().unwrap()),
            }
        })
        .collect())
}

/// Streams records piece by piece, holding one piece in memory at a time.
pub struct PieceReader<'a, T> {
    store: &'a dyn ReadStore,
    pieces: std::slice::Iter<'a, ChunkId>,
    current: std::vec::IntoIter<T>,
    decode: fn(&ChunkId, &[u8]) -> Result<Vec<T>>,
}

impl<'a> PieceReader<'a, Extent> {
    pub fn extents(store: &'a dyn ReadStore, pieces: &'a [ChunkId]) -> Self {
        Self::new(store, pieces, decode_extents)
    }
}

impl<'a> PieceReader<'a, ChunkRef> {
    pub fn chunks(store: &'a dyn ReadStore, pieces: &'a [ChunkId]) -> Self {
        Self::new(store, pieces, decode_chunks)
    }
}

impl<'a, T> PieceReader<'a, T> {
    fn new(
        store: &'a dyn ReadStore,
        pieces: &'a [ChunkId],
        decode: fn(&ChunkId, &[u8]) -> Result<Vec<T>>,
    ) -> Self {
        PieceReader {
            store,
            pieces: pieces.iter(),
            current: Vec::new().into_iter(),
            decode,
        }
    }
}

impl<T> Iterator for PieceReader<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(item) = self.current.next() {
                return Some(Ok(item));
            }
            let id = self.pieces.next()?;
            match self
                .store
                .get(id)
                .and_then(|plain| (self.decode)(id, &plain))
            {
                Ok(items) => self.current = items.into_iter(),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[test]
    fn chunk_list_round_trips_across_many_pieces() {
        let store = MemoryStore::new();
        let mut w = PieceWriter::chunks();
        let refs: Vec<ChunkRef> = (0..70_000u32)
            .map(|i| ChunkRef {
                id: ChunkId::of(&i.to_le_bytes()),
                len: i,
            })
            .collect();
        for r in &refs {
            w.push_chunk(r, &store, 1).unwrap();
        }
        w.flush(&store, 1).unwrap();
        assert!(w.pieces.len() >= 3);
        let back: Vec<_> = PieceReader::chunks(&store, &w.pieces)
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(back, refs);
    }

    #[test]
    fn rejects_piece_whose_count_disagrees_with_its_length() {
        let id = ChunkId::of(b"x");
        let mut plain = b"MRWPE".to_vec();
        plain.extend_from_slice(&5u32.to_le_bytes());
        plain.extend_from_slice(&[0u8; 17]);
        let err = decode_extents(&id, &plain).unwrap_err().to_string();
        assert!(err.contains("5 records"), "{err}");
    }
}
