//! btrfs used blocks, single-device: every extent the extent tree records
//! (data extents and, by `METADATA_ITEM` or tree-block `EXTENT_ITEM`, every
//! tree block of every tree), mapped through the chunk tree to this
//! device's offsets, plus the superblock copies and the first 64 KiB a boot
//! loader may use. Layouts: btrfs documentation, "On-disk Format".

mod chunks;
mod tree;

use super::{fs_err, Usage};
use crate::disk::{le32, le64, read_vec, ReadAt};
use crate::error::Result;
use crate::ranges::RangeSet;
use chunks::{ChunkMap, CHUNK_ITEM};
use tree::{Reader, Visit};

pub const SUPER_AT: u64 = 0x10000;
const SUPER_LEN: usize = 4096;
const MAGIC: &[u8; 8] = b"_BHRfS_M";
/// `BTRFS_EXTENT_TREE_OBJECTID`, `BTRFS_ROOT_ITEM_KEY`.
const EXTENT_TREE: u64 = 2;
const ROOT_ITEM: u8 = 132;
const EXTENT_DATA: u8 = 108;
const EXTENT_ITEM: u8 = 168;
const METADATA_ITEM: u8 = 169;
/// `BTRFS_FEATURE_INCOMPAT_METADATA_UUID`: tree blocks carry the metadata
/// UUID instead of the fsid.
const METADATA_UUID: u64 = 1 << 10;
/// `BTRFS_FEATURE_INCOMPAT_EXTENT_TREE_V2` changes what the extent tree
/// holds; Marrow keeps such filesystems' non-zero blocks instead.
const EXTENT_TREE_V2: u64 = 1 << 13;

pub fn is_btrfs(disk: &dyn ReadAt, offset: u64, len: u64) -> bool {
    len > SUPER_AT + SUPER_LEN as u64
        && read_vec(disk, offset + SUPER_AT + 0x40, 8).is_ok_and(|m| m == MAGIC)
}

#[derive(Debug)]
struct Super {
    fsid: [u8; 16],
    root: u64,
    root_level: u8,
    chunk_root: u64,
    chunk_root_level: u8,
    log_root: u64,
    log_root_level: u8,
    devices: u64,
    sectorsize: u64,
    nodesize: u64,
    crc32c: bool,
    incompat: u64,
    devid: u64,
    device_size: u64,
    sys_chunks: Vec<u8>,
}

fn parse_super(b: &[u8]) -> std::result::Result<Super, String> {
    if &b[0x40..0x48] != MAGIC {
        return Err("no _BHRfS_M magic".into());
    }
    let csum_type = u16::from_le_bytes([b[0xc4], b[0xc5]]);
    let crc32c = csum_type == 0;
    if crc32c && crc32c::crc32c(&b[0x20..]) != le32(b, 0) {
        return Err("superblock fails its checksum".into());
    }
    let sectorsize = le32(b, 0x90) as u64;
    let nodesize = le32(b, 0x94) as u64;
    if !sectorsize.is_power_of_two() || !(4096..=65536).contains(&sectorsize) {
        return Err(format!("sector size {sectorsize} is invalid"));
    }
    if !nodesize.is_power_of_two() || !(sectorsize..=65536).contains(&nodesize) {
        return Err(format!("node size {nodesize} is invalid"));
    }
    let sys_len = le32(b, 0xa0) as usize;
    if sys_len > 2048 {
        return Err(format!(
            "system chunk array of {sys_len} bytes exceeds 2048"
        ));
    }
    let incompat = le64(b, 0xbc);
    let uuid_at = if incompat & METADATA_UUID != 0 {
        0x23b
    } else {
        0x20
    };
    Ok(Super {
        fsid: b[uuid_at..uuid_at + 16].try_into().unwrap(),
        root: le64(b, 0x50),
        root_level: b[0xc6],
        chunk_root: le64(b, 0x58),
        chunk_root_level: b[0xc7],
        log_root: le64(b, 0x60),
        log_root_level: b[0xc8],
        devices: le64(b, 0x88),
        sectorsize,
        nodesize,
        crc32c,
        incompat,
        devid: le64(b, 0xc9),
        device_size: le64(b, 0xc9 + 8),
        sys_chunks: b[0x32b..0x32b + sys_len].to_vec(),
    })
}

/// The used byte ranges, or `None` for a filesystem this reader does not
/// map (several devices, extent tree v2): it is kept as non-zero blocks.
pub fn usage(disk: &dyn ReadAt, offset: u64, len: u64) -> Result<Option<Usage>> {
    let err = |detail: String| fs_err("btrfs", disk, offset, detail);
    let sb = parse_super(&read_vec(disk, offset + SUPER_AT, SUPER_LEN)?).map_err(err)?;
    if sb.devices != 1 || sb.incompat & EXTENT_TREE_V2 != 0 {
        return Ok(None);
    }
    if sb.device_size > len {
        return Err(err(format!(
            "device claims {} bytes but its partition holds {len}",
            sb.device_size
        )));
    }
    let extents = extents(disk, offset, &sb).map_err(err)?;
    let mut used = RangeSet::new();
    // What precedes the superblock is left to boot loaders, and kept.
    used.push(0, SUPER_AT + SUPER_LEN as u64);
    // Superblock copies at 64 MiB and 256 GiB (`btrfs_sb_offset`).
    for mirror in [1u64 << 26, 1 << 38] {
        if mirror + SUPER_LEN as u64 <= sb.device_size {
            used.push(mirror, SUPER_LEN as u64);
        }
    }
    for (start, len) in extents {
        used.push(start, len);
    }
    used.normalize();
    used.clamp(sb.device_size);
    Ok(Some(Usage {
        used,
        block_size: sb.sectorsize,
        fs_size: sb.device_size,
    }))
}

