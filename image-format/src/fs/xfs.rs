//! XFS used blocks: the whole data section except the free extents of each
//! allocation group's by-block-number free-space B+tree (the "bnobt") and
//! the blocks parked on the group's free list (AGFL), as xfs_copy and
//! partclone.xfs read them. Layouts follow "XFS Algorithms & Data
//! Structures" (xfs-documentation), chapters "Allocation Groups" and
//! "B+trees"; every field is big-endian.

use super::{fs_err, Usage};
use crate::disk::{be16, be32, be64, read_vec, ReadAt};
use crate::error::Result;
use crate::ranges::RangeSet;

/// `XFS_BTREE_MAXLEVELS`: no AG B+tree is deeper (xfs_btree.h).
const MAX_LEVELS: u32 = 9;
/// The AG header sectors: superblock, AGF, AGI, AGFL (`XFS_AGFL_DADDR`).
const AGF_SECTOR: u64 = 1;
const AGFL_SECTOR: u64 = 3;

pub fn is_xfs(head: &[u8]) -> bool {
    head.len() >= 4 && &head[..4] == b"XFSB"
}

#[derive(Debug)]
struct Super {
    block_size: u64,
    sect_size: u64,
    dblocks: u64,
    agblocks: u64,
    agcount: u64,
    /// Version 5 ("CRC") filesystems put a self-describing header on the
    /// AGFL and a longer one on B+tree blocks.
    crc: bool,
}

fn parse_super(b: &[u8]) -> std::result::Result<Super, String> {
    if !is_xfs(b) {
        return Err("no XFSB magic".into());
    }
    let block_size = be32(b, 4) as u64;
    if !block_size.is_power_of_two() || !(512..=65536).contains(&block_size) {
        return Err(format!("block size {block_size} is invalid"));
    }
    let sect_size = be16(b, 102) as u64;
    if !sect_size.is_power_of_two() || !(512..=block_size).contains(&sect_size) {
        return Err(format!("sector size {sect_size} is invalid"));
    }
    let dblocks = be64(b, 8);
    let agblocks = be32(b, 84) as u64;
    let agcount = be32(b, 88) as u64;
    // XFS_MIN_AG_BLOCKS is 64; an AG never spans 2^31 blocks.
    if !(64..=1 << 31).contains(&agblocks) || agcount == 0 {
        return Err(format!(
            "{agcount} allocation groups of {agblocks} blocks is invalid"
        ));
    }
    if dblocks <= (agcount - 1) * agblocks || dblocks > agcount * agblocks {
        return Err(format!(
            "{dblocks} blocks do not fit {agcount} allocation groups of {agblocks}"
        ));
    }
    let crc = match be16(b, 100) & 0xf {
        4 => false,
        5 => true,
        v => return Err(format!("superblock version {v} is not 4 or 5")),
    };
    Ok(Super {
        block_size,
        sect_size,
        dblocks,
        agblocks,
        agcount,
        crc,
    })
}

pub fn usage(disk: &dyn ReadAt, offset: u64, len: u64) -> Result<Usage> {
    let err = |detail: String| fs_err("xfs", disk, offset, detail);
    let sb = parse_super(&read_vec(disk, offset, 512)?).map_err(err)?;
    let fs_size = sb.dblocks * sb.block_size;
    if fs_size > len {
        return Err(err(format!(
            "filesystem claims {fs_size} bytes but its partition holds {len}"
        )));
    }
    let mut free = RangeSet::new();
    for ag in 0..sb.agcount {
        let ag_blocks = sb.agblocks.min(sb.dblocks - ag * sb.agblocks);
        let ag_byte = ag * sb.agblocks * sb.block_size;
        let mut extents = Vec::new();
        free_extents(disk, offset + ag_byte, &sb, ag, ag_blocks, &mut extents)
            .map_err(|d| err(format!("allocation group {ag}: {d}")))?;
        for (agbno, count) in extents {
            free.push(ag_byte + agbno * sb.block_size, count * sb.block_size);
        }
    }
    free.normalize();
    let mut whole = RangeSet::new();
    whole.push(0, fs_size);
    Ok(Usage {
        used: whole.subtract(&free),
        block_size: sb.block_size,
        fs_size,
    })
}

/// The group's free extents, as (AG block, block count): the bnobt's
/// records and the AGFL's blocks.
fn free_extents(
    disk: &dyn ReadAt,
    ag_at: u64,
    sb: &Super,
    ag: u64,
    ag_blocks: u64,
    out: &mut Vec<(u64, u64)>,
) -> std::result::Result<(), String> {
    let io = |e: crate::error::Error| e.to_string();
    let agf = read_vec(
        disk,
        ag_at + AGF_SECTOR * sb.sect_size,
        sb.sect_size as usize,
    )
    .map_err(io)?;
    if &agf[..4] != b"XAGF" {
        return Err("AGF has no XAGF magic".into());
    }
    if be32(&agf, 8) as u64 != ag || be32(&agf, 12) as u64 != ag_blocks {
        return Err(format!(
            "AGF says group {} of {} blocks, expected group {ag} of {ag_blocks}",
            be32(&agf, 8),
            be32(&agf, 12)
        ));
    }
    let root = be32(&agf, 16) as u64;
    let levels = be32(&agf, 28);
    if !(1..=MAX_LEVELS).contains(&levels) {
        return Err(format!("free-space B+tree has {levels} levels"));
    }
    let mut walk = Walk {
        disk,
        ag_at,
        sb,
        ag_blocks,
        budget: ag_blocks,
        out,
    };
    walk.block(root, levels - 1)?;
    free_list(disk, ag_at, sb, ag_blocks, &agf, walk.out)
}

