//! Filesystems Marrow reads the allocation of, so that free space is never
//! captured. Anything it cannot read falls back to "every non-zero block".

mod btrfs;
mod ext;
mod fat;
mod ntfs;
mod xfs;

use serde::{Deserialize, Serialize};

use crate::disk::{read_vec, ReadAt};
use crate::error::{Error, Result};
use crate::ranges::RangeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsKind {
    Ext4,
    Ntfs,
    Fat12,
    Fat16,
    Fat32,
    Swap,
    Xfs,
    Btrfs,
    Luks,
    /// Nothing recognised: captured as its non-zero blocks.
    Unknown,
}

impl FsKind {
    pub fn name(self) -> &'static str {
        match self {
            FsKind::Ext4 => "ext2/3/4",
            FsKind::Ntfs => "ntfs",
            FsKind::Fat12 => "fat12",
            FsKind::Fat16 => "fat16",
            FsKind::Fat32 => "fat32",
            FsKind::Swap => "swap",
            FsKind::Xfs => "xfs",
            FsKind::Btrfs => "btrfs",
            FsKind::Luks => "luks",
            FsKind::Unknown => "unknown",
        }
    }

    /// Whether Marrow reads this filesystem's allocation map.
    pub fn allocation_aware(self) -> bool {
        matches!(
            self,
            FsKind::Ext4
                | FsKind::Ntfs
                | FsKind::Fat12
                | FsKind::Fat16
                | FsKind::Fat32
                | FsKind::Swap
                | FsKind::Xfs
                | FsKind::Btrfs
        )
    }
}

/// A file whose clusters a capture keeps as zeros (Windows' page, swap
/// and hibernation files), with its byte ranges relative to the
/// partition's start.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub name: String,
    pub ranges: RangeSet,
}

/// The throwaway files of the filesystem at `offset`: only NTFS has any.
pub fn throwaway(disk: &dyn ReadAt, offset: u64, len: u64, kind: FsKind) -> Result<Vec<Skipped>> {
    match kind {
        FsKind::Ntfs => ntfs::throwaway(disk, offset, len),
        _ => Ok(Vec::new()),
    }
}

/// What a filesystem says it uses, relative to its partition's start.
#[derive(Debug, Clone)]
pub struct Usage {
    pub used: RangeSet,
    pub block_size: u64,
    pub fs_size: u64,
}

/// Recognises the filesystem at `offset` by its magic numbers.
pub fn detect(disk: &dyn ReadAt, offset: u64, len: u64) -> FsKind {
    if len < 4096 {
        return FsKind::Unknown;
    }
    let Ok(head) = read_vec(disk, offset, 4096) else {
        return FsKind::Unknown;
    };
    if ext::is_ext(disk, offset) {
        return FsKind::Ext4;
    }
    if ntfs::is_ntfs(&head) {
        return FsKind::Ntfs;
    }
    if let Some(bpb) = fat::Bpb::parse(&head) {
        return bpb.kind();
    }
    if &head[4086..4096] == b"SWAPSPACE2" || &head[4086..4096] == b"SWAP-SPACE" {
        return FsKind::Swap;
    }
    if xfs::is_xfs(&head) {
        return FsKind::Xfs;
    }
    if &head[..6] == b"LUKS\xba\xbe" {
        return FsKind::Luks;
    }
    if btrfs::is_btrfs(disk, offset, len) {
        return FsKind::Btrfs;
    }
    FsKind::Unknown
}

/// The used byte ranges of the filesystem at `offset`, or `None` when Marrow
/// does not read this kind's allocation (the caller keeps non-zero blocks).
pub fn usage(disk: &dyn ReadAt, offset: u64, len: u64, kind: FsKind) -> Result<Option<Usage>> {
    Ok(Some(match kind {
        FsKind::Ext4 => ext::usage(disk, offset, len)?,
        FsKind::Ntfs => ntfs::usage(disk, offset, len)?,
        FsKind::Fat12 | FsKind::Fat16 | FsKind::Fat32 => {
            let head = read_vec(disk, offset, 512)?;
            let bpb = fat::Bpb::parse(&head).ok_or_else(|| {
                fs_err(
                    "fat",
                    disk,
                    offset,
                    "boot sector changed while reading".into(),
                )
            })?;
            fat::usage(disk, offset, len, bpb)?
        }
        FsKind::Swap => {
            // Only the header (label, UUID) matters; the rest is scratch space.
            let mut used = RangeSet::new();
            used.push(0, 4096);
            Usage {
                used,
                block_size: 4096,
                fs_size: len,
            }
        }
        FsKind::Xfs => xfs::usage(disk, offset, len)?,
        FsKind::Btrfs => return btrfs::usage(disk, offset, len),
        _ => return Ok(None),
    }))
}

pub(crate) fn fs_err(fs: &'static str, disk: &dyn ReadAt, offset: u64, detail: String) -> Error {
    Error::Filesystem {
        fs,
        disk: disk.name(),
        offset,
        detail,
    }
}
