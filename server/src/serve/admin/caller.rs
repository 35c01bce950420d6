//! Who calls the admin API, worked out once per request by [`identify`]
//! (a middleware), then asked for by each handler through [`Caller`].
//!
//! - A bearer token (`Authorization: Bearer mrw_…`) is an API token.
//! - A `marrow_session` cookie is a signed-in browser. A browser sends
//!   cookies on its own, so every state-changing request on a cookie must
//!   also carry the session's CSRF token, in an `X-CSRF-Token` header or
//!   a `csrf` form field (the synchronizer-token pattern, OWASP CSRF
//!   cheat sheet); the cookie is `SameSite=Strict` as a second fence.
//!
//! Every refused request (401, 403) is written to the audit log here.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::access::{self, Identity, Need};
use crate::admin::{self, Ctx};
use crate::serve::api_error::{ApiError, ApiResult};
use crate::serve::auth::bearer;
use crate::serve::body;
use crate::serve::state::Shared;
use crate::tasks::Actor;

pub(crate) const SESSION_COOKIE: &str = "marrow_session";
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// What [`identify`] found, for the handlers.
#[derive(Clone)]
pub(crate) struct Caller {
    pub identity: Option<Identity>,
    pub address: Option<String>,
    /// The session cookie as sent, for logout.
    pub cookie: Option<String>,
}

impl Caller {
    /// The identity, when its role allows `need`: else 401 without
    /// credentials, 403 with the wrong role.
    pub fn require(&self, need: Need) -> ApiResult<&Identity> {
        let who = self.identity.as_ref().ok_or_else(|| {
            ApiError::Unauthorized(
                "sign in, or send Authorization: Bearer TOKEN with an API token".into(),
            )
        })?;
        if !who.role.allows(need) {
            return Err(ApiError::Forbidden(format!(
                "{} has role {}, which may not {}",
                who.actor,
                who.role,
                match need {
                    Need::Read => "read",
                    Need::Operate => "create, cancel or schedule tasks and sessions",
                    Need::Admin => "administer hosts, images, users and tokens",
                    Need::Sync => "pull images (that needs a token made with --scope sync)",
                }
            )));
        }
        Ok(who)
    }

    /// The audit context of this call.
    pub fn ctx(&self, who: &Identity, now: i64) -> Ctx {
        Ctx {
            actor: who.actor.clone(),
            address: self.address.clone(),
            now,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> ApiResult<Self> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("admin route without the identify layer".into()))
    }
}

/// The value of cookie `name` (RFC 6265 §5.4: `a=b; c=d`).
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn unsafe_method(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Resolves the caller, checks CSRF, runs the handler, and records refusals.
pub(crate) async fn identify(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let address = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let now = shared.now();
    let token = bearer(req.headers()).map(str::to_string);
    let session = cookie(req.headers(), SESSION_COOKIE).map(str::to_string);
    let lookup = (token.clone(), session.clone());
    let identity = shared
        .db
        .call(move |db| match lookup {
            (Some(t), _) => access::by_token(db, &t, now),
            (None, Some(c)) => access::by_cookie(db, &c, now),
            (None, None) => Ok(None),
        })
        .await;
    let identity = match identity {
        Ok(i) => i,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let caller = Caller {
        identity,
        address,
        cookie: session,
    };
    let (req, refused) = match csrf_check(&caller, req).await {
        Ok(req) => (Some(req), None),
        Err(e) => (None, Some(e)),
    };
    let response = match (req, refused) {
        (Some(mut req), _) => {
            req.extensions_mut().insert(caller.clone());
            next.run(req).await
        }
        (None, Some(e)) => e.into_response(),
        (None, None) => unreachable!("csrf_check returns one or the other"),
    };
    let status = response.status().as_u16();
    // Sign-in and setup record their own outcome, naming the user.
    let own_record = path.ends_with("/login") || path.ends_with("/setup");
    if (status == 401 || status == 403) && !own_record {
        let ctx = Ctx {
            actor: caller
                .identity
                .as_ref()
                .map(|i| i.actor.clone())
                .unwrap_or(Actor::Anonymous),
            address: caller.address.clone(),
            now,
        };
        let action = format!("{method} {path}");
        let outcome = format!("refused: {status}");
        if let Err(e) = shared
            .db
            .call(move |db| admin::record(db, &ctx, &action, None, None, &outcome))
            .await
        {
            tracing::warn!("audit: {e}");
        }
    }
    response
}

/// A cookie-authenticated state-changing request must carry the session's
/// CSRF token; a bearer token needs none.
async fn csrf_check(caller: &Caller, req: Request) -> ApiResult<Request> {
    let Some(expected) = caller.identity.as_ref().and_then(|i| i.csrf.clone()) else {
        return Ok(req);
    };
    if !unsafe_method(req.method()) {
        return Ok(req);
    }
    let refused = || {
        ApiError::Forbidden(
            "missing or wrong CSRF token: send the session's token in X-CSRF-Token or a csrf form field"
                .into(),
        )
    };
    if let Some(sent) = req.headers().get(CSRF_HEADER) {
        return match sent.as_bytes() == expected.as_bytes() {
            true => Ok(req),
            false => Err(refused()),
        };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(refused());
    }
    let (parts, stream) = req.into_parts();
    let bytes = body::read(&parts.headers, stream, body::JSON_LIMIT).await?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("form body: {e}")))?;
    let ok = fields
        .iter()
        .any(|(k, v)| k == "csrf" && v.as_bytes() == expected.as_bytes());
    match ok {
        true => Ok(Request::from_parts(parts, Body::from(bytes))),
        false => Err(refused()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; marrow_session=abc ; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
