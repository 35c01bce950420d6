//! Users: add (with a one-time password-setting link), list, reset,
//! set a password, remove. There is no default user: the first admin
//! comes from the link `marrow serve` prints on an empty data directory.

use serde_json::json;

use super::views::{SetupLink, UserView};
use super::{audited, check_name, Ctx};
use crate::access::{password, Role};
use crate::db::{Db, User};
use crate::error::{Error, Result};
use crate::paths::DataDir;
use crate::tasks::{new_token, token_hash, Rng};

/// How long a setup link works.
pub const SETUP_SECS: i64 = 24 * 3600;

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            name: u.name.clone(),
            role: u.role.clone(),
            password_set: u.password.is_some(),
            setup_expires: u.setup_expires,
            created: u.created,
        }
    }
}

fn user_role(role: &str) -> Result<Role> {
    let r: Role = role.parse()?;
    if !Role::USER_ROLES.contains(&r) {
        return Err(Error::Usage(format!(
            "role {role:?} is for tokens only; a user is admin, operator or viewer"
        )));
    }
    Ok(r)
}

/// Where the links point: the base `marrow serve` last served on, or this
/// machine's first IPv4 address on the default port.
pub fn setup_link_base(dirs: &DataDir) -> String {
    if let Ok(url) = std::fs::read_to_string(dirs.served_url()) {
        let url = url.trim();
        if !url.is_empty() {
            return url.to_string();
        }
    }
    let ip = crate::serve::net::ipv4_interfaces()
        .ok()
        .and_then(|all| all.into_iter().map(|i| i.ip).find(|ip| !ip.is_loopback()))
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "SERVER".into());
    format!("http://{ip}:8080")
}

fn link(base: &str, token: &str) -> String {
    format!("{base}/setup?token={token}")
}

pub fn list_users(db: &Db) -> Result<Vec<UserView>> {
    Ok(db.users().all()?.iter().map(UserView::from).collect())
}

/// Adds a user without a password and returns its setup link.
pub fn add_user(
    db: &mut Db,
    ctx: &Ctx,
    base: &str,
    name: &str,
    role: &str,
    rng: &mut dyn Rng,
) -> Result<SetupLink> {
    audited(
        db,
        ctx,
        "user.add",
        Some(name),
        json!({ "role": role }),
        |db| {
            check_name("user name", name)?;
            let role = user_role(role)?;
            let token = new_token(rng)?;
            let expires = ctx.now + SETUP_SECS;
            db.users()
                .insert(name, role.as_str(), &token_hash(&token), expires, ctx.now)?;
            Ok(SetupLink {
                name: name.into(),
                role: role.as_str().into(),
                link: link(base, &token),
                expires,
            })
        },
    )
}

/// A new setup link for an existing user (a forgotten password).
pub fn reset_user(
    db: &mut Db,
    ctx: &Ctx,
    base: &str,
    name: &str,
    rng: &mut dyn Rng,
) -> Result<SetupLink> {
    audited(db, ctx, "user.reset", Some(name), json!({}), |db| {
        let user = db
            .users()
            .get(name)?
            .ok_or_else(|| Error::NotFound(format!("no user {name:?}")))?;
        let token = new_token(rng)?;
        let expires = ctx.now + SETUP_SECS;
        db.users()
            .set_setup(&user.name, &token_hash(&token), expires)?;
        Ok(SetupLink {
            name: user.name,
            role: user.role,
            link: link(base, &token),
            expires,
        })
    })
}

/// Sets a user's password (and signs them out everywhere).
pub fn set_password(
    db: &mut Db,
    ctx: &Ctx,
    name: &str,
    new: &str,
    rng: &mut dyn Rng,
) -> Result<()> {
    audited(db, ctx, "user.passwd", Some(name), json!({}), |db| {
        let phc = password::hash(new, rng)?;
        if !db.users().set_password(name, &phc)? {
            return Err(Error::NotFound(format!("no user {name:?}")));
        }
        db.web_sessions().remove_user(name)
    })
}

pub fn remove_user(db: &mut Db, ctx: &Ctx, name: &str) -> Result<()> {
    audited(db, ctx, "user.remove", Some(name), json!({}), |db| {
        if !db.users().remove(name)? {
            return Err(Error::NotFound(format!("no user {name:?}")));
        }
        db.web_sessions().remove_user(name)
    })
}
