//! The client API (`/api/v1/...`, see `marrow_protocol::api`): the imaging
//! client claims its task, reports inventory and progress, moves chunks and
//! commits or fetches its manifest.
//!
//! Access: every call carries the task's current one-time token. The token
//! decides the task, the task decides the image and the direction (a
//! capture writes, a restore reads), and any other image in a path is
//! refused. A restore reads only chunks its manifest references.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use image_format::catalog::{self, ImageRef};
use image_format::maintenance::referenced_chunks;
use image_format::manifest::Manifest;
use image_format::store::{decode_chunk, ChunkStore, LocalStore, ManifestStore};
use image_format::{ChunkId, ImageId};
use marrow_protocol::api::{
    self, ApiError, Committed, HasRequest, HasResponse, Kind, Report, TaskInfo,
};
use tracing::{info, warn};

use super::{drivers, unix_now, Shared};
use crate::db::{Task, TaskKind};

/// Chunks are at most 8 MiB plain; a compressed one can be slightly larger.
const BODY_LIMIT: usize = 16 << 20;

/// Values worked out once per task and kept while it runs: a restore's
/// chunk set (each chunk read is then a set lookup) and its driver plan
/// (each driver file download is then a list lookup).
pub(crate) struct PerTask<T>(Mutex<HashMap<i64, Arc<T>>>);

impl<T> Default for PerTask<T> {
    fn default() -> Self {
        PerTask(Mutex::default())
    }
}

impl<T> PerTask<T> {
    pub(crate) fn get(&self, task: &Task) -> Option<Arc<T>> {
        self.0.lock().unwrap().get(&task.id.0).cloned()
    }

    pub(crate) fn insert(&self, task: &Task, value: Arc<T>) {
        self.0.lock().unwrap().insert(task.id.0, value);
    }

    fn forget(&self, task: &Task) {
        self.0.lock().unwrap().remove(&task.id.0);
    }
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v1/task/claim", post(claim))
        .route("/api/v1/task/inventory", put(inventory))
        .route("/api/v1/task/progress", post(progress))
        .route("/api/v1/task/report", post(report))
        .route("/api/v1/task/drivers", get(drivers::plan))
        .route("/api/v1/task/drivers/{package}/{*path}", get(drivers::file))
        .route("/api/v1/images/{name}/chunks/has", post(has))
        .route(
            "/api/v1/images/{name}/chunks/{id}",
            put(put_chunk).get(get_chunk),
        )
        .route(
            "/api/v1/images/{name}/manifest",
            get(get_manifest).post(commit),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// An API failure: a status and a message naming what was wrong.
pub(crate) struct Fail(pub StatusCode, pub String);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        (self.0, Json(ApiError { error: self.1 })).into_response()
    }
}

pub(crate) type ApiResult<T> = Result<T, Fail>;

