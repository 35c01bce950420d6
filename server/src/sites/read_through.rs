//! Read-through at a site (`read_through = true` in a `[[sync]]` entry):
//! a restore of an image the site has not pulled yet fetches it from the
//! upstream as it goes, so a technician does not wait for the night's
//! sync.
//!
//! At the task's claim, [`ReadThrough::stage`] finds the image in the
//! upstream's catalog, checks its signature against the site's trusted
//! key, and keeps its manifest and pieces (the chunk lists), but not its
//! name: no listing shows it yet. A chunk the client asks for that is not
//! here is fetched on demand by [`ReadThrough::fetch`], verified and kept.
//! Meanwhile a pull of that one version runs in the background and
//! publishes it once every chunk is here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use image_format::catalog::ImageRef;
use image_format::store::{ManifestStore, WriteStore};
use image_format::{ChunkId, ImageId};
use marrow_protocol::sync::{CatalogImage, CatalogVersion, MAX_BATCH};

use super::pull::{checked_manifest, keep_verified};
use super::signature::PublicKey;
use super::upstream::{Failure, Meter, Upstream};
use crate::db::SiteRow;
use crate::error::{Error, Result};

/// The upstream clients of read-through sites, kept so that their
/// connections are reused from one chunk to the next.
#[derive(Default)]
pub struct ReadThrough {
    upstreams: Mutex<HashMap<String, Arc<Upstream>>>,
}

/// A version found upstream and staged here.
#[derive(Debug, Clone)]
pub struct Staged {
    pub site: String,
    pub image: String,
    pub id: ImageId,
}

impl ReadThrough {
    fn upstream(&self, site: &SiteRow) -> Result<Arc<Upstream>> {
        let mut map = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(u) = map.get(&site.name) {
            return Ok(u.clone());
        }
        let u = Arc::new(Upstream::new(site, Arc::new(Meter::new(None)))?);
        map.insert(site.name.clone(), u.clone());
        Ok(u)
    }

    /// Finds `image` (`NAME[@ID]`) at the first read-through site that
    /// lists it, and keeps its manifest, signature and pieces here.
    /// `None`: no read-through site has it.
    pub fn stage<S: WriteStore + ManifestStore>(
        &self,
        store: &S,
        sites: &[SiteRow],
        image: &str,
    ) -> Result<Option<Staged>> {
        let r = ImageRef::parse(image)?;
        for site in sites.iter().filter(|s| s.read_through) {
            let upstream = self.upstream(site)?;
            let catalog = upstream.catalog().map_err(Failure::into_error)?;
            let Some(listed) = catalog.images.iter().find(|i| i.name == r.name) else {
                continue;
            };
            let Some(v) = pick(listed, r.version.as_deref(), &site.name)? else {
                continue;
            };
            let id = ImageId::from_hex(&v.id).ok_or_else(|| Error::Site {
                site: format!("site {}", site.name),
                detail: format!("lists version {:?} of {}, not an id", v.id, r.name),
            })?;
            let trusted: PublicKey = site.key.parse()?;
            let refused = |why: String| Error::Site {
                site: format!("site {}", site.name),
                detail: format!("{}@{}: not read through: {why}", r.name, id.short()),
            };
            let (manifest, bytes, sig) =
                checked_manifest(&upstream, v, &id, &trusted)?.map_err(refused)?;
            let mut pieces: Vec<ChunkId> = manifest
                .regions
                .iter()
                .flat_map(|r| r.extents.iter().chain(r.chunks.iter()).copied())
                .collect();
            pieces.sort();
            pieces.dedup();
            let here = store.has_many(&pieces)?;
            let missing: Vec<ChunkId> = pieces
                .iter()
                .zip(&here)
                .filter(|(_, h)| !**h)
                .map(|(c, _)| *c)
                .collect();
            for batch in missing.chunks(MAX_BATCH) {
                fetch_into(store, &upstream, batch)
                    .map_err(Failure::into_error)?
                    .map_err(refused)?;
            }
            store.flush()?;
            store.put_manifest(&bytes)?;
            store.put_signature(&id, sig.as_bytes())?;
            tracing::info!(
                "read-through: {}@{} staged from site {} ({} pieces fetched)",
                r.name,
                id.short(),
                site.name,
                missing.len()
            );
            return Ok(Some(Staged {
                site: site.name.clone(),
                image: r.name.clone(),
                id,
            }));
        }
        Ok(None)
    }

    /// A chunk this store lacks, from the first read-through site that
    /// has it: verified, kept (durably) and returned as stored. `None`:
    /// no read-through site has it.
    pub fn fetch<S: WriteStore>(
        &self,
        store: &S,
        sites: &[SiteRow],
        id: &ChunkId,
    ) -> Result<Option<Vec<u8>>> {
        for site in sites.iter().filter(|s| s.read_through) {
            let upstream = self.upstream(site)?;
            match fetch_into(store, &upstream, std::slice::from_ref(id)) {
                Ok(Ok(())) => {
                    store.flush()?;
                    return store.get_raw(id).map(Some).map_err(Error::from);
                }
                Ok(Err(why)) => {
                    return Err(Error::Site {
                        site: format!("site {}", site.name),
                        detail: format!("chunk {id} refused: {why}"),
                    })
                }
                // Not at this site: the next one may have it.
                Err(Failure::Missing(_)) => continue,
                Err(f) => return Err(f.into_error()),
            }
        }
        Ok(None)
    }
}

/// The version `prefix` names (the newest without one).
fn pick<'a>(
    listed: &'a CatalogImage,
    prefix: Option<&str>,
    site: &str,
) -> Result<Option<&'a CatalogVersion>> {
    let Some(prefix) = prefix else {
        return Ok(listed.versions.last());
    };
    let mut found = listed.versions.iter().filter(|v| v.id.starts_with(prefix));
    let first = found.next();
    if let (Some(a), Some(b)) = (first, found.next()) {
        return Err(Error::Usage(format!(
            "{}@{prefix} is ambiguous at site {site}: {} and {}",
            listed.name,
            &a.id[..12],
            &b.id[..12]
        )));
    }
    Ok(first)
}

/// Fetches `ids` from `upstream` into `store`, each verified: `Ok(Err)`
/// names a chunk that was not what its name says.
fn fetch_into<S: WriteStore>(
    store: &S,
    upstream: &Upstream,
    ids: &[ChunkId],
) -> std::result::Result<std::result::Result<(), String>, Failure> {
    let describe = format!("site {}", upstream.name());
    let mut bad = None;
    let fetched = upstream.chunks(ids, &mut |id, raw| {
        if let Err(why) = keep_verified(store, &describe, &id, &raw)? {
            bad = Some(why);
            return Err(Error::Site {
                site: describe.clone(),
                detail: format!("chunk {id} refused"),
            });
        }
        Ok(())
    });
    match (bad, fetched) {
        (Some(why), _) => Ok(Err(why)),
        (None, Ok(())) => Ok(Ok(())),
        (None, Err(f)) => Err(f),
    }
}
