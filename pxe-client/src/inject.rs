//! Driver injection after a restore: fetch the packages the server chose
//! for this machine's PCI/USB IDs, mount the restored Windows volume
//! read-write through ntfs-3g, and let `driver_store::inject` copy them and
//! name them in the answer file.

use std::fs;
use std::path::Path;

use driver_store::{inject, InjectOptions, InjectPackage, TargetOs};
use image_format::fs::FsKind;
use image_format::manifest::{Manifest, RegionRole};
use marrow_protocol::api::{DriverPlan, DriverReport};

use crate::api::Client;
use crate::mount::{has_dir, remove_work, Mounted};
use crate::{Error, Result};
use marrow_protocol::FileHash;

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
    remove_work(&work)?;
    let packages = download(client, &plan, &work.join("packages"))?;
    for (n, region) in ntfs.iter().enumerate() {
        let mount = Mounted::new(
            disk,
            region.start,
            FsKind::Ntfs,
            work.join(format!("volume{n}")),
        )?;
        if !has_dir(&mount.at, "windows") {
            continue;
        }
        let report = inject(&mount.at, &packages, &InjectOptions::new(target.arch));
        mount.unmount()?;
        let report = report?;
        remove_work(&work)?;
        return Ok(DriverReport::Injected {
            os: os.to_owned(),
            partition: region.partition.unwrap_or(0),
            report,
        });
    }
    remove_work(&work)?;
    Ok(DriverReport::nothing(
        os,
        format!(
            "no NTFS partition with a Windows folder among {} NTFS partition(s); nothing injected",
            ntfs.len()
        ),
    ))
}
