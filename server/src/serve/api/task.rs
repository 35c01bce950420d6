//! The task calls: claim, inventory, progress, report.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use image_format::store::{LockMode, LockStore, ReadStore};
use marrow_protocol::api::{Progress, Report, TaskInfo};
use tracing::{info, warn};

use super::{blocking, json_body, ApiError, ApiResult};
use crate::serve::auth::{image_name, TaskAuth};
use crate::serve::body::Small;
use crate::serve::read_through;
use crate::serve::state::Shared;
use crate::tasks::{self, Actor, Claim};

pub(super) async fn claim(
    State(shared): State<Arc<Shared>>,
    auth: TaskAuth,
) -> ApiResult<Json<TaskInfo>> {
    let store = shared.store()?;
    let db = shared.db.clone();
    let now = shared.now();
    let token = auth.token;
    let shared2 = shared.clone();
    let claimed = blocking(move || {
        // Read-through talks to the upstream: before the database's lock.
        let staged = read_through::stage_for_claim(&shared2, &token)?;
        let fetched = read_through::fetched(&staged);
        let claimed = db.blocking(|db| {
            let claimed =
                tasks::claim(db, &token, store.as_ref(), &store.describe(), fetched, now)?;
            let post = match &claimed {
                Some(Claim::Claimed(task)) => tasks::post_deploy(db, task)?,
                _ => Default::default(),
            };
            Ok::<_, crate::error::Error>((claimed, post))
        })?;
        if let (Some(Claim::Claimed(task)), _) = &claimed {
            // Held until the task ends: gc waits for it (see holds.rs).
            let lock = store.lock(LockMode::Shared)?;
            shared2.images.holds.hold(task.id, lock);
            if let Some(Ok(staged)) = staged {
                if task.manifest == Some(staged.id) {
                    read_through::complete_in_background(shared2.clone(), staged, task.id.0);
                }
            }
        }
        Ok(claimed)
    })
    .await?;
    let (claimed, post) = claimed;
    let task = match claimed {
        Some(Claim::Claimed(task)) => *task,
        Some(Claim::ImageMissing(why)) => return Err(ApiError::NotFound(why)),
        None => return Err(ApiError::Unauthorized("task ended meanwhile".into())),
    };
    info!(task = %task.id, mac = %task.host, image = %task.image, "task claimed");
    Ok(Json(TaskInfo {
        id: task.id,
        kind: task.kind,
        image: image_name(&task)?,
        manifest: task.manifest,
        disk: task.disk_rule.clone(),
        grow_last_partition: task.grow_last_partition,
        after: task.after,
        inject_drivers: task.inject_drivers.clone(),
        session: task.session,
        post,
    }))
}

pub(super) async fn inventory(
    State(shared): State<Arc<Shared>>,
    auth: TaskAuth,
    Small(body): Small,
) -> ApiResult<StatusCode> {
    let task = auth.task;
    let value: serde_json::Value = json_body("inventory", &body)?;
    if !value.is_object() || value.get("pci").is_none() {
        return Err(ApiError::Unprocessable(
            "inventory: expected the object `marrow-client inventory --json` prints".into(),
        ));
    }
    let text = value.to_string();
    // What the driver plan will read from it must parse now, not at the
    // plan (a bad inventory is the client's fault: 422, not a later 500).
    driver_store::devices_from_inventory(&text)
        .map_err(|e| ApiError::Unprocessable(format!("inventory: {e}")))?;
    let (host, now) = (task.host, shared.now());
    shared
        .db
        .call(move |db| db.hosts().set_inventory(host, &text, now))
        .await?;
    shared.images.driver_plans.forget(&task);
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn progress(
    State(shared): State<Arc<Shared>>,
    auth: TaskAuth,
    Small(body): Small,
) -> ApiResult<StatusCode> {
    let p: Progress = json_body("progress", &body)?;
    let text = serde_json::to_string(&p).map_err(|e| ApiError::Internal(e.to_string()))?;
    let (id, now) = (auth.task.id, shared.now());
    shared
        .db
        .call(move |db| tasks::progress(db, id, &text, now))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn report(
    State(shared): State<Arc<Shared>>,
    auth: TaskAuth,
    Small(body): Small,
) -> ApiResult<StatusCode> {
    let task = auth.task;
    let r: Report = json_body("report", &body)?;
    let text = serde_json::to_string(&r).map_err(|e| ApiError::Internal(e.to_string()))?;
    let (id, now, error) = (task.id, shared.now(), r.error.clone());
    shared
        .db
        .call(move |db| tasks::finish(db, &Actor::Client(id), id, &text, error.as_deref(), now))
        .await?;
    shared.images.readable.forget(&task);
    shared.images.driver_plans.forget(&task);
    crate::serve::holds::release(&shared, task.id).await;
    match &r.error {
        None => info!(task = %task.id, mac = %task.host, image = %task.image, "task done"),
        Some(e) => {
            warn!(task = %task.id, mac = %task.host, image = %task.image, "task failed: {e}")
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
