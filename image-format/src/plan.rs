//! The restore plan: decided in full, as data, before a byte is written.
//! `--dry-run` prints it.

use std::fmt;

use crate::disk::{le32, le64};
use crate::error::{human, Error, Result};
use crate::id::ImageId;
use crate::layout::gpt::{last_usable_for, rebuild_header};
use crate::layout::TableKind;
use crate::manifest::{Manifest, Region};

#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Extend the last partition to the end of a larger target.
    pub grow_last_partition: bool,
    /// Write every chunk without first comparing with what the target holds.
    pub no_delta: bool,
}

/// Bytes written over the restored data: partition tables fitted to the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableWrite {
    pub what: &'static str,
    pub offset: u64,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Growth {
    pub partition: u32,
    pub old_size: u64,
    pub new_size: u64,
}

#[derive(Debug, Clone)]
pub struct RestorePlan {
    pub image: ImageId,
    pub target: String,
    pub target_size: u64,
    pub source_size: u64,
    pub needed: u64,
    pub table: TableKind,
    /// The manifest's regions, written in this order.
    pub regions: Vec<Region>,
    pub table_writes: Vec<TableWrite>,
    pub growth: Option<Growth>,
    pub delta: bool,
}

impl RestorePlan {
    pub fn new(
        image: ImageId,
        manifest: &Manifest,
        target: &str,
        target_size: u64,
        opts: &RestoreOptions,
    ) -> Result<RestorePlan> {
        let layout = &manifest.layout;
        let needed = layout.min_disk_size();
        if target_size < needed {
            return Err(Error::TargetTooSmall {
                target: target.to_string(),
                target_size,
                needed,
                image: image.short(),
            });
        }
        let mut table_writes = Vec::new();
        let mut growth = None;
        let bad = |detail: String| Error::Unrestorable {
            image: image.to_hex(),
            detail,
        };
        match layout.table {
            TableKind::Gpt => {
                let gpt = layout
                    .gpt
                    .as_ref()
                    .ok_or_else(|| bad("GPT layout without GPT data".into()))?;
                let header =
                    hex::decode(&gpt.header).map_err(|e| bad(format!("GPT header: {e}")))?;
                let mut entries =
                    hex::decode(&gpt.entries).map_err(|e| bad(format!("GPT entries: {e}")))?;
                if header.len() < 92 {
                    return Err(bad("GPT header is truncated".into()));
                }
                let ss = layout.sector_size;
                let sectors = target_size / ss;
                let entries_lba = le64(&header, 72);
                let last_usable = if target_size == layout.size {
                    le64(&header, 48)
                } else {
                    last_usable_for(sectors, entries.len() as u64, ss)
                };
                if opts.grow_last_partition {
                    growth = grow_gpt(&mut entries, le32(&header, 84) as usize, last_usable, ss);
                }
                let primary = rebuild_header(&header, sectors, &entries, ss, true, last_usable);
                let backup = rebuild_header(&header, sectors, &entries, ss, false, last_usable);
                let backup_entries_lba = le64(&backup, 72);
                table_writes.push(TableWrite {
                    what: "primary GPT header",
                    offset: ss,
                    bytes: primary,
                });
                table_writes.push(TableWrite {
                    what: "primary GPT entries",
                    offset: entries_lba * ss,
                    bytes: entries.clone(),
                });
                table_writes.push(TableWrite {
                    what: "backup GPT entries",
                    offset: backup_entries_lba * ss,
                    bytes: entries,
                });
                table_writes.push(TableWrite {
                    what: "backup GPT header",
                    offset: (sectors - 1) * ss,
                    bytes: backup,
                });
                if let Some(mbr) = layout.mbr.as_ref().filter(|m| m.protective) {
                    let mut sector =
                        hex::decode(&mbr.boot_sector).map_err(|e| bad(format!("MBR: {e}")))?;
                    // UEFI 2.10 §5.2.3: the protective entry covers the disk, capped at 2^32-1 sectors.
                    let size = (target_size / 512 - 1).min(u32::MAX as u64) as u32;
                    for i in 0..4 {
                        let e = 446 + 16 * i;
                        if sector[e + 4] == 0xee {
                            sector[e + 12..e + 16].copy_from_slice(&size.to_le_bytes());
                        }
                    }
                    table_writes.push(TableWrite {
                        what: "protective MBR",
                        offset: 0,
                        bytes: sector,
                    });
                }
            }
            TableKind::Mbr if opts.grow_last_partition => {
                let mbr = layout
                    .mbr
                    .as_ref()
                    .ok_or_else(|| bad("MBR layout without MBR data".into()))?;
                let last = layout
                    .partitions
                    .iter()
                    .max_by_key(|p| p.end())
                    .ok_or_else(|| {
                        Error::Unsupported("the image has no partition to grow".into())
                    })?;
                if last.logical {
                    return Err(Error::Unsupported(format!(
                        "growing logical partition {} is not supported; restore without --grow-last-partition",
                        last.number
                    )));
                }
                let mut sector =
                    hex::decode(&mbr.boot_sector).map_err(|e| bad(format!("MBR: {e}")))?;
                let e = 446 + 16 * (last.number as usize - 1);
                let first = le32(&sector, e + 8) as u64;
                let new_sectors = ((target_size / 512).min(u32::MAX as u64) - first) as u32;
                let old = le32(&sector, e + 12);
                if new_sectors > old {
                    sector[e + 12..e + 16].copy_from_slice(&new_sectors.to_le_bytes());
                    growth = Some(Growth {
                        partition: last.number,
                        old_size: old as u64 * 512,
                        new_size: new_sectors as u64 * 512,
                    });
                    table_writes.push(TableWrite {
                        what: "MBR with grown partition",
                        offset: 0,
                        bytes: sector,
                    });
                }
            }
            TableKind::None if opts.grow_last_partition => {
                return Err(Error::Unsupported(
                    "the image has no partition table, so there is no partition to grow".into(),
                ));
            }
            _ => {}
        }
        Ok(RestorePlan {
            image,
            target: target.to_string(),
            target_size,
            source_size: layout.size,
            needed,
            table: layout.table,
            regions: manifest.regions.clone(),
            table_writes,
            growth,
            delta: !opts.no_delta,
        })
    }

