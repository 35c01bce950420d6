//! The admin API (`/api/v1/admin/...`): hosts, tasks, images, the audit
//! log, users and tokens, and browser sign-in. Every handler names the
//! [`Need`](crate::access::Need) it checks, calls the same
//! [`crate::admin`] operation the CLI calls, and answers with its view.
//!
//! The OpenAPI 3 document is built from the handlers' annotations by the
//! same `routes!` calls that mount them, so a route cannot be mounted
//! without being described; it is served at `/api/v1/openapi.json`.

mod audit;
pub(crate) mod caller;
mod drivers;
mod events;
mod hosts;
mod images;
pub(crate) mod login;
mod page;
mod schedules;
mod scripts;
mod sessions;
mod setup_page;
mod sites;
mod tasks;
mod tokens;
mod users;

use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state::Shared;
use crate::access::throttle::Throttle;

/// The API's own state: login throttling and the first admin's setup link.
#[derive(Default)]
pub(crate) struct AdminState {
    pub throttle: Mutex<Throttle>,
    /// The BLAKE3 hash of the setup link `marrow serve` printed because
    /// no user exists yet; it makes the first admin.
    pub bootstrap: Mutex<Option<String>>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Marrow admin API",
        description = "Hosts, tasks, images, users, tokens and the audit log of a Marrow server. \
            Send an API token as `Authorization: Bearer TOKEN`, or sign in with \
            `POST /api/v1/admin/login` and send the cookie and its CSRF token."
    ),
    components(schemas(crate::serve::api_error::ErrorBody))
)]
struct ApiDoc;

/// Notes the HTTP base in the data directory (the CLI's links use it) and,
/// while no user exists, makes and prints the first admin's one-time setup
/// link. There is no default user or password.
pub(crate) async fn announce(shared: &Arc<Shared>, base: &str) -> crate::error::Result<()> {
    let mut notes = vec![(shared.dirs.served_url(), base.to_string())];
    if let Some(i) = &shared.wake_iface {
        notes.push((shared.dirs.served_interface(), i.name.clone()));
    }
    for (path, value) in notes {
        if let Err(e) = std::fs::write(&path, format!("{value}\n")) {
            tracing::warn!("{}: {e}", path.display());
        }
    }
    let users = shared.db.call(|db| db.users().count()).await?;
    if users > 0 {
        return Ok(());
    }
    let token = crate::tasks::new_token(&mut crate::tasks::OsRng)?;
    *shared.admin.bootstrap.lock().unwrap() = Some(crate::tasks::token_hash(&token));
    let link = format!("{base}{}?token={token}", setup_page::SETUP);
    tracing::info!("no users yet: the first admin is made by opening the setup link printed on standard output");
    println!("Make the first admin (one-time link, valid until this server stops): {link}");
    Ok(())
}

/// The admin routes and their OpenAPI document.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let (api, doc) = split();
    let doc = Arc::new(doc);
    // The web UI's pages sit behind the same caller layer: one sign-in,
    // one CSRF check, one record of refusals.
    let api = api.merge(crate::serve::ui::routes());
    // So is the sync API, which sites reach on the TLS port.
    let api = api.merge(crate::serve::sync_api::routes());
    api.route_layer(axum::middleware::from_fn_with_state(
        shared.clone(),
        caller::identify,
    ))
    .route(
        OPENAPI,
        get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
    .merge(setup_page::routes())
    .with_state(shared)
}

pub(crate) const OPENAPI: &str = "/api/v1/openapi.json";

