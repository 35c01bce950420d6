//! The client API (`marrow_protocol::api`, routes in
//! `marrow_protocol::routes`): the imaging client claims its task, reports
//! inventory and progress, moves chunks and commits or fetches its
//! manifest, and fetches the drivers planned for it.
//!
//! Access: every call carries the task's current one-time token
//! ([`super::auth::TaskAuth`]). The token decides the task, the task
//! decides the image and the direction (a capture writes, a restore
//! reads), and any other image in a path is refused. A restore reads only
//! chunks its manifest references.

mod drivers;
mod images;
mod session;
mod task;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::routing::{get, post, put};
use axum::Router;
use marrow_protocol::routes;

use super::api_error::{ApiError, ApiResult};
use super::body::json_body;
use super::state::Shared;
use crate::db::Task;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(routes::CLAIM, post(task::claim))
        .route(routes::INVENTORY, put(task::inventory))
        .route(routes::PROGRESS, post(task::progress))
        .route(routes::REPORT, post(task::report))
        .route(routes::DRIVERS, get(drivers::plan))
        .route(routes::DRIVER_FILE, get(drivers::file))
        .route(routes::SESSION_JOIN, post(session::join))
        .route(routes::SESSION_REPORT, post(session::report))
        .route(routes::CHUNKS_HAS, post(images::has))
        .route(routes::CHUNK, put(images::put_chunk).get(images::get_chunk))
        .route(
            routes::MANIFEST,
            get(images::get_manifest).post(images::commit),
        )
}

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

/// Runs store and file work on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("worker: {e}")))?
}
