//! NTFS used clusters from `$Bitmap` (MFT record 6), as ntfsclone and
//! partclone.ntfs read them. Layouts follow the Linux-NTFS documentation.

use super::{fs_err, Usage};
use crate::disk::{le16, le32, le64, read_vec, ReadAt};
use crate::error::Result;
use crate::ranges::RangeSet;

const BITMAP_RECORD: u64 = 6;
const ATTR_DATA: u32 = 0x80;
const ATTR_END: u32 = 0xffff_ffff;

pub fn is_ntfs(boot: &[u8]) -> bool {
    boot.len() >= 512 && &boot[3..11] == b"NTFS    "
}

#[derive(Debug)]
struct Boot {
    sector_size: u64,
    cluster_size: u64,
    total_sectors: u64,
    mft_lcn: u64,
    record_size: u64,
}

fn parse_boot(b: &[u8]) -> std::result::Result<Boot, String> {
    let sector_size = le16(b, 11) as u64;
    if !sector_size.is_power_of_two() || !(256..=4096).contains(&sector_size) {
        return Err(format!("sector size {sector_size} is invalid"));
    }
    // Values above 0x80 encode 2^(256 - n) sectors per cluster (large clusters).
    let spc = match b[13] {
        0 => return Err("0 sectors per cluster".into()),
        n if n <= 0x80 => n as u64,
        n => 1u64 << (256 - n as u32).min(20),
    };
    let cluster_size = sector_size * spc;
    let cpr = b[64] as i8;
    let record_size = if cpr > 0 {
        cpr as u64 * cluster_size
    } else {
        let shift = (-(cpr as i32)) as u32;
        if !(9..=16).contains(&shift) {
            return Err(format!("MFT record size 2^{shift} is invalid"));
        }
        1u64 << shift
    };
    if !(512..=65536).contains(&record_size) {
        return Err(format!("MFT record size {record_size} is invalid"));
    }
    Ok(Boot {
        sector_size,
        cluster_size,
        total_sectors: le64(b, 40),
        mft_lcn: le64(b, 48),
        record_size,
    })
}

pub fn usage(disk: &dyn ReadAt, offset: u64, len: u64) -> Result<Usage> {
    let err = |detail: String| fs_err("ntfs", disk, offset, detail);
    let boot = parse_boot(&read_vec(disk, offset, 512)?).map_err(err)?;
    let volume = boot
        .total_sectors
        .checked_mul(boot.sector_size)
        .ok_or_else(|| err("sector count overflows".into()))?;
    if volume > len {
        return Err(err(format!(
            "volume claims {volume} bytes but its partition holds {len}"
        )));
    }
    let clusters = volume / boot.cluster_size;
    let record_at = boot
        .mft_lcn
        .checked_mul(boot.cluster_size)
        .and_then(|b| b.checked_add(BITMAP_RECORD * boot.record_size))
        .filter(|&b| b + boot.record_size <= volume)
        .ok_or_else(|| {
            err(format!(
                "MFT at cluster {} lies outside the volume",
                boot.mft_lcn
            ))
        })?;
    let mut record = read_vec(disk, offset + record_at, boot.record_size as usize)?;
    apply_fixups(&mut record, boot.sector_size as usize)
        .map_err(|d| err(format!("$Bitmap record: {d}")))?;
    let data = find_data(&record).map_err(|d| err(format!("$Bitmap record: {d}")))?;
    let bitmap_len = clusters.div_ceil(8);
    let bitmap = match data {
        Data::Resident(bytes) => bytes,
        Data::Runs { runs, size } => {
            if size < bitmap_len {
                return Err(err(format!(
                    "$Bitmap holds {size} bytes but {clusters} clusters need {bitmap_len}"
                )));
            }
            let mut out = Vec::with_capacity(bitmap_len as usize);
            for (lcn, count) in runs {
                let want = (bitmap_len - out.len() as u64).min(count * boot.cluster_size);
                if want == 0 {
                    break;
                }
                if (lcn + count) > clusters {
                    return Err(err(format!(
                        "$Bitmap run at cluster {lcn} lies outside the volume"
                    )));
                }
                out.extend(read_vec(
                    disk,
                    offset + lcn * boot.cluster_size,
                    want as usize,
                )?);
            }
            out
        }
    };
    if (bitmap.len() as u64) < bitmap_len {
        return Err(err(format!(
            "$Bitmap holds {} bytes but {clusters} clusters need {bitmap_len}",
            bitmap.len()
        )));
    }
    let mut used = RangeSet::new();
    let mut c = 0u64;
    while c < clusters {
        if bitmap[(c / 8) as usize] & (1 << (c % 8)) == 0 {
            c += 1;
            continue;
        }
        let start = c;
        while c < clusters && bitmap[(c / 8) as usize] & (1 << (c % 8)) != 0 {
            c += 1;
        }
        used.push(start * boot.cluster_size, (c - start) * boot.cluster_size);
    }
    // The boot sector is cluster 0, but make sure; the backup boot sector sits
    // in the last sector of the partition, past the last cluster.
    used.push(0, boot.sector_size);
    used.normalize();
    used.push(volume, len - volume);
    Ok(Usage {
        used,
        block_size: boot.cluster_size,
        fs_size: volume,
    })
}

