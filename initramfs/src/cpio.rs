//! The cpio "newc" archive format (SVR4 portable ASCII, magic `070701`), the
//! format the kernel unpacks an initramfs from.
//!
//! Layout, per entry (Documentation/driver-api/early-userspace/buffer-format.rst
//! and the cpio(5) manual): a 110-byte ASCII header of the magic and thirteen
//! 8-digit hex fields, the NUL-terminated name padded so header plus name is a
//! multiple of 4, then the data padded to a multiple of 4. The archive ends
//! with an entry named `TRAILER!!!`.
//!
//! The writer is deterministic: entries come out sorted by path, with uid and
//! gid 0, one fixed mtime, no device numbers for the archive's own files, and
//! inode numbers assigned in order from 0. That is what GNU cpio writes with
//! `-H newc -R 0:0 --reproducible` for the same sorted names, and the golden
//! test holds the writer to it byte for byte (including GNU's padding of the
//! archive to 512-byte blocks).

use std::collections::BTreeMap;

const MAGIC: &[u8; 6] = b"070701";
const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";
/// GNU cpio writes whole 512-byte blocks; the kernel ignores the zeros.
const BLOCK: usize = 512;

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// Why a byte string is not a newc archive. Offsets are from the start of
/// the archive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpioError {
    #[error("cpio entry at offset {offset}: magic {found:?} is not newc 070701")]
    BadMagic { offset: usize, found: String },
    #[error("cpio entry at offset {offset}: needs {needed} bytes, archive has {available}")]
    Truncated {
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("cpio entry at offset {offset}: field {field} is not 8 hex digits: {found:?}")]
    BadHex {
        offset: usize,
        field: &'static str,
        found: String,
    },
    #[error("cpio entry at offset {offset}: name size {namesize} does not end in a NUL")]
    NameNotTerminated { offset: usize, namesize: usize },
    #[error("cpio entry at offset {offset}: name is not UTF-8")]
    NameNotUtf8 { offset: usize },
    #[error(
        "cpio entry {name:?}: file type {mode:#o} is not a directory, file, symlink or char device"
    )]
    UnsupportedType { name: String, mode: u32 },
    #[error("cpio entry {name:?}: symlink target is not UTF-8")]
    TargetNotUtf8 { name: String },
    #[error("cpio archive ends at offset {offset} without a TRAILER!!! entry")]
    MissingTrailer { offset: usize },
    #[error("cpio entry {name:?} appears twice")]
    Duplicate { name: String },
    #[error("cpio path {path:?} is empty, absolute, or has an empty, . or .. component")]
    BadPath { path: String },
}

/// What an entry is, with what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    CharDevice { major: u32, minor: u32 },
}

/// One archive member. `path` is relative (`bin/sh`, not `/bin/sh`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    /// Permission bits only (`0o755`); the type comes from `kind`.
    pub perm: u32,
    pub kind: Kind,
}

impl Entry {
    fn type_bits(&self) -> u32 {
        match self.kind {
            Kind::Dir => S_IFDIR,
            Kind::File(_) => S_IFREG,
            Kind::Symlink(_) => S_IFLNK,
            Kind::CharDevice { .. } => S_IFCHR,
        }
    }

    fn data(&self) -> &[u8] {
        match &self.kind {
            Kind::File(d) => d,
            Kind::Symlink(t) => t.as_bytes(),
            Kind::Dir | Kind::CharDevice { .. } => &[],
        }
    }
}

/// A set of entries keyed by path; `write` emits them sorted, so the order
/// they were added in does not change the bytes.
#[derive(Debug, Clone, Default)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

impl Archive {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry, refusing a path that is already there or malformed.
    /// Parent directories are not implied: add them too (the kernel does not
    /// create missing parents when it unpacks).
    pub fn add(&mut self, entry: Entry) -> Result<(), CpioError> {
        check_path(&entry.path)?;
        if self.entries.contains_key(&entry.path) {
            return Err(CpioError::Duplicate { name: entry.path });
        }
        self.entries.insert(entry.path.clone(), entry);
        Ok(())
    }

