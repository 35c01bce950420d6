//! Browser sign-in (`login`, `logout`, `me`) and the one-time setup links
//! that set a password (`setup`). Passwords are checked off the async
//! threads (argon2id takes tens of milliseconds by design), and failed
//! logins are throttled per name ([`crate::access::throttle`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::caller::{Caller, SESSION_COOKIE};
use crate::access::{self, password, Need, WEB_SESSION_SECS};
use crate::admin::{self, Ctx};
use crate::serve::api_error::{ApiError, ApiResult, ErrorBody};
use crate::serve::body::{json_body, Small};
use crate::serve::state::Shared;
use crate::tasks::{token_hash, Actor, OsRng};

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct Login {
    pub name: String,
    pub password: String,
}

/// The signed-in caller.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Me {
    /// `user NAME` or `token NAME (#ID)`.
    pub actor: String,
    pub role: String,
    /// For a browser session: the token to send in `X-CSRF-Token` (or a
    /// `csrf` form field) with every state-changing request.
    pub csrf: Option<String>,
}

fn anonymous(caller: &Caller, now: i64) -> Ctx {
    Ctx {
        actor: Actor::Anonymous,
        address: caller.address.clone(),
        now,
    }
}

/// Signs in with a name and password; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/admin/login", tag = "session", request_body = Login,
    responses((status = 200, body = Me), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(crate) async fn login(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Small(body): Small,
) -> ApiResult<Response> {
    let req: Login = json_body("login", &body)?;
    let (set, me) = match sign_in(&shared, &caller, &req).await? {
        Ok(signed) => signed,
        Err(throttled) => return Ok(throttled),
    };
    let mut r = Json(me).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&set).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(r)
}

/// Checks a name and password and opens a browser session: the
/// `Set-Cookie` value and who signed in, or (inner `Err`) the 429 answer
/// of a throttled name. Wrong credentials are a 401; both are audited.
pub(crate) async fn sign_in(
    shared: &Arc<Shared>,
    caller: &Caller,
    req: &Login,
) -> ApiResult<Result<(String, Me), Response>> {
    let now = shared.now();
    let ctx = anonymous(caller, now);
    let wait = shared.admin.throttle.lock().unwrap().check(&req.name, now);
    if let Err(secs) = wait {
        let (c, name) = (ctx.clone(), req.name.clone());
        let outcome = format!("refused: throttled for {secs} s");
        shared
            .db
            .call(move |db| admin::record(db, &c, "login", Some(&name), None, &outcome))
            .await?;
        let mut r = ApiError::TooMany(format!(
            "too many failed logins for {:?}: try again in {secs} s",
            req.name
        ))
        .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs as u64));
        return Ok(Err(r));
    }
    let name = req.name.clone();
    let user = shared.db.call(move |db| db.users().get(&name)).await?;
    let given = req.password.clone();
    let ok = tokio::task::spawn_blocking(move || {
        user.filter(|u| {
            u.password
                .as_deref()
                .is_some_and(|phc| password::verify(&given, phc))
        })
    })
    .await
    .map_err(|e| ApiError::Internal(format!("worker: {e}")))?;
    let Some(user) = ok else {
        shared.admin.throttle.lock().unwrap().failed(&req.name, now);
        let (c, name) = (ctx, req.name.clone());
        shared
            .db
            .call(move |db| {
                admin::record(
                    db,
                    &c,
                    "login",
                    Some(&name),
                    None,
                    "failed: wrong name or password",
                )
            })
            .await?;
        return Err(ApiError::Unauthorized("wrong name or password".into()));
    };
    shared.admin.throttle.lock().unwrap().succeeded(&req.name);
    let who = user.name.clone();
    let (cookie, csrf) = shared
        .db
        .call(move |db| {
            let opened = access::open_session(db, &who, now, &mut OsRng)?;
            let c = Ctx {
                actor: Actor::User(who.clone()),
                ..ctx
            };
            admin::record(db, &c, "login", Some(&who), None, "ok")?;
            Ok(opened)
        })
        .await?;
    let set = format!(
        "{SESSION_COOKIE}={cookie}; HttpOnly; SameSite=Strict; Path=/; Max-Age={WEB_SESSION_SECS}"
    );
    let me = Me {
        actor: Actor::User(user.name).to_string(),
        role: user.role,
        csrf: Some(csrf),
    };
    Ok(Ok((set, me)))
}

