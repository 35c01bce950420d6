//! Tasks: create, list, show, cancel.

use marrow_protocol::api::{After, TaskKind};
use marrow_protocol::TaskId;
use serde_json::json;

use super::requests::{NewTaskRequest, WakeRequest};
use super::views::{CreatedTask, TaskView};
use super::{audited, Ctx};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::serve::net::Interface;
use crate::store::StoreSpec;
use crate::tasks::{self, NewTask, Rng, StoreImages};

pub fn list_tasks(db: &Db) -> Result<Vec<TaskView>> {
    Ok(db.tasks().all()?.iter().map(TaskView::from).collect())
}

pub fn get_task(db: &Db, id: i64) -> Result<TaskView> {
    db.tasks()
        .get(TaskId(id))?
        .map(|t| TaskView::from(&t))
        .ok_or_else(|| Error::NotFound(format!("no task {id}")))
}

/// Checks and stores a new task; a restore's image must be in the data
/// directory's store.
pub fn create_task(
    db: &mut Db,
    store: &StoreSpec,
    ctx: &Ctx,
    req: &NewTaskRequest,
    rng: &mut dyn Rng,
) -> Result<CreatedTask> {
    let args = json!({
        "kind": req.kind, "host": req.host, "image": req.image, "disk": req.disk,
        "grow_last_partition": req.grow_last_partition,
        "inject_drivers": req.inject_drivers, "after": req.after,
        "hostname": req.hostname, "post_script": req.post_script,
    });
    let action = format!("task.{}", req.kind);
    audited(db, ctx, &action, Some(&req.host), args, |db| {
        let kind = match req.kind.as_str() {
            "capture" => TaskKind::Capture,
            "restore" => TaskKind::Restore,
            other => {
                return Err(Error::Usage(format!(
                    "task kind {other:?}: use capture or restore"
                )))
            }
        };
        let after = match req.after.as_deref() {
            None => After::Reboot,
            Some(a) => After::parse(a)
                .ok_or_else(|| Error::Usage(format!("after {a:?}: use reboot or poweroff")))?,
        };
        if kind == TaskKind::Capture
            && (req.grow_last_partition
                || req.inject_drivers.is_some()
                || req.hostname.is_some()
                || req.post_script.is_some())
        {
            return Err(Error::Usage(
                "growing a partition, injecting drivers, --hostname and --post-script are for restore tasks only".into(),
            ));
        }
        let new = NewTask {
            kind,
            host: req.host.clone(),
            image: req.image.clone(),
            disk_rule: req.disk.clone(),
            grow_last_partition: req.grow_last_partition,
            after,
            inject_drivers: req.inject_drivers.clone(),
            hostname: req.hostname.clone(),
            post_script: req.post_script.clone(),
        };
        let store = StoreImages::open(store)?;
        let created = tasks::create(db, &ctx.actor, &new, store.images(), ctx.now, rng)?;
        Ok(CreatedTask {
            id: created.id.0,
            token: req.show_token.then_some(created.token),
            woke: None,
        })
    })
}

/// [`create_task`], then with `wake` the host's magic packet on `iface`.
pub fn create_task_and_wake(
    db: &mut Db,
    store: &StoreSpec,
    ctx: &Ctx,
    req: &NewTaskRequest,
    iface: Option<&Interface>,
    rng: &mut dyn Rng,
) -> Result<CreatedTask> {
    let mut created = create_task(db, store, ctx, req, rng)?;
    if req.wake {
        let host = get_task(db, created.id)?.host;
        let woke = iface
            .ok_or_else(|| Error::Usage("no interface to send Wake-on-LAN on".into()))
            .and_then(|i| {
                super::wake_hosts(
                    db,
                    ctx,
                    i,
                    &WakeRequest {
                        hosts: vec![host],
                        group: None,
                    },
                )
            })
            .map_err(|e| {
                Error::Usage(format!(
                    "task {} was made, but waking its host failed: {e}",
                    created.id
                ))
            })?;
        created.woke = Some(woke);
    }
    Ok(created)
}

pub fn cancel_task(db: &mut Db, ctx: &Ctx, id: i64) -> Result<TaskView> {
    let object = id.to_string();
    audited(db, ctx, "task.cancel", Some(&object), json!({}), |db| {
        tasks::cancel(db, &ctx.actor, TaskId(id), ctx.now)?;
        get_task(db, id)
    })
}