    /// Adds `path` and each of its ancestors as a 0755 directory, skipping
    /// those already present.
    pub fn add_dir_all(&mut self, path: &str) -> Result<(), CpioError> {
        check_path(path)?;
        let mut at = 0;
        while at <= path.len() {
            let end = path[at..].find('/').map_or(path.len(), |i| at + i);
            let prefix = &path[..end];
            if !self.entries.contains_key(prefix) {
                self.add(Entry {
                    path: prefix.to_owned(),
                    perm: 0o755,
                    kind: Kind::Dir,
                })?;
            }
            at = end + 1;
        }
        Ok(())
    }

    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The archive's bytes, every entry stamped with `mtime`.
    pub fn to_bytes(&self, mtime: u32) -> Vec<u8> {
        // A directory's link count is 2 plus one per subdirectory (its `..`),
        // as on a Unix filesystem; GNU cpio copies it from stat.
        let mut subdirs: BTreeMap<&str, u32> = BTreeMap::new();
        for e in self.entries.values() {
            if e.kind == Kind::Dir {
                if let Some((parent, _)) = e.path.rsplit_once('/') {
                    *subdirs.entry(parent).or_default() += 1;
                }
            }
        }
        let mut out = Vec::new();
        for (ino, e) in self.entries.values().enumerate() {
            let nlink = match e.kind {
                Kind::Dir => 2 + subdirs.get(e.path.as_str()).copied().unwrap_or(0),
                _ => 1,
            };
            let (rmaj, rmin) = match e.kind {
                Kind::CharDevice { major, minor } => (major, minor),
                _ => (0, 0),
            };
            let header = Header {
                ino: ino as u32,
                mode: e.type_bits() | (e.perm & 0o7777),
                nlink,
                mtime,
                filesize: e.data().len() as u32,
                rdevmajor: rmaj,
                rdevminor: rmin,
            };
            emit_entry(&mut out, &header, &e.path, e.data());
        }
        let trailer = Header {
            ino: 0,
            mode: 0,
            nlink: 1,
            mtime: 0,
            filesize: 0,
            rdevmajor: 0,
            rdevminor: 0,
        };
        emit_entry(&mut out, &trailer, TRAILER, &[]);
        out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        out
    }
}

fn check_path(path: &str) -> Result<(), CpioError> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path.contains('\0')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..")
        || path == TRAILER;
    if bad {
        return Err(CpioError::BadPath {
            path: path.to_owned(),
        });
    }
    Ok(())
}

struct Header {
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    filesize: u32,
    rdevmajor: u32,
    rdevminor: u32,
}

fn pad4(out: &mut Vec<u8>) {
    out.resize(out.len().div_ceil(4) * 4, 0);
}

