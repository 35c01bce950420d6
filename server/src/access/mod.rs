//! Who may use the admin API: roles, password hashing, login throttling,
//! and turning a credential (an API token, a browser's cookie) into an
//! identity.
//!
//! Task tokens (the imaging client's) and admin credentials live in
//! different tables and are looked up by different extractors, so a task
//! token never reaches the admin API and an admin token never reaches a
//! task's chunks.

pub mod password;
mod role;
pub mod throttle;

pub use role::{Need, Role};

use crate::db::Db;
use crate::error::Result;
use crate::tasks::{new_token, token_hash, Actor, Rng};

/// How long a browser stays signed in.
pub const WEB_SESSION_SECS: i64 = 12 * 3600;

/// A caller the admin API knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub actor: Actor,
    pub role: Role,
    /// The CSRF token of a cookie session; `None` for a bearer token,
    /// which a browser never sends on its own.
    pub csrf: Option<String>,
}

/// The identity of an API token, when it is live.
pub fn by_token(db: &Db, token: &str, now: i64) -> Result<Option<Identity>> {
    let Some(t) = db.api_tokens().authorize(&token_hash(token), now)? else {
        return Ok(None);
    };
    let Ok(role) = t.role.parse::<Role>() else {
        return Ok(None);
    };
    Ok(Some(Identity {
        actor: Actor::Token {
            id: t.id,
            name: t.name,
        },
        role,
        csrf: None,
    }))
}

/// The identity of a browser's session cookie, when it is live and its
/// user still exists.
pub fn by_cookie(db: &Db, cookie: &str, now: i64) -> Result<Option<Identity>> {
    let Some(s) = db.web_sessions().get(&token_hash(cookie), now)? else {
        return Ok(None);
    };
    let Some(user) = db.users().get(&s.user)? else {
        return Ok(None);
    };
    let Ok(role) = user.role.parse::<Role>() else {
        return Ok(None);
    };
    Ok(Some(Identity {
        actor: Actor::User(user.name),
        role,
        csrf: Some(s.csrf),
    }))
}

/// A new browser session for `user`: the cookie and its CSRF token.
pub fn open_session(db: &Db, user: &str, now: i64, rng: &mut dyn Rng) -> Result<(String, String)> {
    let cookie = new_token(rng)?;
    let csrf = new_token(rng)?;
    db.web_sessions().insert(
        &token_hash(&cookie),
        user,
        &csrf,
        now,
        now + WEB_SESSION_SECS,
    )?;
    Ok((cookie, csrf))
}

pub fn close_session(db: &Db, cookie: &str) -> Result<()> {
    db.web_sessions().remove(&token_hash(cookie))
}