/// Signs the browser out.
#[utoipa::path(post, path = "/api/v1/admin/logout", tag = "session",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn logout(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
) -> ApiResult<Response> {
    let clear = sign_out(&shared, &caller).await?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&clear).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(r)
}

/// Closes the caller's browser session (audited); returns the
/// `Set-Cookie` value that clears the cookie.
pub(crate) async fn sign_out(shared: &Arc<Shared>, caller: &Caller) -> ApiResult<String> {
    let who = caller.require(Need::Read)?;
    let ctx = caller.ctx(who, shared.now());
    if let Some(cookie) = caller.cookie.clone() {
        shared
            .db
            .call(move |db| {
                access::close_session(db, &cookie)?;
                admin::record(db, &ctx, "logout", None, None, "ok")
            })
            .await?;
    }
    Ok(format!(
        "{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
    ))
}

/// Who the caller is.
#[utoipa::path(get, path = "/api/v1/admin/me", tag = "session",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub(crate) async fn me(caller: Caller) -> ApiResult<Json<Me>> {
    let who = caller.require(Need::Read)?;
    Ok(Json(Me {
        actor: who.actor.to_string(),
        role: who.role.to_string(),
        csrf: who.csrf.clone(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct Setup {
    /// The token of the link.
    pub token: String,
    pub password: String,
    /// The first admin's name; only for the link `marrow serve` printed.
    #[serde(default)]
    pub name: Option<String>,
}

/// Sets a password through a one-time link (`marrow user add`, or the
/// first admin's link that `marrow serve` prints).
#[utoipa::path(post, path = "/api/v1/admin/setup", tag = "session", request_body = Setup,
    responses((status = 200, body = Me), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub(crate) async fn setup(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Small(body): Small,
) -> ApiResult<Json<Me>> {
    let req: Setup = json_body("setup", &body)?;
    let (name, role) = complete_setup(&shared, &caller, req).await?;
    Ok(Json(Me {
        actor: Actor::User(name).to_string(),
        role,
        csrf: None,
    }))
}

/// Spends a setup link: the first admin's (naming them), or a user's.
/// Returns the user's name and role.
pub(crate) async fn complete_setup(
    shared: &Arc<Shared>,
    caller: &Caller,
    req: Setup,
) -> ApiResult<(String, String)> {
    let now = shared.now();
    let hash = token_hash(&req.token);
    let bootstrap = shared.admin.bootstrap.lock().unwrap().clone();
    let ctx = anonymous(caller, now);
    let password = req.password.clone();
    let phc = tokio::task::spawn_blocking(move || password::hash(&password, &mut OsRng))
        .await
        .map_err(|e| ApiError::Internal(format!("worker: {e}")))??;
    let first = bootstrap.as_deref() == Some(hash.as_str());
    let done = shared
        .db
        .call(move |db| {
            let tx_user = if first {
                let name = req.name.clone().unwrap_or_default();
                if db.users().count()? > 0 {
                    return Ok(None);
                }
                let c = Ctx {
                    actor: Actor::User(name.clone()),
                    ..ctx.clone()
                };
                admin::audited(
                    db,
                    &c,
                    "user.setup-first-admin",
                    Some(&name),
                    json!({}),
                    |db| {
                        admin::check_name("user name", &name)?;
                        db.users().insert(&name, "admin", &hash, now + 60, now)?;
                        db.users().set_password(&name, &phc)?;
                        Ok(())
                    },
                )?;
                Some((name, "admin".to_string()))
            } else {
                match db.users().by_setup(&hash, now)? {
                    None => None,
                    Some(u) => {
                        let c = Ctx {
                            actor: Actor::User(u.name.clone()),
                            ..ctx.clone()
                        };
                        admin::audited(db, &c, "user.setup", Some(&u.name), json!({}), |db| {
                            db.users().set_password(&u.name, &phc)?;
                            db.web_sessions().remove_user(&u.name)
                        })?;
                        Some((u.name, u.role))
                    }
                }
            };
            if tx_user.is_none() {
                admin::record(
                    db,
                    &ctx,
                    "user.setup",
                    None,
                    None,
                    "refused: unknown or spent link",
                )?;
            }
            Ok(tx_user)
        })
        .await?;
    match done {
        Some(user) => {
            if first {
                *shared.admin.bootstrap.lock().unwrap() = None;
            }
            Ok(user)
        }
        None => Err(ApiError::Unauthorized(
            "this setup link is unknown, spent or expired; ask an admin for a new one (`marrow user passwd NAME`)".into(),
        )),
    }
}