fn emit_entry(out: &mut Vec<u8>, h: &Header, name: &str, data: &[u8]) {
    let namesize = name.len() as u32 + 1;
    // Field order from cpio(5): ino mode uid gid nlink mtime filesize
    // devmajor devminor rdevmajor rdevminor namesize check.
    let fields = [
        h.ino,
        h.mode,
        0,
        0,
        h.nlink,
        h.mtime,
        h.filesize,
        0,
        0,
        h.rdevmajor,
        h.rdevminor,
        namesize,
        0,
    ];
    out.extend_from_slice(MAGIC);
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

const FIELD_NAMES: [&str; 13] = [
    "ino",
    "mode",
    "uid",
    "gid",
    "nlink",
    "mtime",
    "filesize",
    "devmajor",
    "devminor",
    "rdevmajor",
    "rdevminor",
    "namesize",
    "check",
];

fn need(bytes: &[u8], offset: usize, len: usize) -> Result<(), CpioError> {
    if bytes.len() < offset.saturating_add(len) {
        return Err(CpioError::Truncated {
            offset,
            needed: len,
            available: bytes.len().saturating_sub(offset),
        });
    }
    Ok(())
}

/// Reads one newc archive back into entries, in archive order. Bytes after
/// the trailer (block padding, or a further concatenated archive) are not
/// read.
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, CpioError> {
    let mut entries = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut at = 0usize;
    loop {
        if at >= bytes.len() {
            return Err(CpioError::MissingTrailer { offset: at });
        }
        need(bytes, at, HEADER_LEN)?;
        let header = &bytes[at..at + HEADER_LEN];
        if &header[..6] != MAGIC {
            return Err(CpioError::BadMagic {
                offset: at,
                found: String::from_utf8_lossy(&header[..6]).into_owned(),
            });
        }
        let mut fields = [0u32; 13];
        for (i, f) in fields.iter_mut().enumerate() {
            let raw = &header[6 + i * 8..14 + i * 8];
            let text = std::str::from_utf8(raw)
                .ok()
                .filter(|t| t.bytes().all(|b| b.is_ascii_hexdigit()));
            *f = text
                .and_then(|t| u32::from_str_radix(t, 16).ok())
                .ok_or_else(|| CpioError::BadHex {
                    offset: at,
                    field: FIELD_NAMES[i],
                    found: String::from_utf8_lossy(raw).into_owned(),
                })?;
        }
        let [_, mode, _, _, _, _, filesize, _, _, rdevmajor, rdevminor, namesize, _] = fields;
        let (filesize, namesize) = (filesize as usize, namesize as usize);
        let name_at = at + HEADER_LEN;
        need(bytes, name_at, namesize)?;
        if namesize == 0 || bytes[name_at + namesize - 1] != 0 {
            return Err(CpioError::NameNotTerminated {
                offset: at,
                namesize,
            });
        }
        let name = std::str::from_utf8(&bytes[name_at..name_at + namesize - 1])
            .map_err(|_| CpioError::NameNotUtf8 { offset: at })?
            .to_owned();
        let data_at = (name_at + namesize).div_ceil(4) * 4;
        need(bytes, data_at, filesize)?;
        let data = &bytes[data_at..data_at + filesize];
        at = (data_at + filesize).div_ceil(4) * 4;
        if name == TRAILER {
            return Ok(entries);
        }
        let kind = match mode & S_IFMT {
            S_IFDIR => Kind::Dir,
            S_IFREG => Kind::File(data.to_vec()),
            S_IFLNK => Kind::Symlink(
                String::from_utf8(data.to_vec())
                    .map_err(|_| CpioError::TargetNotUtf8 { name: name.clone() })?,
            ),
            S_IFCHR => Kind::CharDevice {
                major: rdevmajor,
                minor: rdevminor,
            },
            _ => return Err(CpioError::UnsupportedType { name, mode }),
        };
        if !seen.insert(name.clone()) {
            return Err(CpioError::Duplicate { name });
        }
        entries.push(Entry {
            path: name,
            perm: mode & 0o7777,
            kind,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Archive {
        let mut a = Archive::new();
        a.add_dir_all("dir/sub").unwrap();
        a.add(Entry {
            path: "dir/a.txt".into(),
            perm: 0o644,
            kind: Kind::File(b"hello\n".to_vec()),
        })
        .unwrap();
        a.add(Entry {
            path: "link".into(),
            perm: 0o777,
            kind: Kind::Symlink("dir/a.txt".into()),
        })
        .unwrap();
        a.add(Entry {
            path: "dev".into(),
            perm: 0o755,
            kind: Kind::Dir,
        })
        .unwrap();
        a.add(Entry {
            path: "dev/console".into(),
            perm: 0o600,
            kind: Kind::CharDevice { major: 5, minor: 1 },
        })
        .unwrap();
        a
    }

    #[test]
    fn entries_come_back_sorted_with_their_contents() {
        let bytes = sample().to_bytes(0);
        let parsed = parse(&bytes).unwrap();
        let names: Vec<_> = parsed.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            names,
            ["dev", "dev/console", "dir", "dir/a.txt", "dir/sub", "link"]
        );
        assert_eq!(parsed, sample().entries().cloned().collect::<Vec<_>>());
    }

    #[test]
    fn insertion_order_does_not_change_the_bytes() {
        let mut b = Archive::new();
        b.add(Entry {
            path: "link".into(),
            perm: 0o777,
            kind: Kind::Symlink("dir/a.txt".into()),
        })
        .unwrap();
        b.add(Entry {
            path: "dev".into(),
            perm: 0o755,
            kind: Kind::Dir,
        })
        .unwrap();
        b.add(Entry {
            path: "dev/console".into(),
            perm: 0o600,
            kind: Kind::CharDevice { major: 5, minor: 1 },
        })
        .unwrap();
        b.add_dir_all("dir/sub").unwrap();
        b.add(Entry {
            path: "dir/a.txt".into(),
            perm: 0o644,
            kind: Kind::File(b"hello\n".to_vec()),
        })
        .unwrap();
        assert_eq!(b.to_bytes(7), sample().to_bytes(7));
    }

    #[test]
    fn archive_is_padded_to_whole_blocks_and_ends_in_the_trailer() {
        let bytes = sample().to_bytes(0);
        assert_eq!(bytes.len() % BLOCK, 0);
        let trailer_at = bytes
            .windows(TRAILER.len())
            .rposition(|w| w == TRAILER.as_bytes())
            .unwrap();
        assert!(bytes[trailer_at + TRAILER.len()..].iter().all(|&b| b == 0));
    }

    #[test]
    fn directory_link_count_counts_its_subdirectories() {
        let bytes = sample().to_bytes(0);
        // "dir" is the third entry; nlink is field 5 (after magic and 4 fields).
        let dir_at = bytes.windows(4).position(|w| w == b"dir\0").unwrap() - HEADER_LEN;
        let nlink = std::str::from_utf8(&bytes[dir_at + 6 + 4 * 8..dir_at + 6 + 5 * 8]).unwrap();
        assert_eq!(nlink, "00000003");
    }

    #[test]
    fn refuses_absolute_dotted_and_duplicate_paths() {
        let mut a = Archive::new();
        for bad in ["/etc", "a/../b", "a//b", "", "./x", "TRAILER!!!"] {
            let e = Entry {
                path: bad.into(),
                perm: 0o755,
                kind: Kind::Dir,
            };
            assert_eq!(
                a.add(e),
                Err(CpioError::BadPath { path: bad.into() }),
                "{bad:?}"
            );
        }
        a.add(Entry {
            path: "x".into(),
            perm: 0o755,
            kind: Kind::Dir,
        })
        .unwrap();
        let again = a.add(Entry {
            path: "x".into(),
            perm: 0o644,
            kind: Kind::File(vec![]),
        });
        assert_eq!(again, Err(CpioError::Duplicate { name: "x".into() }));
    }

    #[test]
    fn parse_stops_at_the_trailer_and_ignores_what_follows() {
        let mut bytes = sample().to_bytes(0);
        bytes.extend_from_slice(b"garbage after the archive");
        assert_eq!(parse(&bytes).unwrap().len(), 6);
    }
}
