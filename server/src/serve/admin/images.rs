//! `/api/v1/admin/images`: list, inspect and delete images.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use image_format::view::ImageView;

use super::caller::Caller;
use super::page::{self, Page, PageQuery};
use crate::access::Need;
use crate::admin::{self, views::ExportView, views::ImageInspect, views::ImageRow};
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

/// Exports an image version as a read-only NBD disk, served from the
/// store, for eight hours, under a fresh secret name that the URL carries
/// (exports are not listed). qemu-img, qemu-system (`-drive
/// file=URL,snapshot=on`) and nbd-client read it.
#[utoipa::path(post, path = "/api/v1/admin/images/{image}/export", tag = "images",
    params(("image" = String, Path, description = "NAME or NAME@ID")),
    responses((status = 200, body = ExportView), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn export(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    Path(image): Path<String>,
) -> ApiResult<Json<ExportView>> {
    let who = caller.require(Need::Admin)?;
    let now = shared.now();
    let ctx = caller.ctx(who, now);
    let reference = image.clone();
    // Open the version, then the port (on the first export); either
    // failing is recorded as the request's outcome.
    let opened: ApiResult<(String, ImageView, u16)> = async {
        let store = shared.store()?;
        let (name, view) =
            off_thread(move || crate::nbd::open_export(store, &reference, 256 << 20)).await?;
        Ok((name, view, shared.nbd.listen().await?))
    }
    .await;
    let outcome = match &opened {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("failed: {}", e.clone().message()),
    };
    let expires = now + crate::serve::nbd_exports::EXPORT_SECS;
    let args = serde_json::json!({ "expires": expires });
    let object = image.clone();
    shared
        .db
        .call(move |db| {
            admin::record(
                db,
                &ctx,
                "image.export",
                Some(&object),
                Some(&args),
                &outcome,
            )
        })
        .await?;
    let (name, view, port) = opened?;
    let token = crate::tasks::new_token(&mut crate::tasks::OsRng)?;
    // The host the admin reached this server by reaches its NBD port too.
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(host, _)| host).to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    let size = view.size();
    shared.nbd.add(
        crate::nbd::Exported {
            name: token.clone(),
            view: Arc::new(view),
            expires: Some(expires),
        },
        now,
    );
    Ok(Json(ExportView {
        image: name,
        url: format!("nbd://{host}:{port}/{token}"),
        size,
        expires,
    }))
}
