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
    let plain = decompress(raw).map_err(corrupt)?;
    let actual = ChunkId::of(&plain);
    if actual != *id {
        return Err(corrupt(format!("content hashes to {actual}")));
    }
    Ok(plain)
}

/// The id a frame's content hashes to, or why it is not a chunk: for a
/// file whose name was lost, such as a killed writer's temporary.
pub fn identify_chunk(raw: &[u8]) -> std::result::Result<ChunkId, String> {
    decompress(raw).map(|plain| ChunkId::of(&plain))
}

fn decompress(raw: &[u8]) -> std::result::Result<Vec<u8>, String> {
    // The frame header says how long the content is (Marrow's encoder
    // always writes it, RFC 8878 §3.1.1.1.4): allocating that, not the
    // bound, keeps a 4 KiB chunk from costing an 8 MiB buffer on every
    // upload and read.
    let capacity = match zstd::zstd_safe::get_frame_content_size(raw) {
        Ok(Some(n)) if n <= MAX_CHUNK_LEN as u64 => n as usize,
        Ok(Some(n)) => {
            return Err(format!(
                "zstd frame claims {n} bytes, more than the {MAX_CHUNK_LEN} a chunk holds"
            ))
        }
        // No size in the header (another encoder), or not a frame at all:
        // stream it, growing the buffer as content arrives, up to the bound.
        _ => return decompress_unsized(raw),
    };
    zstd::bulk::decompress(raw, capacity).map_err(|e| format!("zstd: {e}"))
}

fn decompress_unsized(raw: &[u8]) -> std::result::Result<Vec<u8>, String> {
    use std::io::Read;
    let decoder =
        zstd::stream::read::Decoder::with_buffer(raw).map_err(|e| format!("zstd: {e}"))?;
    let mut plain = Vec::new();
    decoder
        .take(MAX_CHUNK_LEN as u64 + 1)
        .read_to_end(&mut plain)
        .map_err(|e| format!("zstd: {e}"))?;
    if plain.len() > MAX_CHUNK_LEN {
        return Err(format!(
            "zstd frame holds more than the {MAX_CHUNK_LEN} bytes a chunk holds"
        ));
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

    #[test]
    fn a_frame_claiming_more_than_a_chunk_holds_is_corrupt() {
        let (id, _) = encode_chunk(b"x", 3);
        // A frame header claiming 9 MiB and no blocks: magic, then a
        // descriptor for one segment with an 8-byte content size
        // (RFC 8878 §3.1.1.1.1).
        let mut raw = vec![0x28, 0xb5, 0x2f, 0xfd, 0xe0];
        raw.extend_from_slice(&(9u64 << 20).to_le_bytes());
        let err = decode_chunk(&id, &raw, "s").unwrap_err().to_string();
        assert!(err.contains("claims 9437184 bytes"), "{err}");
    }

    #[test]
    fn a_frame_without_a_content_size_still_decodes() {
        let plain = b"streamed without a size in the header".repeat(100);
        let mut enc = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        enc.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut enc, &plain).unwrap();
        let raw = enc.finish().unwrap();
        assert_eq!(
            zstd::zstd_safe::get_frame_content_size(&raw).ok().flatten(),
            None
        );
        assert_eq!(
            decode_chunk(&ChunkId::of(&plain), &raw, "s").unwrap(),
            plain
        );
    }
}
