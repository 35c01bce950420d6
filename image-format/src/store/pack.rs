//! Packs (store format 2): consecutive new chunks of a capture compressed
//! together as one zstd frame, and the small pointer each chunk's file then
//! holds instead of its own frame.
//!
//! Compressing each 128 KiB chunk on its own loses the context a stream
//! compressor has: on the benchmark disk, chunks alone at level 3 store 6 %
//! more than packs of 2 MiB at level 3, which also compress faster per byte
//! (docs/image-format.md, "Packs"). Dedup is unchanged, because chunks are
//! still named, found and referenced one by one; only their bytes share a
//! frame.
//!
//! A pointer is 48 bytes:
//!
//! ```text
//! "MRPK"            magic (a zstd frame starts 28 B5 2F FD, so the two never meet)
//! pack name         32 bytes: BLAKE3 of the pack file
//! offset  u32 LE    where the chunk starts in the pack's plain bytes
//! length  u32 LE    the chunk's plain length
//! share   u32 LE    its share of the pack's compressed bytes, for sizes
//! ```

use std::sync::{Arc, Mutex, OnceLock};

use crate::error::{Error, Result};
use crate::id::ChunkId;

use super::MAX_CHUNK_LEN;

pub const POINTER_LEN: usize = 48;
const MAGIC: &[u8; 4] = b"MRPK";

/// Packs are cut once their plain bytes reach this; the measurements that
/// chose it are in docs/image-format.md.
pub const PACK_BYTES: usize = 2 << 20;
/// The zstd level for packs: level 3 over 2 MiB compresses faster per
/// byte than level 1 over single chunks, and stores less than partclone's
/// zstd stream.
pub const PACK_LEVEL: i32 = 3;
/// A pack never decompresses to more than this: a full pack plus its last
/// chunk, which may be as long as any chunk.
pub const MAX_PACK_LEN: usize = PACK_BYTES + MAX_CHUNK_LEN;

/// A pack is named by the BLAKE3 of its compressed bytes.
pub type PackId = ChunkId;

/// Where a packed chunk's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pointer {
    pub pack: PackId,
    pub offset: u32,
    pub len: u32,
    pub share: u32,
}

impl Pointer {
    pub fn encode(&self) -> [u8; POINTER_LEN] {
        let mut out = [0u8; POINTER_LEN];
        out[..4].copy_from_slice(MAGIC);
        out[4..36].copy_from_slice(&self.pack.0);
        out[36..40].copy_from_slice(&self.offset.to_le_bytes());
        out[40..44].copy_from_slice(&self.len.to_le_bytes());
        out[44..48].copy_from_slice(&self.share.to_le_bytes());
        out
    }

    /// Whether a chunk file holds a pointer rather than a zstd frame.
    pub fn is_pointer(bytes: &[u8]) -> bool {
        bytes.starts_with(MAGIC)
    }

    /// Parses a pointer, refusing one whose range could not be a chunk of
    /// a pack. `chunk` and `store` name it in the error.
    pub fn parse(bytes: &[u8], chunk: &ChunkId, store: &str) -> Result<Pointer> {
        let corrupt = |detail: String| Error::ChunkCorrupt {
            id: *chunk,
            store: store.to_string(),
            detail,
        };
        if bytes.len() != POINTER_LEN {
            return Err(corrupt(format!(
                "pack pointer is {} bytes, not {POINTER_LEN}",
                bytes.len()
            )));
        }
        if !Self::is_pointer(bytes) {
            return Err(corrupt("pack pointer has no MRPK magic".into()));
        }
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let pack = ChunkId(bytes[4..36].try_into().expect("32 bytes"));
        let (offset, len, share) = (word(36), word(40), word(44));
        if len == 0 || len as usize > MAX_CHUNK_LEN {
            return Err(corrupt(format!("pack pointer gives a length of {len}")));
        }
        if offset as usize + len as usize > MAX_PACK_LEN {
            return Err(corrupt(format!(
                "pack pointer reaches byte {} of a pack, past the largest pack",
                offset as u64 + len as u64
            )));
        }
        Ok(Pointer {
            pack,
            offset,
            len,
            share,
        })
    }
}