struct Walk<'a> {
    disk: &'a dyn ReadAt,
    ag_at: u64,
    sb: &'a Super,
    ag_blocks: u64,
    /// Blocks left to read: a damaged tree whose pointers repeat cannot
    /// make the walk read more blocks than the group holds.
    budget: u64,
    out: &'a mut Vec<(u64, u64)>,
}

impl Walk<'_> {
    fn block(&mut self, agbno: u64, level: u32) -> std::result::Result<(), String> {
        if agbno == 0 || agbno >= self.ag_blocks {
            return Err(format!(
                "free-space B+tree block {agbno} lies outside the group"
            ));
        }
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or("free-space B+tree has more blocks than its group")?;
        let bs = self.sb.block_size as usize;
        let b =
            read_vec(self.disk, self.ag_at + agbno * bs as u64, bs).map_err(|e| e.to_string())?;
        let (magic, header): (&[u8], usize) = if self.sb.crc {
            (b"AB3B", 56)
        } else {
            (b"ABTB", 16)
        };
        if &b[..4] != magic {
            return Err(format!(
                "free-space B+tree block {agbno} has no {} magic",
                String::from_utf8_lossy(magic)
            ));
        }
        if be16(&b, 4) as u32 != level {
            return Err(format!(
                "free-space B+tree block {agbno} is at level {}, expected {level}",
                be16(&b, 4)
            ));
        }
        let records = be16(&b, 6) as usize;
        if level == 0 {
            // Leaf: (start block, block count) records.
            if header + records * 8 > bs {
                return Err(format!(
                    "free-space B+tree leaf {agbno} holds {records} records, more than fit"
                ));
            }
            for i in 0..records {
                let at = header + i * 8;
                let (start, count) = (be32(&b, at) as u64, be32(&b, at + 4) as u64);
                if count == 0 || start + count > self.ag_blocks {
                    return Err(format!(
                        "free extent of {count} blocks at {start} lies outside the group"
                    ));
                }
                self.out.push((start, count));
            }
            return Ok(());
        }
        // Node: keys fill the first half of the space the block could hold,
        // pointers the second (`XFS_ALLOC_PTR_ADDR` with the node's maxrecs).
        let max = (bs - header) / 12;
        if records == 0 || records > max {
            return Err(format!(
                "free-space B+tree node {agbno} holds {records} pointers, not 1 to {max}"
            ));
        }
        for i in 0..records {
            let child = be32(&b, header + max * 8 + i * 4) as u64;
            self.block(child, level - 1)?;
        }
        Ok(())
    }
}

/// The AGFL: a ring of block numbers from `flfirst` to `fllast` holding
/// `flcount` entries, reserved for B+tree growth and so holding nothing.
fn free_list(
    disk: &dyn ReadAt,
    ag_at: u64,
    sb: &Super,
    ag_blocks: u64,
    agf: &[u8],
    out: &mut Vec<(u64, u64)>,
) -> std::result::Result<(), String> {
    let (first, last, count) = (
        be32(agf, 40) as usize,
        be32(agf, 44) as usize,
        be32(agf, 48) as usize,
    );
    if count == 0 {
        return Ok(());
    }
    let agfl = read_vec(
        disk,
        ag_at + AGFL_SECTOR * sb.sect_size,
        sb.sect_size as usize,
    )
    .map_err(|e| e.to_string())?;
    let header = if sb.crc {
        if &agfl[..4] != b"XAFL" {
            return Err("AGFL has no XAFL magic".into());
        }
        36
    } else {
        0
    };
    let size = (agfl.len() - header) / 4;
    if first >= size || last >= size || count > size {
        return Err(format!(
            "free list runs from slot {first} to {last} ({count} blocks) in {size} slots"
        ));
    }
    let mut slot = first;
    for _ in 0..count {
        let bno = be32(&agfl, header + slot * 4) as u64;
        if bno >= ag_blocks {
            return Err(format!("free list block {bno} lies outside the group"));
        }
        out.push((bno, 1));
        if slot == last {
            break;
        }
        slot = (slot + 1) % size;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn superblock() -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..4].copy_from_slice(b"XFSB");
        b[4..8].copy_from_slice(&4096u32.to_be_bytes());
        b[8..16].copy_from_slice(&16384u64.to_be_bytes());
        b[84..88].copy_from_slice(&4096u32.to_be_bytes());
        b[88..92].copy_from_slice(&4u32.to_be_bytes());
        b[100..102].copy_from_slice(&0xb4a5u16.to_be_bytes());
        b[102..104].copy_from_slice(&512u16.to_be_bytes());
        b
    }

    #[test]
    fn reads_a_version_5_superblock() {
        let sb = parse_super(&superblock()).unwrap();
        assert_eq!(
            (sb.block_size, sb.agcount, sb.agblocks, sb.crc),
            (4096, 4, 4096, true)
        );
    }

    #[test]
    fn refuses_blocks_that_do_not_fit_the_groups() {
        let mut b = superblock();
        b[8..16].copy_from_slice(&20000u64.to_be_bytes());
        assert!(parse_super(&b).unwrap_err().contains("do not fit"));
    }

    #[test]
    fn refuses_a_sector_larger_than_a_block() {
        let mut b = superblock();
        b[4..8].copy_from_slice(&512u32.to_be_bytes());
        b[102..104].copy_from_slice(&4096u16.to_be_bytes());
        assert!(parse_super(&b).unwrap_err().contains("sector size"));
    }
}
