//! Windows' throwaway files in the volume's root: `pagefile.sys`,
//! `swapfile.sys` and `hiberfil.sys`. Windows rewrites the page and swap
//! files at boot, and a hibernation file whose header is zero is ignored
//! (the machine boots instead of resuming), so a capture keeps their
//! records and sizes but not their clusters, as WIM capture leaves them
//! out. Found through the root directory's `$I30` index; each hit is
//! checked against its own file record (in use, same sequence number,
//! named so in the root) before any cluster of it is dropped, so a stale
//! index entry can never zero another file.

use super::record::{
    apply_fixups, attributes, unnamed_data, utf16, Body, Run, ATTR_DATA, ATTR_FILE_NAME,
    ATTR_INDEX_ALLOCATION, ATTR_INDEX_ROOT, ATTR_LIST,
};
use super::{parse_boot, Boot};
use crate::disk::{le16, le32, le64, read_vec, ReadAt};
use crate::error::Result;
use crate::fs::{fs_err, Skipped};
use crate::ranges::RangeSet;

pub const NAMES: [&str; 3] = ["pagefile.sys", "swapfile.sys", "hiberfil.sys"];
const MFT_RECORD: u64 = 0;
const ROOT_RECORD: u64 = 5;
/// File references keep the record number in their low 48 bits and the
/// record's sequence number in the high 16.
const RECORD_MASK: u64 = (1 << 48) - 1;
/// Update sequence stride of index records (`NTFS_BLOCK_SIZE`).
const INDX_STRIDE: usize = 512;
/// More root directory index than this is not read (a root holding tens of
/// thousands of names); the files are then kept.
const MAX_INDEX_BYTES: u64 = 64 << 20;

/// The throwaway files of the NTFS volume at `offset`, with the byte
/// ranges (relative to the volume) of their clusters. A volume whose root
/// directory or records Marrow cannot follow (an `$ATTRIBUTE_LIST` where
/// the data should be, say) keeps its files: nothing is skipped. A damaged
/// `$MFT` or root directory record is an error, as it is for `$Bitmap`.
pub fn throwaway(disk: &dyn ReadAt, offset: u64, len: u64) -> Result<Vec<Skipped>> {
    let err = |detail: String| fs_err("ntfs", disk, offset, detail);
    let boot = parse_boot(&read_vec(disk, offset, 512)?).map_err(err)?;
    let volume = Volume {
        disk,
        offset,
        len,
        boot,
    };
    let Some(mft) = volume.mft_runs().map_err(err)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (record, sequence) in volume.root_candidates(&mft).map_err(err)? {
        // A candidate whose record cannot be followed is kept whole: only
        // a record read in full may have its clusters dropped.
        if let Ok(Some(found)) = volume.file(&mft, record, sequence) {
            if !out.iter().any(|s: &Skipped| s.name == found.name) {
                out.push(found);
            }
        }
    }
    Ok(out)
}

struct Volume<'a> {
    disk: &'a dyn ReadAt,
    offset: u64,
    len: u64,
    boot: Boot,
}

/// `$MFT`'s own runs: (first record's byte on the volume, bytes).
type MftRuns = Vec<(u64, u64)>;

