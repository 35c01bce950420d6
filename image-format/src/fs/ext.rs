//! ext2/3/4 used blocks from the block group bitmaps (kernel
//! Documentation/filesystems/ext4/ and e2fsprogs' lib/ext2fs).

use super::{fs_err, Usage};
use crate::disk::{le16, le32, read_vec, ReadAt};
use crate::error::Result;
use crate::ranges::RangeSet;

pub const MAGIC_OFFSET: u64 = 1024 + 56;
const INCOMPAT_META_BG: u32 = 0x10;
const INCOMPAT_64BIT: u32 = 0x80;
const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
const RO_COMPAT_GDT_CSUM: u32 = 0x10;
const RO_COMPAT_METADATA_CSUM: u32 = 0x400;
const COMPAT_SPARSE_SUPER2: u32 = 0x200;
const BG_BLOCK_UNINIT: u16 = 0x2;

pub fn is_ext(disk: &dyn ReadAt, offset: u64) -> bool {
    read_vec(disk, offset + MAGIC_OFFSET, 2).is_ok_and(|m| m == [0x53, 0xef])
}

#[derive(Debug)]
struct Super {
    blocks: u64,
    first_data_block: u64,
    block_size: u64,
    blocks_per_group: u64,
    inodes_per_group: u64,
    inode_size: u64,
    incompat: u32,
    ro_compat: u32,
    compat: u32,
    reserved_gdt: u64,
    desc_size: u64,
    backup_bgs: [u32; 2],
}

impl Super {
    fn parse(sb: &[u8]) -> std::result::Result<Super, String> {
        let log = le32(sb, 24);
        if log > 6 {
            return Err(format!("block size 2^(10+{log}) is out of range"));
        }
        let block_size = 1024u64 << log;
        let incompat = le32(sb, 96);
        let mut blocks = le32(sb, 4) as u64;
        if incompat & INCOMPAT_64BIT != 0 {
            blocks |= (le32(sb, 336) as u64) << 32;
        }
        let desc_size = if incompat & INCOMPAT_64BIT != 0 {
            le16(sb, 254) as u64
        } else {
            32
        };
        let blocks_per_group = le32(sb, 32) as u64;
        if blocks_per_group == 0 || blocks_per_group > 8 * block_size {
            return Err(format!("{blocks_per_group} blocks per group is invalid"));
        }
        if !(32..=1024).contains(&desc_size) || !desc_size.is_power_of_two() {
            return Err(format!("group descriptor size {desc_size} is invalid"));
        }
        let rev = le32(sb, 76);
        let inode_size = if rev >= 1 { le16(sb, 88) as u64 } else { 128 };
        Ok(Super {
            blocks,
            first_data_block: le32(sb, 20) as u64,
            block_size,
            blocks_per_group,
            inodes_per_group: le32(sb, 40) as u64,
            inode_size,
            incompat,
            ro_compat: le32(sb, 100),
            compat: le32(sb, 92),
            reserved_gdt: le16(sb, 206) as u64,
            desc_size,
            backup_bgs: [le32(sb, 588), le32(sb, 592)],
        })
    }

    fn groups(&self) -> u64 {
        (self.blocks - self.first_data_block).div_ceil(self.blocks_per_group)
    }

    /// Whether group `g` holds a superblock backup (sparse_super keeps them
    /// in groups 0, 1 and powers of 3, 5 and 7).
    fn has_super(&self, g: u64) -> bool {
        if g == 0 {
            return true;
        }
        if self.compat & COMPAT_SPARSE_SUPER2 != 0 {
            return self.backup_bgs.contains(&(g as u32));
        }
        if self.ro_compat & RO_COMPAT_SPARSE_SUPER == 0 {
            return true;
        }
        g == 1 || [3u64, 5, 7].iter().any(|&b| is_power_of(g, b))
    }
}

fn is_power_of(mut n: u64, base: u64) -> bool {
    while n > 1 && n.is_multiple_of(base) {
        n /= base;
    }
    n == 1
}

