//! Random-access reads of a disk: a block device, a raw image file, or bytes
//! in memory (tests and fuzzing). Parsers read through this trait so they
//! never care which.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub trait ReadAt: Sync {
    /// Fills `buf` from `offset`; reading past the end is an error.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;
    fn size(&self) -> u64;
    /// How errors name this disk.
    fn name(&self) -> String;
    /// Hints that `len` bytes at `offset` will be read soon, so the kernel
    /// can fetch them while the caller still works on earlier data.
    fn will_need(&self, _offset: u64, _len: u64) {}
}

/// A disk image file or block device, opened read-only.
pub struct FileDisk {
    file: File,
    path: PathBuf,
    size: u64,
}

/// Disks are made of 512-byte sectors (or 4096-byte ones, a multiple).
const SECTOR: u64 = 512;

impl FileDisk {
    /// Opens a block device or an image file as a disk. Anything else (a
    /// character device such as `/dev/null`, a FIFO, a folder), an empty
    /// file and one that is not whole sectors are refused: none is a disk.
    pub fn open(path: &Path) -> Result<Self> {
        use std::os::unix::fs::FileTypeExt;
        let not_a_disk = |why: String| Error::NotADisk {
            path: path.to_path_buf(),
            why,
        };
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        let kind = meta.file_type();
        if !kind.is_file() && !kind.is_block_device() {
            let what = if kind.is_dir() {
                "a folder"
            } else if kind.is_char_device() {
                "a character device"
            } else if kind.is_fifo() {
                "a FIFO"
            } else {
                "not a regular file"
            };
            return Err(not_a_disk(format!(
                "it is {what}; give a block device or a disk image file"
            )));
        }
        let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
        // Seeking to the end gives the size of block devices as well as files.
        let size = file
            .seek(SeekFrom::End(0))
            .map_err(|e| Error::io(path, e))?;
        if size == 0 {
            return Err(not_a_disk("it is empty".into()));
        }
        if !size.is_multiple_of(SECTOR) {
            return Err(not_a_disk(format!(
                "its {size} bytes are not a whole number of {SECTOR}-byte sectors"
            )));
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
            size,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl ReadAt for FileDisk {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        if offset.saturating_add(buf.len() as u64) > self.size {
            return Err(Error::io(
                &self.path,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "read of {} bytes at offset {offset} runs past the end ({} bytes)",
                        buf.len(),
                        self.size
                    ),
                ),
            ));
        }
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| Error::io(&self.path, e))
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn will_need(&self, offset: u64, len: u64) {
        // Only a hint: a failure changes nothing but speed.
        let _ = nix::fcntl::posix_fadvise(
            std::os::fd::AsRawFd::as_raw_fd(&self.file),
            offset as i64,
            len as i64,
            nix::fcntl::PosixFadviseAdvice::POSIX_FADV_WILLNEED,
        );
    }
}

/// A disk held in memory.
pub struct MemDisk {
    pub bytes: Vec<u8>,
    pub label: String,
}

impl MemDisk {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            label: "memory disk".into(),
        }
    }
}

impl ReadAt for MemDisk {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let start = usize::try_from(offset).ok();
        let end = start.and_then(|s| s.checked_add(buf.len()));
        match (start, end) {
            (Some(s), Some(e)) if e <= self.bytes.len() => {
                buf.copy_from_slice(&self.bytes[s..e]);
                Ok(())
            }
            _ => Err(Error::io(
                &self.label,
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "read of {} bytes at offset {offset} runs past the end ({} bytes)",
                        buf.len(),
                        self.bytes.len()
                    ),
                ),
            )),
        }
    }

    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn name(&self) -> String {
        self.label.clone()
    }
}

/// Reads `len` bytes at `offset` into a new buffer.
pub fn read_vec(disk: &dyn ReadAt, offset: u64, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    disk.read_at(&mut buf, offset)?;
    Ok(buf)
}

pub fn is_zero(buf: &[u8]) -> bool {
    // OR-folding fixed 64-byte blocks vectorises; checking per block still
    // stops early on the first non-zero data.
    let mut blocks = buf.chunks_exact(64);
    blocks
        .by_ref()
        .all(|b| b.iter().fold(0u8, |acc, &x| acc | x) == 0)
        && blocks.remainder().iter().all(|&b| b == 0)
}

pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

pub(crate) fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

pub(crate) fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}
