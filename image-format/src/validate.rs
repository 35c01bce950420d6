//! Everything a restore relies on in a manifest, checked before it is
//! trusted: when it is parsed (so at commit), and again by `verify`. The
//! arithmetic is checked, so a manifest cannot make a sum wrap.
//!
//! [`structure`] needs the manifest alone; [`pieces`] also reads its
//! extent and chunk lists and checks them against the regions.

use crate::disk::{le32, le64};
use crate::layout::TableKind;
use crate::manifest::Manifest;
use crate::placement::Placement;
use crate::store::{ReadStore, MAX_CHUNK_LEN};
use crate::table::{ExtentKind, PieceReader};

/// What is wrong, in words that name the field.
pub type Problem = String;

fn sum(mut values: impl Iterator<Item = u64>, what: &str) -> Result<u64, Problem> {
    values
        .try_fold(0u64, |a, b| a.checked_add(b))
        .ok_or_else(|| format!("{what} add up past 2^64"))
}

/// The manifest agrees with itself: sizes, the partition table data the
/// restore rewrites, the partitions and the regions.
pub fn structure(m: &Manifest) -> Result<(), Problem> {
    let l = &m.layout;
    if !matches!(l.sector_size, 512 | 4096) {
        return Err(format!("sector size {} is not 512 or 4096", l.sector_size));
    }
    if l.size == 0 || !l.size.is_multiple_of(l.sector_size) {
        return Err(format!(
            "disk size {} is not a positive number of {}-byte sectors",
            l.size, l.sector_size
        ));
    }
    let c = &m.chunking;
    if c.min == 0 || c.min > c.avg || c.avg > c.max || c.max > MAX_CHUNK_LEN {
        return Err(format!(
            "chunking {}/{}/{} is not min <= avg <= max <= {MAX_CHUNK_LEN}",
            c.min, c.avg, c.max
        ));
    }
    table(m)?;
    for p in &l.partitions {
        let end = p.start.checked_add(p.size);
        if p.size == 0 || end.is_none_or(|e| e > l.size) {
            return Err(format!(
                "partition {} ({} bytes at {}) does not fit the {}-byte disk",
                p.number, p.size, p.start, l.size
            ));
        }
    }
    for (i, r) in m.regions.iter().enumerate() {
        let end = r.start.checked_add(r.length);
        if r.length == 0 {
            return Err(format!("region {i} has length 0"));
        }
        if end.is_none_or(|e| e > l.size) {
            return Err(format!("region {i} runs past the {}-byte disk", l.size));
        }
        let used = r.data_bytes.checked_add(r.zero_bytes);
        if used.is_none_or(|u| u > r.length) {
            return Err(format!(
                "region {i} claims {} data and {} zero bytes in {} bytes",
                r.data_bytes, r.zero_bytes, r.length
            ));
        }
        if (r.data_bytes > 0) != (r.chunk_count > 0) || (r.chunk_count > 0 && r.chunks.is_empty()) {
            return Err(format!(
                "region {i} has {} data bytes in {} chunks listed in {} pieces",
                r.data_bytes,
                r.chunk_count,
                r.chunks.len()
            ));
        }
        if r.extents.is_empty() && r.data_bytes + r.zero_bytes > 0 {
            return Err(format!("region {i} has used bytes but no extent list"));
        }
    }
    sum(
        m.regions.iter().map(|r| r.data_bytes),
        "the regions' data bytes",
    )?;
    sum(
        m.regions.iter().map(|r| r.zero_bytes),
        "the regions' zero bytes",
    )?;
    Ok(())
}

fn hex_bytes(text: &str, what: &str) -> Result<Vec<u8>, Problem> {
    hex::decode(text).map_err(|e| format!("{what} is not hex: {e}"))
}

/// The partition table data a restore rewrites for its target.
fn table(m: &Manifest) -> Result<(), Problem> {
    let l = &m.layout;
    if let Some(mbr) = &l.mbr {
        let sector = hex_bytes(&mbr.boot_sector, "the MBR")?;
        if sector.len() != 512 {
            return Err(format!("the MBR is {} bytes, not 512", sector.len()));
        }
    }
    match l.table {
        TableKind::Gpt => {
            let gpt = l.gpt.as_ref().ok_or("table gpt without GPT data")?;
            let header = hex_bytes(&gpt.header, "the GPT header")?;
            let entries = hex_bytes(&gpt.entries, "the GPT entries")?;
            if header.len() < 92 || header.len() as u64 > l.sector_size {
                return Err(format!("the GPT header is {} bytes", header.len()));
            }
            // UEFI 2.10 §5.3.2: entries are 128 * 2^n bytes.
            let entry_size = le32(&header, 84) as usize;
            if entry_size < 128 || !entry_size.is_power_of_two() || entries.len() % entry_size != 0
            {
                return Err(format!(
                    "GPT entry size {entry_size} does not divide the {}-byte entry array",
                    entries.len()
                ));
            }
            let entries_at = le64(&header, 72).checked_mul(l.sector_size);
            if entries_at.is_none_or(|at| at >= l.size) {
                return Err("the GPT entry array lies outside the disk".into());
            }
            let tail = (entries.len() as u64).div_ceil(l.sector_size) + 1;
            if tail.checked_mul(l.sector_size).is_none_or(|t| t >= l.size) {
                return Err("the backup GPT does not fit the disk".into());
            }
        }
        TableKind::Mbr => {
            if l.mbr.is_none() {
                return Err("table mbr without MBR data".into());
            }
        }
        TableKind::None => {}
    }
    Ok(())
}

/// The regions' extent and chunk lists agree with the regions: extents
/// inside their region and adding up to its data and zero bytes, chunks as
/// many as it says and filling its data exactly.
pub fn pieces(m: &Manifest, store: &dyn ReadStore) -> crate::error::Result<Result<(), Problem>> {
    for (i, r) in m.regions.iter().enumerate() {
        let (mut data, mut zero) = (0u64, 0u64);
        for e in PieceReader::extents(store, &r.extents) {
            let e = e?;
            let end = e.offset.checked_add(e.len);
            if end.is_none_or(|end| e.offset < r.start || end > r.start + r.length) {
                return Ok(Err(format!(
                    "region {i} lists an extent of {} bytes at {} outside it",
                    e.len, e.offset
                )));
            }
            let total = match e.kind {
                ExtentKind::Data => &mut data,
                ExtentKind::Zero => &mut zero,
            };
            *total = total.checked_add(e.len).unwrap_or(u64::MAX);
        }
        if (data, zero) != (r.data_bytes, r.zero_bytes) {
            return Ok(Err(format!(
                "region {i}'s extents hold {data} data and {zero} zero bytes; it says {} and {}",
                r.data_bytes, r.zero_bytes
            )));
        }
        let placement = match Placement::new(std::slice::from_ref(r), store) {
            Ok(p) => p,
            Err(crate::Error::ManifestCorrupt { detail, .. }) => {
                return Ok(Err(format!("region {i}: {detail}")))
            }
            Err(e) => return Err(e),
        };
        if placement.slots().len() as u64 != r.chunk_count || placement.data_bytes() != data {
            return Ok(Err(format!(
                "region {i} lists {} chunks of {} bytes; it says {} chunks of {data}",
                placement.slots().len(),
                placement.data_bytes(),
                r.chunk_count
            )));
        }
    }
    Ok(Ok(()))
}
