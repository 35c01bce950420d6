//! Content ids: a chunk, an image manifest and a driver package are each
//! named by the BLAKE3 of their bytes, but they are never interchangeable,
//! so each gets its own type.

use std::fmt;
use std::str::FromStr;

use crate::error::IdError;

macro_rules! blake3_id {
    ($name:ident, $what:literal) => {
        #[doc = concat!("BLAKE3 name of ", $what, ".")]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            pub fn of(bytes: &[u8]) -> Self {
                Self(*blake3::hash(bytes).as_bytes())
            }

            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// The first 12 hex digits: enough to tell ids apart in a listing.
            pub fn short(&self) -> String {
                self.to_hex()[..12].to_string()
            }

            /// The id of 64 hex digits, or `None`.
            pub fn from_hex(text: &str) -> Option<Self> {
                text.parse().ok()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s, &mut out).map_err(|_| IdError::NotHex {
                    kind: $what,
                    value: s.to_string(),
                })?;
                Ok(Self(out))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

blake3_id!(ChunkId, "a chunk");
blake3_id!(ImageId, "an image manifest");
blake3_id!(PackageId, "a driver package");
blake3_id!(FileHash, "a file");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_id_round_trips_through_hex() {
        let id = ChunkId::of(b"marrow");
        let back: ChunkId = id.to_hex().parse().unwrap();
        assert_eq!(id, back);
        assert_eq!(id.short().len(), 12);
        assert_eq!(ChunkId::from_hex(&id.to_hex()), Some(id));
    }

    #[test]
    fn rejects_id_that_is_not_64_hex_digits() {
        let err = "abc".parse::<ChunkId>().unwrap_err().to_string();
        assert!(err.contains("abc") && err.contains("a chunk"), "{err}");
        assert_eq!(PackageId::from_hex("abc"), None);
    }

    #[test]
    fn serializes_as_hex_text_and_refuses_other_text() {
        let id = ImageId::of(b"manifest");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{}\"", id.to_hex()));
        assert_eq!(serde_json::from_str::<ImageId>(&json).unwrap(), id);
        let err = serde_json::from_str::<ImageId>("\"xyz\"").unwrap_err();
        assert!(err.to_string().contains("an image manifest"), "{err}");
    }
}
