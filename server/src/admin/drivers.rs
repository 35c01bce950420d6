//! Windows driver packages: add (from directories or ZIP files), list,
//! remove, and match devices against them. The CLI and the admin API call
//! these; adding and removing are audited.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use driver_store::{excluded_matches, rank, Device, ImportProgress, PackageInfo, Store, TargetOs};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{audited, Ctx};
use crate::db::Db;
use crate::error::Result;

/// A stored package and whether it is broken (never matched).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PackageView {
    #[schema(value_type = Object)]
    pub package: PackageInfo,
    pub broken: bool,
}

/// A package an add stored, or found already stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportedView {
    #[schema(value_type = Object)]
    pub package: PackageInfo,
    pub newly_stored: bool,
    pub broken: bool,
}

/// One ranked driver for a device: the first is what would be injected.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CandidateView {
    /// The package's short id.
    pub package: String,
    pub name: String,
    pub inf: String,
    pub matched_id: String,
    pub rank: u32,
    pub reason: String,
}

/// A package that matched but is not for this Windows, or is broken.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PassedOver {
    pub package: String,
    pub name: String,
    pub reason: String,
}

/// What matching found for one device.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceMatch {
    /// `PCI 8086:100e …` as given or reported.
    pub device: String,
    pub hardware_ids: Vec<String>,
    pub compatible_ids: Vec<String>,
    pub candidates: Vec<CandidateView>,
    /// Matching packages made for another Windows.
    pub excluded: Vec<PassedOver>,
    /// Broken packages that declare the device, left out.
    pub skipped: Vec<PassedOver>,
}

fn open(dir: &Path) -> Result<Store> {
    Ok(Store::open(dir)?)
}

pub fn list_drivers(dir: &Path) -> Result<Vec<PackageView>> {
    Ok(open(dir)?
        .list()?
        .into_iter()
        .map(|p| PackageView {
            broken: p.broken(),
            package: p,
        })
        .collect())
}

/// Imports every package under each source for the `os` targets, and
/// records it.
pub fn add_drivers(
    db: &mut Db,
    ctx: &Ctx,
    dir: &Path,
    sources: &[PathBuf],
    os: &[String],
    progress: &dyn ImportProgress,
) -> Result<Vec<ImportedView>> {
    let names: Vec<String> = sources.iter().map(|s| s.display().to_string()).collect();
    let result = import_drivers(dir, sources, os, progress);
    let outcome = result.as_ref().map(Vec::len).map_err(ToString::to_string);
    record_add(db, ctx, &names, os, &outcome)?;
    result
}

/// The import alone, without the database: the admin API runs it off the
/// database's lock (a large ZIP takes a while) and records it after.
pub fn import_drivers(
    dir: &Path,
    sources: &[PathBuf],
    os: &[String],
    progress: &dyn ImportProgress,
) -> Result<Vec<ImportedView>> {
    let targets = os
        .iter()
        .map(|n| n.parse::<TargetOs>())
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let mut store = open(dir)?;
    let mut out = Vec::new();
    for source in sources {
        for i in store.add(source, &targets, progress)? {
            out.push(ImportedView {
                broken: i.package.broken(),
                package: i.package,
                newly_stored: i.newly_stored,
            });
        }
    }
    Ok(out)
}

/// Records an import of `sources` (as the caller names them) and how it
/// went: the packages imported, or the error.
pub fn record_add(
    db: &Db,
    ctx: &Ctx,
    sources: &[String],
    os: &[String],
    outcome: &std::result::Result<usize, String>,
) -> Result<()> {
    let args = json!({ "sources": sources, "os": os });
    let outcome = match outcome {
        Ok(n) => format!("ok: {n} package(s)"),
        Err(e) => format!("failed: {e}"),
    };
    super::record(db, ctx, "drivers.add", None, Some(&args), &outcome)
}

/// Removes packages by id, unique id prefix or name.
pub fn remove_drivers(
    db: &mut Db,
    ctx: &Ctx,
    dir: &Path,
    keys: &[String],
) -> Result<Vec<PackageInfo>> {
    audited(
        db,
        ctx,
        "drivers.remove",
        Some(&keys.join(",")),
        json!({}),
        |_| {
            let mut store = open(dir)?;
            keys.iter().map(|k| Ok(store.remove(k)?)).collect()
        },
    )
}

/// Ranks the stored packages for each device, for `target`.
pub fn match_drivers(
    dir: &Path,
    devices: &[Device],
    target: &TargetOs,
) -> Result<Vec<DeviceMatch>> {
    let store = open(dir)?;
    let ids: Vec<_> = devices.iter().map(Device::ids).collect();
    let loaded = store.load(target, Some(&ids))?;
    let names: BTreeMap<String, String> = store
        .list()?
        .into_iter()
        .map(|p| (p.id.short(), p.name))
        .collect();
    let name = |package: &str| names.get(package).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for (device, ids) in devices.iter().zip(&ids) {
        let candidates = rank(ids, &loaded.index)
            .into_iter()
            .map(|c| CandidateView {
                name: name(&c.package),
                package: c.package,
                inf: c.inf,
                matched_id: c.matched_id,
                rank: c.rank,
                reason: c.reason,
            })
            .collect();
        let excluded = excluded_matches(ids, &loaded.index)
            .into_iter()
            .map(|e| PassedOver {
                name: name(&e.package),
                package: e.package,
                reason: e.reason,
            })
            .collect();
        let own: Vec<String> = ids
            .hardware_ids
            .iter()
            .chain(&ids.compatible_ids)
            .map(|i| i.to_ascii_uppercase())
            .collect();
        let skipped = loaded
            .skipped
            .iter()
            .filter(|s| own.iter().any(|i| s.ids.contains(i)))
            .map(|s| PassedOver {
                package: s.package.id.short(),
                name: s.package.name.clone(),
                reason: s.reason.clone(),
            })
            .collect();
        out.push(DeviceMatch {
            device: device.to_string(),
            hardware_ids: ids.hardware_ids.clone(),
            compatible_ids: ids.compatible_ids.clone(),
            candidates,
            excluded,
            skipped,
        });
    }
    Ok(out)
}

/// The devices of a host's last reported inventory.
pub fn host_devices(db: &Db, host: &str) -> Result<Vec<Device>> {
    let mac = match host.parse::<marrow_protocol::MacAddr>() {
        Ok(mac) => mac,
        Err(_) => {
            db.hosts()
                .by_name(host)?
                .ok_or_else(|| {
                    crate::error::Error::NotFound(format!(
                        "no host named {host:?} (and it is not a MAC)"
                    ))
                })?
                .mac
        }
    };
    let (inventory, _) = db.hosts().inventory(mac)?.ok_or_else(|| {
        crate::error::Error::Usage(format!(
            "host {mac} has reported no inventory yet; it reports one each time the Marrow client boots on it"
        ))
    })?;
    Ok(driver_store::devices_from_inventory(&inventory)?)
}
