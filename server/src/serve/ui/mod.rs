//! The web UI, served by `marrow serve` at `/`: server-rendered pages for
//! the dashboard, hosts, images, tasks, sessions, schedules, drivers, the
//! upstream sites, the audit log, and users and tokens, with
//! a small script that takes live progress from the admin API's event
//! stream. Pages call the same `crate::admin` operations as the CLI and
//! the admin API, and check the same roles on every post: a viewer is
//! shown no action controls, and a forged post is refused with 403.
//!
//! Sign-in is the admin API's cookie session; every form carries the
//! session's CSRF token, which the identify layer checks.

mod assets;
mod audit;
mod dashboard;
mod drivers;
mod form;
mod hosts;
mod html;
mod images;
mod layout;
mod login;
mod people;
mod schedules;
mod session_form;
mod sessions;
mod sites;
mod tasks;

use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::access::{Identity, Need};
use crate::serve::admin::caller::Caller;
use crate::serve::api_error::ApiError;
use crate::serve::state::Shared;
use layout::{page, Viewer};

/// The UI's routes; the caller layer is added with the admin API's.
pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", get(dashboard::show))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/hosts", get(hosts::list))
        .route("/hosts/{mac}", get(hosts::show).post(hosts::edit))
        .route("/hosts/{mac}/wake", post(hosts::wake))
        .route("/images", get(images::list))
        .route("/images/{image}", get(images::show))
        .route("/images/{image}/delete", post(images::delete))
        .route("/tasks", get(tasks::list).post(tasks::create))
        .route("/tasks/{id}", get(tasks::show))
        .route("/tasks/{id}/cancel", post(tasks::cancel))
        .route("/sessions", get(sessions::list).post(session_form::create))
        .route("/sessions/{id}", get(sessions::show))
        .route("/sessions/{id}/start", post(sessions::start))
        .route("/sessions/{id}/cancel", post(sessions::cancel))
        .route("/sessions/{id}/members", post(sessions::add))
        .route("/schedules", get(schedules::list).post(schedules::add))
        .route("/schedules/{name}/{verb}", post(schedules::change))
        .route("/users", get(people::list).post(people::add_user))
        .route("/users/{name}/{verb}", post(people::user_action))
        .route("/tokens", post(people::add_token))
        .route("/tokens/{id}/revoke", post(people::revoke_token))
        .route("/sites", get(sites::list))
        .route("/sites/{name}/pull", post(sites::pull))
        .route("/drivers", get(drivers::list))
        .route("/drivers/{package}/remove", post(drivers::remove))
        .route("/audit", get(audit::list))
        .route(assets::CSS_PATH, get(assets::css))
        .route(assets::JS_PATH, get(assets::js))
}

/// An answer of a page handler: the page, or a redirect, or an error page.
type PageResult = Result<Response, Response>;

/// The signed-in caller, or a redirect to the sign-in page. (The error
/// is the response itself, made once per request: boxing it buys nothing.)
#[allow(clippy::result_large_err)]
fn signed_in(caller: &Caller) -> Result<&Identity, Response> {
    caller
        .identity
        .as_ref()
        .ok_or_else(|| Redirect::to("/login").into_response())
}

/// The caller, when their role allows `need`; else the 403 page (a
/// forged post from a viewer lands here, and is audited by the layer).
#[allow(clippy::result_large_err)]
fn allowed(caller: &Caller, need: Need) -> Result<&Identity, Response> {
    let who = signed_in(caller)?;
    caller
        .require(need)
        .map_err(|e| error_page(Some(who), StatusCode::FORBIDDEN, &e.message()))?;
    Ok(who)
}

/// A page saying what failed.
fn error_page(who: Option<&Identity>, status: StatusCode, message: &str) -> Response {
    let viewer = who.map(|who| Viewer { who });
    let body = format!("<p class=\"problem\">{}</p>", html::esc(message));
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        _ => "Something failed",
    };
    (status, page(title, "", viewer.as_ref(), &body)).into_response()
}

/// An operation's error as a page, with the status the API would give.
fn failed(who: &Identity, e: impl Into<ApiError>) -> Response {
    let e: ApiError = e.into();
    error_page(Some(who), e.status(), &e.message())
}

/// After a post: to `to`, with 303 so the browser fetches it.
fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// A post: runs `op` for a caller whose role allows `need` (the 403 page
/// otherwise), then sends the browser to `to`; a failure is its page.
async fn act<T: Send + 'static>(
    shared: &Arc<Shared>,
    caller: &Caller,
    need: Need,
    to: &str,
    op: impl FnOnce(&mut crate::db::Db, &crate::admin::Ctx) -> crate::error::Result<T> + Send + 'static,
) -> PageResult {
    let who = allowed(caller, need)?;
    let ctx = caller.ctx(who, shared.now());
    blocking(shared, move |db| op(db, &ctx))
        .await
        .map_err(|e| failed(who, e))?;
    Ok(see_other(to))
}

/// Runs a blocking database or store call off the async threads.
async fn blocking<T: Send + 'static>(
    shared: &Arc<Shared>,
    f: impl FnOnce(&mut crate::db::Db) -> crate::error::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    Ok(shared.db.call(f).await?)
}
