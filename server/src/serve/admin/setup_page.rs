//! `/setup?token=…`: the page a setup link opens. A plain HTML form (no
//! script, no outside assets) that posts back to `/setup`.

use std::sync::Arc;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use super::caller::Caller;
use super::login::{complete_setup, Setup};
use super::page;
use crate::serve::state::Shared;

pub(crate) const SETUP: &str = "/setup";

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new().route(SETUP, get(form).post(submit))
}

#[derive(Debug, Default, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page_html(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Marrow: {t}</title>\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <style>body{{font-family:sans-serif;max-width:28em;margin:4em auto;color:#222}}\
         label{{display:block;margin:1em 0 .3em}}input{{width:100%;padding:.4em}}\
         button{{margin-top:1.5em;padding:.5em 1.5em}}</style></head>\
         <body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    ))
}

async fn form(State(shared): State<Arc<Shared>>, RawQuery(q): RawQuery) -> Response {
    let q: TokenQuery = page::query(q.as_deref()).unwrap_or_default();
    let Some(token) = q.token else {
        return (
            StatusCode::BAD_REQUEST,
            page_html("Set a password", "<p>This link has no token.</p>"),
        )
            .into_response();
    };
    let first = shared.admin.bootstrap.lock().unwrap().is_some();
    let name = match first {
        true => "<label>Your user name<input name=\"name\" required pattern=\"[A-Za-z0-9._-]{1,64}\"></label>",
        false => "",
    };
    page_html(
        "Set a password",
        &format!(
            "<form method=\"post\" action=\"{SETUP}\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
             {name}<label>Password (10 characters or more)\
             <input type=\"password\" name=\"password\" minlength=\"10\" required></label>\
             <button>Set password</button></form>",
            escape(&token)
        ),
    )
    .into_response()
}

async fn submit(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let address = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let body = axum::body::to_bytes(req.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let setup: Result<Setup, _> = serde_urlencoded::from_bytes(&body);
    let caller = Caller {
        identity: None,
        address,
        cookie: None,
    };
    let result = match setup {
        Ok(s) => complete_setup(&shared, &caller, s).await,
        Err(e) => Err(crate::serve::api_error::ApiError::BadRequest(format!(
            "form: {e}"
        ))),
    };
    match result {
        Ok((name, role)) => page_html(
            "Password set",
            &format!(
                "<p>{} can now sign in, with role {}.</p><p><a href=\"/login\">Sign in</a></p>",
                escape(&name),
                escape(&role)
            ),
        )
        .into_response(),
        Err(e) => {
            let status = e.status();
            (
                status,
                page_html("Not set", &format!("<p>{}</p>", escape(&e.message()))),
            )
                .into_response()
        }
    }
}
