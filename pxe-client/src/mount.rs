//! Restored partitions mounted for the work done after a restore (driver
//! injection, hostname, the post-deploy script), and the tools that do it.
//!
//! A partition is reached through a loop device at its offset on the disk,
//! not through `/dev/vda2`: the kernel's partition nodes describe the
//! table the disk had before the restore wrote a new one.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use image_format::fs::FsKind;

use crate::{Error, Result};

const TOOL_DIRS: &[&str] = &["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// A tool by name from the usual directories (PID 1 has no `PATH`), or a
/// busybox applet.
pub fn tool(name: &str) -> Option<(PathBuf, Vec<String>)> {
    for dir in TOOL_DIRS {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Some((p, vec![]));
        }
    }
    TOOL_DIRS
        .iter()
        .map(|d| Path::new(d).join("busybox"))
        .find(|p| p.is_file())
        .map(|bb| (bb, vec![name.to_owned()]))
}

/// Runs a tool and returns its trimmed output; a failure names the
/// command and what it printed.
pub fn run(name: &str, args: &[&str]) -> Result<String> {
    let (path, pre) = tool(name).ok_or_else(|| Error::Usage(format!("{name} is not installed")))?;
    let out = Command::new(&path)
        .args(&pre)
        .args(args)
        .output()
        .map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "{name} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The tools found as [`tool`] finds them, for the filesystem grow after
/// a restore.
pub struct ClientTools;

impl image_format::grow::Tools for ClientTools {
    fn run(&self, name: &str, args: &[&str]) -> std::result::Result<String, String> {
        let (path, pre) = tool(name).ok_or_else(|| format!("{name} is not in this initramfs"))?;
        let mut cmd = Command::new(path);
        cmd.args(&pre).args(args);
        image_format::grow::run_command(&mut cmd, name, args)
    }
}

/// The kernel's name for a filesystem Marrow mounts read-write after a
/// restore (NTFS goes through ntfs-3g instead), or `None`.
fn kernel_fs(fs: FsKind) -> Option<&'static str> {
    match fs {
        FsKind::Ext4 => Some("ext4"),
        FsKind::Fat12 | FsKind::Fat16 | FsKind::Fat32 => Some("vfat"),
        FsKind::Xfs => Some("xfs"),
        FsKind::Btrfs => Some("btrfs"),
        _ => None,
    }
}

/// Whether [`Mounted::new`] knows how to mount `fs`.
pub fn mountable(fs: FsKind) -> bool {
    fs == FsKind::Ntfs || kernel_fs(fs).is_some()
}

/// A partition attached to a loop device and mounted; undone on drop.
pub struct Mounted {
    loop_dev: String,
    pub at: PathBuf,
    mounted: bool,
}

impl Mounted {
    /// Mounts the `fs` filesystem at byte `offset` of `disk` read-write
    /// at `at` (made when missing).
    pub fn new(disk: &Path, offset: u64, fs: FsKind, at: PathBuf) -> Result<Mounted> {
        let loop_dev = run("losetup", &["-f"])?;
        run(
            "losetup",
            &[
                "-o",
                &offset.to_string(),
                &loop_dev,
                &disk.display().to_string(),
            ],
        )?;
        let mut m = Mounted {
            loop_dev,
            at,
            mounted: false,
        };
        fs::create_dir_all(&m.at).map_err(|source| Error::Io {
            path: m.at.clone(),
            source,
        })?;
        match kernel_fs(fs) {
            Some(kind) => nix::mount::mount(
                Some(m.loop_dev.as_str()),
                &m.at,
                Some(kind),
                nix::mount::MsFlags::empty(),
                None::<&str>,
            )
            .map_err(|source| Error::Mount {
                target: format!("{} ({kind} at offset {offset})", m.at.display()),
                source,
            })?,
            None if fs == FsKind::Ntfs => {
                run("ntfs-3g", &[&m.loop_dev, &m.at.display().to_string()])?;
            }
            None => {
                return Err(Error::Usage(format!(
                    "cannot mount a {} filesystem",
                    fs.name()
                )))
            }
        }
        m.mounted = true;
        Ok(m)
    }
}

impl Mounted {
    /// Unmounts it, detaches the loop device and removes the mount point;
    /// a failed unmount is an error (the partition may not be flushed, and
    /// its mount point must not be removed with the files in it).
    pub fn unmount(mut self) -> Result<()> {
        self.undo()
    }

    fn undo(&mut self) -> Result<()> {
        if self.mounted {
            // ntfs-3g and the kernel write back on unmount; a lazy detach
            // would hide a failed flush, so unmount plainly.
            nix::mount::umount(&self.at).map_err(|source| Error::Mount {
                target: format!("unmounting {}", self.at.display()),
                source,
            })?;
            self.mounted = false;
        }
        let _ = run("losetup", &["-d", &self.loop_dev]);
        let _ = fs::remove_dir(&self.at);
        Ok(())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(e) = self.undo() {
            eprintln!("marrow-client: {e}");
        }
    }
}

/// The mount points at or under `dir`, deepest first, from
/// `/proc/self/mountinfo` (proc(5): the fifth field, octal-escaped).
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_octal)
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}

fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = |c: &u8| (b'0'..=b'7').contains(c);
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(octal) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes a work directory of the client's, refusing while anything is
/// still mounted under it: removing it then would delete the files of a
/// restored partition.
pub fn remove_work(dir: &Path) -> Result<()> {
    let mounted = mounts_under(dir);
    if let Some(m) = mounted.first() {
        return Err(Error::Usage(format!(
            "{} is still mounted; left {} in place",
            m.display(),
            dir.display()
        )));
    }
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Whether `root` holds an entry named `name` (any case) that is a
/// directory: `Windows` on NTFS, `etc` on a Linux root.
pub fn has_dir(root: &Path, name: &str) -> bool {
    fs::read_dir(root)
        .map(|rd| {
            rd.flatten().any(|e| {
                e.file_name().to_string_lossy().eq_ignore_ascii_case(name) && e.path().is_dir()
            })
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_unescaped() {
        assert_eq!(unescape_octal("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape_octal("/plain"), "/plain");
        assert_eq!(unescape_octal("/end\\04"), "/end\\04");
    }
}
