//! The admin operations: one function per thing an admin does, called by
//! the local CLI and by the admin API alike, each recorded in the audit
//! log with its outcome. The CLI's remote mode sends the same requests
//! over HTTP and gets the same [`views`] back ([`backend`]).

pub mod backend;
pub mod drivers;
mod hosts;
mod images;
pub mod requests;
mod scripts;
mod sessions;
mod sites;
mod tasks;
mod tokens;
mod users;
pub mod views;
mod wake;

pub use hosts::{add_host, list_groups, list_hosts};
pub use images::{delete_image, inspect_image, list_images, summarize_store, StoreSummary};
pub use scripts::{add_script, list_scripts, remove_script, script_body, MAX_SCRIPT_BYTES};
pub use sessions::{
    add_members, cancel_session, create_session, get_session, list_sessions, start_session,
    DEFAULT_RATE_CAP,
};
pub use sites::{add_site, get_site, list_sites, remove_site, site_runs};
pub use tasks::{cancel_task, create_task, create_task_and_wake, get_task, list_tasks};
pub use tokens::{create_token, list_tokens, revoke_token};
pub use users::{add_user, list_users, remove_user, reset_user, set_password, setup_link_base};
pub use wake::wake_hosts;

use crate::db::{AuditEntry, AuditFilter, Db, NewAudit};
use crate::error::Result;
use crate::tasks::Actor;

/// Who asks, from where, and when.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub actor: Actor,
    /// The caller's IP address (API), `None` at the server's shell.
    pub address: Option<String>,
    pub now: i64,
}

impl Ctx {
    pub fn local(now: i64) -> Ctx {
        Ctx {
            actor: Actor::Cli,
            address: None,
            now,
        }
    }
}

/// A user, schedule or script name (`what` says which): 1–64 of letters, digits,
/// `.`, `_`, `-`.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    match ok {
        true => Ok(()),
        false => Err(crate::error::Error::Usage(format!(
            "{what} {name:?}: use 1 to 64 letters, digits, '.', '_' or '-'"
        ))),
    }
}

/// Runs `op` and records it with its outcome. The record is written after
/// the operation's own transaction, so a failed action is recorded too.
pub fn audited<T>(
    db: &mut Db,
    ctx: &Ctx,
    action: &str,
    object: Option<&str>,
    args: serde_json::Value,
    op: impl FnOnce(&mut Db) -> Result<T>,
) -> Result<T> {
    let result = op(db);
    let outcome = match &result {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("failed: {e}"),
    };
    record(db, ctx, action, object, Some(&args), &outcome)?;
    result
}

/// Writes one audit row.
pub fn record(
    db: &Db,
    ctx: &Ctx,
    action: &str,
    object: Option<&str>,
    args: Option<&serde_json::Value>,
    outcome: &str,
) -> Result<()> {
    let actor = ctx.actor.to_string();
    db.audit().insert(&NewAudit {
        at: ctx.now,
        actor: &actor,
        address: ctx.address.as_deref(),
        action,
        object,
        args,
        outcome,
    })
}

/// `marrow audit`.
pub fn list_audit(db: &Db, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
    db.audit().list(filter)
}
