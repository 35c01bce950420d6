//! The rules of tasks and hosts, in one place, and the only writer of task
//! state: creating, cancelling, claiming, reporting progress, finishing,
//! and the boot decision that hands a booting host its task. The admin
//! operations (`crate::admin`, behind the CLI and the admin API) and the
//! client API all come here.
//!
//! Every operation takes the [`Actor`] that asks, `now`, and where it
//! needs one a token [`Rng`]; each runs in one database transaction. The
//! audit log is written by `crate::admin`, around the operation, so that
//! a refused action is recorded too.

mod actor;
pub mod hostname;
mod hosts;
mod post_deploy;
mod token;

use driver_store::TargetOs;
use image_format::catalog::{self, ImageRef};
use image_format::store::ManifestStore;
use marrow_protocol::api::{After, TaskKind};
use marrow_protocol::disk_rule::DiskRule;
use marrow_protocol::ipxe::TaskBoot;
use marrow_protocol::{ImageId, MacAddr, TaskId};

pub use actor::Actor;
pub use hosts::{add_host, resolve_host, set_group, set_uefi_boot};
pub use post_deploy::post_deploy;
#[cfg(test)]
pub(crate) use token::testing::SeqRng;
pub use token::{new_token, token_hash, OsRng, Rng};

use crate::db::{BootSeen, Db, Host, NewTaskRow, Task, TaskState, Tx};
use crate::error::{Error, Result};

/// What `marrow task capture|restore` asks for.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub kind: TaskKind,
    /// A MAC (registered now when new) or a registered host's name.
    pub host: String,
    /// `NAME`, or `NAME@ID` for a restore.
    pub image: String,
    /// Which disk the client may write or read; `None`: the only internal disk.
    pub disk_rule: Option<String>,
    pub grow_last_partition: bool,
    pub after: After,
    /// For a restore: the Windows target whose drivers to inject.
    pub inject_drivers: Option<String>,
    /// For a restore: the hostname pattern to write into the restored
    /// system ([`hostname::expand`]).
    pub hostname: Option<String>,
    /// For a restore: the post-deploy script to run (`marrow script add`).
    pub post_script: Option<String>,
}

/// A new task and its first token, which is shown once and never stored.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: TaskId,
    pub token: String,
}

/// Where a restore's image must exist when its task is made: a store and
/// the name errors give it, or none (no image was ever captured).
#[derive(Clone, Copy)]
pub struct Images<'a> {
    pub store: Option<&'a dyn ManifestStore>,
    pub name: &'a str,
}

/// The data directory's store, opened when there is one, for [`Images`].
pub struct StoreImages {
    store: Option<crate::store::Store>,
    name: String,
}

impl StoreImages {
    pub fn open(spec: &crate::store::StoreSpec) -> Result<StoreImages> {
        Ok(StoreImages {
            store: spec.open_if_there()?,
            name: spec.describe(),
        })
    }

    pub fn images(&self) -> Images<'_> {
        Images {
            store: self.store.as_ref().map(|s| s as &dyn ManifestStore),
            name: &self.name,
        }
    }
}

/// Checks `new` and stores it as a pending task for its host. Refuses an
/// image reference `ImageRef::parse` rejects (or, for a capture, one with
/// an `@ID`: a capture makes a new version), a restore of an image that is
/// not in `images`, a bad disk rule or Windows target, driver injection on
/// a capture, and a second active task for the host, naming the task to
/// cancel.
pub fn create(
    db: &mut Db,
    actor: &Actor,
    new: &NewTask,
    images: Images<'_>,
    now: i64,
    rng: &mut dyn Rng,
) -> Result<Created> {
    let tx = db.transaction()?;
    let host = resolve_host(&tx.hosts(), &new.host, now)?;
    check_new(new, host)?;
    refuse_second(&tx, host)?;
    if new.kind == TaskKind::Restore {
        let r = ImageRef::parse(&new.image)?;
        let found = match images.store {
            Some(store) => catalog::resolve(store, &r, images.name).map(|_| ()),
            None => Err(image_format::Error::ImageNotFound {
                name: r.name,
                store: images.name.to_string(),
            }),
        };
        // A site that reads through to an upstream fetches the image when
        // the host claims the task (crate::sites::read_through).
        if let Err(e) = found {
            let missing = matches!(
                e,
                image_format::Error::ImageNotFound { .. }
                    | image_format::Error::VersionNotFound { .. }
            );
            if !(missing && tx.sites().all()?.iter().any(|s| s.read_through)) {
                return Err(e.into());
            }
        }
    }
    let created = insert(&tx, actor, new, host, None, now, rng)?;
    tx.commit()?;
    Ok(created)
}

