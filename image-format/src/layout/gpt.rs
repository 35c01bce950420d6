//! GPT (UEFI spec 2.10 §5.3): a header at LBA 1 with a CRC32, an entry array
//! with its own CRC32, and a backup copy of both at the end of the disk.

use crate::disk::{le32, le64, read_vec, ReadAt};
use crate::error::{Error, Result};

pub const SIGNATURE: &[u8; 8] = b"EFI PART";
pub const HEADER_SIZE: usize = 92;
/// The BIOS boot partition where GRUB keeps core.img on GPT disks.
pub const BIOS_BOOT_TYPE: &str = "21686148-6449-6e6f-744e-656564454649";

/// The fields of a GPT header that Marrow reads or rewrites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptHeader {
    pub my_lba: u64,
    pub alternate_lba: u64,
    pub first_usable: u64,
    pub last_usable: u64,
    pub disk_guid: [u8; 16],
    pub entries_lba: u64,
    pub num_entries: u32,
    pub entry_size: u32,
    pub entries_crc: u32,
}

impl GptHeader {
    /// Parses and checks a header sector: signature, size and CRC.
    pub fn parse(sector: &[u8]) -> std::result::Result<GptHeader, String> {
        if sector.len() < HEADER_SIZE || &sector[..8] != SIGNATURE {
            return Err("no \"EFI PART\" signature".into());
        }
        let header_size = le32(sector, 12) as usize;
        if !(HEADER_SIZE..=sector.len()).contains(&header_size) {
            return Err(format!("header size {header_size} is out of range"));
        }
        let stored = le32(sector, 16);
        let computed = header_crc(&sector[..header_size]);
        if stored != computed {
            return Err(format!(
                "header CRC32 is {stored:#010x} but the header hashes to {computed:#010x}"
            ));
        }
        let entry_size = le32(sector, 84);
        let num_entries = le32(sector, 80);
        if entry_size < 128 || !entry_size.is_multiple_of(8) || entry_size > 4096 {
            return Err(format!("entry size {entry_size} is invalid"));
        }
        if num_entries > 65536 {
            return Err(format!("{num_entries} entries is more than any disk holds"));
        }
        Ok(GptHeader {
            my_lba: le64(sector, 24),
            alternate_lba: le64(sector, 32),
            first_usable: le64(sector, 40),
            last_usable: le64(sector, 48),
            disk_guid: sector[56..72].try_into().unwrap(),
            entries_lba: le64(sector, 72),
            num_entries,
            entry_size,
            entries_crc: le32(sector, 88),
        })
    }

    pub fn entries_len(&self) -> usize {
        self.num_entries as usize * self.entry_size as usize
    }
}

/// CRC32 of a header with its own CRC field taken as zero.
pub fn header_crc(header: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&header[..16]);
    h.update(&[0; 4]);
    h.update(&header[20..]);
    h.finalize()
}

/// One used entry of the array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GptEntry {
    /// 1-based slot index, as Linux numbers partitions.
    pub number: u32,
    pub type_guid: String,
    pub unique_guid: String,
    pub first_lba: u64,
    pub last_lba: u64,
    pub attributes: u64,
    pub name: String,
}

pub fn parse_entries(raw: &[u8], entry_size: usize) -> Vec<GptEntry> {
    raw.chunks_exact(entry_size)
        .enumerate()
        .filter(|(_, e)| e[..16].iter().any(|&b| b != 0))
        .map(|(i, e)| {
            let units: Vec<u16> = e[56..128]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .take_while(|&u| u != 0)
                .collect();
            GptEntry {
                number: i as u32 + 1,
                type_guid: guid_string(&e[..16]),
                unique_guid: guid_string(&e[16..32]),
                first_lba: le64(e, 32),
                last_lba: le64(e, 40),
                attributes: le64(e, 48),
                name: String::from_utf16_lossy(&units),
            }
        })
        .collect()
}

/// GUIDs are stored mixed-endian: the first three fields little-endian.
pub fn guid_string(b: &[u8]) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{}-{}",
        le32(b, 0),
        u16::from_le_bytes([b[4], b[5]]),
        u16::from_le_bytes([b[6], b[7]]),
        hex::encode(&b[8..10]),
        hex::encode(&b[10..16])
    )
}

/// A GPT read from a disk: the header actually used and its raw bytes.
#[derive(Debug, Clone)]
pub struct GptTable {
    pub header: GptHeader,
    /// The header sector, exactly as on disk (the one used: primary unless it was bad).
    pub header_raw: Vec<u8>,
    pub entries_raw: Vec<u8>,
    pub entries: Vec<GptEntry>,
    /// Problems found and worked around, e.g. a bad backup header.
    pub warnings: Vec<String>,
}