pub(crate) fn internal(e: impl std::fmt::Display) -> Fail {
    Fail(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// The token of an `Authorization: Bearer TOKEN` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The task whose current token the request carries.
pub(crate) fn authorize(shared: &Shared, headers: &HeaderMap) -> ApiResult<Task> {
    let token = bearer(headers).ok_or_else(|| {
        Fail(
            StatusCode::UNAUTHORIZED,
            "missing task token: send Authorization: Bearer TOKEN".into(),
        )
    })?;
    shared
        .db()
        .task_for_token(token)
        .map_err(internal)?
        .ok_or_else(|| {
            Fail(
                StatusCode::UNAUTHORIZED,
                "token is not the current token of any pending or running task".into(),
            )
        })
}

/// The image name (without version) of a task.
fn image_name(task: &Task) -> ApiResult<String> {
    ImageRef::parse(&task.image)
        .map(|r| r.name)
        .map_err(internal)
}

/// The task behind the token, refused unless it is a `kind` task for image
/// `name`.
fn authorize_image(
    shared: &Shared,
    headers: &HeaderMap,
    name: &str,
    kind: TaskKind,
) -> ApiResult<Task> {
    let task = authorize(shared, headers)?;
    let own = image_name(&task)?;
    if own != name {
        return Err(Fail(
            StatusCode::FORBIDDEN,
            format!(
                "the token of task {} reaches image {own:?} only, not {name:?}",
                task.id
            ),
        ));
    }
    if task.kind != kind {
        let (want, verb) = match kind {
            TaskKind::Capture => ("capture", "writing to"),
            TaskKind::Restore => ("restore", "reading from"),
        };
        return Err(Fail(
            StatusCode::FORBIDDEN,
            format!(
                "task {} is not a {want} task; {verb} image {name:?} needs one",
                task.id
            ),
        ));
    }
    Ok(task)
}

fn store(shared: &Shared) -> ApiResult<Arc<LocalStore>> {
    shared.store().map_err(internal)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| internal(format!("worker: {e}")))?
}

fn parse_chunk_id(text: &str) -> ApiResult<ChunkId> {
    text.parse()
        .map_err(|e: image_format::Error| Fail(StatusCode::BAD_REQUEST, e.to_string()))
}

/// The manifest a restore task restores: the one fixed at its first claim,
/// so a resumed restore keeps to the version it started.
fn resolve_restore(shared: &Shared, task: &Task) -> ApiResult<ImageId> {
    if let Some(id) = &task.manifest {
        return id.parse().map_err(internal);
    }
    let store = store(shared)?;
    let r = ImageRef::parse(&task.image).map_err(internal)?;
    let entry = catalog::resolve(store.as_ref(), &r, &store.describe())
        .map_err(|e| Fail(StatusCode::NOT_FOUND, e.to_string()))?;
    Ok(entry.id)
}

async fn claim(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> ApiResult<Response> {
    let task = authorize(&shared, &headers)?;
    let id = task.id;
    let token = bearer(&headers).unwrap_or_default().to_owned();
    let shared2 = shared.clone();
    let claimed = blocking(move || {
        let manifest = match task.kind {
            TaskKind::Restore => Some(resolve_restore(&shared2, &task)?.to_hex()),
            TaskKind::Capture => None,
        };
        shared2
            .db()
            .claim_task(&token, manifest.as_deref(), unix_now() as i64)
            .map_err(internal)?
            .ok_or_else(|| Fail(StatusCode::UNAUTHORIZED, "task ended meanwhile".into()))
    })
    .await;
    let task = match claimed {
        Ok(t) => t,
        Err(fail) => {
            // A restore of an image that is not there fails the task now,
            // with the reason, rather than leaving the host booting.
            if fail.0 == StatusCode::NOT_FOUND {
                let report = Report {
                    error: Some(fail.1.clone()),
                    ..Default::default()
                };
                let _ = shared.db().finish_task(
                    id,
                    &serde_json::to_string(&report).unwrap_or_default(),
                    Some(&fail.1),
                    unix_now() as i64,
                );
            }
            return Err(fail);
        }
    };
    info!(task = %task.id, host = %task.host, "task claimed");
    let info = TaskInfo {
        id: task.id.0,
        kind: match task.kind {
            TaskKind::Capture => Kind::Capture,
            TaskKind::Restore => Kind::Restore,
        },
        image: image_name(&task)?,
        manifest: task.manifest.clone(),
        disk: task.disk_rule.clone(),
        grow_last_partition: task.grow_last_partition,
        after: task.after,
        inject_drivers: task.inject_drivers.clone(),
    };
    Ok(Json(info).into_response())
}

async fn inventory(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let task = authorize(&shared, &headers)?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Fail(StatusCode::BAD_REQUEST, format!("inventory: {e}")))?;
    if !value.is_object() || value.get("pci").is_none() {
        return Err(Fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "inventory: expected the object `marrow-client inventory --json` prints".into(),
        ));
    }
    shared
        .db()
        .set_inventory(&task.host, &value.to_string(), unix_now() as i64)
        .map_err(internal)?;
    shared.driver_plans.forget(&task);
    Ok(StatusCode::NO_CONTENT)
}

