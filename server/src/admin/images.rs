//! Images: list, inspect and delete (capture and restore stay at the
//! server's shell, where the disks are).

use std::collections::{HashMap, HashSet};

use image_format::catalog;
use image_format::maintenance::{self, referenced_chunks};
use image_format::store::{ManifestStore, PruneStore, ReadStore};
use image_format::{ChunkId, ImageId};
use serde_json::json;

use super::views::{ImageInspect, ImageRow, RegionView, SharedView, SkippedView, VersionView};
use super::{audited, Ctx};
use crate::db::Db;
use crate::error::Result;
use crate::sites::signature::SignatureFile;
use crate::store::StoreSpec;

/// The latest version of every name in the store; none when no store was
/// made there yet.
pub fn list_images(spec: &StoreSpec) -> Result<Vec<ImageRow>> {
    let Some(store) = spec.open_if_there()? else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    for name in store.names()? {
        let history = store.history(&name)?;
        let Some(latest) = history.last() else {
            continue;
        };
        let manifest = catalog::load(&store, &latest.id, &store.describe())?;
        rows.push(ImageRow {
            name,
            id: latest.id.to_hex(),
            versions: history.len(),
            created: latest.created as i64,
            logical_bytes: manifest.layout.size,
            used_bytes: manifest.used_bytes(),
            data_bytes: manifest.data_bytes(),
            chunks: manifest.chunk_count(),
            table: serde_json::to_value(manifest.layout.table)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            signed_by: signature(&store, &latest.id)?.1,
        });
    }
    Ok(rows)
}

/// Deletes an image name, or one version with `NAME@ID`; returns the
/// versions removed (full ids).
pub fn delete_image(db: &mut Db, ctx: &Ctx, spec: &StoreSpec, image: &str) -> Result<Vec<String>> {
    audited(db, ctx, "image.delete", Some(image), json!({}), |_| {
        let Some(store) = spec.open_if_there()? else {
            // Nothing was ever captured: the image is not there.
            return Err(image_format::Error::ImageNotFound {
                name: catalog::ImageRef::parse(image)?.name,
                store: spec.describe(),
            }
            .into());
        };
        Ok(maintenance::delete(&store, image)?
            .iter()
            .map(|id| id.to_hex())
            .collect())
    })
}

/// An image version's layout, regions, stored size and what it shares
/// with every other version in the store.
pub fn inspect_image(spec: &StoreSpec, reference: &str) -> Result<ImageInspect> {
    let r = catalog::ImageRef::parse(reference)?;
    let Some(store) = spec.open_if_there()? else {
        return Err(image_format::Error::ImageNotFound {
            name: r.name,
            store: spec.describe(),
        }
        .into());
    };
    let id = catalog::resolve(&store, &r, &store.describe())?.id;
    let manifest = catalog::load(&store, &id, &store.describe())?;
    let mut mine = HashSet::new();
    referenced_chunks(&manifest, &store, &mut mine)?;
    let mut stored = 0u64;
    for c in &mine {
        stored += store.stored_size(c)?.unwrap_or(0);
    }
    let mut shared: HashMap<String, (u64, u64)> = HashMap::new();
    for name in store.names()? {
        for entry in store.history(&name)? {
            if entry.id == id {
                continue;
            }
            let other = catalog::load(&store, &entry.id, &store.describe())?;
            let mut theirs: HashSet<ChunkId> = HashSet::new();
            referenced_chunks(&other, &store, &mut theirs)?;
            let common: Vec<_> = mine.intersection(&theirs).collect();
            if !common.is_empty() {
                let mut bytes = 0;
                for c in &common {
                    bytes += store.stored_size(c)?.unwrap_or(0);
                }
                shared.insert(
                    format!("{name}@{}", entry.id.short()),
                    (common.len() as u64, bytes),
                );
            }
        }
    }
    let mut shared: Vec<SharedView> = shared
        .into_iter()
        .map(|(image, (chunks, stored_bytes))| SharedView {
            image,
            chunks,
            stored_bytes,
        })
        .collect();
    shared.sort_by(|a, b| a.image.cmp(&b.image));
    let (signature, signed_by) = signature(&store, &id)?;
    let mut versions = Vec::new();
    for e in store.history(&r.name)? {
        versions.push(VersionView {
            id: e.id.to_hex(),
            created: e.created as i64,
            signed_by: self::signature(&store, &e.id)?.1,
        });
    }
    Ok(ImageInspect {
        image: id.to_hex(),
        layout: manifest.layout.clone(),
        regions: manifest
            .regions
            .iter()
            .map(|r| RegionView {
                role: r.role,
                partition: r.partition,
                start: r.start,
                length: r.length,
                fs: r.fs,
                data_bytes: r.data_bytes,
                zero_bytes: r.zero_bytes,
                chunks: r.chunk_count,
                skipped: r
                    .skipped
                    .iter()
                    .map(|f| SkippedView {
                        path: f.path.clone(),
                        bytes: f.bytes,
                    })
                    .collect(),
            })
            .collect(),
        used_bytes: manifest.used_bytes(),
        data_bytes: manifest.data_bytes(),
        stored_bytes: stored,
        unique_chunks: mine.len() as u64,
        shared,
        signature,
        signed_by,
        versions,
    })
}

/// Whether a version's signature checks, and by which key.
fn signature(store: &dyn ManifestStore, id: &ImageId) -> Result<(String, Option<String>)> {
    let Some(bytes) = store.get_signature(id)? else {
        return Ok(("none".into(), None));
    };
    let checked = SignatureFile::parse(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|s| s.signer(id));
    Ok(match checked {
        Ok(key) => ("valid".into(), Some(key.to_string())),
        Err(why) => (format!("does not check: {why}"), None),
    })
}

/// The store at a glance: what its images hold and what that takes.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StoreSummary {
    pub names: usize,
    pub versions: usize,
    /// Bytes of data every version holds, summed: what the store would
    /// take without sharing chunks or compressing them.
    pub image_bytes: u64,
    pub chunks: u64,
    /// Compressed bytes the chunks take.
    pub stored_bytes: u64,
}

impl StoreSummary {
    /// How many times smaller the store is than its images (1 with none).
    pub fn ratio(&self) -> f64 {
        match self.stored_bytes {
            0 => 1.0,
            s => self.image_bytes as f64 / s as f64,
        }
    }
}

/// [`StoreSummary`] of the store; empty when none was made yet.
pub fn summarize_store(spec: &StoreSpec) -> Result<StoreSummary> {
    let Some(store) = spec.open_if_there()? else {
        return Ok(StoreSummary::default());
    };
    let mut out = StoreSummary::default();
    for name in store.names()? {
        out.names += 1;
        for entry in store.history(&name)? {
            out.versions += 1;
            out.image_bytes += catalog::load(&store, &entry.id, &store.describe())?.data_bytes();
        }
    }
    store.for_each(&mut |_, size| {
        out.chunks += 1;
        out.stored_bytes += size;
        Ok(())
    })?;
    Ok(out)
}