/// Checks `new` for `host` and stores it as a pending task (of `session`,
/// when given) inside `tx`, with its first token. Refuses a second active
/// task for the host, naming the task to cancel.
pub(crate) fn insert(
    tx: &Tx<'_>,
    actor: &Actor,
    new: &NewTask,
    host: MacAddr,
    session: Option<i64>,
    now: i64,
    rng: &mut dyn Rng,
) -> Result<Created> {
    let mut row = check_new(new, host)?;
    row.session = session;
    refuse_second(tx, host)?;
    if let Some(pattern) = &new.hostname {
        let name = hostname_for(tx, pattern, host)?;
        // Two machines of one name fight on the network: a pattern whose
        // numbers moved (a host put in the group since) is caught here.
        if let Some(other) = tx.tasks().active_with_hostname(&name)? {
            return Err(Error::Conflict(format!(
                "hostname {name:?} is already given to host {} by task {}",
                other.host, other.id
            )));
        }
        row.hostname = Some(name);
    }
    if let Some(name) = &new.post_script {
        // The stored spelling, so the claim finds it whatever the case.
        let script = tx.scripts().get(name)?.ok_or_else(|| {
            Error::NotFound(format!(
                "no post-deploy script {name:?}; add it with `marrow script add {name} FILE`"
            ))
        })?;
        row.post_script = Some(script.name);
    }
    let token = new_token(rng)?;
    let id = tx.tasks().insert(&row, &token_hash(&token), now)?;
    record(tx, actor, "created", id);
    Ok(Created { id, token })
}

/// `pattern` expanded for `host`: its name, and its group and place in
/// it (by name, then MAC).
fn hostname_for(tx: &Tx<'_>, pattern: &str, host: MacAddr) -> Result<String> {
    let row = tx.hosts().get(host)?;
    let name = row.as_ref().and_then(|h| h.name.clone());
    let group = row.as_ref().and_then(|h| h.group.clone());
    let n = match &group {
        Some(g) => {
            let mut members = tx.hosts().in_group(g)?;
            members.sort_by_cached_key(|h| {
                (
                    h.name.is_none(),
                    h.name.as_deref().map(hostname::natural_key),
                    h.mac.0,
                )
            });
            members.iter().position(|h| h.mac == host).map(|i| i + 1)
        }
        None => None,
    };
    hostname::expand(
        pattern,
        &hostname::HostFacts {
            mac: host,
            name: name.as_deref(),
            group: group.as_deref(),
            n,
        },
    )
}

/// A host has one active task at a time.
fn refuse_second(tx: &Tx<'_>, host: MacAddr) -> Result<()> {
    match tx.tasks().active_for(host)? {
        Some(active) => Err(Error::Conflict(format!(
            "host {host} already has task {} ({}); cancel it first with `marrow task cancel {}`",
            active.id,
            active.state.as_str(),
            active.id
        ))),
        None => Ok(()),
    }
}

/// The task as it will be stored, or why it is refused.
fn check_new(new: &NewTask, host: MacAddr) -> Result<NewTaskRow> {
    let image = ImageRef::parse(&new.image)?;
    if new.kind == TaskKind::Capture && image.version.is_some() {
        return Err(Error::Usage(format!(
            "capture image {:?}: give a name without @ID; a capture makes a new version",
            new.image
        )));
    }
    let image = match &image.version {
        Some(v) => format!("{}@{v}", image.name),
        None => image.name.clone(),
    };
    if let Some(rule) = &new.disk_rule {
        DiskRule::parse(rule).map_err(|e| Error::Usage(e.to_string()))?;
    }
    if let Some(os) = &new.inject_drivers {
        if new.kind != TaskKind::Restore {
            return Err(Error::Usage(
                "driver injection is for restore tasks only".into(),
            ));
        }
        os.parse::<TargetOs>()?;
    }
    if new.kind != TaskKind::Restore && (new.hostname.is_some() || new.post_script.is_some()) {
        return Err(Error::Usage(
            "--hostname and --post-script are for restore tasks only".into(),
        ));
    }
    if let Some(pattern) = &new.hostname {
        hostname::check_pattern(pattern)?;
    }
    Ok(NewTaskRow {
        kind: new.kind,
        host,
        image,
        disk_rule: new.disk_rule.clone(),
        grow_last_partition: new.grow_last_partition,
        after: new.after,
        inject_drivers: new.inject_drivers.clone(),
        session: None,
        hostname_pattern: new.hostname.clone(),
        hostname: None,
        post_script: None,
    })
}