/// Update sequence array: the last two bytes of every sector of a record
/// were swapped for a check value when written; put them back.
fn apply_fixups(rec: &mut [u8], sector: usize) -> std::result::Result<(), String> {
    if &rec[..4] != b"FILE" {
        return Err("no FILE signature".into());
    }
    let usa_off = le16(rec, 4) as usize;
    let usa_count = le16(rec, 6) as usize;
    if usa_count == 0 || usa_off + usa_count * 2 > rec.len() || (usa_count - 1) * sector > rec.len()
    {
        return Err(format!(
            "update sequence array ({usa_count} at {usa_off}) is out of range"
        ));
    }
    let check = [rec[usa_off], rec[usa_off + 1]];
    for i in 1..usa_count {
        let end = i * sector - 2;
        if rec[end..end + 2] != check {
            return Err(format!(
                "sector {} of the record fails its update sequence check",
                i - 1
            ));
        }
        rec[end] = rec[usa_off + 2 * i];
        rec[end + 1] = rec[usa_off + 2 * i + 1];
    }
    Ok(())
}

enum Data {
    Resident(Vec<u8>),
    Runs { runs: Vec<(u64, u64)>, size: u64 },
}

fn find_data(rec: &[u8]) -> std::result::Result<Data, String> {
    let mut at = le16(rec, 20) as usize;
    loop {
        if at + 16 > rec.len() {
            return Err("attribute list runs past the record".into());
        }
        let ty = le32(rec, at);
        if ty == ATTR_END {
            return Err("no unnamed $DATA attribute".into());
        }
        let alen = le32(rec, at + 4) as usize;
        if alen < 16 || at + alen > rec.len() {
            return Err(format!("attribute at {at} has bad length {alen}"));
        }
        let attr = &rec[at..at + alen];
        if ty == ATTR_DATA && attr[9] == 0 {
            if attr[8] == 0 {
                let vlen = le32(attr, 16) as usize;
                let voff = le16(attr, 20) as usize;
                let value = attr
                    .get(voff..voff + vlen)
                    .ok_or("resident $DATA runs past its attribute")?;
                return Ok(Data::Resident(value.to_vec()));
            }
            if alen < 64 {
                return Err("non-resident $DATA header is truncated".into());
            }
            let runs_off = le16(attr, 32) as usize;
            let size = le64(attr, 48);
            let runs = decode_runs(attr.get(runs_off..).ok_or("run list offset out of range")?)?;
            return Ok(Data::Runs { runs, size });
        }
        at += alen;
    }
}

/// Decodes a mapping-pairs run list into absolute (LCN, cluster count).
pub fn decode_runs(mut b: &[u8]) -> std::result::Result<Vec<(u64, u64)>, String> {
    let mut runs = Vec::new();
    let mut lcn: i64 = 0;
    while let Some(&header) = b.first() {
        if header == 0 {
            return Ok(runs);
        }
        let len_size = (header & 0xf) as usize;
        let off_size = (header >> 4) as usize;
        if len_size == 0 || len_size > 8 || off_size > 8 || 1 + len_size + off_size > b.len() {
            return Err(format!("run header {header:#04x} is malformed"));
        }
        let count = le_uint(&b[1..1 + len_size]);
        if off_size == 0 {
            return Err("sparse run in $Bitmap".into());
        }
        let delta = le_int(&b[1 + len_size..1 + len_size + off_size]);
        lcn = lcn
            .checked_add(delta)
            .filter(|&l| l >= 0)
            .ok_or("run offset out of range")?;
        runs.push((lcn as u64, count));
        b = &b[1 + len_size + off_size..];
    }
    Err("run list has no terminator".into())
}

fn le_uint(b: &[u8]) -> u64 {
    b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64)
}

fn le_int(b: &[u8]) -> i64 {
    let raw = le_uint(b);
    let bits = 8 * b.len() as u32;
    if bits < 64 && raw & (1 << (bits - 1)) != 0 {
        (raw | (!0u64 << bits)) as i64
    } else {
        raw as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_run_list_with_negative_delta() {
        // 0x21: 1-byte length, 2-byte offset. Second run jumps back 0x10 clusters.
        let runs = decode_runs(&[0x21, 0x08, 0x00, 0x01, 0x11, 0x04, 0xf0, 0x00]).unwrap();
        assert_eq!(runs, vec![(0x100, 8), (0xf0, 4)]);
    }

    #[test]
    fn rejects_run_list_without_terminator() {
        assert!(decode_runs(&[0x11, 0x01, 0x02])
            .unwrap_err()
            .contains("terminator"));
    }

    #[test]
    fn rejects_record_failing_update_sequence_check() {
        let mut rec = vec![0u8; 1024];
        rec[..4].copy_from_slice(b"FILE");
        rec[4] = 48;
        rec[6] = 3;
        rec[48] = 0xab;
        assert!(apply_fixups(&mut rec, 512)
            .unwrap_err()
            .contains("update sequence"));
    }
}
