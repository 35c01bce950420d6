//! `/users`: the people who sign in and the API tokens scripts use
//! (admins only). A new user's setup link and a new token's secret are
//! shown once, on the page that made them.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::form::{text_input, Fields, Problems};
use super::html::{badge, esc, seg, time, time_opt};
use super::layout::{page, Viewer};
use super::{act, allowed, blocking, failed, see_other, PageResult};
use crate::access::Need;
use crate::admin::{self, requests::NewToken};
use crate::serve::admin::caller::Caller;
use crate::serve::state::Shared;
use crate::tasks::OsRng;

fn role_select(name: &str, roles: &[&str]) -> String {
    let opts: String = roles
        .iter()
        .map(|r| format!("<option value=\"{r}\">{r}</option>"))
        .collect();
    format!("<label>Role <select name=\"{name}\">{opts}</select></label>")
}

/// The page, with `shown` (a link or secret just made) and the forms'
/// problems.
async fn render(
    shared: &Arc<Shared>,
    caller: &Caller,
    shown: &str,
    values: &Fields,
    p: &Problems,
) -> PageResult {
    let who = allowed(caller, Need::Admin)?;
    let viewer = Viewer { who };
    let (users, tokens) = blocking(shared, |db| {
        Ok((admin::list_users(db)?, admin::list_tokens(db)?))
    })
    .await
    .map_err(|e| failed(who, e))?;
    let now = shared.now();
    let csrf = viewer.csrf();
    let user_rows: String = users
        .iter()
        .map(|u| {
            let state = match (u.password_set, u.setup_expires) {
                (true, _) => "live".to_string(),
                (false, Some(e)) if e > now => "link open".to_string(),
                (false, _) => "link expired".to_string(),
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>\
                 <form class=\"inline\" method=\"post\" action=\"/users/{n}/reset\">{csrf}<button>New link</button></form> \
                 <form class=\"inline\" method=\"post\" action=\"/users/{n}/remove\">{csrf}<button class=\"danger\">Remove</button></form></td></tr>",
                esc(&u.name),
                esc(&u.role),
                badge(&state),
                time(u.created, now),
                n = seg(&u.name),
            )
        })
        .collect();
    let token_rows: String = tokens
        .iter()
        .map(|t| {
            let state = match (t.revoked, t.expires) {
                (Some(_), _) => "revoked",
                (None, Some(e)) if e <= now => "expired",
                _ => "live",
            };
            let revoke = match state {
                "live" => format!(
                    "<form class=\"inline\" method=\"post\" action=\"/tokens/{}/revoke\">{csrf}<button class=\"danger\">Revoke</button></form>",
                    t.id
                ),
                _ => String::new(),
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{revoke}</td></tr>",
                t.id,
                esc(t.name.as_deref().unwrap_or("–")),
                esc(&t.role),
                badge(state),
                time_opt(t.expires, now),
                time_opt(t.last_used, now),
            )
        })
        .collect();
    let body = format!(
        "{shown}<h2>Users</h2><table><thead><tr><th>Name</th><th>Role</th><th>State</th><th>Made</th><th></th></tr></thead>\
         <tbody>{user_rows}</tbody></table>\
         <form class=\"panel\" method=\"post\" action=\"/users\">{csrf}{utop}{uname}{urole}<button id=\"add-user\">Add user</button></form>\
         <h2>API tokens</h2><table><thead><tr><th>ID</th><th>Name</th><th>Role</th><th>State</th><th>Expires</th><th>Last used</th><th></th></tr></thead>\
         <tbody>{token_rows}</tbody></table>\
         <form class=\"panel\" method=\"post\" action=\"/tokens\">{csrf}{tname}{trole}{texp}<button id=\"add-token\">Make token</button></form>",
        utop = p.top(),
        uname = text_input("name", "Name", "letters, digits, '.', '_', '-'", values.get("name").as_deref(), p),
        urole = role_select("role", &["viewer", "operator", "admin"]),
        tname = text_input("token_name", "Token name", "what uses it", values.get("token_name").as_deref(), p),
        trole = role_select("token_role", &["viewer", "operator", "admin", "sync"]),
        texp = text_input("expires", "Expires after", "30d, 12h; empty: until revoked", values.get("expires").as_deref(), p),
    );
    let status = match p.is_empty() {
        true => StatusCode::OK,
        false => StatusCode::UNPROCESSABLE_ENTITY,
    };
    Ok((
        status,
        page("Users and tokens", "/users", Some(&viewer), &body),
    )
        .into_response())
}

