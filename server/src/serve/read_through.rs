//! Read-through as the client API uses it (`crate::sites::read_through`):
//! a restore's claim stages its image from an upstream when this site has
//! none of that name, a chunk read that misses is fetched on demand, and a
//! pull of the staged version runs in the background until it is whole
//! and published.

use std::sync::Arc;

use image_format::catalog::{self, ImageRef};
use image_format::progress::NoProgress;
use image_format::store::ReadStore;
use image_format::{ChunkId, ImageId};
use tracing::{info, warn};

use super::api_error::{ApiError, ApiResult};
use super::state::Shared;
use crate::admin::Ctx;
use crate::db::SiteRow;
use crate::sites::pull::PullOptions;
use crate::sites::read_through::Staged;
use crate::tasks::{self, Actor};

fn read_through_sites(shared: &Shared) -> ApiResult<Vec<SiteRow>> {
    let sites = shared.db.blocking(|db| db.sites().all())?;
    Ok(sites.into_iter().filter(|s| s.read_through).collect())
}

/// For the claim of `token`: `None` when it needs no read-through (not an
/// unresolved restore, its image is here, or no site reads through);
/// else the version staged, or why none could be. Runs on a blocking
/// thread, outside the database's lock: it talks to the upstream.
pub(crate) fn stage_for_claim(
    shared: &Shared,
    token: &str,
) -> ApiResult<Option<Result<Staged, String>>> {
    let Some(image) = shared
        .db
        .blocking(|db| tasks::unresolved_restore(db, token))?
    else {
        return Ok(None);
    };
    let store = shared.store()?;
    let r = ImageRef::parse(&image)?;
    if catalog::resolve(store.as_ref(), &r, "").is_ok() {
        return Ok(None);
    }
    let sites = read_through_sites(shared)?;
    if sites.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        match shared.read_through.stage(store.as_ref(), &sites, &image) {
            Ok(Some(staged)) => Ok(staged),
            Ok(None) => Err(format!(
                "no read-through site ({}) has it",
                sites
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Err(e) => {
                warn!("read-through of {image}: {e}");
                Err(e.to_string())
            }
        },
    ))
}

/// Pulls the staged version whole in the background, so that it is
/// published once every chunk is here, whatever the client reads.
pub(crate) fn complete_in_background(shared: Arc<Shared>, staged: Staged, task: i64) {
    tokio::task::spawn_blocking(move || {
        let store = match shared.store() {
            Ok(s) => s,
            Err(e) => return warn!("read-through of {}: {e}", staged.image),
        };
        // Within the site's entry's window and under its cap: the client
        // does not wait for it.
        let entry = shared
            .config
            .sync
            .iter()
            .find(|e| e.read_through && e.from.eq_ignore_ascii_case(&staged.site));
        let opts = PullOptions {
            images: Some(staged.image.clone()),
            version: Some(staged.id),
            bandwidth: entry.and_then(|e| e.bandwidth),
            window: entry.and_then(|e| e.window),
        };
        let ctx = Ctx {
            actor: Actor::Client(marrow_protocol::TaskId(task)),
            address: None,
            now: shared.now(),
        };
        let done = crate::sites::run::pull_site(
            &shared.dirs,
            store.as_ref(),
            &staged.site,
            &opts,
            &ctx,
            &NoProgress,
        );
        match done {
            Ok(r) if r.failed.is_empty() => info!(
                "read-through: {}@{} complete from site {}: {} chunks fetched in the background",
                staged.image,
                staged.id.short(),
                staged.site,
                r.chunks_fetched
            ),
            Ok(r) => warn!(
                "read-through: {}@{} not published: {}",
                staged.image,
                staged.id.short(),
                r.failed
                    .first()
                    .map(|f| f.reason.as_str())
                    .unwrap_or_default()
            ),
            // Another pull of the site runs (it will publish the version),
            // or the link failed: chunks still come on demand.
            Err(e) => warn!(
                "read-through: background pull of {}@{}: {e}",
                staged.image,
                staged.id.short()
            ),
        }
    });
}

/// A chunk of a restore: from the store, or else from a read-through site.
pub(crate) fn chunk(shared: &Shared, id: &ChunkId) -> ApiResult<Vec<u8>> {
    let store = shared.store()?;
    match store.get_raw(id) {
        Ok(raw) => Ok(raw),
        Err(image_format::Error::ChunkMissing { .. }) => {
            let sites = read_through_sites(shared)?;
            match shared.read_through.fetch(store.as_ref(), &sites, id)? {
                Some(raw) => {
                    shared.metrics.read_through_chunk();
                    Ok(raw)
                }
                None => Err(ApiError::NotFound(format!(
                    "chunk {id} is not in store {}{}",
                    store.describe(),
                    if sites.is_empty() {
                        ""
                    } else {
                        ", nor at any read-through site"
                    }
                ))),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The id a claim pins, as `tasks::claim` takes it.
pub(crate) fn fetched(staged: &Option<Result<Staged, String>>) -> Option<Result<ImageId, String>> {
    staged
        .as_ref()
        .map(|s| s.as_ref().map(|s| s.id).map_err(Clone::clone))
}
