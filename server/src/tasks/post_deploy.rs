//! What a claimed restore's client does after the restore: the hostname
//! the task expanded, the script's text, and the task's variables the
//! script gets in its environment.

use std::collections::BTreeMap;

use marrow_protocol::api::post::{PostDeploy, PostScript};

use crate::db::{Db, Task};
use crate::error::{Error, Result};

/// The post-deploy half of `task`'s claim answer. A script removed since
/// the task was made is an error (`script remove` refuses while an active
/// task names it, so this means the database was edited by hand).
pub fn post_deploy(db: &Db, task: &Task) -> Result<PostDeploy> {
    let script = match &task.post_script {
        Some(name) => {
            let row = db.scripts().get(name)?.ok_or_else(|| {
                Error::NotFound(format!(
                    "task {}: its post-deploy script {name:?} is gone",
                    task.id
                ))
            })?;
            Some(PostScript {
                name: row.name,
                body: row.body,
            })
        }
        None => None,
    };
    let host = db.hosts().get(task.host)?;
    let mut vars = BTreeMap::new();
    let mut set = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            vars.insert(format!("MARROW_{k}"), v);
        }
    };
    set("TASK_ID", Some(task.id.to_string()));
    set(
        "IMAGE",
        Some(task.image.split('@').next().unwrap_or("").to_string()),
    );
    set("IMAGE_ID", task.manifest.map(|m| m.to_hex()));
    set("HOST_MAC", Some(task.host.to_string()));
    set("HOST_NAME", host.as_ref().and_then(|h| h.name.clone()));
    set("GROUP", host.as_ref().and_then(|h| h.group.clone()));
    set("HOSTNAME", task.hostname.clone());
    set("SESSION", task.session.map(|s| s.to_string()));
    Ok(PostDeploy {
        hostname: task.hostname.clone(),
        script,
        vars,
    })
}
