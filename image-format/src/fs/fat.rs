//! FAT12/16/32 used clusters from the first FAT (Microsoft FAT specification
//! 1.03, "FAT Type Determination" and "FAT Data Structure").

use super::{fs_err, FsKind, Usage};
use crate::disk::{le16, le32, read_vec, ReadAt};
use crate::error::Result;
use crate::ranges::RangeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bpb {
    pub sector_size: u64,
    pub sectors_per_cluster: u64,
    pub reserved: u64,
    pub fats: u64,
    pub root_entries: u64,
    pub total_sectors: u64,
    pub fat_sectors: u64,
}

impl Bpb {
    pub fn parse(b: &[u8]) -> Option<Bpb> {
        if b.len() < 512 || !(b[0] == 0xeb || b[0] == 0xe9) || b[510] != 0x55 || b[511] != 0xaa {
            return None;
        }
        let sector_size = le16(b, 11) as u64;
        let spc = b[13] as u64;
        let total16 = le16(b, 19) as u64;
        let fat16 = le16(b, 22) as u64;
        let bpb = Bpb {
            sector_size,
            sectors_per_cluster: spc,
            reserved: le16(b, 14) as u64,
            fats: b[16] as u64,
            root_entries: le16(b, 17) as u64,
            total_sectors: if total16 != 0 {
                total16
            } else {
                le32(b, 32) as u64
            },
            fat_sectors: if fat16 != 0 {
                fat16
            } else {
                le32(b, 36) as u64
            },
        };
        let valid = [512, 1024, 2048, 4096].contains(&sector_size)
            && spc.is_power_of_two()
            && bpb.reserved > 0
            && (1..=4).contains(&bpb.fats)
            && bpb.fat_sectors > 0
            && bpb.total_sectors > bpb.data_start();
        valid.then_some(bpb)
    }

    fn data_start(&self) -> u64 {
        self.reserved
            + self.fats * self.fat_sectors
            + (self.root_entries * 32).div_ceil(self.sector_size)
    }

    pub fn clusters(&self) -> u64 {
        (self.total_sectors - self.data_start()) / self.sectors_per_cluster
    }

    /// The type follows from the cluster count alone, never from the label.
    pub fn kind(&self) -> FsKind {
        match self.clusters() {
            n if n < 4085 => FsKind::Fat12,
            n if n < 65525 => FsKind::Fat16,
            _ => FsKind::Fat32,
        }
    }
}

pub fn usage(disk: &dyn ReadAt, offset: u64, len: u64, bpb: Bpb) -> Result<Usage> {
    let err = |detail: String| fs_err("fat", disk, offset, detail);
    let ss = bpb.sector_size;
    let volume = bpb.total_sectors * ss;
    if volume > len {
        return Err(err(format!(
            "volume claims {volume} bytes but its partition holds {len}"
        )));
    }
    let kind = bpb.kind();
    let clusters = bpb.clusters();
    let fat_bytes = bpb.fat_sectors * ss;
    let needed = match kind {
        FsKind::Fat12 => (clusters + 2) * 3 / 2 + 1,
        FsKind::Fat16 => (clusters + 2) * 2,
        _ => (clusters + 2) * 4,
    };
    if needed > fat_bytes + 1 {
        return Err(err(format!(
            "FAT of {fat_bytes} bytes cannot map {clusters} clusters"
        )));
    }
    let fat = read_vec(disk, offset + bpb.reserved * ss, fat_bytes as usize)?;
    let cluster_bytes = bpb.sectors_per_cluster * ss;
    let data_start = bpb.data_start() * ss;
    let mut used = RangeSet::new();
    // Boot sector, reserved sectors, every FAT copy and the FAT12/16 root directory.
    used.push(0, data_start);
    for n in 2..clusters + 2 {
        let entry = match kind {
            FsKind::Fat12 => {
                let at = (n + n / 2) as usize;
                let pair = u16::from_le_bytes([fat[at], *fat.get(at + 1).unwrap_or(&0)]);
                (if n % 2 == 0 { pair & 0xfff } else { pair >> 4 }) as u32
            }
            FsKind::Fat16 => le16(&fat, (n * 2) as usize) as u32,
            _ => le32(&fat, (n * 4) as usize) & 0x0fff_ffff,
        };
        let bad = match kind {
            FsKind::Fat12 => 0xff7,
            FsKind::Fat16 => 0xfff7,
            _ => 0x0fff_fff7,
        };
        if entry != 0 && entry != bad {
            used.push(data_start + (n - 2) * cluster_bytes, cluster_bytes);
        }
    }
    Ok(Usage {
        used,
        block_size: cluster_bytes,
        fs_size: volume,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_sector_without_jump_is_not_fat() {
        let mut b = vec![0u8; 512];
        b[510] = 0x55;
        b[511] = 0xaa;
        assert!(Bpb::parse(&b).is_none());
    }
}
