//! MFT file records and index records: update sequence fixups, attribute
//! headers and run lists (Linux-NTFS documentation, "Concepts: File
//! Record", "Attributes: Standard Attribute Header", "Concepts: Data
//! Runs").

use crate::disk::{le16, le32, le64};

pub const ATTR_LIST: u32 = 0x20;
pub const ATTR_FILE_NAME: u32 = 0x30;
pub const ATTR_DATA: u32 = 0x80;
pub const ATTR_INDEX_ROOT: u32 = 0x90;
pub const ATTR_INDEX_ALLOCATION: u32 = 0xa0;
const ATTR_END: u32 = 0xffff_ffff;

/// Update sequence array: the last two bytes of every `stride` bytes of a
/// record were swapped for a check value when written; put them back.
pub fn apply_fixups(rec: &mut [u8], magic: &[u8; 4], stride: usize) -> Result<(), String> {
    if &rec[..4] != magic {
        return Err(format!("no {} signature", String::from_utf8_lossy(magic)));
    }
    let usa_off = le16(rec, 4) as usize;
    let usa_count = le16(rec, 6) as usize;
    if usa_count == 0 || usa_off + usa_count * 2 > rec.len() || (usa_count - 1) * stride > rec.len()
    {
        return Err(format!(
            "update sequence array ({usa_count} at {usa_off}) is out of range"
        ));
    }
    let check = [rec[usa_off], rec[usa_off + 1]];
    for i in 1..usa_count {
        let end = i * stride - 2;
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

/// One attribute of a file record.
pub struct Attr<'a> {
    pub kind: u32,
    /// The attribute's name ("$I30" for a directory index); empty for the
    /// unnamed ones.
    pub name: String,
    pub body: Body<'a>,
}

pub enum Body<'a> {
    Resident(&'a [u8]),
    NonResident { runs: Vec<Run>, size: u64 },
}

/// The attributes of a file record whose fixups are applied.
pub fn attributes(rec: &[u8]) -> Result<Vec<Attr<'_>>, String> {
    let mut out = Vec::new();
    let mut at = le16(rec, 20) as usize;
    loop {
        // The end marker is 4 bytes, and may sit in a full record's last 8.
        if at + 4 > rec.len() {
            return Err("attribute list runs past the record".into());
        }
        let kind = le32(rec, at);
        if kind == ATTR_END {
            return Ok(out);
        }
        if at + 16 > rec.len() {
            return Err("attribute list runs past the record".into());
        }
        let len = le32(rec, at + 4) as usize;
        if len < 16 || at + len > rec.len() {
            return Err(format!("attribute at {at} has bad length {len}"));
        }
        let attr = &rec[at..at + len];
        let (name_len, name_off) = (attr[9] as usize, le16(attr, 10) as usize);
        let name_bytes = attr
            .get(name_off..name_off + 2 * name_len)
            .ok_or_else(|| format!("attribute at {at} has its name outside it"))?;
        let name = utf16(name_bytes);
        let body = if attr[8] == 0 {
            let (vlen, voff) = (le32(attr, 16) as usize, le16(attr, 20) as usize);
            Body::Resident(
                attr.get(voff..voff + vlen)
                    .ok_or_else(|| format!("resident attribute at {at} runs past itself"))?,
            )
        } else {
            if len < 64 {
                return Err(format!("non-resident attribute at {at} is truncated"));
            }
            let runs_off = le16(attr, 32) as usize;
            let runs = decode_runs(
                attr.get(runs_off..)
                    .ok_or_else(|| format!("attribute at {at}: run list offset out of range"))?,
            )?;
            Body::NonResident {
                runs,
                size: le64(attr, 48),
            }
        };
        out.push(Attr { kind, name, body });
        at += len;
    }
}

/// The unnamed `$DATA` attribute's body: a file's content.
pub fn unnamed_data<'a>(attrs: Vec<Attr<'a>>) -> Option<Body<'a>> {
    attrs
        .into_iter()
        .find(|a| a.kind == ATTR_DATA && a.name.is_empty())
        .map(|a| a.body)
}

/// Little-endian UTF-16 as NTFS stores names; unpaired surrogates become
/// U+FFFD.
pub fn utf16(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// A run of clusters: `lcn` is `None` for a sparse run, which has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub lcn: Option<u64>,
    pub count: u64,
}

/// Decodes a mapping-pairs run list into absolute runs.
pub fn decode_runs(mut b: &[u8]) -> Result<Vec<Run>, String> {
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
            runs.push(Run { lcn: None, count });
        } else {
            let delta = le_int(&b[1 + len_size..1 + len_size + off_size]);
            lcn = lcn
                .checked_add(delta)
                .filter(|&l| l >= 0)
                .ok_or("run offset out of range")?;
            runs.push(Run {
                lcn: Some(lcn as u64),
                count,
            });
        }
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
    fn decodes_run_list_with_negative_delta_and_a_sparse_run() {
        // 0x21: 1-byte length, 2-byte offset. The second run jumps back
        // 0x10 clusters; 0x01 is a sparse run of 3.
        let runs =
            decode_runs(&[0x21, 0x08, 0x00, 0x01, 0x11, 0x04, 0xf0, 0x01, 0x03, 0x00]).unwrap();
        assert_eq!(
            runs,
            vec![
                Run {
                    lcn: Some(0x100),
                    count: 8
                },
                Run {
                    lcn: Some(0xf0),
                    count: 4
                },
                Run {
                    lcn: None,
                    count: 3
                },
            ]
        );
    }

    /// A record filled to its last 8 bytes (a long run list) ends with the
    /// 4-byte end marker there, which must still be found.
    #[test]
    fn an_end_marker_in_the_last_bytes_of_a_full_record_is_found() {
        let mut rec = vec![0u8; 1024];
        rec[..4].copy_from_slice(b"FILE");
        rec[20] = 56; // first attribute at 56
                      // One resident attribute filling 56..1016, then the end marker.
        let len = 1016 - 56;
        rec[56..60].copy_from_slice(&0x80u32.to_le_bytes());
        rec[60..64].copy_from_slice(&(len as u32).to_le_bytes());
        rec[56 + 20] = 24; // value offset
        rec[1016..1020].copy_from_slice(&0xffff_ffffu32.to_le_bytes());
        let attrs = attributes(&rec).unwrap();
        assert_eq!(attrs.len(), 1);
        assert_eq!(attrs[0].kind, ATTR_DATA);
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
        assert!(apply_fixups(&mut rec, b"FILE", 512)
            .unwrap_err()
            .contains("update sequence"));
    }
}
