//! Typed content ids. A chunk and an image are both named by BLAKE3, but
//! they are never interchangeable, so each has its own type; the types live
//! in `marrow-ids`, which every crate shares.

pub use marrow_ids::{ChunkId, ImageId};

impl From<marrow_ids::IdError> for crate::Error {
    fn from(e: marrow_ids::IdError) -> Self {
        match e {
            marrow_ids::IdError::NotHex { kind, value } => crate::Error::BadId { kind, value },
            other => crate::Error::Unsupported(other.to_string()),
        }
    }
}