/// Every allocated extent, as physical (start, length) on this device.
fn extents(
    disk: &dyn ReadAt,
    offset: u64,
    sb: &Super,
) -> std::result::Result<Vec<(u64, u64)>, String> {
    let boot = ChunkMap::from_sys_array(&sb.sys_chunks, sb.devid)?;
    let mut reader = Reader {
        disk,
        offset,
        device_size: sb.device_size,
        nodesize: sb.nodesize,
        fsid: sb.fsid,
        crc32c: sb.crc32c,
        map: &boot,
        budget: sb.device_size / sb.nodesize,
    };
    let mut map = ChunkMap::default();
    reader.walk(sb.chunk_root, sb.chunk_root_level, &mut |_, v| match v {
        Visit::Item(i) if i.kind == CHUNK_ITEM => map.add(i.offset, i.data, sb.devid),
        _ => Ok(()),
    })?;
    let budget = reader.budget;
    let mut reader = Reader {
        map: &map,
        budget,
        ..reader
    };
    let mut extent_root = None;
    reader.walk(sb.root, sb.root_level, &mut |_, v| {
        if let Visit::Item(i) = v {
            if i.objectid == EXTENT_TREE && i.kind == ROOT_ITEM {
                extent_root = Some(root_item(i.data)?);
            }
        }
        Ok(())
    })?;
    let (root, level) = extent_root.ok_or("the root tree has no extent tree")?;
    let mut logical = Vec::new();
    reader.walk(root, level, &mut |_, v| {
        match v {
            Visit::Item(i) if i.kind == EXTENT_ITEM => logical.push((i.objectid, i.offset)),
            Visit::Item(i) if i.kind == METADATA_ITEM => logical.push((i.objectid, sb.nodesize)),
            _ => {}
        }
        Ok(())
    })?;
    // A filesystem not cleanly unmounted has a log tree, whose blocks and
    // data the extent tree does not record until the log is replayed.
    if sb.log_root != 0 {
        log_trees(&mut reader, sb.log_root, sb.log_root_level, &mut logical)?;
    }
    let mut physical = Vec::with_capacity(logical.len());
    for (start, len) in logical {
        physical.extend(map.map(start, len)?);
    }
    Ok(physical)
}

/// The log root tree and every log tree it names: their blocks and the
/// data extents their file extent items point at.
fn log_trees(
    reader: &mut Reader<'_>,
    root: u64,
    level: u8,
    out: &mut Vec<(u64, u64)>,
) -> std::result::Result<(), String> {
    let nodesize = reader.nodesize;
    let mut roots = Vec::new();
    reader.walk(root, level, &mut |_, v| {
        match v {
            Visit::Block(at) => out.push((at, nodesize)),
            Visit::Item(i) if i.kind == ROOT_ITEM => roots.push(root_item(i.data)?),
            _ => {}
        }
        Ok(())
    })?;
    for (root, level) in roots {
        reader.walk(root, level, &mut |_, v| {
            match v {
                Visit::Block(at) => out.push((at, nodesize)),
                Visit::Item(i) if i.kind == EXTENT_DATA => {
                    if let Some(extent) = file_extent(i.data) {
                        out.push(extent);
                    }
                }
                _ => {}
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// A root item's tree: (bytenr, level) after its embedded inode item.
fn root_item(b: &[u8]) -> std::result::Result<(u64, u8), String> {
    if b.len() < 239 {
        return Err(format!("root item of {} bytes is truncated", b.len()));
    }
    Ok((le64(b, 176), b[238]))
}

/// A regular or preallocated file extent's (disk_bytenr, disk_num_bytes);
/// inline extents and holes (bytenr 0) use no extent of their own.
fn file_extent(b: &[u8]) -> Option<(u64, u64)> {
    if b.len() < 53 || b[20] == 0 {
        return None;
    }
    let (at, len) = (le64(b, 21), le64(b, 29));
    (at != 0 && len != 0).then_some((at, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_superblock_failing_its_checksum_is_refused() {
        let mut b = vec![0u8; SUPER_LEN];
        b[0x40..0x48].copy_from_slice(MAGIC);
        b[0] = 1;
        assert!(parse_super(&b).unwrap_err().contains("checksum"));
    }

    #[test]
    fn inline_extents_and_holes_use_no_disk_space() {
        let mut b = vec![0u8; 53];
        assert_eq!(file_extent(&b), None, "inline");
        b[20] = 1;
        assert_eq!(file_extent(&b), None, "hole");
        b[21..29].copy_from_slice(&(1u64 << 20).to_le_bytes());
        b[29..37].copy_from_slice(&8192u64.to_le_bytes());
        assert_eq!(file_extent(&b), Some((1 << 20, 8192)));
    }
}
