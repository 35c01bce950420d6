//! Post-deploy actions, after a restore and its driver injection: the
//! restored partitions are mounted, the machine's name is written into
//! each system on them (`/etc/hostname` and `/etc/hosts` on a Linux root,
//! `ComputerName` in a Windows volume's answer file), and the admin's
//! script runs with them mounted. Everything is unmounted before the task
//! reports, so what the script wrote is on the disk.

pub mod hostname;
pub mod script;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use driver_store::Arch;
use image_format::fs::FsKind;
use image_format::manifest::{Manifest, RegionRole};
use marrow_protocol::api::post::{HostnameReport, PostDeploy, ScriptReport};

use crate::mount::{has_dir, mountable, remove_work, Mounted};
use crate::{Error, Result};

/// What the post-deploy actions did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub hostname: Option<HostnameReport>,
    pub script: Option<ScriptReport>,
}

/// A restored partition, mounted.
pub struct Part {
    pub number: u32,
    pub fs: FsKind,
    pub mount: Mounted,
}

/// A Linux root: ext4, XFS or btrfs holding `/etc`. (A btrfs root in a
/// subvolume, `@` or `root`, is not found: the top of the volume is
/// mounted.)
pub fn linux_root(p: &Part) -> bool {
    matches!(p.fs, FsKind::Ext4 | FsKind::Xfs | FsKind::Btrfs) && has_dir(&p.mount.at, "etc")
}

/// A Windows volume: NTFS holding `Windows`.
pub fn windows_volume(p: &Part) -> bool {
    p.fs == FsKind::Ntfs && has_dir(&p.mount.at, "windows")
}

/// Runs `post` on the restored `disk`: `arch` is the Windows architecture
/// named in answer files, `server` the server's URL for the script.
pub fn after_restore(
    post: &PostDeploy,
    manifest: &Manifest,
    disk: &Path,
    arch: Arch,
    server: &str,
) -> Result<Outcome> {
    if post.is_empty() {
        return Ok(Outcome::default());
    }
    let work = std::env::temp_dir().join("marrow-post");
    remove_work(&work)?;
    let target = work.join("target");
    fs::create_dir_all(&target).map_err(|source| Error::Io {
        path: target.clone(),
        source,
    })?;
    let result = with_mounted(manifest, disk, &target, |parts, unmountable| {
        let hostname = match &post.hostname {
            Some(name) => Some(hostname::name_systems(parts, unmountable, name, arch)?),
            None => None,
        };
        let script = match &post.script {
            Some(s) => {
                let env = script_env(post, parts, disk, &target, server);
                Some(script::run(s, &work, &target, &env, script::TIMEOUT)?)
            }
            None => None,
        };
        Ok(Outcome { hostname, script })
    })?;
    remove_work(&work)?;
    Ok(result)
}

/// Mounts every partition of `manifest` that can be mounted under
/// `target` (`p1`, `p2`, …), runs `work` with them and the partitions
/// that failed to mount, and unmounts them.
fn with_mounted<T>(
    manifest: &Manifest,
    disk: &Path,
    target: &Path,
    work: impl FnOnce(&[Part], &[String]) -> Result<T>,
) -> Result<T> {
    let mut parts = Vec::new();
    let mut failed = Vec::new();
    for region in &manifest.regions {
        let (RegionRole::Partition, Some(n)) = (region.role, region.partition) else {
            continue;
        };
        if !mountable(region.fs) {
            continue;
        }
        match Mounted::new(disk, region.start, region.fs, target.join(format!("p{n}"))) {
            Ok(mount) => parts.push(Part {
                number: n,
                fs: region.fs,
                mount,
            }),
            Err(e) => {
                eprintln!("marrow-client: partition {n} not mounted: {e}");
                failed.push(format!("partition {n} ({}): {e}", region.fs.name()));
            }
        }
    }
    let result = work(&parts, &failed);
    // Unmounted here, last mounted first, before the task reports. A
    // partition that will not unmount fails the task: it may not be
    // flushed, and its mount point stays (see `remove_work`).
    let mut unmounted = Ok(());
    while let Some(p) = parts.pop() {
        if let Err(e) = p.mount.unmount() {
            eprintln!("marrow-client: partition {}: {e}", p.number);
            if unmounted.is_ok() {
                unmounted = Err(Error::Usage(format!("partition {}: {e}", p.number)));
            }
        }
    }
    let value = result?;
    unmounted?;
    Ok(value)
}

/// The script's environment: the task's variables from the server, and
/// where the client put things.
fn script_env(
    post: &PostDeploy,
    parts: &[Part],
    disk: &Path,
    target: &Path,
    server: &str,
) -> BTreeMap<String, String> {
    let path = |p: &PathBuf| p.display().to_string();
    let mut env = post.vars.clone();
    env.insert("MARROW_DISK".into(), disk.display().to_string());
    env.insert("MARROW_TARGET".into(), target.display().to_string());
    env.insert("MARROW_SERVER".into(), server.to_string());
    let list: Vec<String> = parts
        .iter()
        .map(|p| format!("{}={}", p.number, path(&p.mount.at)))
        .collect();
    env.insert("MARROW_PARTITIONS".into(), list.join(" "));
    for p in parts {
        env.insert(format!("MARROW_PART_{}", p.number), path(&p.mount.at));
    }
    if let Some(p) = parts.iter().find(|p| linux_root(p)) {
        env.insert("MARROW_LINUX_ROOT".into(), path(&p.mount.at));
    }
    if let Some(p) = parts.iter().find(|p| windows_volume(p)) {
        env.insert("MARROW_WINDOWS".into(), path(&p.mount.at));
    }
    env
}
