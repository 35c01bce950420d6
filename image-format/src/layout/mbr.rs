//! The MBR partition table: four primary slots in sector 0 and, for an
//! extended partition, a chain of EBRs each holding one logical partition.

use crate::disk::{le32, read_vec, ReadAt};
use crate::error::{Error, Result};

pub const SECTOR: u64 = 512;
/// Types that mark an extended partition (CHS, LBA, Linux).
const EXTENDED_TYPES: [u8; 3] = [0x05, 0x0f, 0x85];
pub const PROTECTIVE_TYPE: u8 = 0xee;
/// A chain longer than this is a loop or garbage, not a disk.
const MAX_LOGICAL: usize = 128;

/// One slot of a partition table sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MbrSlot {
    pub bootable: bool,
    pub type_byte: u8,
    pub first_lba: u32,
    pub sectors: u32,
}

/// A parsed boot sector: the four slots and the disk signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MbrSector {
    pub signature: u32,
    pub slots: [Option<MbrSlot>; 4],
}

impl MbrSector {
    /// Parses sector 0. Returns `Ok(None)` when the sector has no 0x55AA mark
    /// (no partition table at all, e.g. a bare filesystem that is not FAT).
    pub fn parse(sector: &[u8]) -> Option<MbrSector> {
        if sector.len() < 512 || sector[510] != 0x55 || sector[511] != 0xaa {
            return None;
        }
        let mut slots = [None; 4];
        for (i, slot) in slots.iter_mut().enumerate() {
            let e = &sector[446 + 16 * i..446 + 16 * (i + 1)];
            let type_byte = e[4];
            let sectors = le32(e, 12);
            if type_byte == 0 || sectors == 0 {
                continue;
            }
            *slot = Some(MbrSlot {
                bootable: e[0] == 0x80,
                type_byte,
                first_lba: le32(e, 8),
                sectors,
            });
        }
        Some(MbrSector {
            signature: le32(sector, 440),
            slots,
        })
    }

    pub fn is_protective(&self) -> bool {
        self.slots
            .iter()
            .flatten()
            .any(|s| s.type_byte == PROTECTIVE_TYPE)
    }

    /// Boot-sector filesystems (FAT, NTFS) also end in 0x55AA. Their "slots"
    /// are boot code, so a table whose slots don't make sense is not a table.
    pub fn looks_like_table(&self, disk_sectors: u64) -> bool {
        let mut any = false;
        for slot in self.slots.iter().flatten() {
            any = true;
            let end = slot.first_lba as u64 + slot.sectors as u64;
            if slot.first_lba == 0 && slot.type_byte != PROTECTIVE_TYPE {
                return false;
            }
            // A protective entry may claim 0xFFFFFFFF sectors on a big disk.
            if end > disk_sectors && slot.type_byte != PROTECTIVE_TYPE {
                return false;
            }
        }
        any
    }
}

/// One partition of an MBR disk, primary or logical, in absolute sectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MbrPartition {
    /// 1–4 for primary slots, 5 and up for logical partitions, as Linux numbers them.
    pub number: u32,
    pub type_byte: u8,
    pub bootable: bool,
    pub first_lba: u64,
    pub sectors: u64,
}

/// The whole MBR table: primaries, logicals and where each EBR sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MbrTable {
    pub sector: MbrSector,
    pub partitions: Vec<MbrPartition>,
    /// Absolute LBAs of the EBRs, in chain order.
    pub ebr_lbas: Vec<u64>,
    /// (first LBA, sectors) of the extended container, if any.
    pub extended: Option<(u64, u64)>,
}

