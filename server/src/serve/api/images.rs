//! The image calls: which chunks the store has, chunk upload and download,
//! and the manifest (commit for a capture, fetch for a restore).

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use image_format::catalog::{self, ImageRef};
use image_format::maintenance::referenced_chunks;
use image_format::manifest::Manifest;
use image_format::store::{
    decode_chunk, LockMode, LockStore, ManifestStore, ReadStore, WriteStore,
};
use image_format::{ChunkId, ImageId};
use marrow_protocol::api::{Committed, HasRequest, HasResponse, TaskKind, MAX_HAS_BATCH};
use tracing::info;

use super::{blocking, json_body, ApiError, ApiResult};
use crate::db::Task;
use crate::serve::auth::TaskAuth;
use crate::serve::body::{read, upload_size, Small, CHUNK_LIMIT};
use crate::serve::state::Shared;
use crate::serve::store_space;
use crate::tasks;

fn parse_chunk_id(text: &str) -> ApiResult<ChunkId> {
    text.parse()
        .map_err(|e: image_format::IdError| ApiError::BadRequest(e.to_string()))
}

/// The manifest a restore task restores: the one fixed at its first claim,
/// so a resumed restore keeps to the version it started.
fn resolve_restore(shared: &Shared, task: &Task) -> ApiResult<ImageId> {
    if let Some(id) = task.manifest {
        return Ok(id);
    }
    let store = shared.store()?;
    let r = ImageRef::parse(&task.image)?;
    let entry = catalog::resolve(store.as_ref(), &r, &store.describe())
        .map_err(|e| ApiError::NotFound(e.to_string()))?;
    Ok(entry.id)
}

pub(super) async fn has(
    State(shared): State<Arc<Shared>>,
    auth: TaskAuth,
    Path(name): Path<String>,
    Small(body): Small,
) -> ApiResult<Json<HasResponse>> {
    auth.for_image(&name, TaskKind::Capture)?;
    let req: HasRequest = json_body("has", &body)?;
    if req.ids.len() > MAX_HAS_BATCH {
        return Err(ApiError::TooLarge(format!(
            "has: {} ids asked; at most {MAX_HAS_BATCH} per call",
            req.ids.len(),
        )));
    }
    let store = shared.store()?;
    let have = blocking(move || Ok(store.has_many(&req.ids)?)).await?;
    Ok(Json(HasResponse { have }))
}

/// A chunk upload: the token is checked, then memory for the body is
/// reserved from the upload budget, and only then is the body read.
pub(super) async fn put_chunk(
    State(shared): State<Arc<Shared>>,
    auth: TaskAuth,
    Path((name, id)): Path<(String, String)>,
    request: Request,
) -> ApiResult<StatusCode> {
    let task = auth.for_image(&name, TaskKind::Capture)?;
    let id = parse_chunk_id(&id)?;
    let (parts, body) = request.into_parts();
    let _reserved = shared
        .images
        .uploads
        .reserve(task.id, upload_size(&parts.headers))
        .await?;
    let body = read(&parts.headers, body, CHUNK_LIMIT).await?;
    let store = shared.store()?;
    let reserve = shared.config.store_reserve;
    let created = blocking(move || {
        // Decompress and hash before storing: a chunk that is not what its
        // name says never enters the store.
        decode_chunk(&id, &body, "upload").map_err(|e| ApiError::Unprocessable(e.to_string()))?;
        let _lock = store.lock(LockMode::Shared)?;
        if !store.has(&id)? {
            store_space::check(&store, body.len() as u64, reserve)?;
        }
        Ok(store.put(&id, &body)?)
    })
    .await?;
    shared.metrics.chunk_upload(created);
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    })
}

pub(super) async fn get_chunk(
    State(shared): State<Arc<Shared>>,
    auth: TaskAuth,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let task = auth.for_image(&name, TaskKind::Restore)?;
    let id = parse_chunk_id(&id)?;
    let readable = readable(&shared, &task).await?;
    if !readable.contains(&id) {
        return Err(ApiError::Forbidden(format!(
            "chunk {id} is not part of image {name:?} of task {}",
            task.id
        )));
    }
    let shared2 = shared.clone();
    let raw = blocking(move || crate::serve::read_through::chunk(&shared2, &id)).await?;
    shared.metrics.chunk_download(raw.len() as u64);
    Ok((
        [(header::CONTENT_TYPE, "application/zstd")],
        Bytes::from(raw),
    )
        .into_response())
}

