//! Which driver packages a machine gets: the best-ranked candidate of each
//! of its devices, once per package. Used by the client API (injection
//! after a restore) and by `marrow drivers match --host`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use driver_store::{rank, Device, Store, TargetOs};
use marrow_protocol::api::{DriverFile, DriverPackage, DriverPlan};
use marrow_protocol::FileHash;

use crate::error::{Error, Result};

/// The packages to inject for `devices` on `target`, each with every
/// device it was chosen for in its reason.
pub fn plan(store: &Store, devices: &[Device], target: &TargetOs) -> Result<DriverPlan> {
    let ids: Vec<_> = devices.iter().map(Device::ids).collect();
    let loaded = store.load(target, Some(&ids))?;
    // package short id → reasons, in device order.
    let mut chosen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (device, ids) in devices.iter().zip(&ids) {
        if let Some(best) = rank(ids, &loaded.index).into_iter().next() {
            chosen
                .entry(best.package.clone())
                .or_default()
                .push(format!("{device}: {}", best.reason));
        }
    }
    let mut packages = Vec::new();
    for (key, reasons) in chosen {
        let info = store.find(&key)?;
        let dir = store.package_dir(&info.id);
        packages.push(DriverPackage {
            id: info.id,
            name: info.name.clone(),
            reason: reasons.join("; "),
            files: list_files(&dir)?,
        });
    }
    Ok(DriverPlan {
        os: target.to_string(),
        packages,
    })
}

/// Every regular file under `dir`, sorted, with its size and BLAKE3.
fn list_files(dir: &Path) -> Result<Vec<DriverFile>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(Error::io(&d))? {
            let entry = entry.map_err(Error::io(&d))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(Error::io(&path))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let bytes = std::fs::read(&path).map_err(Error::io(&path))?;
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push(DriverFile {
                    path: rel,
                    size: bytes.len() as u64,
                    blake3: FileHash::of(&bytes),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}
