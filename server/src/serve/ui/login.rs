//! `/login` and `/logout`: the admin API's cookie session, from a form.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::form::{text_input, Fields, Problems};
use super::layout::page;
use super::{see_other, PageResult};
use crate::serve::admin::caller::Caller;
use crate::serve::admin::login::{sign_in, sign_out, Login};
use crate::serve::state::Shared;

fn login_page(name: Option<&str>, problems: &Problems) -> String {
    format!(
        "<div class=\"login\"><form class=\"panel\" method=\"post\" action=\"/login\">{}{}\
         <label>Password <input type=\"password\" name=\"password\" required{}>{}</label>\
         <button id=\"sign-in\">Sign in</button></form>\
         <p class=\"muted\">No account yet? The first <code>marrow serve</code> prints a \
         setup link for the first admin; admins make the others with <code>marrow user add</code>.</p></div>",
        problems.top(),
        text_input("name", "Name", "", name, problems),
        problems.invalid("password"),
        problems.under("password"),
    )
}

pub(super) async fn form(caller: Caller) -> Response {
    if caller.identity.is_some() {
        return see_other("/");
    }
    page("Sign in", "", None, &login_page(None, &Problems::default())).into_response()
}

pub(super) async fn submit(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    fields: Fields,
) -> Response {
    let name = fields.get("name").unwrap_or_default();
    let password = fields.0.get("password").cloned().unwrap_or_default();
    let mut problems = Problems::default();
    if name.is_empty() {
        problems.add("name", "give your user name");
    }
    if password.is_empty() {
        problems.add("password", "give your password");
    }
    if problems.is_empty() {
        let req = Login {
            name: name.clone(),
            password,
        };
        match sign_in(&shared, &caller, &req).await {
            Ok(Ok((cookie, _))) => {
                let mut r = see_other("/");
                if let Ok(v) = HeaderValue::from_str(&cookie) {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                }
                return r;
            }
            Ok(Err(throttled)) => {
                let why = throttled
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(|s| format!("too many failed sign-ins: try again in {s} s"))
                    .unwrap_or_else(|| "too many failed sign-ins: wait a little".into());
                problems.add("", why);
            }
            Err(e) => problems.add("password", e.message()),
        }
    }
    let status = match problems.0.contains_key("") {
        true => StatusCode::TOO_MANY_REQUESTS,
        false => StatusCode::UNAUTHORIZED,
    };
    (
        status,
        page("Sign in", "", None, &login_page(Some(&name), &problems)),
    )
        .into_response()
}

pub(super) async fn logout(State(shared): State<Arc<Shared>>, caller: Caller) -> PageResult {
    let clear = sign_out(&shared, &caller)
        .await
        .map_err(|_| see_other("/login"))?;
    let mut r = see_other("/login");
    if let Ok(v) = HeaderValue::from_str(&clear) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}
