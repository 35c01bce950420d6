//! `/api/v1/admin/tasks`: create, list, show and cancel tasks.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;

use super::caller::Caller;
use super::page::{self, Page, PageQuery};
use crate::access::Need;
use crate::admin::{self, requests::NewTaskRequest, views::CreatedTask, views::TaskView};
use crate::serve::api_error::{ApiResult, ErrorBody};
use crate::serve::body::{json_body, Small};
use crate::serve::state::Shared;
use crate::tasks::OsRng;

/// Every task, oldest first.
#[utoipa::path(get, path = "/api/v1/admin/tasks", tag = "tasks", params(PageQuery),
    responses((status = 200, body = Page<TaskView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<TaskView>>> {
    caller.require(Need::Read)?;
    let q: PageQuery = page::query(q.as_deref())?;
    let all = shared.db.call(|db| admin::list_tasks(db)).await?;
    Ok(Json(Page::of(all, &q)?))
}

/// Makes a capture or restore task for a host's next PXE boot.
#[utoipa::path(post, path = "/api/v1/admin/tasks", tag = "tasks", request_body = NewTaskRequest,
    responses((status = 201, body = CreatedTask), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Small(body): Small,
) -> ApiResult<(StatusCode, Json<CreatedTask>)> {
    let who = caller.require(Need::Operate)?;
    let req: NewTaskRequest = json_body("task", &body)?;
    let ctx = caller.ctx(who, shared.now());
    let store = shared.config.store.clone();
    let iface = shared.wake_iface.clone();
    let created = shared
        .db
        .call(move |db| {
            admin::create_task_and_wake(db, &store, &ctx, &req, iface.as_ref(), &mut OsRng)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One task, with its progress and report.
#[utoipa::path(get, path = "/api/v1/admin/tasks/{id}", tag = "tasks",
    params(("id" = i64, Path, description = "task id")),
    responses((status = 200, body = TaskView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn show(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<TaskView>> {
    caller.require(Need::Read)?;
    Ok(Json(
        shared.db.call(move |db| admin::get_task(db, id)).await?,
    ))
}

/// Cancels a pending or running task.
#[utoipa::path(post, path = "/api/v1/admin/tasks/{id}/cancel", tag = "tasks",
    params(("id" = i64, Path, description = "task id")),
    responses((status = 200, body = TaskView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn cancel(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<TaskView>> {
    let who = caller.require(Need::Operate)?;
    let ctx = caller.ctx(who, shared.now());
    Ok(Json(
        shared
            .db
            .call(move |db| admin::cancel_task(db, &ctx, id))
            .await?,
    ))
}