impl GptTable {
    /// Reads the primary GPT, falls back to the backup when the primary is
    /// damaged, and checks the backup either way.
    pub fn read(disk: &dyn ReadAt, sector_size: u64) -> Result<GptTable> {
        let disk_sectors = disk.size() / sector_size;
        let primary = read_copy(disk, 1, sector_size);
        let backup_lba = match &primary {
            Ok(t) => t.header.alternate_lba,
            Err(_) => disk_sectors.saturating_sub(1),
        };
        let backup = if backup_lba > 1 && backup_lba < disk_sectors {
            read_copy(disk, backup_lba, sector_size)
        } else {
            Err(format!(
                "backup header LBA {backup_lba} is outside the disk"
            ))
        };
        match (primary, backup) {
            (Ok(p), Ok(_)) => Ok(p),
            (Ok(mut p), Err(why)) => {
                p.warnings.push(format!("backup GPT is unusable: {why}"));
                Ok(p)
            }
            (Err(why), Ok(mut b)) => {
                b.warnings
                    .push(format!("primary GPT is unusable ({why}); used the backup"));
                Ok(b)
            }
            (Err(p), Err(b)) => Err(Error::Gpt {
                disk: disk.name(),
                detail: format!("primary header: {p}; backup header: {b}"),
            }),
        }
    }
}

fn read_copy(
    disk: &dyn ReadAt,
    lba: u64,
    sector_size: u64,
) -> std::result::Result<GptTable, String> {
    let raw = read_vec(disk, lba * sector_size, sector_size as usize).map_err(|e| e.to_string())?;
    let header = GptHeader::parse(&raw)?;
    if header.my_lba != lba {
        return Err(format!(
            "header at LBA {lba} says it lives at LBA {}",
            header.my_lba
        ));
    }
    let entries_end = header.entries_lba * sector_size + header.entries_len() as u64;
    if entries_end > disk.size() {
        return Err(format!(
            "entry array at LBA {} runs past the end of the disk",
            header.entries_lba
        ));
    }
    let entries_raw = read_vec(disk, header.entries_lba * sector_size, header.entries_len())
        .map_err(|e| e.to_string())?;
    let crc = crc32fast::hash(&entries_raw);
    if crc != header.entries_crc {
        return Err(format!(
            "entry array CRC32 is {:#010x} but the array hashes to {crc:#010x}",
            header.entries_crc
        ));
    }
    let entries = parse_entries(&entries_raw, header.entry_size as usize);
    for e in &entries {
        if e.first_lba > e.last_lba
            || e.last_lba > header.last_usable
            || e.first_lba < header.first_usable
        {
            return Err(format!(
                "partition {} spans LBA {}..={} outside the usable {}..={}",
                e.number, e.first_lba, e.last_lba, header.first_usable, header.last_usable
            ));
        }
    }
    Ok(GptTable {
        header,
        header_raw: raw,
        entries_raw,
        entries,
        warnings: Vec::new(),
    })
}

/// The last usable LBA on a disk of `disk_sectors`: just before the backup
/// entry array.
pub fn last_usable_for(disk_sectors: u64, entries_len: u64, sector_size: u64) -> u64 {
    disk_sectors - 1 - entries_len.div_ceil(sector_size) - 1
}

/// Rewrites a header sector for a disk of `disk_sectors` sectors, as primary
/// (at LBA 1) or backup (at the last LBA), with fresh CRCs.
pub fn rebuild_header(
    template: &[u8],
    disk_sectors: u64,
    entries: &[u8],
    sector_size: u64,
    primary: bool,
    last_usable: u64,
) -> Vec<u8> {
    let mut h = template.to_vec();
    let header_size = le32(&h, 12) as usize;
    let entry_sectors = (entries.len() as u64).div_ceil(sector_size);
    let last = disk_sectors - 1;
    let (my, alt, entries_lba) = if primary {
        (1, last, le64(&h, 72))
    } else {
        (last, 1, last - entry_sectors)
    };
    h[24..32].copy_from_slice(&my.to_le_bytes());
    h[32..40].copy_from_slice(&alt.to_le_bytes());
    h[48..56].copy_from_slice(&last_usable.to_le_bytes());
    h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
    h[88..92].copy_from_slice(&crc32fast::hash(entries).to_le_bytes());
    let crc = header_crc(&h[..header_size]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_guid_mixed_endian() {
        // EFI System Partition type as stored on disk.
        let raw = hex::decode("28732ac11ff8d211ba4b00a0c93ec93b").unwrap();
        assert_eq!(guid_string(&raw), "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
    }

    #[test]
    fn rejects_header_whose_crc_does_not_match() {
        let mut h = vec![0u8; 512];
        h[..8].copy_from_slice(SIGNATURE);
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        let crc = header_crc(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        assert!(GptHeader::parse(&h).is_ok());
        h[40] ^= 1;
        let err = GptHeader::parse(&h).unwrap_err();
        assert!(err.contains("CRC32"), "{err}");
    }
}
