//! Growing the filesystem of a grown partition to fill it, with each
//! filesystem's own tool, as FOG's resizable images and Clonezilla do:
//! `resize2fs` (after `e2fsck -f -p`, which it demands), `ntfsresize`,
//! and for XFS and btrfs, which grow only while mounted, `xfs_growfs` and
//! `btrfs filesystem resize max` on a temporary mount. FAT is not grown:
//! no well-kept tool or crate resizes it in place. Whatever cannot be
//! grown is reported, and the restore stands.
//!
//! The tools are run through [`Tools`], so the imaging client (which
//! finds them without `PATH`) and the server's CLI share this sequence.

use std::path::Path;

use serde::Serialize;

use crate::disk::FileDisk;
use crate::fs::{self, FsKind};
use crate::manifest::Manifest;
use crate::plan::RestorePlan;

/// Runs an external tool: its trimmed standard output, or what it said
/// on failure.
pub trait Tools {
    fn run(&self, name: &str, args: &[&str]) -> Result<String, String>;
}

/// Tools found on `PATH`.
pub struct PathTools;

impl Tools for PathTools {
    fn run(&self, name: &str, args: &[&str]) -> Result<String, String> {
        run_command(std::process::Command::new(name).args(args), name, args)
    }
}

/// Runs a prepared command: its trimmed output, or "NAME ARGS: exit
/// status N: what it printed" (the status is what [`grow`] looks at).
pub fn run_command(
    cmd: &mut std::process::Command,
    name: &str,
    args: &[&str],
) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{name}: {e}"))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        let said = if said.trim().is_empty() {
            String::from_utf8_lossy(&out.stdout)
        } else {
            said
        };
        return Err(format!(
            "{name} {}: exit status: {}: {}",
            args.join(" "),
            out.status.code().unwrap_or(-1),
            said.trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// What became of the filesystem in a grown partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrowOutcome {
    pub partition: u32,
    pub fs: String,
    /// The filesystem's size before and after, in bytes.
    pub from: u64,
    pub to: u64,
    pub grown: bool,
    /// The tool that grew it, or why it was not grown.
    pub detail: String,
}

/// How a filesystem kind is grown, or why it is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Resize2fs,
    Ntfsresize,
    /// Mount, then `xfs_growfs -d`.
    XfsGrowfs,
    /// Mount, then `btrfs filesystem resize max`.
    BtrfsResize,
    NotGrown(&'static str),
}

/// The policy: which tool grows `fs`.
pub fn method(fs: FsKind) -> Method {
    match fs {
        FsKind::Ext4 => Method::Resize2fs,
        FsKind::Ntfs => Method::Ntfsresize,
        FsKind::Xfs => Method::XfsGrowfs,
        FsKind::Btrfs => Method::BtrfsResize,
        FsKind::Fat12 | FsKind::Fat16 | FsKind::Fat32 => {
            Method::NotGrown("FAT is not grown: no well-kept tool resizes it in place")
        }
        FsKind::Swap => Method::NotGrown("swap is not grown: it keeps its size"),
        FsKind::Luks => Method::NotGrown("LUKS is not grown: its contents are encrypted"),
        FsKind::Unknown => Method::NotGrown("no filesystem Marrow knows"),
    }
}

/// Grows the `fs` filesystem in partition `partition` at byte `offset` of
/// `disk` (a file or block device) to fill its `size` bytes. Never fails:
/// a tool's failure is the outcome's detail, and the filesystem keeps its
/// old size (each tool leaves it consistent when it refuses).
pub fn grow(
    disk: &Path,
    partition: u32,
    offset: u64,
    size: u64,
    fs: FsKind,
    tools: &dyn Tools,
    scratch: &Path,
) -> GrowOutcome {
    let usage_now = || {
        FileDisk::open(disk)
            .ok()
            .and_then(|d| fs::usage(&d, offset, size, fs).ok().flatten())
    };
    let before = usage_now();
    let from = before.as_ref().map_or(0, |u| u.fs_size);
    let mut outcome = GrowOutcome {
        partition,
        fs: fs.name().to_string(),
        from,
        to: from,
        grown: false,
        detail: String::new(),
    };
    let method = method(fs);
    if let Method::NotGrown(why) = method {
        outcome.detail = why.to_string();
        return outcome;
    }
    let Some(block) = before.map(|u| u.block_size) else {
        outcome.detail = "not grown: its filesystem could not be read".into();
        return outcome;
    };
    // Every size is explicit: the loop device runs on to the disk's end
    // (busybox's losetup has no size limit), past the backup GPT.
    let result = with_loop(disk, offset, tools, |dev| match method {
        Method::Resize2fs => {
            // e2fsck exits 1 when it fixed something, which -p allows;
            // resize2fs refuses a filesystem not checked since mounted.
            match tools.run("e2fsck", &["-f", "-p", dev]) {
                Ok(_) => {}
                Err(e) if e.contains("exit status: 1:") => {}
                Err(e) => return Err(e),
            }
            let kib = format!("{}K", size / 1024);
            tools.run("resize2fs", &[dev, &kib]).map(|_| "resize2fs")
        }
        // --force twice skips the "run chkdsk" guard (a restored volume
        // was consistent when captured) and the confirmation.
        Method::Ntfsresize => tools
            .run(
                "ntfsresize",
                &[
                    "--force",
                    "--force",
                    "--no-progress-bar",
                    "--size",
                    &size.to_string(),
                    dev,
                ],
            )
            .map(|_| "ntfsresize"),
        Method::XfsGrowfs => mounted(dev, "xfs", scratch, tools, |at| {
            let blocks = (size / block).to_string();
            tools
                .run("xfs_growfs", &["-D", &blocks, at])
                .map(|_| "xfs_growfs")
        }),
        Method::BtrfsResize => mounted(dev, "btrfs", scratch, tools, |at| {
            tools
                .run("btrfs", &["filesystem", "resize", &size.to_string(), at])
                .map(|_| "btrfs filesystem resize")
        }),
        Method::NotGrown(_) => unreachable!("handled above"),
    });
    outcome.to = usage_now().map_or(from, |u| u.fs_size);
    match result {
        Ok(tool) => {
            outcome.grown = outcome.to > outcome.from;
            outcome.detail = if outcome.grown && method == Method::Ntfsresize {
                // ntfsresize marks the volume for chkdsk, as its manual
                // says Windows should run after a resize.
                format!("grown by {tool}; Windows checks the volume once at its next boot")
            } else if outcome.grown {
                format!("grown by {tool}")
            } else {
                format!("{tool} left it at its size")
            };
        }
        Err(e) => outcome.detail = format!("not grown: {e}"),
    }
    outcome
}

/// After a restore that grew the last partition, grows its filesystem:
/// `None` when the plan grew nothing. The target must be closed (its
/// writes flushed) before the tools open it.
pub fn after_restore(
    plan: &RestorePlan,
    manifest: &Manifest,
    disk: &Path,
    tools: &dyn Tools,
    scratch: &Path,
) -> Option<GrowOutcome> {
    let g = plan.growth.as_ref()?;
    let start = manifest
        .layout
        .partitions
        .iter()
        .find(|p| p.number == g.partition)?
        .start;
    let fs = manifest
        .regions
        .iter()
        .find(|r| r.partition == Some(g.partition))
        .map_or(FsKind::Unknown, |r| r.fs);
    Some(grow(
        disk,
        g.partition,
        start,
        g.new_size,
        fs,
        tools,
        scratch,
    ))
}

/// Runs `f` with the disk attached to a loop device from the partition's
/// start, which is detached afterwards whatever `f` did. The two-step
/// form is busybox's: `losetup -f` names a free device.
fn with_loop(
    disk: &Path,
    offset: u64,
    tools: &dyn Tools,
    f: impl FnOnce(&str) -> Result<&'static str, String>,
) -> Result<&'static str, String> {
    let dev = tools.run("losetup", &["-f"])?;
    tools.run(
        "losetup",
        &["-o", &offset.to_string(), &dev, &disk.display().to_string()],
    )?;
    let result = f(&dev);
    let detached = tools.run("losetup", &["-d", &dev]);
    let tool = result?;
    detached.map_err(|e| format!("{tool} grew it, but detaching {dev} failed: {e}"))?;
    Ok(tool)
}

/// Runs `f` with `dev` mounted at a fresh folder under `scratch`.
fn mounted(
    dev: &str,
    kind: &str,
    scratch: &Path,
    tools: &dyn Tools,
    f: impl FnOnce(&str) -> Result<&'static str, String>,
) -> Result<&'static str, String> {
    let at = scratch.join(format!("grow-{}", std::process::id()));
    std::fs::create_dir_all(&at).map_err(|e| format!("{}: {e}", at.display()))?;
    let at_s = at.display().to_string();
    tools.run("mount", &["-t", kind, dev, &at_s])?;
    let result = f(&at_s);
    let unmounted = tools.run("umount", &[&at_s]);
    let _ = std::fs::remove_dir(&at);
    let tool = result?;
    unmounted?;
    Ok(tool)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_method_or_a_reason() {
        assert_eq!(method(FsKind::Ext4), Method::Resize2fs);
        assert_eq!(method(FsKind::Xfs), Method::XfsGrowfs);
        for kind in [FsKind::Fat32, FsKind::Swap, FsKind::Luks, FsKind::Unknown] {
            assert!(
                matches!(method(kind), Method::NotGrown(why) if why.contains("not") || why.contains("no "))
            );
        }
    }
}