pub fn usage(disk: &dyn ReadAt, offset: u64, len: u64) -> Result<Usage> {
    let err = |detail: String| fs_err("ext4", disk, offset, detail);
    let sb_raw = read_vec(disk, offset + 1024, 1024)?;
    let sb = Super::parse(&sb_raw).map_err(err)?;
    let fs_bytes = sb
        .blocks
        .checked_mul(sb.block_size)
        .ok_or_else(|| err("block count overflows".into()))?;
    if fs_bytes > len {
        return Err(err(format!(
            "filesystem claims {fs_bytes} bytes but its partition holds {len}"
        )));
    }
    if sb.first_data_block >= sb.blocks {
        return Err(err(format!(
            "first data block {} is past the end",
            sb.first_data_block
        )));
    }
    let bs = sb.block_size;
    let groups = sb.groups();
    let gdt_blocks = (groups * sb.desc_size).div_ceil(bs);
    let gdt_raw = read_vec(
        disk,
        offset + (sb.first_data_block + 1) * bs,
        usize::try_from(gdt_blocks * bs).map_err(|_| err("descriptor table too large".into()))?,
    )?;
    let csum = sb.ro_compat & (RO_COMPAT_GDT_CSUM | RO_COMPAT_METADATA_CSUM) != 0;
    let itable_blocks = (sb.inodes_per_group * sb.inode_size).div_ceil(bs);

    let mut used = RangeSet::new();
    // The boot block and superblock, which no bitmap covers when blocks are 1 KiB.
    used.push(0, (sb.first_data_block + 1) * bs);
    let mut bitmap = vec![0u8; bs as usize];
    let mut uninit_groups = Vec::new();
    let mut metadata = RangeSet::new();
    for g in 0..groups {
        let d = &gdt_raw[(g * sb.desc_size) as usize..((g + 1) * sb.desc_size) as usize];
        let hi = |at: usize| -> u64 {
            if sb.desc_size >= 64 {
                (le32(d, at) as u64) << 32
            } else {
                0
            }
        };
        let block_bitmap = le32(d, 0) as u64 | hi(32);
        let inode_bitmap = le32(d, 4) as u64 | hi(36);
        let inode_table = le32(d, 8) as u64 | hi(40);
        for (block, n) in [
            (block_bitmap, 1),
            (inode_bitmap, 1),
            (inode_table, itable_blocks),
        ] {
            if block + n > sb.blocks {
                return Err(err(format!(
                    "group {g} places metadata at block {block}, past the end ({} blocks)",
                    sb.blocks
                )));
            }
            metadata.push(block * bs, n * bs);
        }
        let group_start = sb.first_data_block + g * sb.blocks_per_group;
        let group_blocks = sb.blocks_per_group.min(sb.blocks - group_start);
        if csum && le16(d, 18) & BG_BLOCK_UNINIT != 0 {
            uninit_groups.push((g, group_start, group_blocks));
            continue;
        }
        disk.read_at(&mut bitmap, offset + block_bitmap * bs)?;
        push_bitmap(&mut used, &bitmap, group_start, group_blocks, bs);
    }
    // An uninitialised group's bitmap is not on disk; what it would say is
    // derived as e2fsprogs does: superblock and descriptor backups, plus any
    // group's bitmaps and inode table placed inside it (flex_bg).
    for (g, start, blocks) in uninit_groups {
        if sb.incompat & INCOMPAT_META_BG != 0 {
            // meta_bg scatters descriptor blocks; rather than guess, keep the whole group.
            used.push(start * bs, blocks * bs);
            continue;
        }
        if sb.has_super(g) {
            used.push(start * bs, (1 + gdt_blocks + sb.reserved_gdt) * bs);
        }
    }
    for (s, l) in metadata.iter() {
        used.push(s, l);
    }
    used.normalize();
    used.clamp(fs_bytes);
    Ok(Usage {
        used,
        block_size: bs,
        fs_size: fs_bytes,
    })
}

fn push_bitmap(used: &mut RangeSet, bitmap: &[u8], first: u64, count: u64, bs: u64) {
    let mut i = 0u64;
    while i < count {
        let byte = bitmap[(i / 8) as usize];
        if byte == 0 && i.is_multiple_of(8) {
            i += 8;
            continue;
        }
        if byte & (1 << (i % 8)) != 0 {
            let start = i;
            while i < count && bitmap[(i / 8) as usize] & (1 << (i % 8)) != 0 {
                i += 1;
            }
            used.push((first + start) * bs, (i - start) * bs);
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_super_backups_sit_in_powers_of_three_five_and_seven() {
        let sb = Super {
            blocks: 1 << 20,
            first_data_block: 0,
            block_size: 4096,
            blocks_per_group: 32768,
            inodes_per_group: 8192,
            inode_size: 256,
            incompat: 0,
            ro_compat: RO_COMPAT_SPARSE_SUPER,
            compat: 0,
            reserved_gdt: 0,
            desc_size: 32,
            backup_bgs: [0, 0],
        };
        let with: Vec<u64> = (0..30).filter(|&g| sb.has_super(g)).collect();
        assert_eq!(with, vec![0, 1, 3, 5, 7, 9, 25, 27]);
    }

    #[test]
    fn bitmap_runs_become_byte_ranges() {
        let mut used = RangeSet::new();
        push_bitmap(&mut used, &[0b0000_0111, 0, 0b1000_0000], 100, 24, 1024);
        assert_eq!(
            used.iter().collect::<Vec<_>>(),
            vec![(100 * 1024, 3 * 1024), (123 * 1024, 1024)]
        );
    }

    #[test]
    fn rejects_superblock_with_absurd_block_size() {
        let mut sb = vec![0u8; 1024];
        sb[24] = 9;
        assert!(Super::parse(&sb).unwrap_err().contains("block size"));
    }
}
