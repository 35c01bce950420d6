//! `/api/v1/admin/scripts`: the post-deploy scripts restores run. Anyone
//! signed in may list them; their text (which may hold a site's secrets)
//! and changes are for admins.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::caller::Caller;
use super::page::{self, Page, PageQuery};
use crate::access::Need;
use crate::admin::{self, requests::AddScript, views::ScriptView};
use crate::serve::api_error::{ApiResult, ErrorBody};
use crate::serve::body::{json_body, Small};
use crate::serve::state::Shared;

/// A script with its text.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScriptText {
    name: String,
    body: String,
}

#[utoipa::path(get, path = "/api/v1/admin/scripts", tag = "scripts", params(PageQuery),
    responses((status = 200, body = Page<ScriptView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<ScriptView>>> {
    caller.require(Need::Read)?;
    let q: PageQuery = page::query(q.as_deref())?;
    let all = shared.db.call(|db| admin::list_scripts(db)).await?;
    Ok(Json(Page::of(all, &q)?))
}

#[utoipa::path(post, path = "/api/v1/admin/scripts", tag = "scripts", request_body = AddScript,
    responses((status = 201, body = ScriptView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub(crate) async fn add(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Small(body): Small,
) -> ApiResult<(StatusCode, Json<ScriptView>)> {
    let who = caller.require(Need::Admin)?;
    let req: AddScript = json_body("script", &body)?;
    let ctx = caller.ctx(who, shared.now());
    let v = shared
        .db
        .call(move |db| admin::add_script(db, &ctx, &req))
        .await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(get, path = "/api/v1/admin/scripts/{name}", tag = "scripts",
    params(("name" = String, Path, description = "script name")),
    responses((status = 200, body = ScriptText), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn show(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<ScriptText>> {
    caller.require(Need::Admin)?;
    let n = name.clone();
    let body = shared.db.call(move |db| admin::script_body(db, &n)).await?;
    Ok(Json(ScriptText { name, body }))
}

#[utoipa::path(delete, path = "/api/v1/admin/scripts/{name}", tag = "scripts",
    params(("name" = String, Path, description = "script name")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn remove(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let who = caller.require(Need::Admin)?;
    let ctx = caller.ctx(who, shared.now());
    shared
        .db
        .call(move |db| admin::remove_script(db, &ctx, &name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