    pub fn data_bytes(&self) -> u64 {
        self.regions.iter().map(|r| r.data_bytes).sum()
    }

    pub fn zero_bytes(&self) -> u64 {
        self.regions.iter().map(|r| r.zero_bytes).sum()
    }
}

/// Extends the GPT entry that ends last up to the target's last usable LBA,
/// aligned down to 1 MiB as partitioning tools align.
fn grow_gpt(entries: &mut [u8], entry_size: usize, last_usable: u64, ss: u64) -> Option<Growth> {
    let (index, first, last) = entries
        .chunks_exact(entry_size)
        .enumerate()
        .filter(|(_, e)| e[..16].iter().any(|&b| b != 0))
        .map(|(i, e)| (i, le64(e, 32), le64(e, 40)))
        .max_by_key(|&(_, _, last)| last)?;
    let align = (1 << 20) / ss;
    let new_last = ((last_usable + 1) / align * align).saturating_sub(1);
    if new_last <= last {
        return None;
    }
    let e = &mut entries[index * entry_size..(index + 1) * entry_size];
    e[40..48].copy_from_slice(&new_last.to_le_bytes());
    Some(Growth {
        partition: index as u32 + 1,
        old_size: (last - first + 1) * ss,
        new_size: (new_last - first + 1) * ss,
    })
}

impl fmt::Display for RestorePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "restore plan for image {}", self.image)?;
        writeln!(
            f,
            "  target {}: {} ({} bytes); image disk {} ({} bytes); needs at least {}",
            self.target,
            human(self.target_size),
            self.target_size,
            human(self.source_size),
            self.source_size,
            human(self.needed)
        )?;
        writeln!(
            f,
            "  mode: {}",
            if self.delta {
                "delta (compare each chunk with the target, write only what differs)"
            } else {
                "full (write every chunk)"
            }
        )?;
        for r in &self.regions {
            writeln!(
                f,
                "  {:<12} at {:>12} len {:>10}  {:<8}  write {:>10} data, {:>10} zeros",
                r.label(),
                r.start,
                human(r.length),
                r.fs.name(),
                human(r.data_bytes),
                human(r.zero_bytes)
            )?;
        }
        if let Some(g) = &self.growth {
            writeln!(
                f,
                "  grow partition {} from {} to {} (its filesystem grows after the restore)",
                g.partition,
                human(g.old_size),
                human(g.new_size)
            )?;
        }
        for w in &self.table_writes {
            writeln!(
                f,
                "  then write {} ({} bytes) at byte {}",
                w.what,
                w.bytes.len(),
                w.offset
            )?;
        }
        write!(
            f,
            "  total: {} of data, {} of zeros",
            human(self.data_bytes()),
            human(self.zero_bytes())
        )
    }
}