/// Cancels a pending or running task and forgets its token; a finished
/// task is refused, naming its state.
pub fn cancel(db: &mut Db, actor: &Actor, id: TaskId, now: i64) -> Result<()> {
    let tx = db.transaction()?;
    let task = tx
        .tasks()
        .get(id)?
        .ok_or_else(|| Error::NotFound(format!("no task {id}")))?;
    if !task.state.is_active() {
        return Err(Error::Usage(format!(
            "task {id} is already {}; only pending or running tasks can be cancelled",
            task.state.as_str()
        )));
    }
    tx.tasks().cancel(id, now)?;
    record(&tx, actor, "cancelled", id);
    tx.commit()
}

/// The active task `token` is the current token of.
pub fn authorize(db: &Db, token: &str) -> Result<Option<Task>> {
    db.tasks().active_by_token_hash(&token_hash(token))
}

/// How a claim went.
#[derive(Debug)]
pub enum Claim {
    /// The task is running (again, after a client restart); a restore's
    /// manifest is fixed from its first claim on.
    Claimed(Box<Task>),
    /// A restore of an image that is not there: the task failed now, with
    /// this reason, rather than leaving the host booting into it.
    ImageMissing(String),
}

/// The restore that `token` would claim, when its image is still to be
/// resolved: its `NAME[@ID]` (for read-through to look up first).
pub fn unresolved_restore(db: &Db, token: &str) -> Result<Option<String>> {
    Ok(db
        .tasks()
        .active_by_token_hash(&token_hash(token))?
        .filter(|t| t.kind == TaskKind::Restore && t.manifest.is_none())
        .map(|t| t.image))
}

/// Claims the task whose current token is `token`, or `None` when it is
/// no active task's. A restore resolves its `NAME[@ID]` in `images` at its
/// first claim and keeps that manifest for good; `fetched` is what
/// read-through did when `images` has none: the version it staged, or why
/// it could not.
pub fn claim(
    db: &mut Db,
    token: &str,
    images: &dyn ManifestStore,
    images_name: &str,
    fetched: Option<std::result::Result<ImageId, String>>,
    now: i64,
) -> Result<Option<Claim>> {
    let tx = db.transaction()?;
    let Some(task) = tx.tasks().active_by_token_hash(&token_hash(token))? else {
        return Ok(None);
    };
    let actor = Actor::Client(task.id);
    let manifest = match (task.kind, task.manifest) {
        (TaskKind::Restore, None) => {
            let found = ImageRef::parse(&task.image)
                .and_then(|r| catalog::resolve(images, &r, images_name))
                .map(|entry| entry.id);
            let found = match (found, fetched) {
                (Ok(id), _) => Ok(id),
                (Err(_), Some(Ok(id))) => Ok(id),
                (Err(e), Some(Err(why))) => Err(format!("{e}; read-through: {why}")),
                (Err(e), None) => Err(e.to_string()),
            };
            match found {
                Ok(id) => Some(id),
                Err(error) => {
                    let report = marrow_protocol::api::Report {
                        error: Some(error.clone()),
                        ..Default::default()
                    };
                    let text = serde_json::to_string(&report).unwrap_or_default();
                    tx.tasks().finish(task.id, &text, Some(&error), now)?;
                    record(&tx, &actor, "failed at its claim: image missing", task.id);
                    tx.commit()?;
                    return Ok(Some(Claim::ImageMissing(error)));
                }
            }
        }
        (_, kept) => kept,
    };
    tx.tasks().set_running(task.id, manifest.as_ref(), now)?;
    let task = tx
        .tasks()
        .get(task.id)?
        .ok_or_else(|| Error::Usage(format!("task {} vanished while claimed", task.id)))?;
    record(&tx, &actor, "claimed", task.id);
    tx.commit()?;
    Ok(Some(Claim::Claimed(Box::new(task))))
}

