//! A stored chunk is one zstd frame of the plain bytes. Its name is the
//! BLAKE3 of the plain bytes, checked on every read.

use crate::error::{Error, Result};
use crate::id::ChunkId;

/// Nothing Marrow writes decompresses to more than this (index pieces are
/// 1 MiB, data chunks at most 4× the 1 MiB largest average); a frame that
/// claims more is corrupt, and the bound keeps a bad chunk from eating memory.
pub const MAX_CHUNK_LEN: usize = 8 << 20;

pub fn encode_chunk(plain: &[u8], level: i32) -> (ChunkId, Vec<u8>) {
    let id = ChunkId::of(plain);
    let compressed =
        zstd::bulk::compress(plain, level).expect("zstd compression of an in-memory buffer");
    (id, compressed)
}

pub fn decode_chunk(id: &ChunkId, raw: &[u8], store: &str) -> Result<Vec<u8>> {
    let corrupt = |detail: String| Error::ChunkCorrupt {
        id: *id,
        store: store.to_string(),
        detail,
    };
    let plain =
        zstd::bulk::decompress(raw, MAX_CHUNK_LEN).map_err(|e| corrupt(format!("zstd: {e}")))?;
    let actual = ChunkId::of(&plain);
    if actual != *id {
        return Err(corrupt(format!("content hashes to {actual}")));
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_names_chunk_whose_content_was_altered() {
        let (id, mut raw) = encode_chunk(b"some bytes that compress", 3);
        assert_eq!(
            decode_chunk(&id, &raw, "s").unwrap(),
            b"some bytes that compress"
        );
        let last = raw.len() - 1;
        raw[last] ^= 0xff;
        let err = decode_chunk(&id, &raw, "s").unwrap_err().to_string();
        assert!(err.contains(&id.to_hex()), "{err}");
    }
}
