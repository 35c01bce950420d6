//! `/api/v1/admin/images`: list, inspect and delete images.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::Json;

use super::caller::Caller;
use super::page::{self, Page, PageQuery};
use crate::access::Need;
use crate::admin::{self, views::ImageInspect, views::ImageRow};
use crate::serve::api_error::{ApiResult, ErrorBody};
use crate::serve::off_thread::off_thread;
use crate::serve::state::Shared;

/// The latest version of every image name.
#[utoipa::path(get, path = "/api/v1/admin/images", tag = "images", params(PageQuery),
    responses((status = 200, body = Page<ImageRow>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<ImageRow>>> {
    caller.require(Need::Read)?;
    let q: PageQuery = page::query(q.as_deref())?;
    let path = shared.config.store.clone();
    let all = off_thread(move || admin::list_images(&path)).await?;
    Ok(Json(Page::of(all, &q)?))
}

/// Deletes an image name, or one version with `NAME@ID`; answers with the
/// versions removed.
#[utoipa::path(delete, path = "/api/v1/admin/images/{image}", tag = "images",
    params(("image" = String, Path, description = "NAME or NAME@ID")),
    responses((status = 200, body = Vec<String>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(image): Path<String>,
) -> ApiResult<Json<Vec<String>>> {
    let who = caller.require(Need::Admin)?;
    let ctx = caller.ctx(who, shared.now());
    let path = shared.config.store.clone();
    Ok(Json(
        shared
            .db
            .call(move |db| admin::delete_image(db, &ctx, &path, &image))
            .await?,
    ))
}

/// One version's layout, regions, stored size and what it shares with
/// the other images.
#[utoipa::path(get, path = "/api/v1/admin/images/{image}", tag = "images",
    params(("image" = String, Path, description = "NAME or NAME@ID")),
    responses((status = 200, body = ImageInspect), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn inspect(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(image): Path<String>,
) -> ApiResult<Json<ImageInspect>> {
    caller.require(Need::Read)?;
    let path = shared.config.store.clone();
    let v = off_thread(move || admin::inspect_image(&path, &image)).await?;
    Ok(Json(v))
}
