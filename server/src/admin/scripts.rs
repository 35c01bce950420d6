//! Post-deploy scripts: add (or replace), list, show, remove. A script is
//! text run by `/bin/sh` in the client after a restore; a task names it
//! by name and the client gets its text when it claims the task.

use serde_json::json;

use super::requests::AddScript;
use super::views::ScriptView;
use super::{audited, check_name, Ctx};
use crate::db::{Db, ScriptRow};
use crate::error::{Error, Result};

/// Most bytes a script may hold: it travels in the claim answer, whose
/// body the client reads whole.
pub const MAX_SCRIPT_BYTES: usize = 256 * 1024;

impl From<&ScriptRow> for ScriptView {
    fn from(r: &ScriptRow) -> Self {
        ScriptView {
            name: r.name.clone(),
            bytes: r.body.len(),
            blake3: r.blake3.clone(),
            created: r.created,
            updated: r.updated,
        }
    }
}

pub fn list_scripts(db: &Db) -> Result<Vec<ScriptView>> {
    Ok(db.scripts().all()?.iter().map(ScriptView::from).collect())
}

fn no_script(name: &str) -> Error {
    Error::NotFound(format!(
        "no post-deploy script {name:?}; `marrow script list` shows them"
    ))
}

/// The script's text.
pub fn script_body(db: &Db, name: &str) -> Result<String> {
    Ok(db.scripts().get(name)?.ok_or_else(|| no_script(name))?.body)
}

pub fn add_script(db: &mut Db, ctx: &Ctx, req: &AddScript) -> Result<ScriptView> {
    let hash = blake3::hash(req.body.as_bytes()).to_hex().to_string();
    let args = json!({ "bytes": req.body.len(), "blake3": hash, "replace": req.replace });
    audited(db, ctx, "script.add", Some(&req.name), args, |db| {
        check_name("script", &req.name)?;
        if req.body.trim().is_empty() {
            return Err(Error::Usage(format!("script {:?} is empty", req.name)));
        }
        if req.body.len() > MAX_SCRIPT_BYTES {
            return Err(Error::Usage(format!(
                "script {:?} is {} bytes; the most is {MAX_SCRIPT_BYTES}",
                req.name,
                req.body.len()
            )));
        }
        if req.body.contains('\0') {
            return Err(Error::Usage(format!(
                "script {:?} holds a NUL byte; give a shell script",
                req.name
            )));
        }
        let tx = db.transaction()?;
        if !req.replace && tx.scripts().get(&req.name)?.is_some() {
            return Err(Error::Conflict(format!(
                "script {:?} exists; give --replace to replace it",
                req.name
            )));
        }
        tx.scripts().put(&req.name, &req.body, &hash, ctx.now)?;
        let row = tx
            .scripts()
            .get(&req.name)?
            .ok_or_else(|| no_script(&req.name))?;
        tx.commit()?;
        Ok(ScriptView::from(&row))
    })
}

/// The schedules whose command runs script `name` (`--post-script NAME`).
fn schedules_with(db: &crate::db::Tx<'_>, name: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for s in db.schedules().all()? {
        let argv: Vec<String> = serde_json::from_str(&s.argv).unwrap_or_default();
        let names_it = argv
            .windows(2)
            .any(|w| w[0] == "--post-script" && w[1].eq_ignore_ascii_case(name))
            || argv.iter().any(|a| {
                a.strip_prefix("--post-script=")
                    .is_some_and(|v| v.eq_ignore_ascii_case(name))
            });
        if names_it {
            out.push(s.name);
        }
    }
    Ok(out)
}

/// Removes a script that no pending or running task runs and no schedule
/// names.
pub fn remove_script(db: &mut Db, ctx: &Ctx, name: &str) -> Result<()> {
    audited(db, ctx, "script.remove", Some(name), json!({}), |db| {
        let tx = db.transaction()?;
        let scheduled = schedules_with(&tx, name)?;
        if !scheduled.is_empty() {
            return Err(Error::Conflict(format!(
                "script {name:?} is named by schedule(s) {}; remove them or change their command first",
                scheduled.join(", ")
            )));
        }
        let users = tx.tasks().active_with_script(name)?;
        if !users.is_empty() {
            let ids: Vec<String> = users.iter().map(ToString::to_string).collect();
            return Err(Error::Conflict(format!(
                "script {name:?} is run by active task(s) {}; cancel them or let them finish first",
                ids.join(", ")
            )));
        }
        if !tx.scripts().remove(name)? {
            return Err(no_script(name));
        }
        tx.commit()
    })
}
