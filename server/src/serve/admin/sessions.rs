//! `/api/v1/admin/sessions`: multicast sessions — create, add members,
//! start, cancel, list, show. Their live view is
//! `/api/v1/admin/sessions/{id}/events` (events.rs).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;

use super::caller::Caller;
use super::page::{self, Page, PageQuery};
use crate::access::Need;
use crate::admin::requests::{AddMembers, NewSessionRequest};
use crate::admin::views::{CreatedSession, MemberView};
use crate::admin::{self};
use crate::serve::api_error::{ApiResult, ErrorBody};
use crate::serve::body::{json_body, Small};
use crate::serve::state::Shared;
use crate::sessions::view::SessionView;
use crate::tasks::OsRng;

/// Every session, oldest first, with its receivers.
#[utoipa::path(get, path = "/api/v1/admin/sessions", tag = "sessions", params(PageQuery),
    responses((status = 200, body = Page<SessionView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<SessionView>>> {
    caller.require(Need::Read)?;
    let q: PageQuery = page::query(q.as_deref())?;
    let all = shared.db.call(|db| admin::list_sessions(db)).await?;
    Ok(Json(Page::of(all, &q)?))
}

/// Makes a session and a restore task for each member host.
#[utoipa::path(post, path = "/api/v1/admin/sessions", tag = "sessions",
    request_body = NewSessionRequest,
    responses((status = 201, body = CreatedSession), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Small(body): Small,
) -> ApiResult<(StatusCode, Json<CreatedSession>)> {
    let who = caller.require(Need::Operate)?;
    let req: NewSessionRequest = json_body("session", &body)?;
    let ctx = caller.ctx(who, shared.now());
    let store = shared.config.store.clone();
    let created = shared
        .db
        .call(move |db| admin::create_session(db, &store, &ctx, &req, &mut OsRng))
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One session and each receiver's state.
#[utoipa::path(get, path = "/api/v1/admin/sessions/{id}", tag = "sessions",
    params(("id" = i64, Path, description = "session id")),
    responses((status = 200, body = SessionView), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn show(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<SessionView>> {
    caller.require(Need::Read)?;
    Ok(Json(
        shared.db.call(move |db| admin::get_session(db, id)).await?,
    ))
}

/// Adds member hosts to a waiting or running session.
#[utoipa::path(post, path = "/api/v1/admin/sessions/{id}/members", tag = "sessions",
    params(("id" = i64, Path, description = "session id")), request_body = AddMembers,
    responses((status = 200, body = Vec<MemberView>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn add(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<i64>,
    Small(body): Small,
) -> ApiResult<Json<Vec<MemberView>>> {
    let who = caller.require(Need::Operate)?;
    let req: AddMembers = json_body("members", &body)?;
    let ctx = caller.ctx(who, shared.now());
    let added = shared
        .db
        .call(move |db| admin::add_members(db, &ctx, id, &req, &mut OsRng))
        .await?;
    Ok(Json(added))
}

/// Asks a waiting session to start now.
#[utoipa::path(post, path = "/api/v1/admin/sessions/{id}/start", tag = "sessions",
    params(("id" = i64, Path, description = "session id")),
    responses((status = 200, body = SessionView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn start(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<SessionView>> {
    let who = caller.require(Need::Operate)?;
    let ctx = caller.ctx(who, shared.now());
    Ok(Json(
        shared
            .db
            .call(move |db| admin::start_session(db, &ctx, id))
            .await?,
    ))
}

/// Cancels a session and its members' tasks.
#[utoipa::path(post, path = "/api/v1/admin/sessions/{id}/cancel", tag = "sessions",
    params(("id" = i64, Path, description = "session id")),
    responses((status = 200, body = SessionView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn cancel(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Json<SessionView>> {
    let who = caller.require(Need::Operate)?;
    let ctx = caller.ctx(who, shared.now());
    Ok(Json(
        shared
            .db
            .call(move |db| admin::cancel_session(db, &ctx, id))
            .await?,
    ))
}