/// A pack built from chunks: its compressed bytes and each chunk's pointer.
pub struct Built {
    pub id: PackId,
    pub compressed: Vec<u8>,
    pub pointers: Vec<Pointer>,
}

/// Compresses `chunks` together into one pack.
pub fn build(chunks: &[(ChunkId, &[u8])], level: i32) -> Built {
    let total: usize = chunks.iter().map(|(_, d)| d.len()).sum();
    let mut plain = Vec::with_capacity(total);
    for (_, d) in chunks {
        plain.extend_from_slice(d);
    }
    let compressed =
        zstd::bulk::compress(&plain, level).expect("zstd compression of an in-memory buffer");
    let id = PackId::of(&compressed);
    let mut offset = 0usize;
    let pointers = chunks
        .iter()
        .map(|(_, d)| {
            let share = (compressed.len() as u128 * d.len() as u128 / total.max(1) as u128) as u32;
            let p = Pointer {
                pack: id,
                offset: offset as u32,
                len: d.len() as u32,
                share,
            };
            offset += d.len();
            p
        })
        .collect();
    Built {
        id,
        compressed,
        pointers,
    }
}

/// Decompresses a pack file, checking it against its name. `pack` and
/// `store` name it in the error.
pub fn open(pack: &PackId, compressed: &[u8], store: &str) -> Result<Vec<u8>> {
    let corrupt = |detail: String| Error::Store {
        store: store.to_string(),
        detail: format!("pack {pack}: {detail}"),
    };
    let actual = PackId::of(compressed);
    if actual != *pack {
        return Err(corrupt(format!("its bytes hash to {actual}")));
    }
    zstd::bulk::decompress(compressed, MAX_PACK_LEN).map_err(|e| corrupt(format!("zstd: {e}")))
}

/// Packs decompressed lately, so a restore reading a pack's chunks one by
/// one decompresses it once. Threads asking for the same pack at once wait
/// for one decompression.
pub struct PackCache {
    entries: Mutex<Vec<(PackId, Arc<Slot>)>>,
}

type Slot = OnceLock<std::result::Result<Arc<Vec<u8>>, String>>;

/// Enough for every restore worker's pack and the ones they move on to.
const CACHED_PACKS: usize = 8;

impl Default for PackCache {
    fn default() -> Self {
        PackCache {
            entries: Mutex::new(Vec::with_capacity(CACHED_PACKS)),
        }
    }
}

impl PackCache {
    /// The plain bytes of `pack`, from the cache or by `load`.
    pub fn get(
        &self,
        pack: &PackId,
        load: impl FnOnce() -> Result<Vec<u8>>,
    ) -> std::result::Result<Arc<Vec<u8>>, String> {
        let slot = {
            let mut entries = self.entries.lock().unwrap();
            match entries.iter().position(|(id, _)| id == pack) {
                Some(i) => {
                    // Most recent last.
                    let e = entries.remove(i);
                    let slot = e.1.clone();
                    entries.push(e);
                    slot
                }
                None => {
                    if entries.len() >= CACHED_PACKS {
                        entries.remove(0);
                    }
                    let slot = Arc::new(Slot::new());
                    entries.push((*pack, slot.clone()));
                    slot
                }
            }
        };
        let got = slot
            .get_or_init(|| load().map(Arc::new).map_err(|e| e.to_string()))
            .clone();
        if got.is_err() {
            // A failed read is not remembered: the next asks again.
            self.entries
                .lock()
                .unwrap()
                .retain(|(id, s)| id != pack || !Arc::ptr_eq(s, &slot));
        }
        got
    }

