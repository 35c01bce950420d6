//! `/api/v1/admin/sites`: the upstreams this server pulls from, with
//! their last pulls, and "pull now". Adding and removing a site stays at
//! the server's shell (`marrow site add|remove`), where its token is typed.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use super::caller::Caller;
use crate::access::Need;
use crate::admin::{self, views::SiteView};
use crate::serve::api_error::{ApiResult, ErrorBody};
use crate::serve::state::Shared;
use crate::serve::sync_runner;

/// Every upstream site, with its newest pull (running ones with their
/// counts so far).
#[utoipa::path(get, path = "/api/v1/admin/sites", tag = "sites",
    responses((status = 200, body = Vec<SiteView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
) -> ApiResult<Json<Vec<SiteView>>> {
    caller.require(Need::Read)?;
    let dirs = shared.dirs.clone();
    Ok(Json(
        shared
            .db
            .call(move |db| admin::list_sites(db, &dirs))
            .await?,
    ))
}

/// Starts a pull from the site now, in the background (202); its run
/// shows in the listing and in `marrow sync status`.
#[utoipa::path(post, path = "/api/v1/admin/sites/{name}/pull", tag = "sites",
    params(("name" = String, Path, description = "the site")),
    responses((status = 202, description = "the pull started"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(crate) async fn pull(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let who = caller.require(Need::Operate)?;
    let ctx = caller.ctx(who, shared.now());
    sync_runner::pull_now(shared, name, ctx).await?;
    Ok(StatusCode::ACCEPTED)
}