impl MbrTable {
    pub fn read(disk: &dyn ReadAt, sector: MbrSector) -> Result<MbrTable> {
        let mut partitions = Vec::new();
        let mut ebr_lbas = Vec::new();
        let mut extended = None;
        for (i, slot) in sector.slots.iter().enumerate() {
            let Some(slot) = slot else { continue };
            if EXTENDED_TYPES.contains(&slot.type_byte) {
                if extended.is_some() {
                    return Err(mbr_err(disk, "more than one extended partition".into()));
                }
                extended = Some((slot.first_lba as u64, slot.sectors as u64));
                continue;
            }
            partitions.push(MbrPartition {
                number: i as u32 + 1,
                type_byte: slot.type_byte,
                bootable: slot.bootable,
                first_lba: slot.first_lba as u64,
                sectors: slot.sectors as u64,
            });
        }
        if let Some((ext_start, ext_len)) = extended {
            let mut next = Some(ext_start);
            let mut number = 5;
            while let Some(ebr_lba) = next {
                if ebr_lbas.len() >= MAX_LOGICAL {
                    return Err(mbr_err(
                        disk,
                        format!("EBR chain longer than {MAX_LOGICAL} entries (a loop?)"),
                    ));
                }
                if ebr_lba < ext_start || ebr_lba >= ext_start + ext_len {
                    return Err(mbr_err(
                        disk,
                        format!("EBR at LBA {ebr_lba} lies outside the extended partition"),
                    ));
                }
                let raw = read_vec(disk, ebr_lba * SECTOR, SECTOR as usize)?;
                let ebr = MbrSector::parse(&raw).ok_or_else(|| {
                    mbr_err(
                        disk,
                        format!("EBR at LBA {ebr_lba} has no 0x55AA signature"),
                    )
                })?;
                ebr_lbas.push(ebr_lba);
                if let Some(logical) = ebr.slots[0] {
                    partitions.push(MbrPartition {
                        number,
                        type_byte: logical.type_byte,
                        bootable: logical.bootable,
                        first_lba: ebr_lba + logical.first_lba as u64,
                        sectors: logical.sectors as u64,
                    });
                    number += 1;
                }
                next = ebr.slots[1].map(|link| ext_start + link.first_lba as u64);
            }
        }
        partitions.sort_by_key(|p| p.first_lba);
        let disk_sectors = disk.size() / SECTOR;
        for p in &partitions {
            if p.first_lba + p.sectors > disk_sectors {
                return Err(mbr_err(
                    disk,
                    format!(
                        "partition {} ends at sector {} beyond the disk's {disk_sectors} sectors",
                        p.number,
                        p.first_lba + p.sectors
                    ),
                ));
            }
        }
        Ok(MbrTable {
            sector,
            partitions,
            ebr_lbas,
            extended,
        })
    }
}

fn mbr_err(disk: &dyn ReadAt, detail: String) -> Error {
    Error::Mbr {
        disk: disk.name(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(bytes: &mut [u8], i: usize, ty: u8, first: u32, len: u32) {
        let e = &mut bytes[446 + 16 * i..446 + 16 * (i + 1)];
        e[4] = ty;
        e[8..12].copy_from_slice(&first.to_le_bytes());
        e[12..16].copy_from_slice(&len.to_le_bytes());
    }

    fn signed(mut s: Vec<u8>) -> Vec<u8> {
        s[510] = 0x55;
        s[511] = 0xaa;
        s
    }

    #[test]
    fn sector_without_boot_signature_is_no_table() {
        assert!(MbrSector::parse(&[0u8; 512]).is_none());
        assert!(MbrSector::parse(&[0u8; 100]).is_none());
    }

    #[test]
    fn follows_ebr_chain_to_logical_partitions() {
        let mut disk = vec![0u8; 64 * 512];
        let mut mbr = signed(vec![0u8; 512]);
        slot(&mut mbr, 0, 0x83, 2, 8);
        slot(&mut mbr, 1, 0x05, 10, 40);
        disk[..512].copy_from_slice(&mbr);
        // EBR 1 at LBA 10: logical at +2 for 8 sectors, next EBR at ext+20.
        let mut ebr1 = signed(vec![0u8; 512]);
        slot(&mut ebr1, 0, 0x83, 2, 8);
        slot(&mut ebr1, 1, 0x05, 20, 10);
        disk[10 * 512..11 * 512].copy_from_slice(&ebr1);
        let mut ebr2 = signed(vec![0u8; 512]);
        slot(&mut ebr2, 0, 0x07, 2, 6);
        disk[30 * 512..31 * 512].copy_from_slice(&ebr2);
        let mem = crate::disk::MemDisk::new(disk);
        let sector = MbrSector::parse(&mem.bytes[..512]).unwrap();
        let table = MbrTable::read(&mem, sector).unwrap();
        let got: Vec<_> = table
            .partitions
            .iter()
            .map(|p| (p.number, p.first_lba, p.sectors))
            .collect();
        assert_eq!(got, vec![(1, 2, 8), (5, 12, 8), (6, 32, 6)]);
        assert_eq!(table.ebr_lbas, vec![10, 30]);
    }

    #[test]
    fn refuses_ebr_chain_that_loops() {
        let mut disk = vec![0u8; 64 * 512];
        let mut mbr = signed(vec![0u8; 512]);
        slot(&mut mbr, 0, 0x0f, 10, 40);
        disk[..512].copy_from_slice(&mbr);
        let mut ebr = signed(vec![0u8; 512]);
        slot(&mut ebr, 1, 0x05, 0, 10); // points back at itself
        disk[10 * 512..11 * 512].copy_from_slice(&ebr);
        let mem = crate::disk::MemDisk::new(disk);
        let sector = MbrSector::parse(&mem.bytes[..512]).unwrap();
        let err = MbrTable::read(&mem, sector).unwrap_err().to_string();
        assert!(err.contains("loop"), "{err}");
    }
}
