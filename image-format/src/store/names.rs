//! What every store backend names its objects, and the text of its small
//! files: the one mapping from a chunk id to where it lives, so a local
//! folder and an S3 prefix hold the same tree (docs/image-format.md).
//!
//! ```text
//! marrow-store.json          format marker and version
//! chunks/<4 hex>/<64 hex>    one zstd frame per chunk, or a pointer into a pack
//! packs/<2 hex>/<64 hex>     chunks compressed together (format 2, local stores)
//! manifests/<64 hex>.json    canonical manifests, named by their BLAKE3
//! manifests/<64 hex>.sig     a manifest's detached signature (site sync)
//! refs/<name>                a name's history: "<image id> <unix time>" per line
//! ```

use super::RefEntry;
use crate::error::{Error, Result};
use crate::id::{ChunkId, ImageId};

/// The newest store format this code reads.
pub const FORMAT_VERSION: u32 = 2;
/// Every chunk is a zstd frame of its own (S3 stores, and local stores
/// created before packs).
pub const LOOSE_VERSION: u32 = 1;
/// Chunk files may point into packs (local stores created since).
pub const PACKED_VERSION: u32 = 2;
/// The format marker's name.
pub const MARKER: &str = "marrow-store.json";

/// The marker's body for a store of format `version`.
pub fn marker_body(version: u32) -> String {
    format!("{{\"format\":\"marrow-store\",\"version\":{version}}}\n")
}

/// The store's format version; refuses a marker that is not a store's, or
/// a newer format's.
pub fn check_marker(body: &str, store: &str) -> Result<u32> {
    let parsed: serde_json::Value = serde_json::from_str(body).map_err(|e| Error::Store {
        store: store.to_string(),
        detail: format!("{MARKER} is not valid JSON: {e}"),
    })?;
    let version = parsed["version"].as_u64().unwrap_or(0);
    if parsed["format"] != "marrow-store" || version == 0 || version > FORMAT_VERSION as u64 {
        return Err(Error::Store {
            store: store.to_string(),
            detail: format!(
                "store format {version} is not supported by this marrow (reads up to {FORMAT_VERSION})"
            ),
        });
    }
    Ok(version as u32)
}

/// Where a chunk lives, relative to the store's root.
pub fn chunk_key(id: &ChunkId) -> String {
    let hex = id.to_hex();
    format!("chunks/{}/{hex}", &hex[..4])
}

/// Where a pack lives, relative to the store's root.
pub fn pack_key(id: &ChunkId) -> String {
    let hex = id.to_hex();
    format!("packs/{}/{hex}", &hex[..2])
}

pub fn manifest_key(id: &ImageId) -> String {
    format!("manifests/{id}.json")
}

/// A manifest's detached signature, beside it.
pub fn signature_key(id: &ImageId) -> String {
    format!("manifests/{id}.sig")
}

pub fn ref_key(name: &str) -> String {
    format!("refs/{name}")
}

/// A ref file's text, oldest first.
pub fn format_history(entries: &[RefEntry]) -> String {
    entries
        .iter()
        .map(|e| format!("{} {}\n", e.id, e.created))
        .collect()
}

/// Reads a ref file's text; `what` names the file in errors.
pub fn parse_history(text: &str, store: &str, what: &str) -> Result<Vec<RefEntry>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(n, line)| {
            let mut parts = line.split_whitespace();
            let id = parts.next().and_then(|s| s.parse().ok());
            let created = parts.next().and_then(|s| s.parse().ok());
            match (id, created) {
                (Some(id), Some(created)) => Ok(RefEntry { id, created }),
                _ => Err(Error::Store {
                    store: store.to_string(),
                    detail: format!("{what} line {} is not \"<image id> <time>\"", n + 1),
                }),
            }
        })
        .collect()
}

/// The chunk a key under `chunks/` names, if it is one (not a temporary).
pub fn chunk_of_key(key: &str) -> Option<ChunkId> {
    let name = key.rsplit('/').next()?;
    (name.len() == 64).then(|| name.parse().ok()).flatten()
}

/// The manifest a key under `manifests/` names, if it is one.
pub fn manifest_of_key(key: &str) -> Option<ImageId> {
    let name = key.rsplit('/').next()?.strip_suffix(".json")?;
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_histories_read_back() {
        let c = ChunkId::of(b"x");
        let hex = c.to_hex();
        assert_eq!(chunk_key(&c), format!("chunks/{}/{hex}", &hex[..4]));
        assert_eq!(chunk_of_key(&chunk_key(&c)), Some(c));
        assert_eq!(chunk_of_key("chunks/abcd/.abcd.1.2.tmp"), None);
        let m = ImageId::of(b"m");
        assert_eq!(manifest_of_key(&manifest_key(&m)), Some(m));
        assert_eq!(manifest_of_key(&signature_key(&m)), None);
        let h = vec![
            RefEntry { id: m, created: 5 },
            RefEntry {
                id: ImageId::of(b"n"),
                created: 9,
            },
        ];
        assert_eq!(
            parse_history(&format_history(&h), "s", "refs/x").unwrap(),
            h
        );
        let e = parse_history("zz 1\n", "s", "refs/x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("refs/x line 1"), "{e}");
        assert_eq!(check_marker(&marker_body(LOOSE_VERSION), "s").unwrap(), 1);
        assert_eq!(check_marker(&marker_body(PACKED_VERSION), "s").unwrap(), 2);
        assert!(check_marker("{\"format\":\"marrow-store\",\"version\":9}", "s").is_err());
    }
}
