//! Random-access reads of a disk: a block device, a raw image file, or bytes
//! in memory (tests and fuzzing). Parsers read through this trait so they
//! never care which.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::aligned::ALIGN;
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
    /// Whether [`ReadAt::read_uncached`] bypasses the page cache, so that
    /// hinting those bytes with [`ReadAt::will_need`] would read them twice.
    fn bypasses_cache(&self) -> bool {
        false
    }
    /// Reads a large stretch that nothing reads again, past the page cache
    /// where the disk can: a capture reads each used byte once, and the
    /// kernel's copy out of the cache costs about 0.7 s of CPU per GiB.
    fn read_uncached(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.read_at(buf, offset)
    }
}

/// A disk image file or block device, opened read-only.
pub struct FileDisk {
    file: File,
    /// The same disk opened with `O_DIRECT`, where the filesystem or device
    /// allows it (tmpfs does not); dropped to buffered reads for good on the
    /// first read the kernel refuses.
    direct: Option<File>,
    direct_refused: AtomicBool,
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
        let direct = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_DIRECT.bits())
            .open(path)
            .ok();
        Ok(Self {
            file,
            direct,
            direct_refused: AtomicBool::new(false),
            path: path.to_path_buf(),
            size,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `O_DIRECT` handle, when this read may use it: buffer, offset and
    /// length aligned (open(2), "O_DIRECT").
    fn direct_for(&self, buf: &[u8], offset: u64) -> Option<&File> {
        let aligned = |n: usize| n.is_multiple_of(ALIGN);
        let ok = aligned(buf.as_ptr() as usize)
            && aligned(buf.len())
            && offset.is_multiple_of(ALIGN as u64)
            && !self.direct_refused.load(Ordering::Relaxed);
        self.direct.as_ref().filter(|_| ok)
    }

    fn check_bounds(&self, len: usize, offset: u64) -> Result<()> {
        if offset.saturating_add(len as u64) <= self.size {
            return Ok(());
        }
        Err(Error::io(
            &self.path,
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "read of {len} bytes at offset {offset} runs past the end ({} bytes)",
                    self.size
                ),
            ),
        ))
    }
}

impl ReadAt for FileDisk {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.check_bounds(buf.len(), offset)?;
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| Error::io(&self.path, e))
    }

    fn bypasses_cache(&self) -> bool {
        self.direct.is_some() && !self.direct_refused.load(Ordering::Relaxed)
    }

    fn read_uncached(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.check_bounds(buf.len(), offset)?;
        let Some(direct) = self.direct_for(buf, offset) else {
            return self.read_at(buf, offset);
        };
        match direct.read_exact_at(buf, offset) {
            Ok(()) => Ok(()),
            // Some filesystems open O_DIRECT but refuse the reads.
            Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => {
                self.direct_refused.store(true, Ordering::Relaxed);
                self.read_at(buf, offset)
            }
            Err(e) => Err(Error::io(&self.path, e)),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aligned::AlignedBuf;

    /// Uncached reads give the same bytes as cached ones, aligned or not,
    /// whether or not the filesystem under the test takes O_DIRECT.
    #[test]
    fn uncached_reads_match_cached_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        let bytes: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let disk = FileDisk::open(&path).unwrap();
        let mut aligned = AlignedBuf::with_capacity(32 * 1024);
        for (offset, len) in [
            (0u64, 32 * 1024usize),
            (4096, 8192),
            (512, 4096),
            (100, 333),
        ] {
            aligned.set_len(len);
            disk.read_uncached(&mut aligned, offset).unwrap();
            let at = offset as usize;
            assert_eq!(
                &aligned[..],
                &bytes[at..at + len],
                "at {offset}, {len} bytes"
            );
        }
        let mut past = AlignedBuf::with_capacity(8192);
        past.set_len(8192);
        let err = disk.read_uncached(&mut past, 60 * 1024).unwrap_err();
        assert!(err.to_string().contains("runs past the end"), "{err}");
    }
}
