//! The target of a restore: a disk or image file opened for writing, with
//! periodic flushes so an interrupted restore keeps what it wrote.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const ZERO_STEP: u64 = 1 << 20;

/// How often written data is flushed to the disk during a restore. A
/// restore cut short by a power loss or a reset resumes from what reached
/// the disk (the delta pass skips it); without checkpoints that is nothing
/// until the kernel's writeback, up to 30 s later. One flush a second costs
/// little and bounds the loss to about a second of writes.
const CHECKPOINT: std::time::Duration = std::time::Duration::from_secs(1);

/// A disk or image file opened for writing.
pub struct Target {
    file: File,
    path: PathBuf,
    size: u64,
    last_sync: std::sync::Mutex<std::time::Instant>,
}

impl Target {
    /// Opens a disk or image file for restoring. A block device that holds
    /// a mounted filesystem (itself or one of its partitions) is refused:
    /// writing under a live filesystem destroys both.
    pub fn open(path: &Path) -> Result<Target> {
        if let Some(mounts) = mounted_from(path) {
            return Err(Error::Unsupported(format!(
                "{} is in use: {mounts}; unmount it before restoring onto it",
                path.display()
            )));
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let size = file
            .seek(SeekFrom::End(0))
            .map_err(|e| Error::io(path, e))?;
        Ok(Target {
            file,
            path: path.to_path_buf(),
            size,
            last_sync: std::sync::Mutex::new(std::time::Instant::now()),
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn read(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| Error::io(&self.path, e))
    }

    /// True when `len` bytes at `offset` are all in a hole of a sparse
    /// file (SEEK_DATA finds no data before their end), so they read as
    /// zeros without a read. A disk has no holes: always false there.
    pub(crate) fn is_hole(&self, offset: u64, len: u64) -> bool {
        use nix::unistd::{lseek, Whence};
        let fd = std::os::fd::AsRawFd::as_raw_fd(&self.file);
        match lseek(fd, offset as i64, Whence::SeekData) {
            Ok(data) => data as u64 >= offset + len,
            // No data at or after `offset`.
            Err(nix::errno::Errno::ENXIO) => offset < self.size,
            Err(_) => false,
        }
    }

    pub(crate) fn write(&self, buf: &[u8], offset: u64) -> Result<()> {
        self.file
            .write_all_at(buf, offset)
            .map_err(|e| Error::io(&self.path, e))?;
        self.checkpoint()
    }

    /// Flushes written data when the last flush is [`CHECKPOINT`] old. One
    /// writer flushes; the others carry on rather than queue behind it.
    fn checkpoint(&self) -> Result<()> {
        let Ok(mut last) = self.last_sync.try_lock() else {
            return Ok(());
        };
        if last.elapsed() >= CHECKPOINT {
            self.file
                .sync_data()
                .map_err(|e| Error::io(&self.path, e))?;
            *last = std::time::Instant::now();
        }
        Ok(())
    }

    /// Zeroes a range: a hole in a file, otherwise written zeros.
    pub(crate) fn zero(&self, offset: u64, len: u64) -> Result<()> {
        use nix::fcntl::{fallocate, FallocateFlags};
        let punched = fallocate(
            std::os::fd::AsRawFd::as_raw_fd(&self.file),
            FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
            offset as i64,
            len as i64,
        );
        if punched.is_ok() {
            return self.checkpoint();
        }
        let zeros = vec![0u8; ZERO_STEP.min(len) as usize];
        let mut at = 0;
        while at < len {
            let n = (len - at).min(ZERO_STEP) as usize;
            self.write(&zeros[..n], offset + at)?;
            at += n as u64;
        }
        Ok(())
    }

    pub fn sync(&self) -> Result<()> {
        self.file.sync_all().map_err(|e| Error::io(&self.path, e))
    }
}

/// Where a block device or its partitions are mounted, from /proc/mounts.
fn mounted_from(path: &Path) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let device = std::fs::canonicalize(path).ok()?;
    if !std::fs::metadata(&device)
        .ok()?
        .file_type()
        .is_block_device()
    {
        return None;
    }
    let device = device.to_str()?.to_string();
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    let users = mounts_of(&device, &mounts);
    (!users.is_empty()).then(|| users.join(", "))
}

/// Mount lines whose source is `device` or one of its partitions
/// (`/dev/sda` → `/dev/sda1`, `/dev/nvme0n1` → `/dev/nvme0n1p2`).
fn mounts_of(device: &str, mounts: &str) -> Vec<String> {
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let source = fields.next()?;
            let target = fields.next()?;
            let rest = source.strip_prefix(device)?;
            let partition = rest.is_empty()
                || rest.chars().all(|c| c.is_ascii_digit())
                || (rest.starts_with('p')
                    && rest[1..].chars().all(|c| c.is_ascii_digit())
                    && rest.len() > 1);
            partition.then(|| format!("{source} on {target}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mounted_partitions_of_a_disk_but_not_of_its_neighbours() {
        let mounts = "/dev/sda2 / ext4 rw 0 0\n/dev/sdab1 /mnt ext4 rw 0 0\n\
                      /dev/nvme0n1p1 /boot/efi vfat rw 0 0\nproc /proc proc rw 0 0\n";
        assert_eq!(mounts_of("/dev/sda", mounts), vec!["/dev/sda2 on /"]);
        assert_eq!(
            mounts_of("/dev/nvme0n1", mounts),
            vec!["/dev/nvme0n1p1 on /boot/efi"]
        );
        assert!(mounts_of("/dev/sdb", mounts).is_empty());
    }
}
