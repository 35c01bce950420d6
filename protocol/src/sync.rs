//! Site sync's wire format (docs/sync.md): what an upstream lists, and the
//! chunk batch, a body of records that a puller reads as it arrives.
//!
//! A batch answers a list of chunk ids with one record per chunk, in the
//! order asked:
//!
//! ```text
//! id      32 bytes   the chunk's BLAKE3 name
//! length   4 bytes   big-endian, the stored (zstd) bytes that follow
//! bytes   length
//! ```
//!
//! The reader is sans-I/O: bytes go in as they arrive, records come out
//! whole. The puller verifies each record's bytes against its id before it
//! keeps them; the reader only refuses what cannot be a record.

use serde::{Deserialize, Serialize};

use crate::error::BatchError;
use crate::ChunkId;

/// The most chunk ids one batch request may name.
pub const MAX_BATCH: usize = 256;

/// The largest stored chunk a record may carry. Chunks are at most 4 MiB
/// before compression (docs/image-format.md), and zstd never grows its
/// input by more than a few hundred bytes per 128 KiB block; 8 MiB is
/// twice that with room.
pub const MAX_RECORD: u32 = 8 << 20;

/// `GET /api/v1/sync/images`: every image the upstream holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// The upstream's identity key, `ed25519:<hex>`.
    pub key: String,
    pub images: Vec<CatalogImage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogImage {
    pub name: String,
    /// Oldest first, as the image's history.
    pub versions: Vec<CatalogVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogVersion {
    /// The manifest's BLAKE3, hex.
    pub id: String,
    /// Unix seconds when the version was committed.
    pub created: u64,
    /// The detached signature file, as stored (`None`: unsigned).
    pub signature: Option<String>,
}

/// `POST /api/v1/sync/chunks`: the chunks to send (hex ids in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRequest {
    pub ids: Vec<ChunkId>,
}

/// One record's header and bytes, encoded.
pub fn encode_record(id: &ChunkId, bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&id.0);
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Reads records out of a batch body as its bytes arrive.
#[derive(Debug, Default)]
pub struct BatchReader {
    buf: Vec<u8>,
}

impl BatchReader {
    pub fn new() -> BatchReader {
        BatchReader::default()
    }

    /// Takes bytes that arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole record, if one has arrived; an error when the bytes
    /// cannot be a record.
    pub fn next_record(&mut self) -> Result<Option<(ChunkId, Vec<u8>)>, BatchError> {
        if self.buf.len() < 36 {
            return Ok(None);
        }
        let len = u32::from_be_bytes(self.buf[32..36].try_into().expect("4 bytes"));
        if len > MAX_RECORD {
            return Err(BatchError::TooLong {
                len,
                max: MAX_RECORD,
            });
        }
        let end = 36 + len as usize;
        if self.buf.len() < end {
            return Ok(None);
        }
        let id = ChunkId(self.buf[..32].try_into().expect("32 bytes"));
        let bytes = self.buf[36..end].to_vec();
        self.buf.drain(..end);
        Ok(Some((id, bytes)))
    }

    /// At the end of the body: an error when a record was cut short.
    pub fn finish(&self) -> Result<(), BatchError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(BatchError::Truncated { left: n }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ChunkId {
        ChunkId([n; 32])
    }

    #[test]
    fn golden_record_bytes() {
        let mut out = Vec::new();
        encode_record(&id(0xab), b"zstd", &mut out);
        let mut want = vec![0xab; 32];
        want.extend_from_slice(&[0, 0, 0, 4]);
        want.extend_from_slice(b"zstd");
        assert_eq!(out, want);
    }

    #[test]
    fn records_come_out_whole_however_the_bytes_arrive() {
        let mut body = Vec::new();
        encode_record(&id(1), b"first", &mut body);
        encode_record(&id(2), b"", &mut body);
        encode_record(&id(3), &[7; 1000], &mut body);
        for step in [1, 3, 36, 37, 500, body.len()] {
            let mut r = BatchReader::new();
            let mut got = Vec::new();
            for piece in body.chunks(step) {
                r.push(piece);
                while let Some(rec) = r.next_record().unwrap() {
                    got.push(rec);
                }
            }
            r.finish().unwrap();
            assert_eq!(got.len(), 3, "step {step}");
            assert_eq!(got[0], (id(1), b"first".to_vec()));
            assert_eq!(got[1], (id(2), vec![]));
            assert_eq!(got[2].1.len(), 1000);
        }
    }

    #[test]
    fn named_bad_inputs() {
        // A length beyond any chunk is refused before it is buffered.
        let mut r = BatchReader::new();
        let mut head = vec![0u8; 32];
        head.extend_from_slice(&u32::MAX.to_be_bytes());
        r.push(&head);
        assert!(matches!(
            r.next_record(),
            Err(BatchError::TooLong { len: u32::MAX, .. })
        ));
        // A body that stops inside a record.
        let mut body = Vec::new();
        encode_record(&id(9), b"abcdef", &mut body);
        let mut r = BatchReader::new();
        r.push(&body[..body.len() - 2]);
        assert_eq!(r.next_record().unwrap(), None);
        assert_eq!(r.finish(), Err(BatchError::Truncated { left: 40 }));
    }
}
