//! Images: list and delete (capture, restore and inspect stay at the
//! server's shell, where the disks are).

use std::path::Path;

use image_format::catalog;
use image_format::maintenance;
use image_format::store::{LocalStore, ManifestStore, ReadStore};
use serde_json::json;

use super::views::ImageRow;
use super::{audited, Ctx};
use crate::db::Db;
use crate::error::Result;

/// The latest version of every name in the store at `path`; none when
/// no store was made there yet.
pub fn list_images(path: &Path) -> Result<Vec<ImageRow>> {
    if !LocalStore::is_store(path) {
        return Ok(Vec::new());
    }
    let store = LocalStore::open(path)?;
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
        });
    }
    Ok(rows)
}

/// Deletes an image name, or one version with `NAME@ID`; returns the
/// versions removed (full ids).
pub fn delete_image(db: &mut Db, ctx: &Ctx, path: &Path, image: &str) -> Result<Vec<String>> {
    audited(db, ctx, "image.delete", Some(image), json!({}), |_| {
        if !LocalStore::is_store(path) {
            // Nothing was ever captured: the image is not there.
            return Err(image_format::Error::ImageNotFound {
                name: catalog::ImageRef::parse(image)?.name,
                store: path.display().to_string(),
            }
            .into());
        }
        let store = LocalStore::open(path)?;
        Ok(maintenance::delete(&store, image)?
            .iter()
            .map(|id| id.to_hex())
            .collect())
    })
}