/// Every admin route, with its description.
fn split() -> (Router<Arc<Shared>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(hosts::list, hosts::add))
        .routes(routes!(hosts::wake))
        .routes(routes!(hosts::groups))
        .routes(routes!(tasks::list, tasks::create))
        .routes(routes!(tasks::show))
        .routes(routes!(tasks::cancel))
        .routes(routes!(sessions::list, sessions::create))
        .routes(routes!(sessions::show))
        .routes(routes!(sessions::add))
        .routes(routes!(sessions::start))
        .routes(routes!(sessions::cancel))
        .routes(routes!(events::task))
        .routes(routes!(events::session))
        .routes(routes!(events::all))
        .routes(routes!(images::list))
        .routes(routes!(images::inspect, images::delete))
        .routes(routes!(images::export))
        .routes(routes!(drivers::list, drivers::add))
        .routes(routes!(drivers::remove))
        .routes(routes!(drivers::matches))
        .routes(routes!(audit::list))
        .routes(routes!(schedules::list, schedules::add))
        .routes(routes!(schedules::show, schedules::remove))
        .routes(routes!(scripts::list, scripts::add))
        .routes(routes!(scripts::show, scripts::remove))
        .routes(routes!(schedules::pause))
        .routes(routes!(schedules::resume))
        .routes(routes!(users::list, users::add))
        .routes(routes!(users::remove))
        .routes(routes!(users::reset))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::revoke))
        .routes(routes!(sites::list))
        .routes(routes!(sites::pull))
        .routes(routes!(login::login))
        .routes(routes!(login::logout))
        .routes(routes!(login::me))
        .routes(routes!(login::setup))
        .split_for_parts()
}

/// The OpenAPI document, for tests.
#[cfg(test)]
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    split().1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_every_admin_route_with_a_json_error() {
        let doc = serde_json::to_value(openapi()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let mut ops = Vec::new();
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                ops.push(format!("{} {path}", method.to_uppercase()));
                let responses = op["responses"].as_object().unwrap();
                assert!(
                    responses.keys().any(|k| k.starts_with('4')),
                    "{method} {path} documents no 4xx answer"
                );
            }
        }
        ops.sort();
        let want = [
            "DELETE /api/v1/admin/drivers/{package}",
            "DELETE /api/v1/admin/images/{image}",
            "DELETE /api/v1/admin/schedules/{name}",
            "DELETE /api/v1/admin/scripts/{name}",
            "DELETE /api/v1/admin/tokens/{id}",
            "DELETE /api/v1/admin/users/{name}",
            "GET /api/v1/admin/audit",
            "GET /api/v1/admin/drivers",
            "GET /api/v1/admin/events",
            "GET /api/v1/admin/groups",
            "GET /api/v1/admin/hosts",
            "GET /api/v1/admin/images",
            "GET /api/v1/admin/images/{image}",
            "GET /api/v1/admin/me",
            "GET /api/v1/admin/schedules",
            "GET /api/v1/admin/schedules/{name}",
            "GET /api/v1/admin/scripts",
            "GET /api/v1/admin/scripts/{name}",
            "GET /api/v1/admin/sessions",
            "GET /api/v1/admin/sessions/{id}",
            "GET /api/v1/admin/sessions/{id}/events",
            "GET /api/v1/admin/sites",
            "GET /api/v1/admin/tasks",
            "GET /api/v1/admin/tasks/{id}",
            "GET /api/v1/admin/tasks/{id}/events",
            "GET /api/v1/admin/tokens",
            "GET /api/v1/admin/users",
            "POST /api/v1/admin/drivers",
            "POST /api/v1/admin/drivers/match",
            "POST /api/v1/admin/hosts",
            "POST /api/v1/admin/hosts/wake",
            "POST /api/v1/admin/images/{image}/export",
            "POST /api/v1/admin/login",
            "POST /api/v1/admin/logout",
            "POST /api/v1/admin/schedules",
            "POST /api/v1/admin/schedules/{name}/pause",
            "POST /api/v1/admin/schedules/{name}/resume",
            "POST /api/v1/admin/scripts",
            "POST /api/v1/admin/sessions",
            "POST /api/v1/admin/sessions/{id}/cancel",
            "POST /api/v1/admin/sessions/{id}/members",
            "POST /api/v1/admin/sessions/{id}/start",
            "POST /api/v1/admin/setup",
            "POST /api/v1/admin/sites/{name}/pull",
            "POST /api/v1/admin/tasks",
            "POST /api/v1/admin/tasks/{id}/cancel",
            "POST /api/v1/admin/tokens",
            "POST /api/v1/admin/users",
            "POST /api/v1/admin/users/{name}/reset",
        ];
        assert_eq!(ops, want);
    }
}