pub(super) async fn list(State(shared): State<Arc<Shared>>, caller: Caller) -> PageResult {
    render(
        &shared,
        &caller,
        "",
        &Fields::default(),
        &Problems::default(),
    )
    .await
}

fn link_notice(name: &str, link: &str) -> String {
    format!(
        "<p class=\"notice\">Send {} this one-time link to set a password:</p><pre id=\"setup-link\">{}</pre>",
        esc(name),
        esc(link)
    )
}

pub(super) async fn add_user(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    fields: Fields,
) -> PageResult {
    let who = allowed(&caller, Need::Admin)?;
    let ctx = caller.ctx(who, shared.now());
    let base = admin::setup_link_base(&shared.dirs);
    let (name, role) = (
        fields.get("name").unwrap_or_default(),
        fields.get("role").unwrap_or_default(),
    );
    let made = blocking(&shared, move |db| {
        admin::add_user(db, &ctx, &base, &name, &role, &mut OsRng)
    })
    .await;
    match made {
        Ok(link) => {
            render(
                &shared,
                &caller,
                &link_notice(&link.name, &link.link),
                &Fields::default(),
                &Problems::default(),
            )
            .await
        }
        Err(e) => {
            let mut p = Problems::default();
            p.add("name", e.message());
            render(&shared, &caller, "", &fields, &p).await
        }
    }
}

pub(super) async fn user_action(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((name, verb)): Path<(String, String)>,
) -> PageResult {
    let who = allowed(&caller, Need::Admin)?;
    let ctx = caller.ctx(who, shared.now());
    let base = admin::setup_link_base(&shared.dirs);
    let done = blocking(&shared, move |db| match verb.as_str() {
        "reset" => admin::reset_user(db, &ctx, &base, &name, &mut OsRng).map(Some),
        "remove" => admin::remove_user(db, &ctx, &name).map(|_| None),
        other => Err(crate::error::Error::NotFound(format!(
            "no user action {other:?}"
        ))),
    })
    .await
    .map_err(|e| failed(who, e))?;
    match done {
        Some(link) => {
            render(
                &shared,
                &caller,
                &link_notice(&link.name, &link.link),
                &Fields::default(),
                &Problems::default(),
            )
            .await
        }
        None => Ok(see_other("/users")),
    }
}

pub(super) async fn add_token(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    fields: Fields,
) -> PageResult {
    let who = allowed(&caller, Need::Admin)?;
    let ctx = caller.ctx(who, shared.now());
    let req = NewToken {
        role: fields.get("token_role").unwrap_or_default(),
        name: fields.get("token_name"),
        expires: fields.get("expires"),
    };
    match blocking(&shared, move |db| {
        admin::create_token(db, &ctx, &req, &mut OsRng)
    })
    .await
    {
        Ok(t) => {
            let shown = format!(
                "<p class=\"notice\">Token #{} made. Its secret, shown this once:</p><pre id=\"token-secret\">{}</pre>",
                t.id,
                esc(&t.token)
            );
            render(
                &shared,
                &caller,
                &shown,
                &Fields::default(),
                &Problems::default(),
            )
            .await
        }
        Err(e) => {
            let message = e.message();
            let field = if message.contains("expires") {
                "expires"
            } else {
                "token_name"
            };
            let mut p = Problems::default();
            p.add(field, message);
            render(&shared, &caller, "", &fields, &p).await
        }
    }
}

pub(super) async fn revoke_token(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> PageResult {
    act(&shared, &caller, Need::Admin, "/users", move |db, ctx| {
        admin::revoke_token(db, ctx, &id.to_string())
    })
    .await
}