    /// Forgets a pack (it was removed or rewritten).
    pub fn forget(&self, pack: &PackId) {
        self.entries.lock().unwrap().retain(|(id, _)| id != pack);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointer() -> Pointer {
        Pointer {
            pack: PackId::of(b"pack"),
            offset: 131072,
            len: 4096,
            share: 1700,
        }
    }

    #[test]
    fn pointer_round_trips_and_has_its_golden_layout() {
        let p = pointer();
        let bytes = p.encode();
        assert_eq!(&bytes[..4], b"MRPK");
        assert_eq!(&bytes[36..40], &131072u32.to_le_bytes());
        assert!(Pointer::is_pointer(&bytes));
        assert_eq!(Pointer::parse(&bytes, &ChunkId::of(b"c"), "s").unwrap(), p);
        let (_, frame) = super::super::encode_chunk(b"a chunk", 1);
        assert!(
            !Pointer::is_pointer(&frame),
            "a zstd frame is not a pointer"
        );
    }

    #[test]
    fn refuses_named_bad_pointers() {
        let c = ChunkId::of(b"c");
        let good = pointer().encode();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("short", good[..40].to_vec(), "40 bytes"),
            ("long", [&good[..], &[0]].concat(), "49 bytes"),
            ("no magic", [&b"XXXX"[..], &good[4..]].concat(), "magic"),
            (
                "zero length",
                Pointer {
                    len: 0,
                    ..pointer()
                }
                .encode()
                .to_vec(),
                "length of 0",
            ),
            (
                "length over any chunk",
                Pointer {
                    len: MAX_CHUNK_LEN as u32 + 1,
                    ..pointer()
                }
                .encode()
                .to_vec(),
                "length of",
            ),
            (
                "past the largest pack",
                Pointer {
                    offset: MAX_PACK_LEN as u32,
                    ..pointer()
                }
                .encode()
                .to_vec(),
                "past the largest pack",
            ),
        ];
        for (name, bytes, want) in cases {
            let err = Pointer::parse(&bytes, &c, "s").unwrap_err().to_string();
            assert!(err.contains(want), "{name}: {err}");
            assert!(err.contains(&c.to_hex()), "{name} names the chunk: {err}");
        }
    }

    #[test]
    fn built_pack_holds_each_chunk_at_its_pointer() {
        let a = vec![7u8; 5000];
        let b: Vec<u8> = (0..9000u32).map(|i| (i * 31 % 251) as u8).collect();
        let chunks = [(ChunkId::of(&a), &a[..]), (ChunkId::of(&b), &b[..])];
        let built = build(&chunks, PACK_LEVEL);
        let plain = open(&built.id, &built.compressed, "s").unwrap();
        for ((_, data), p) in chunks.iter().zip(&built.pointers) {
            let at = p.offset as usize;
            assert_eq!(&plain[at..at + p.len as usize], *data);
        }
        let shares: u32 = built.pointers.iter().map(|p| p.share).sum();
        assert!(shares as usize <= built.compressed.len());
        let mut bad = built.compressed.clone();
        bad[0] ^= 1;
        let err = open(&built.id, &bad, "s").unwrap_err().to_string();
        assert!(err.contains(&built.id.to_hex()), "{err}");
    }

    #[test]
    fn cache_decompresses_a_pack_once_and_forgets_failures() {
        let cache = PackCache::default();
        let id = PackId::of(b"p");
        let mut loads = 0;
        for _ in 0..3 {
            let got = cache.get(&id, || {
                loads += 1;
                Ok(vec![1, 2, 3])
            });
            assert_eq!(*got.unwrap(), vec![1, 2, 3]);
        }
        assert_eq!(loads, 1);
        let other = PackId::of(b"q");
        let failed = cache.get(&other, || {
            Err(Error::Store {
                store: "s".into(),
                detail: "gone".into(),
            })
        });
        assert!(failed.unwrap_err().contains("gone"));
        let again = cache.get(&other, || Ok(vec![9]));
        assert_eq!(*again.unwrap(), vec![9], "the failure was not kept");
    }
}
