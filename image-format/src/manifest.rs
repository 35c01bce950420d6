//! The manifest: disk layout, then regions, each naming the pieces that
//! list its extents and chunks. It is serialised canonically (fixed field
//! order, compact JSON), and the image id is the BLAKE3 of those bytes.

use serde::{Deserialize, Serialize};

use crate::chunker::ChunkParams;
use crate::error::{Error, Result};
use crate::fs::FsKind;
use crate::id::{ChunkId, ImageId};
use crate::layout::DiskLayout;

pub const FORMAT: &str = "marrow-image";
/// The newest manifest version this marrow writes and reads.
pub const VERSION: u32 = 2;
/// Version 2 added a region's `skipped` files. A manifest without any is
/// still written as version 1, so that older readers keep reading it.
pub const VERSION_SKIPPED: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub chunking: ChunkParams,
    pub layout: DiskLayout,
    pub regions: Vec<Region>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegionRole {
    /// Sector 0 up to the first partition: boot code, GPT, GRUB's core.img.
    BootArea,
    Partition,
    /// Space between partitions, including EBRs of logical partitions.
    Gap,
    /// A disk with no partition table.
    WholeDisk,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub role: RegionRole,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<u32>,
    pub start: u64,
    pub length: u64,
    pub fs: FsKind,
    /// Bytes carried by chunks (used, non-zero).
    pub data_bytes: u64,
    /// Used bytes that are zero: recorded, never stored.
    pub zero_bytes: u64,
    pub chunk_count: u64,
    pub extents: Vec<ChunkId>,
    pub chunks: Vec<ChunkId>,
    /// Files whose content the capture left out on purpose; their bytes
    /// are among `zero_bytes` and restore as zeros.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedFile>,
}

/// A file kept as zeros of its size: Windows' page, swap or hibernation
/// file, which Windows rewrites (or, zeroed, ignores) at boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkippedFile {
    pub path: String,
    pub bytes: u64,
}

impl Region {
    /// How reports name the region: `partition 2`, `boot area`, `gap`.
    pub fn label(&self) -> String {
        match (self.role, self.partition) {
            (RegionRole::Partition, Some(n)) => format!("partition {n}"),
            (RegionRole::Partition, None) => "partition".into(),
            (RegionRole::BootArea, _) => "boot area".into(),
            (RegionRole::Gap, _) => "gap".into(),
            (RegionRole::WholeDisk, _) => "whole disk".into(),
        }
    }
}

impl Manifest {
    /// The oldest version that can say everything in `regions`.
    pub fn version_for(regions: &[Region]) -> u32 {
        if regions.iter().any(|r| !r.skipped.is_empty()) {
            VERSION_SKIPPED
        } else {
            1
        }
    }

    pub fn to_canonical(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("manifest serialises")
    }

    pub fn id(&self) -> ImageId {
        ImageId::of(&self.to_canonical())
    }

    /// Parses manifest bytes, naming the image in every error.
    pub fn parse(bytes: &[u8], id: &str, store: &str) -> Result<Manifest> {
        let corrupt = |detail: String| Error::ManifestCorrupt {
            id: id.to_string(),
            store: store.to_string(),
            detail,
        };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| corrupt(format!("not valid JSON: {e}")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(corrupt(format!("not a {FORMAT} manifest")));
        }
        let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
        if version == 0 || version > VERSION as u64 {
            return Err(corrupt(format!(
                "manifest version {version} is not supported (this marrow reads versions 1 to {VERSION})"
            )));
        }
        let m: Manifest = serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
        if m.version < VERSION_SKIPPED && m.regions.iter().any(|r| !r.skipped.is_empty()) {
            return Err(corrupt(format!(
                "version {} manifest lists skipped files, which version {VERSION_SKIPPED} added",
                m.version
            )));
        }
        m.validate().map_err(corrupt)?;
        Ok(m)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        crate::validate::structure(self)
    }

    pub fn data_bytes(&self) -> u64 {
        self.regions.iter().map(|r| r.data_bytes).sum()
    }

    pub fn used_bytes(&self) -> u64 {
        self.regions
            .iter()
            .map(|r| r.data_bytes + r.zero_bytes)
            .sum()
    }

    pub fn chunk_count(&self) -> u64 {
        self.regions.iter().map(|r| r.chunk_count).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_manifest_from_a_newer_format_version() {
        let err = Manifest::parse(br#"{"format":"marrow-image","version":99}"#, "abc", "s")
            .unwrap_err()
            .to_string();
        assert!(err.contains("version 99") && err.contains("abc"), "{err}");
    }

    #[test]
    fn refuses_json_that_is_not_a_manifest() {
        let err = Manifest::parse(br#"{"hello":1}"#, "abc", "s")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a marrow-image manifest"), "{err}");
        let err = Manifest::parse(b"{\"format\":\"marrow-im", "abc", "s")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid JSON"), "{err}");
    }
}
