//! NTFS used clusters from `$Bitmap` (MFT record 6), as ntfsclone and
//! partclone.ntfs read them. Layouts follow the Linux-NTFS documentation.

mod record;
mod throwaway;

use super::{fs_err, Usage};
use crate::disk::{le16, le64, read_vec, ReadAt};
use crate::error::Result;
use crate::ranges::RangeSet;
use record::{apply_fixups, attributes, unnamed_data, Body};
pub use throwaway::throwaway;

const BITMAP_RECORD: u64 = 6;

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
    apply_fixups(&mut record, b"FILE", boot.sector_size as usize)
        .map_err(|d| err(format!("$Bitmap record: {d}")))?;
    let data = attributes(&record)
        .and_then(|attrs| unnamed_data(attrs).ok_or_else(|| "no unnamed $DATA attribute".into()))
        .map_err(|d| err(format!("$Bitmap record: {d}")))?;
    let bitmap_len = clusters.div_ceil(8);
    let bitmap = match data {
        Body::Resident(bytes) => bytes.to_vec(),
        Body::NonResident { runs, size } => {
            if size < bitmap_len {
                return Err(err(format!(
                    "$Bitmap holds {size} bytes but {clusters} clusters need {bitmap_len}"
                )));
            }
            let mut out = Vec::with_capacity(bitmap_len as usize);
            for run in runs {
                let (Some(lcn), count) = (run.lcn, run.count) else {
                    return Err(err("$Bitmap has a sparse run".into()));
                };
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
