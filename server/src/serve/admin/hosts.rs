//! `/api/v1/admin/hosts`: list and register hosts, wake them; and
//! `/api/v1/admin/groups`, the rooms they stand in.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;

use super::caller::Caller;
use super::page::{self, Page, PageQuery};
use crate::access::Need;
use crate::admin;
use crate::admin::requests::{AddHost, WakeRequest};
use crate::admin::views::{GroupView, HostView, WakeReport};
use crate::serve::api_error::{ApiError, ApiResult, ErrorBody};
use crate::serve::body::{json_body, Small};
use crate::serve::state::Shared;

/// Registered hosts, by MAC.
#[utoipa::path(get, path = "/api/v1/admin/hosts", tag = "hosts", params(PageQuery),
    responses((status = 200, body = Page<HostView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<HostView>>> {
    caller.require(Need::Read)?;
    let q: PageQuery = page::query(q.as_deref())?;
    let all = shared.db.call(|db| admin::list_hosts(db)).await?;
    Ok(Json(Page::of(all, &q)?))
}

/// The groups (rooms) and their hosts, by name.
#[utoipa::path(get, path = "/api/v1/admin/groups", tag = "hosts", params(PageQuery),
    responses((status = 200, body = Page<GroupView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn groups(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<GroupView>>> {
    caller.require(Need::Read)?;
    let q: PageQuery = page::query(q.as_deref())?;
    let all = shared.db.call(|db| admin::list_groups(db)).await?;
    Ok(Json(Page::of(all, &q)?))
}

/// Registers or names a host, and sets its group.
#[utoipa::path(post, path = "/api/v1/admin/hosts", tag = "hosts", request_body = AddHost,
    responses((status = 201, body = HostView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(crate) async fn add(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Small(body): Small,
) -> ApiResult<(StatusCode, Json<HostView>)> {
    let who = caller.require(Need::Admin)?;
    let req: AddHost = json_body("host", &body)?;
    let ctx = caller.ctx(who, shared.now());
    let host = shared
        .db
        .call(move |db| admin::add_host(db, &ctx, &req))
        .await?;
    Ok((StatusCode::CREATED, Json(host)))
}

/// Sends Wake-on-LAN magic packets to hosts or a group, on the interface
/// that serves the rooms.
#[utoipa::path(post, path = "/api/v1/admin/hosts/wake", tag = "hosts", request_body = WakeRequest,
    responses((status = 200, body = WakeReport), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn wake(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Small(body): Small,
) -> ApiResult<Json<WakeReport>> {
    let who = caller.require(Need::Operate)?;
    let req: WakeRequest = json_body("wake", &body)?;
    let ctx = caller.ctx(who, shared.now());
    let iface = shared.wake_iface.clone().ok_or_else(|| {
        ApiError::Unavailable("this server serves no interface to wake hosts on".into())
    })?;
    Ok(Json(
        shared
            .db
            .call(move |db| admin::wake_hosts(db, &ctx, &iface, &req))
            .await?,
    ))
}