/// The chunks the task's manifest references, computed once per task.
async fn readable(shared: &Arc<Shared>, task: &Task) -> ApiResult<Arc<HashSet<ChunkId>>> {
    if let Some(set) = shared.images.readable.get(task) {
        return Ok(set);
    }
    let shared2 = shared.clone();
    let task2 = task.clone();
    let set = blocking(move || {
        let store = shared2.store()?;
        let id = resolve_restore(&shared2, &task2)?;
        let manifest = catalog::load(store.as_ref(), &id, &store.describe())?;
        let mut set = HashSet::new();
        referenced_chunks(&manifest, store.as_ref(), &mut set)?;
        Ok(Arc::new(set))
    })
    .await?;
    shared.images.readable.insert(task, set.clone());
    Ok(set)
}

pub(super) async fn get_manifest(
    State(shared): State<Arc<Shared>>,
    auth: TaskAuth,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let task = auth.for_image(&name, TaskKind::Restore)?;
    let shared2 = shared.clone();
    let bytes = blocking(move || {
        let id = resolve_restore(&shared2, &task)?;
        shared2
            .store()?
            .get_manifest(&id)
            .map_err(|e| ApiError::NotFound(e.to_string()))
    })
    .await?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::from(bytes),
    )
        .into_response())
}

pub(super) async fn commit(
    State(shared): State<Arc<Shared>>,
    auth: TaskAuth,
    Path(name): Path<String>,
    Small(body): Small,
) -> ApiResult<Json<Committed>> {
    let task = auth.for_image(&name, TaskKind::Capture)?;
    let store = shared.store()?;
    let db = shared.db.clone();
    let now = shared.now();
    let identity = shared.identity.clone();
    let committed = blocking(move || {
        let manifest = Manifest::parse(&body, "uploaded", &format!("task {}", task.id))
            .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
        // A retried commit (its answer was lost) names the version it made
        // already; a task makes one version at most.
        let id = ImageId::of(&manifest.to_canonical());
        match task.manifest {
            Some(done) if done == id => return Ok(Committed { id, image: name }),
            Some(done) => {
                return Err(ApiError::Conflict(format!(
                    "task {} committed image {name:?} version {} already; a capture makes one version",
                    task.id,
                    done.short()
                )))
            }
            None => {}
        }
        let _lock = store.lock(LockMode::Shared)?;
        // Make what was uploaded durable, so `has` below sees it.
        store.flush()?;
        // Every chunk the manifest names must be here before the name
        // points at it; reading the pieces checks those too.
        let mut needed = HashSet::new();
        referenced_chunks(&manifest, store.as_ref(), &mut needed).map_err(|e| {
            ApiError::Conflict(format!(
                "manifest of image {name:?} names a piece that is not uploaded: {e}"
            ))
        })?;
        let needed: Vec<ChunkId> = needed.into_iter().collect();
        let have = store.has_many(&needed)?;
        let missing: Vec<&ChunkId> = needed
            .iter()
            .zip(&have)
            .filter(|(_, h)| !**h)
            .map(|(id, _)| id)
            .collect();
        if let Some(first) = missing.first() {
            return Err(ApiError::Conflict(format!(
                "manifest of image {name:?} names {} chunk(s) the store lacks, first {first}; upload them before committing",
                missing.len()
            )));
        }
        // Its lists must agree with its regions before any restore trusts it.
        if let Err(problem) = image_format::validate::pieces(&manifest, store.as_ref())? {
            return Err(ApiError::Unprocessable(format!(
                "manifest of image {name:?}: {problem}"
            )));
        }
        let id = catalog::commit_signed(
            store.as_ref(),
            &name,
            &manifest,
            now as u64,
            &crate::sites::signing(Some(identity.as_ref())),
        )?;
        db.blocking(|db| tasks::committed(db, task.id, &id, now))?;
        info!(task = %task.id, image = %name, id = %id, "image committed");
        Ok(Committed { id, image: name })
    })
    .await?;
    Ok(Json(committed))
}
