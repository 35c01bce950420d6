//! Driver injection after a restore: fetch the packages the server chose
//! for this machine's PCI/USB IDs, mount the restored Windows volume
//! read-write through ntfs-3g, and let `driver_store::inject` copy them and
//! name them in the answer file.
//!
//! The partition is reached through a loop device at its offset on the
//! disk, not through `/dev/vda2`: the kernel's partition nodes describe the
//! table the disk had before the restore wrote a new one.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use driver_store::{inject, InjectOptions, InjectPackage, TargetOs};
use image_format::fs::FsKind;
use image_format::manifest::{Manifest, RegionRole};
use marrow_protocol::api::{DriverPlan, DriverReport};

use crate::api::Client;
use crate::{Error, Result};
use marrow_protocol::FileHash;

const TOOL_DIRS: &[&str] = &["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// A tool by name from the usual directories (PID 1 has no `PATH`), or a
/// busybox applet.
fn tool(name: &str) -> Option<(PathBuf, Vec<String>)> {
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

fn run(name: &str, args: &[&str]) -> Result<String> {
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

/// Downloads the plan's packages under `dir`, each file checked against
/// its size and BLAKE3.
fn download(client: &Client, plan: &DriverPlan, dir: &Path) -> Result<Vec<InjectPackage>> {
    let mut out = Vec::new();
    for pkg in &plan.packages {
        let root = dir.join(pkg.id.to_hex());
        for f in &pkg.files {
            let parts: Vec<&str> = f.path.split('/').collect();
            if parts
                .iter()
                .any(|p| p.is_empty() || *p == "." || *p == "..")
            {
                return Err(Error::Usage(format!(
                    "driver package {}: refusing file path {:?}",
                    pkg.name, f.path
                )));
            }
            let bytes = client.driver_file(&pkg.id, &f.path)?;
            let hash = FileHash::of(&bytes);
            if bytes.len() as u64 != f.size || hash != f.blake3 {
                return Err(Error::Usage(format!(
                    "driver package {} file {}: got {} bytes hashing to {hash}, expected {} bytes {}",
                    pkg.name,
                    f.path,
                    bytes.len(),
                    f.size,
                    f.blake3
                )));
            }
            let dest = parts.iter().fold(root.clone(), |p, part| p.join(part));
            if let Some(parent) = dest.parent() {
                fs::create_dir_all(parent).map_err(|source| Error::Io {
                    path: parent.to_path_buf(),
                    source,
                })?;
            }
            fs::write(&dest, &bytes).map_err(|source| Error::Io {
                path: dest.clone(),
                source,
            })?;
        }
        out.push(InjectPackage {
            name: pkg.name.clone(),
            source: root,
            reason: pkg.reason.clone(),
        });
    }
    Ok(out)
}

/// A partition attached to a loop device and mounted; undone on drop.
struct Mounted {
    loop_dev: String,
    at: PathBuf,
    mounted: bool,
}

impl Mounted {
    fn new(disk: &Path, offset: u64, at: PathBuf) -> Result<Mounted> {
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
        run("ntfs-3g", &[&m.loop_dev, &m.at.display().to_string()])?;
        m.mounted = true;
        Ok(m)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.mounted {
            // ntfs-3g writes back on unmount; a lazy detach would hide a
            // failed flush, so unmount plainly and say so if it fails.
            if let Err(e) = nix::mount::umount(&self.at) {
                eprintln!("marrow-client: unmounting {}: {e}", self.at.display());
            }
        }
        let _ = run("losetup", &["-d", &self.loop_dev]);
        let _ = fs::remove_dir(&self.at);
    }
}

fn has_windows_dir(root: &Path) -> bool {
    fs::read_dir(root)
        .map(|rd| {
            rd.flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .eq_ignore_ascii_case("windows")
                    && e.path().is_dir()
            })
        })
        .unwrap_or(false)
}

/// Injects the drivers the server planned into the restored Windows
/// volume on `disk`. Returns the report for the task (what was injected
/// and why, what was skipped), or a note when there was nothing to do.
pub fn after_restore(
    client: &Client,
    manifest: &Manifest,
    disk: &Path,
    os: &str,
) -> Result<DriverReport> {
    let target: TargetOs = os.parse()?;
    let plan = client.driver_plan()?;
    if plan.packages.is_empty() {
        return Ok(DriverReport::nothing(
            os,
            "no stored driver package matches this machine's devices; nothing injected".into(),
        ));
    }
    let ntfs: Vec<_> = manifest
        .regions
        .iter()
        .filter(|r| r.role == RegionRole::Partition && r.fs == FsKind::Ntfs)
        .collect();
    let work = std::env::temp_dir().join("marrow-drivers");
    let _ = fs::remove_dir_all(&work);
    let packages = download(client, &plan, &work.join("packages"))?;
    for (n, region) in ntfs.iter().enumerate() {
        let mount = Mounted::new(disk, region.start, work.join(format!("volume{n}")))?;
        if !has_windows_dir(&mount.at) {
            continue;
        }
        let report = inject(&mount.at, &packages, &InjectOptions::new(target.arch))?;
        drop(mount);
        let _ = fs::remove_dir_all(&work);
        return Ok(DriverReport::Injected {
            os: os.to_owned(),
            partition: region.partition.unwrap_or(0),
            report,
        });
    }
    let _ = fs::remove_dir_all(&work);
    Ok(DriverReport::nothing(
        os,
        format!(
            "no NTFS partition with a Windows folder among {} NTFS partition(s); nothing injected",
            ntfs.len()
        ),
    ))
}