impl Volume<'_> {
    fn read_record(&self, at: u64) -> std::result::Result<Vec<u8>, String> {
        let size = self.boot.record_size;
        if at + size > self.len {
            return Err(format!("file record at byte {at} lies outside the volume"));
        }
        let mut rec =
            read_vec(self.disk, self.offset + at, size as usize).map_err(|e| e.to_string())?;
        apply_fixups(&mut rec, b"FILE", self.boot.sector_size as usize)?;
        Ok(rec)
    }

    /// `$MFT`'s data runs from its own record 0, or `None` when they are
    /// not all in that record (a very fragmented MFT with an attribute
    /// list).
    fn mft_runs(&self) -> std::result::Result<Option<MftRuns>, String> {
        let first = self.boot.mft_lcn * self.boot.cluster_size;
        let rec = self
            .read_record(first + MFT_RECORD * self.boot.record_size)
            .map_err(|e| format!("$MFT record: {e}"))?;
        let attrs = attributes(&rec).map_err(|e| format!("$MFT record: {e}"))?;
        if attrs.iter().any(|a| a.kind == ATTR_LIST) {
            return Ok(None);
        }
        let Some(Body::NonResident { runs, .. }) = unnamed_data(attrs) else {
            return Err("$MFT record has no non-resident $DATA".into());
        };
        let mut out = Vec::new();
        for run in runs {
            let Some(extent) = self.extent(run) else {
                return Ok(None);
            };
            out.push(extent);
        }
        Ok(Some(out))
    }

    /// A data run's byte offset on the volume and its length, or None for
    /// a sparse run (no clusters).
    fn extent(&self, run: Run) -> Option<(u64, u64)> {
        let lcn = run.lcn?;
        Some((
            lcn * self.boot.cluster_size,
            run.count * self.boot.cluster_size,
        ))
    }

    /// An attribute's value: resident, or read from its runs (an attribute
    /// list of a very fragmented file), up to 16 MiB.
    fn body_bytes(&self, body: &Body<'_>) -> std::result::Result<Vec<u8>, String> {
        match body {
            Body::Resident(v) => Ok(v.to_vec()),
            Body::NonResident { runs, size } => {
                let want = (*size).min(16 << 20) as usize;
                let mut out = Vec::with_capacity(want);
                for run in runs {
                    let Some((start, bytes)) = self.extent(*run) else {
                        break;
                    };
                    if start + bytes > self.len {
                        return Err("an attribute list run lies outside the volume".into());
                    }
                    let take = (want - out.len()).min(bytes as usize);
                    out.extend(
                        read_vec(self.disk, self.offset + start, take)
                            .map_err(|e| e.to_string())?,
                    );
                    if out.len() >= want {
                        break;
                    }
                }
                Ok(out)
            }
        }
    }

    /// Where file record `n` lies on the volume.
    fn record_at(&self, mft: &MftRuns, n: u64) -> Option<u64> {
        let mut at = n.checked_mul(self.boot.record_size)?;
        for &(start, len) in mft {
            if at < len {
                return Some(start + at);
            }
            at -= len;
        }
        None
    }

    /// (record, sequence) of every root index entry named like a
    /// throwaway file, from the index root and every index block.
    fn root_candidates(&self, mft: &MftRuns) -> std::result::Result<Vec<(u64, u16)>, String> {
        let at = self
            .record_at(mft, ROOT_RECORD)
            .ok_or("the root directory's record is not in $MFT")?;
        let rec = self
            .read_record(at)
            .map_err(|e| format!("root directory record: {e}"))?;
        let mut found = Vec::new();
        let attrs = attributes(&rec).map_err(|e| format!("root directory record: {e}"))?;
        let mut block_size = 0usize;
        for a in &attrs {
            match (&a.body, a.kind) {
                (Body::Resident(v), ATTR_INDEX_ROOT) if a.name == "$I30" => {
                    if v.len() < 32 {
                        return Err("root directory's index root is truncated".into());
                    }
                    block_size = le32(v, 8) as usize;
                    entries(&v[16..], le32(v, 16) as usize, &mut found);
                }
                (Body::NonResident { runs, size }, ATTR_INDEX_ALLOCATION) if a.name == "$I30" => {
                    if !(512..=65536).contains(&block_size) || !block_size.is_power_of_two() {
                        return Err(format!(
                            "root directory's index blocks of {block_size} bytes"
                        ));
                    }
                    let mut left = (*size).min(MAX_INDEX_BYTES);
                    for run in runs {
                        let Some((start, bytes)) = self.extent(*run) else {
                            continue;
                        };
                        let mut off = 0;
                        while off + block_size as u64 <= bytes && left >= block_size as u64 {
                            left -= block_size as u64;
                            if start + off + block_size as u64 > self.len {
                                return Err("root directory's index lies outside the volume".into());
                            }
                            let mut b = read_vec(self.disk, self.offset + start + off, block_size)
                                .map_err(|e| e.to_string())?;
                            off += block_size as u64;
                            // Blocks not in use may hold anything; the file
                            // record check below guards against stale names.
                            if apply_fixups(&mut b, b"INDX", INDX_STRIDE).is_err() {
                                continue;
                            }
                            entries(&b[24..], le32(&b, 24) as usize, &mut found);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(found)
    }

    /// The throwaway file in record `n`, if that record really is one: in
    /// use, a base record, of the expected sequence, with a `$FILE_NAME`
    /// in the root, and its data in non-resident runs. A fragmented file's
    /// attributes may live in extension records that its
    /// `$ATTRIBUTE_LIST` names; those are read too, each checked to be in
    /// use and to belong to record `n`.
    fn file(
        &self,
        mft: &MftRuns,
        n: u64,
        sequence: u16,
    ) -> std::result::Result<Option<Skipped>, String> {
        let Some(at) = self.record_at(mft, n) else {
            return Ok(None);
        };
        let rec = self
            .read_record(at)
            .map_err(|e| format!("file record {n}: {e}"))?;
        let in_use = le16(&rec, 22) & 1 != 0;
        if !in_use || le16(&rec, 16) != sequence || le64(&rec, 32) & RECORD_MASK != 0 {
            return Ok(None);
        }
        let mut parts = Parts::default();
        let attrs = attributes(&rec).map_err(|e| format!("file record {n}: {e}"))?;
        parts.take(&attrs);
        if let Some(list) = attrs.iter().find(|a| a.kind == ATTR_LIST) {
            let bytes = self.body_bytes(&list.body)?;
            for (m, seq) in list_records(&bytes, n) {
                let Some(at) = self.record_at(mft, m) else {
                    return Ok(None);
                };
                let ext = self
                    .read_record(at)
                    .map_err(|e| format!("extension record {m} of file record {n}: {e}"))?;
                let belongs = le16(&ext, 22) & 1 != 0
                    && le16(&ext, 16) == seq
                    && le64(&ext, 32) & RECORD_MASK == n;
                if !belongs {
                    return Ok(None);
                }
                parts.take(&attributes(&ext).map_err(|e| format!("file record {m}: {e}"))?);
            }
        }
        let Some(name) = parts.name else {
            return Ok(None);
        };
        if !parts.data {
            return Ok(None);
        }
        let runs = parts.runs;
        let mut ranges = RangeSet::new();
        for run in runs {
            let Some((start, bytes)) = self.extent(run) else {
                continue;
            };
            if start + bytes > self.len {
                return Err(format!("{name} has a run outside the volume"));
            }
            ranges.push(start, bytes);
        }
        ranges.normalize();
        let name = throwaway_name(&name).unwrap_or_default().to_string();
        Ok(Some(Skipped { name, ranges }))
    }
}

/// A file's root-folder throwaway name and its `$DATA` runs, gathered from
/// its base record and any extension records.
#[derive(Default)]
struct Parts {
    name: Option<String>,
    /// Whether a non-resident unnamed `$DATA` was seen.
    data: bool,
    runs: Vec<super::record::Run>,
}

impl Parts {
    fn take(&mut self, attrs: &[super::record::Attr<'_>]) {
        for a in attrs {
            match (&a.body, a.kind) {
                (Body::Resident(v), ATTR_FILE_NAME) if self.name.is_none() => {
                    self.name = file_name(v)
                        .filter(|(parent, name)| {
                            *parent == ROOT_RECORD && throwaway_name(name).is_some()
                        })
                        .map(|(_, name)| name);
                }
                (Body::NonResident { runs, .. }, ATTR_DATA) if a.name.is_empty() => {
                    self.data = true;
                    self.runs.extend_from_slice(runs);
                }
                _ => {}
            }
        }
    }
}

/// The other records an `$ATTRIBUTE_LIST` names for `$FILE_NAME` and
/// `$DATA`, each once, as (record, sequence).
fn list_records(list: &[u8], base: u64) -> Vec<(u64, u16)> {
    let mut out: Vec<(u64, u16)> = Vec::new();
    let mut at = 0;
    while at + 26 <= list.len() {
        let (kind, len) = (le32(list, at), le16(list, at + 4) as usize);
        if len < 26 || at + len > list.len() {
            break;
        }
        let reference = le64(list, at + 16);
        let record = reference & RECORD_MASK;
        if (kind == ATTR_FILE_NAME || kind == ATTR_DATA)
            && record != base
            && !out.iter().any(|&(r, _)| r == record)
        {
            out.push((record, (reference >> 48) as u16));
        }
        at += len;
    }
    out
}

/// The canonical name if `name` is one of [`NAMES`] (NTFS names are
/// case-insensitive).
fn throwaway_name(name: &str) -> Option<&'static str> {
    NAMES.iter().copied().find(|n| n.eq_ignore_ascii_case(name))
}

/// Index entries of one node (`node` starts at its node header, entries at
/// `first`): every throwaway-named one as (record, sequence).
fn entries(node: &[u8], first: usize, out: &mut Vec<(u64, u16)>) {
    let mut at = first;
    while at + 16 <= node.len() {
        let (len, key_len, flags) = (
            le16(node, at + 8) as usize,
            le16(node, at + 10) as usize,
            le32(node, at + 12),
        );
        if flags & 2 != 0 || len < 16 || at + len > node.len() {
            return;
        }
        if let Some((parent, name)) = node.get(at + 16..at + 16 + key_len).and_then(file_name) {
            if parent == ROOT_RECORD && throwaway_name(&name).is_some() {
                let reference = le64(node, at);
                out.push((reference & RECORD_MASK, (reference >> 48) as u16));
            }
        }
        at += len;
    }
}

/// A `$FILE_NAME` value's parent record and name.
fn file_name(v: &[u8]) -> Option<(u64, String)> {
    let chars = *v.get(64)? as usize;
    let name = v.get(66..66 + 2 * chars)?;
    Some((le64(v, 0) & RECORD_MASK, utf16(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: u32, record: u64, seq: u16) -> Vec<u8> {
        let mut e = vec![0u8; 32];
        e[0..4].copy_from_slice(&kind.to_le_bytes());
        e[4..6].copy_from_slice(&32u16.to_le_bytes());
        e[16..24].copy_from_slice(&(record | (seq as u64) << 48).to_le_bytes());
        e
    }

    /// The layout ntfsinfo showed for a fragmented 2 GiB page file: its
    /// name in record 55179, its data in the base record and 55180-55181.
    #[test]
    fn an_attribute_list_names_the_extension_records_of_name_and_data_once() {
        let list = [
            entry(0x10, 55178, 3),
            entry(ATTR_LIST, 55178, 3),
            entry(ATTR_FILE_NAME, 55179, 3),
            entry(ATTR_DATA, 55178, 3),
            entry(ATTR_DATA, 55180, 3),
            entry(ATTR_DATA, 55181, 4),
            entry(ATTR_DATA, 55181, 4),
        ]
        .concat();
        assert_eq!(
            list_records(&list, 55178),
            [(55179, 3), (55180, 3), (55181, 4)]
        );
        // A truncated entry ends the walk instead of reading past it.
        assert_eq!(list_records(&list[..32 * 3 + 10], 55178), [(55179, 3)]);
    }

    #[test]
    fn names_match_case_insensitively_and_only_the_three() {
        assert_eq!(throwaway_name("PAGEFILE.SYS"), Some("pagefile.sys"));
        assert_eq!(throwaway_name("hiberfil.sys"), Some("hiberfil.sys"));
        assert_eq!(throwaway_name("pagefile.sys.bak"), None);
    }
}
