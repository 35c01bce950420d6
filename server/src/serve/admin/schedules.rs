//! `/api/v1/admin/schedules`: add, list, show, pause, resume, remove.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;

use super::caller::Caller;
use super::page::{self, Page, PageQuery};
use crate::access::Need;
use crate::schedules::{self, NewSchedule, ScheduleView};
use crate::serve::api_error::{ApiResult, ErrorBody};
use crate::serve::body::{json_body, Small};
use crate::serve::state::Shared;

/// Schedules, with their next run and last outcome.
#[utoipa::path(get, path = "/api/v1/admin/schedules", tag = "schedules", params(PageQuery),
    responses((status = 200, body = Page<ScheduleView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<ScheduleView>>> {
    caller.require(Need::Read)?;
    let q: PageQuery = page::query(q.as_deref())?;
    let now = shared.now();
    let all = shared.db.call(move |db| schedules::list(db, now)).await?;
    Ok(Json(Page::of(all, &q)?))
}

/// Adds a schedule; its command is checked now.
#[utoipa::path(post, path = "/api/v1/admin/schedules", tag = "schedules", request_body = NewSchedule,
    responses((status = 201, body = ScheduleView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(crate) async fn add(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Small(body): Small,
) -> ApiResult<(StatusCode, Json<ScheduleView>)> {
    let who = caller.require(Need::Operate)?;
    let req: NewSchedule = json_body("schedule", &body)?;
    let ctx = caller.ctx(who, shared.now());
    let v = shared
        .db
        .call(move |db| schedules::add(db, &ctx, &req))
        .await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// One schedule, its next runs and its history.
#[utoipa::path(get, path = "/api/v1/admin/schedules/{name}", tag = "schedules",
    params(("name" = String, Path, description = "schedule name")),
    responses((status = 200, body = ScheduleView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn show(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<ScheduleView>> {
    caller.require(Need::Read)?;
    let now = shared.now();
    Ok(Json(
        shared
            .db
            .call(move |db| schedules::show(db, &name, now))
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/admin/schedules/{name}", tag = "schedules",
    params(("name" = String, Path, description = "schedule name")),
    responses((status = 204), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn remove(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let who = caller.require(Need::Operate)?;
    let ctx = caller.ctx(who, shared.now());
    shared
        .db
        .call(move |db| schedules::remove(db, &ctx, &name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_paused(
    shared: Arc<Shared>,
    caller: Caller,
    name: String,
    paused: bool,
) -> ApiResult<Json<ScheduleView>> {
    let who = caller.require(Need::Operate)?;
    let ctx = caller.ctx(who, shared.now());
    Ok(Json(
        shared
            .db
            .call(move |db| schedules::set_paused(db, &ctx, &name, paused))
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/admin/schedules/{name}/pause", tag = "schedules",
    params(("name" = String, Path, description = "schedule name")),
    responses((status = 200, body = ScheduleView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn pause(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<ScheduleView>> {
    set_paused(shared, caller, name, true).await
}

#[utoipa::path(post, path = "/api/v1/admin/schedules/{name}/resume", tag = "schedules",
    params(("name" = String, Path, description = "schedule name")),
    responses((status = 200, body = ScheduleView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn resume(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<ScheduleView>> {
    set_paused(shared, caller, name, false).await
}
