//! The disk layout: which partition table a disk has, where each partition
//! lies, and the raw table bytes a restore must reproduce.

pub mod gpt;
pub mod mbr;

use serde::{Deserialize, Serialize};

use crate::disk::{read_vec, ReadAt};
use crate::error::Result;
use gpt::GptTable;
use mbr::{MbrSector, MbrTable};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    Gpt,
    Mbr,
    /// A bare filesystem or unknown contents: the whole disk is one region.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskLayout {
    /// Size of the captured disk in bytes.
    pub size: u64,
    pub sector_size: u64,
    pub table: TableKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpt: Option<GptLayout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mbr: Option<MbrLayout>,
    pub partitions: Vec<PartitionInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GptLayout {
    pub disk_guid: String,
    /// The primary header sector, hex. A restore rewrites its size fields.
    pub header: String,
    /// The entry array, hex.
    pub entries: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MbrLayout {
    /// Sector 0 as captured, hex: a restore patches its entries in place.
    pub boot_sector: String,
    pub signature: u32,
    /// Only a 0xEE entry: the MBR just protects a GPT.
    pub protective: bool,
    /// A 0xEE entry beside real entries.
    pub hybrid: bool,
    /// Byte offsets of the EBRs of logical partitions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ebrs: Vec<u64>,
    /// Byte range of the extended partition, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended: Option<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionInfo {
    /// As Linux numbers it: GPT slot, MBR 1–4 primary, 5+ logical.
    pub number: u32,
    /// Byte offset on the disk.
    pub start: u64,
    /// Length in bytes.
    pub size: u64,
    /// GPT type GUID, or the MBR type byte as `0x83`.
    pub type_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default)]
    pub logical: bool,
}

impl PartitionInfo {
    pub fn end(&self) -> u64 {
        self.start + self.size
    }

    pub fn is_bios_boot(&self) -> bool {
        self.type_id == gpt::BIOS_BOOT_TYPE
    }
}

impl DiskLayout {
    /// Byte offset where the backup GPT begins (its entry array), or the end
    /// of the disk for other tables. Data past it is not captured: a restore
    /// writes a fresh backup for the target's size.
    pub fn tail_start(&self) -> u64 {
        match &self.gpt {
            Some(g) => {
                let entries_len = g.entries.len() as u64 / 2;
                let entry_sectors = entries_len.div_ceil(self.sector_size);
                self.size - (entry_sectors + 1) * self.sector_size
            }
            None => self.size,
        }
    }

    /// The smallest disk this layout fits on: the end of its last partition,
    /// plus room for the backup GPT.
    pub fn min_disk_size(&self) -> u64 {
        let last_end = self.partitions.iter().map(|p| p.end()).max().unwrap_or(0);
        match &self.gpt {
            Some(_) => last_end + (self.size - self.tail_start()),
            None if self.table == TableKind::None => self.size,
            None => last_end.max(mbr::SECTOR),
        }
    }
}

/// Reads a disk's partition table. Any disk has a layout: one with no table
/// (a bare filesystem, or blank) comes back as `TableKind::None`.
pub fn read_layout(disk: &dyn ReadAt) -> Result<DiskLayout> {
    let size = disk.size();
    let mut layout = DiskLayout {
        size,
        sector_size: mbr::SECTOR,
        table: TableKind::None,
        gpt: None,
        mbr: None,
        partitions: Vec::new(),
        warnings: Vec::new(),
    };
    if size < 2 * mbr::SECTOR {
        return Ok(layout);
    }
    let sector0 = read_vec(disk, 0, mbr::SECTOR as usize)?;
    let Some(sector) = MbrSector::parse(&sector0) else {
        return Ok(layout);
    };
    if !sector.looks_like_table(size / mbr::SECTOR) {
        return Ok(layout);
    }
    if sector.is_protective() {
        let sector_size = detect_gpt_sector_size(disk);
        let table = GptTable::read(disk, sector_size)?;
        let real_mbr_entries = sector
            .slots
            .iter()
            .flatten()
            .filter(|s| s.type_byte != mbr::PROTECTIVE_TYPE)
            .count();
        layout.sector_size = sector_size;
        layout.table = TableKind::Gpt;
        layout.mbr = Some(MbrLayout {
            boot_sector: hex::encode(&sector0),
            signature: sector.signature,
            protective: real_mbr_entries == 0,
            hybrid: real_mbr_entries > 0,
            ebrs: Vec::new(),
            extended: None,
        });
        layout.gpt = Some(GptLayout {
            disk_guid: gpt::guid_string(&table.header.disk_guid),
            header: hex::encode(&table.header_raw),
            entries: hex::encode(&table.entries_raw),
        });
        layout.partitions = table
            .entries
            .iter()
            .map(|e| PartitionInfo {
                number: e.number,
                start: e.first_lba * sector_size,
                size: (e.last_lba - e.first_lba + 1) * sector_size,
                type_id: e.type_guid.clone(),
                name: e.name.clone(),
                logical: false,
            })
            .collect();
        layout.partitions.sort_by_key(|p| p.start);
        layout.warnings = table.warnings;
        return Ok(layout);
    }
    let table = MbrTable::read(disk, sector)?;
    layout.table = TableKind::Mbr;
    layout.mbr = Some(MbrLayout {
        boot_sector: hex::encode(&sector0),
        signature: table.sector.signature,
        protective: false,
        hybrid: false,
        ebrs: table.ebr_lbas.iter().map(|l| l * mbr::SECTOR).collect(),
        extended: table
            .extended
            .map(|(s, n)| (s * mbr::SECTOR, n * mbr::SECTOR)),
    });
    layout.partitions = table
        .partitions
        .iter()
        .map(|p| PartitionInfo {
            number: p.number,
            start: p.first_lba * mbr::SECTOR,
            size: p.sectors * mbr::SECTOR,
            type_id: format!("{:#04x}", p.type_byte),
            name: String::new(),
            logical: p.number > 4,
        })
        .collect();
    Ok(layout)
}

/// 4Kn disks keep the GPT header at byte 4096 rather than 512.
fn detect_gpt_sector_size(disk: &dyn ReadAt) -> u64 {
    for size in [512u64, 4096] {
        if let Ok(sig) = read_vec(disk, size, 8) {
            if sig == gpt::SIGNATURE {
                return size;
            }
        }
    }
    512
}