async fn progress(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let task = authorize(&shared, &headers)?;
    let p: api::Progress = serde_json::from_slice(&body)
        .map_err(|e| Fail(StatusCode::BAD_REQUEST, format!("progress: {e}")))?;
    let text = serde_json::to_string(&p).map_err(internal)?;
    shared
        .db()
        .set_progress(task.id, &text, unix_now() as i64)
        .map_err(internal)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn report(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let task = authorize(&shared, &headers)?;
    let r: Report = serde_json::from_slice(&body)
        .map_err(|e| Fail(StatusCode::BAD_REQUEST, format!("report: {e}")))?;
    let text = serde_json::to_string(&r).map_err(internal)?;
    shared
        .db()
        .finish_task(task.id, &text, r.error.as_deref(), unix_now() as i64)
        .map_err(internal)?;
    shared.readable.forget(&task);
    shared.driver_plans.forget(&task);
    match &r.error {
        None => info!(task = %task.id, host = %task.host, "task done"),
        Some(e) => warn!(task = %task.id, host = %task.host, "task failed: {e}"),
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn has(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<HasResponse>> {
    authorize_image(&shared, &headers, &name, TaskKind::Capture)?;
    let req: HasRequest = serde_json::from_slice(&body)
        .map_err(|e| Fail(StatusCode::BAD_REQUEST, format!("has: {e}")))?;
    if req.ids.len() > api::MAX_HAS_BATCH {
        return Err(Fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "has: {} ids asked; at most {} per call",
                req.ids.len(),
                api::MAX_HAS_BATCH
            ),
        ));
    }
    let ids = req
        .ids
        .iter()
        .map(|s| parse_chunk_id(s))
        .collect::<ApiResult<Vec<_>>>()?;
    let store = store(&shared)?;
    let have = blocking(move || store.has_many(&ids).map_err(internal)).await?;
    Ok(Json(HasResponse { have }))
}

async fn put_chunk(
    State(shared): State<Arc<Shared>>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    authorize_image(&shared, &headers, &name, TaskKind::Capture)?;
    let id = parse_chunk_id(&id)?;
    let store = store(&shared)?;
    let created = blocking(move || {
        // Decompress and hash before storing: a chunk that is not what its
        // name says never enters the store.
        decode_chunk(&id, &body, "upload")
            .map_err(|e| Fail(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
        let _lock = store.lock(false).map_err(internal)?;
        store.put(&id, &body).map_err(internal)
    })
    .await?;
    shared.metrics.chunk_upload(created);
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    })
}

async fn get_chunk(
    State(shared): State<Arc<Shared>>,
    Path((name, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let task = authorize_image(&shared, &headers, &name, TaskKind::Restore)?;
    let id = parse_chunk_id(&id)?;
    let readable = readable(&shared, &task).await?;
    if !readable.contains(&id) {
        return Err(Fail(
            StatusCode::FORBIDDEN,
            format!(
                "chunk {id} is not part of image {name:?} of task {}",
                task.id
            ),
        ));
    }
    let store = store(&shared)?;
    let raw = blocking(move || store.get_raw(&id).map_err(internal)).await?;
    shared.metrics.chunk_download(raw.len() as u64);
    Ok((
        [(header::CONTENT_TYPE, "application/zstd")],
        Bytes::from(raw),
    )
        .into_response())
}

/// The chunks the task's manifest references, computed once per task.
async fn readable(shared: &Arc<Shared>, task: &Task) -> ApiResult<Arc<HashSet<ChunkId>>> {
    if let Some(set) = shared.readable.get(task) {
        return Ok(set);
    }
    let shared2 = shared.clone();
    let task2 = task.clone();
    let set = blocking(move || {
        let store = store(&shared2)?;
        let id = resolve_restore(&shared2, &task2)?;
        let manifest = catalog::load(store.as_ref(), &id, &store.describe()).map_err(internal)?;
        let mut set = HashSet::new();
        referenced_chunks(&manifest, store.as_ref(), &mut set).map_err(internal)?;
        Ok(Arc::new(set))
    })
    .await?;
    shared.readable.insert(task, set.clone());
    Ok(set)
}

async fn get_manifest(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let task = authorize_image(&shared, &headers, &name, TaskKind::Restore)?;
    let shared2 = shared.clone();
    let bytes = blocking(move || {
        let id = resolve_restore(&shared2, &task)?;
        store(&shared2)?
            .get_manifest(&id)
            .map_err(|e| Fail(StatusCode::NOT_FOUND, e.to_string()))
    })
    .await?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::from(bytes),
    )
        .into_response())
}

async fn commit(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Committed>> {
    let task = authorize_image(&shared, &headers, &name, TaskKind::Capture)?;
    let store = store(&shared)?;
    let committed = blocking(move || {
        let manifest = Manifest::parse(&body, "uploaded", &format!("task {}", task.id))
            .map_err(|e| Fail(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
        let _lock = store.lock(false).map_err(internal)?;
        // Every chunk the manifest names must be here before the name
        // points at it; reading the pieces checks those too.
        let mut needed = HashSet::new();
        referenced_chunks(&manifest, store.as_ref(), &mut needed).map_err(|e| {
            Fail(
                StatusCode::CONFLICT,
                format!("manifest of image {name:?} names a piece that is not uploaded: {e}"),
            )
        })?;
        let needed: Vec<ChunkId> = needed.into_iter().collect();
        let have = store.has_many(&needed).map_err(internal)?;
        let missing: Vec<&ChunkId> = needed
            .iter()
            .zip(&have)
            .filter(|(_, h)| !**h)
            .map(|(id, _)| id)
            .collect();
        if let Some(first) = missing.first() {
            return Err(Fail(
                StatusCode::CONFLICT,
                format!(
                    "manifest of image {name:?} names {} chunk(s) the store lacks, first {first}; upload them before committing",
                    missing.len()
                ),
            ));
        }
        store.flush().map_err(internal)?;
        let id = catalog::commit(store.as_ref(), &name, &manifest, unix_now())
            .map_err(internal)?;
        info!(task = %task.id, image = %name, id = %id, "image committed");
        Ok(Committed {
            id: id.to_hex(),
            image: name,
        })
    })
    .await?;
    Ok(Json(committed))
}
