//! The upstream's side of site sync (`marrow_protocol::routes::SYNC_*`),
//! for tokens with the `sync` scope: the images with their versions and
//! signatures, a manifest, and chunks in batches. Everything here only
//! reads; a site verifies what it gets against names and signatures, so
//! these handlers send the store's bytes as they are.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use image_format::store::{ManifestStore, ReadStore};
use image_format::{ChunkId, ImageId};
use marrow_protocol::routes;
use marrow_protocol::sync::{
    encode_record, BatchRequest, Catalog, CatalogImage, CatalogVersion, MAX_BATCH,
};

use super::admin::caller::Caller;
use super::api_error::{ApiError, ApiResult};
use super::body::{json_body, Small};
use super::off_thread::off_thread;
use super::state::Shared;
use crate::access::Need;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(routes::SYNC_IMAGES, get(images))
        .route(routes::SYNC_MANIFEST, get(manifest))
        .route(routes::SYNC_CHUNKS, post(chunks))
}

/// Every image name with its versions, oldest first, and their signatures.
async fn images(State(shared): State<Arc<Shared>>, caller: Caller) -> ApiResult<Json<Catalog>> {
    caller.require(Need::Sync)?;
    let store = shared.store()?;
    let key = shared.identity.public().to_string();
    let images = off_thread(move || -> crate::error::Result<Vec<CatalogImage>> {
        let mut out = Vec::new();
        for name in store.names()? {
            let mut versions = Vec::new();
            for e in store.history(&name)? {
                let signature = store
                    .get_signature(&e.id)?
                    .map(|b| String::from_utf8_lossy(&b).into_owned());
                versions.push(CatalogVersion {
                    id: e.id.to_hex(),
                    created: e.created,
                    signature,
                });
            }
            out.push(CatalogImage { name, versions });
        }
        Ok(out)
    })
    .await?;
    Ok(Json(Catalog { key, images }))
}

async fn manifest(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Need::Sync)?;
    let id = ImageId::from_hex(&id)
        .ok_or_else(|| ApiError::BadRequest(format!("manifest id {id:?}: not 64 hex digits")))?;
    let store = shared.store()?;
    let known = off_thread({
        let store = store.clone();
        move || Ok(store.manifest_ids()?.contains(&id))
    })
    .await?;
    if !known {
        return Err(ApiError::NotFound(format!("no manifest {id} here")));
    }
    let bytes = off_thread(move || Ok(store.get_manifest(&id)?)).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::from(bytes),
    )
        .into_response())
}

/// The chunks asked for, as records, streamed as they are read: a batch
/// never sits whole in memory.
async fn chunks(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Small(body): Small,
) -> ApiResult<Response> {
    caller.require(Need::Sync)?;
    let req: BatchRequest = json_body("chunk batch", &body)?;
    if req.ids.is_empty() || req.ids.len() > MAX_BATCH {
        return Err(ApiError::BadRequest(format!(
            "a batch names 1 to {MAX_BATCH} chunks, not {}",
            req.ids.len()
        )));
    }
    let store = shared.store()?;
    // Every chunk must be here before the answer starts: a missing one is
    // a 404 naming it, not a body cut short.
    let ids = req.ids.clone();
    let check = store.clone();
    let here = off_thread(move || Ok(check.has_many(&ids)?)).await?;
    if let Some(pos) = here.iter().position(|h| !h) {
        return Err(ApiError::NotFound(format!(
            "chunk {} is not in this store",
            req.ids[pos]
        )));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let counted = shared.clone();
    tokio::task::spawn_blocking(move || {
        send(&store, &req.ids, &tx, &|n| {
            counted.metrics.sync_chunk_sent(n)
        })
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Reads each chunk's stored bytes and sends its record; a read that
/// fails ends the body with an error, which the site sees as a cut batch.
fn send(
    store: &crate::store::Store,
    ids: &[ChunkId],
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    sent: &dyn Fn(u64),
) {
    for id in ids {
        let item = match store.get_raw(id) {
            Ok(raw) => {
                let mut rec = Vec::with_capacity(raw.len() + 36);
                encode_record(id, &raw, &mut rec);
                sent(raw.len() as u64);
                Ok(Bytes::from(rec))
            }
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        let failed = item.is_err();
        if tx.blocking_send(item).is_err() || failed {
            return;
        }
    }
}
