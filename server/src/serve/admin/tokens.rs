//! `/api/v1/admin/tokens`: create (the secret is in the answer, once),
//! list, revoke. Admins only.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;

use super::caller::Caller;
use super::page::{self, Page, PageQuery};
use crate::access::Need;
use crate::admin::{self, requests::NewToken, views::CreatedToken, views::TokenView};
use crate::serve::api_error::{ApiResult, ErrorBody};
use crate::serve::body::{json_body, Small};
use crate::serve::state::Shared;
use crate::tasks::OsRng;

#[utoipa::path(get, path = "/api/v1/admin/tokens", tag = "tokens", params(PageQuery),
    responses((status = 200, body = Page<TokenView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<TokenView>>> {
    caller.require(Need::Admin)?;
    let q: PageQuery = page::query(q.as_deref())?;
    let all = shared.db.call(|db| admin::list_tokens(db)).await?;
    Ok(Json(Page::of(all, &q)?))
}

#[utoipa::path(post, path = "/api/v1/admin/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Small(body): Small,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let who = caller.require(Need::Admin)?;
    let req: NewToken = json_body("token", &body)?;
    let ctx = caller.ctx(who, shared.now());
    let created = shared
        .db
        .call(move |db| admin::create_token(db, &ctx, &req, &mut OsRng))
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revokes a token by id or name.
#[utoipa::path(delete, path = "/api/v1/admin/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "token id or name")),
    responses((status = 204), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let who = caller.require(Need::Admin)?;
    let ctx = caller.ctx(who, shared.now());
    shared
        .db
        .call(move |db| admin::revoke_token(db, &ctx, &id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