/// Records the version a capture committed, so a retried commit is
/// answered with it instead of adding the version again.
pub fn committed(db: &mut Db, task: TaskId, image: &ImageId, now: i64) -> Result<()> {
    let tx = db.transaction()?;
    tx.tasks().set_manifest(task, image, now)?;
    record(&tx, &Actor::Client(task), "committed its image", task);
    tx.commit()
}

/// Stores the client's latest progress report (JSON) while the task is
/// active.
pub fn progress(db: &mut Db, task: TaskId, progress: &str, now: i64) -> Result<()> {
    db.tasks().set_progress(task, progress, now)
}

/// Ends a task with the client's final report: `done`, or `failed` with
/// `error`. The token is forgotten, so the host boots its local disk.
pub fn finish(
    db: &mut Db,
    actor: &Actor,
    task: TaskId,
    report: &str,
    error: Option<&str>,
    now: i64,
) -> Result<()> {
    let tx = db.transaction()?;
    tx.tasks().finish(task, report, error, now)?;
    record(
        &tx,
        actor,
        if error.is_some() { "failed" } else { "done" },
        task,
    );
    tx.commit()
}

/// What a booting host gets: its registration, and the task it boots
/// into (with a fresh token) when it has an active one.
#[derive(Debug, Clone)]
pub struct BootDecision {
    pub host: Option<Host>,
    pub task: Option<TaskBoot>,
}

/// Records a PXE boot of `mac` (when the host is registered: hosts come
/// from DHCP and admins, not from whoever names a MAC over HTTP) and
/// decides what it boots.
///
/// With `issue_token`, a host with an active (pending or running) task
/// boots the Marrow environment with that task; the caller sets it only
/// for the machine that is booting (see `serve::witness`), so nobody else
/// gets or rotates a token. Tokens rotate: only a token's hash is
/// stored, so it cannot be read back for the kernel command line. Each
/// boot therefore carries a fresh token, and storing its hash retires
/// every earlier one (the one `marrow task` made, and those of scripts
/// fetched before). The client holds the token of the boot it is running;
/// a host that reboots gets a new one.
///
/// A running task counts: a host that PXE-boots while its task runs lost
/// its client (power cut, reset, crash), and booting the client again
/// resumes the task rather than stranding it.
pub fn boot(
    db: &mut Db,
    mac: MacAddr,
    seen: &BootSeen,
    issue_token: bool,
    now: i64,
    rng: &mut dyn Rng,
) -> Result<BootDecision> {
    let tx = db.transaction()?;
    tx.hosts().touch_boot(mac, seen, now)?;
    let active = match issue_token {
        true => tx.tasks().active_for(mac)?,
        false => None,
    };
    let task = match active {
        Some(task) => {
            if task.state == TaskState::Running {
                // The host booted again while its client ran: that client
                // is gone (power cut, reset), and its token goes now. The
                // task says so until the new client claims it.
                tx.tasks().note_restart(task.id, now)?;
            }
            let token = new_token(rng)?;
            tx.tasks()
                .set_token_hash(task.id, &token_hash(&token), now)?;
            record(&tx, &Actor::Boot(mac), "issued a new token", task.id);
            Some(TaskBoot { id: task.id, token })
        }
        None => None,
    };
    let host = tx.hosts().get(mac)?;
    tx.commit()?;
    Ok(BootDecision { host, task })
}

/// The one place every change of task state is traced, inside the
/// transaction that makes it: a debug log line naming the actor. The
/// client's own changes (claim, progress, end) land in the task's row and
/// report; an admin's are in the audit log (`crate::admin`).
pub(crate) fn record(_tx: &Tx<'_>, actor: &Actor, action: &str, task: TaskId) {
    tracing::debug!(%actor, %task, "task {action}");
}

#[cfg(test)]
mod tests;
