//! `/api/v1/admin/users`: add (answering with the setup link), list,
//! reset, remove. Admins only.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;

use super::caller::Caller;
use super::page::{self, Page, PageQuery};
use crate::access::Need;
use crate::admin::{self, requests::AddUser, views::SetupLink, views::UserView};
use crate::serve::api_error::{ApiResult, ErrorBody};
use crate::serve::body::{json_body, Small};
use crate::serve::state::Shared;
use crate::tasks::OsRng;

#[utoipa::path(get, path = "/api/v1/admin/users", tag = "users", params(PageQuery),
    responses((status = 200, body = Page<UserView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<UserView>>> {
    caller.require(Need::Admin)?;
    let q: PageQuery = page::query(q.as_deref())?;
    let all = shared.db.call(|db| admin::list_users(db)).await?;
    Ok(Json(Page::of(all, &q)?))
}

/// Adds a user; the answer carries the one-time password-setting link.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "users", request_body = AddUser,
    responses((status = 201, body = SetupLink), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(crate) async fn add(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Small(body): Small,
) -> ApiResult<(StatusCode, Json<SetupLink>)> {
    let who = caller.require(Need::Admin)?;
    let req: AddUser = json_body("user", &body)?;
    let ctx = caller.ctx(who, shared.now());
    let base = admin::setup_link_base(&shared.dirs);
    let link = shared
        .db
        .call(move |db| admin::add_user(db, &ctx, &base, &req.name, &req.role, &mut OsRng))
        .await?;
    Ok((StatusCode::CREATED, Json(link)))
}

/// A new setup link for a user who forgot their password.
#[utoipa::path(post, path = "/api/v1/admin/users/{name}/reset", tag = "users",
    params(("name" = String, Path, description = "user name")),
    responses((status = 200, body = SetupLink), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn reset(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<SetupLink>> {
    let who = caller.require(Need::Admin)?;
    let ctx = caller.ctx(who, shared.now());
    let base = admin::setup_link_base(&shared.dirs);
    Ok(Json(
        shared
            .db
            .call(move |db| admin::reset_user(db, &ctx, &base, &name, &mut OsRng))
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/admin/users/{name}", tag = "users",
    params(("name" = String, Path, description = "user name")),
    responses((status = 204), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn remove(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let who = caller.require(Need::Admin)?;
    let ctx = caller.ctx(who, shared.now());
    shared
        .db
        .call(move |db| admin::remove_user(db, &ctx, &name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
