//! The rules of multicast sessions, in one place beside `crate::tasks`:
//! creating one with a restore task per member host, adding members,
//! asking it to start, cancelling it, a client joining it, and the
//! service's moves (starting it, recording its receivers, ending it).
//!
//! A session restores one manifest: `NAME[@ID]` is resolved when it is
//! made, so every member, however late it joins, gets the same image and
//! the same chunk table.

pub mod policy;
pub mod view;

use image_format::catalog::{self, ImageRef};
use marrow_protocol::api::session::SessionState;
use marrow_protocol::api::{After, TaskKind};
use marrow_protocol::multicast::SessionId;
use marrow_protocol::{MacAddr, TaskId};

use crate::db::{Db, Host, NewSessionRow, Session, StartPolicyRow, Task, TaskState, Tx};
use crate::error::{Error, Result};
use crate::tasks::{self, resolve_host, Actor, Images, NewTask, Rng};
use view::{ReceiverStatus, SessionView};

/// What `marrow session create` asks for.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// `NAME` or `NAME@ID`.
    pub image: String,
    /// The members: a group's hosts, or hosts by MAC or name.
    pub group: Option<String>,
    pub hosts: Vec<String>,
    pub policy: StartPolicyRow,
    /// Bits per second.
    pub rate_cap: u64,
    pub disk_rule: Option<String>,
    pub grow_last_partition: bool,
    pub after: After,
    pub wake: bool,
    /// The hostname pattern each member's restore writes, expanded per host.
    pub hostname: Option<String>,
    /// The post-deploy script each member runs.
    pub post_script: Option<String>,
}

/// A member of a new session: its host, task and first token.
#[derive(Debug, Clone)]
pub struct Member {
    pub host: MacAddr,
    pub task: TaskId,
    pub token: String,
}

#[derive(Debug, Clone)]
pub struct CreatedSession {
    pub id: i64,
    pub members: Vec<Member>,
}

fn no_session(id: i64) -> Error {
    Error::NotFound(format!("no session {id}; `marrow session list` shows them"))
}

/// The member hosts `group` and `hosts` name, each once, in order.
fn member_hosts(
    tx: &Tx<'_>,
    group: Option<&str>,
    hosts: &[String],
    now: i64,
) -> Result<Vec<MacAddr>> {
    let mut macs = Vec::new();
    if let Some(g) = group {
        let in_group = tx.hosts().in_group(g)?;
        if in_group.is_empty() {
            return Err(Error::Usage(format!(
                "group {g:?} has no hosts; put some in it with `marrow host add MAC --name NAME --group {g}`"
            )));
        }
        macs.extend(in_group.into_iter().map(|h| h.mac));
    }
    for h in hosts {
        macs.push(resolve_host(&tx.hosts(), h, now)?);
    }
    let mut seen = std::collections::HashSet::new();
    macs.retain(|m| seen.insert(*m));
    if macs.is_empty() {
        return Err(Error::Usage(
            "a session needs members: give --group ROOM or --host MAC|NAME".into(),
        ));
    }
    Ok(macs)
}

fn member_task(image: &str, like: &NewSession, host: MacAddr) -> NewTask {
    NewTask {
        kind: TaskKind::Restore,
        host: host.to_string(),
        image: image.to_string(),
        disk_rule: like.disk_rule.clone(),
        grow_last_partition: like.grow_last_partition,
        after: like.after,
        inject_drivers: None,
        hostname: like.hostname.clone(),
        post_script: like.post_script.clone(),
    }
}

/// Makes a waiting session and a restore task for each member host, in
/// one transaction: a member that already has an active task refuses the
/// whole session, naming the task.
pub fn create(
    db: &mut Db,
    actor: &Actor,
    new: &NewSession,
    images: Images<'_>,
    now: i64,
    rng: &mut dyn Rng,
) -> Result<CreatedSession> {
    if new.group.is_none() && new.hosts.is_empty() {
        return Err(Error::Usage(
            "a session needs members: give --group ROOM or --host MAC|NAME".into(),
        ));
    }
    let r = ImageRef::parse(&new.image)?;
    let Some(store) = images.store else {
        return Err(image_format::Error::ImageNotFound {
            name: r.name,
            store: images.name.to_string(),
        }
        .into());
    };
    let entry = catalog::resolve(store, &r, images.name)?;
    let image = format!("{}@{}", r.name, entry.id.to_hex());
    let mut wire = [0u8; 8];
    rng.fill(&mut wire)?;
    let tx = db.transaction()?;
    let hosts = member_hosts(&tx, new.group.as_deref(), &new.hosts, now)?;
    let id = tx.sessions().insert(
        &NewSessionRow {
            wire_id: SessionId(u64::from_be_bytes(wire)),
            image: image.clone(),
            manifest: entry.id,
            policy: new.policy,
            rate_cap: new.rate_cap,
            wake: new.wake,
        },
        now,
    )?;
    let mut members = Vec::new();
    for host in hosts {
        let t = member_task(&image, new, host);
        let c = tasks::insert(&tx, actor, &t, host, Some(id), now, rng)?;
        members.push(Member {
            host,
            task: c.id,
            token: c.token,
        });
    }
    tracing::debug!(%actor, session = id, "session created");
    tx.commit()?;
    Ok(CreatedSession { id, members })
}

/// Adds member hosts to a waiting or running session (a running one
/// serves them when the carousel comes round). Their tasks copy the
/// session's disk rule, growth and end action from its first member.
/// [`create`] with the images of the data directory's store.
pub fn create_in(
    db: &mut Db,
    store: &crate::store::StoreSpec,
    actor: &Actor,
    new: &NewSession,
    now: i64,
    rng: &mut dyn Rng,
) -> Result<CreatedSession> {
    let store = tasks::StoreImages::open(store)?;
    create(db, actor, new, store.images(), now, rng)
}

pub fn add(
    db: &mut Db,
    actor: &Actor,
    id: i64,
    hosts: &[String],
    now: i64,
    rng: &mut dyn Rng,
) -> Result<Vec<Member>> {
    let tx = db.transaction()?;
    let s = tx.sessions().get(id)?.ok_or_else(|| no_session(id))?;
    if !s.state.is_active() {
        return Err(Error::Usage(format!(
            "session {id} is {}; members can join a waiting or running session only",
            s.state.as_str()
        )));
    }
    let existing = tx.tasks().in_session(id)?;
    let like = existing.first().ok_or_else(|| no_session(id))?;
    let template = NewSession {
        image: s.image.clone(),
        group: None,
        hosts: Vec::new(),
        policy: s.policy,
        rate_cap: s.rate_cap,
        disk_rule: like.disk_rule.clone(),
        grow_last_partition: like.grow_last_partition,
        after: like.after,
        wake: s.wake,
        hostname: like.hostname_pattern.clone(),
        post_script: like.post_script.clone(),
    };
    let mut members = Vec::new();
    for host in member_hosts(&tx, None, hosts, now)? {
        if existing
            .iter()
            .any(|t| t.host == host && t.state.is_active())
        {
            return Err(Error::Usage(format!(
                "host {host} is already a member of session {id}"
            )));
        }
        let t = member_task(&s.image, &template, host);
        let c = tasks::insert(&tx, actor, &t, host, Some(id), now, rng)?;
        members.push(Member {
            host,
            task: c.id,
            token: c.token,
        });
    }
    tracing::debug!(%actor, session = id, added = members.len(), "session members added");
    tx.commit()?;
    Ok(members)
}

/// Asks a waiting session to start now (`marrow session start`).
pub fn request_start(db: &mut Db, actor: &Actor, id: i64, now: i64) -> Result<()> {
    let tx = db.transaction()?;
    let s = tx.sessions().get(id)?.ok_or_else(|| no_session(id))?;
    if s.state != SessionState::Waiting {
        return Err(Error::Usage(format!(
            "session {id} is {}; only a waiting session can be started",
            s.state.as_str()
        )));
    }
    tx.sessions().request_start(id, now)?;
    tracing::debug!(%actor, session = id, "session start requested");
    tx.commit()
}

/// Cancels a waiting or running session and its members' active tasks.
pub fn cancel(db: &mut Db, actor: &Actor, id: i64, now: i64) -> Result<()> {
    let tx = db.transaction()?;
    let s = tx.sessions().get(id)?.ok_or_else(|| no_session(id))?;
    if !s.state.is_active() {
        return Err(Error::Usage(format!(
            "session {id} is already {}; only waiting or running sessions can be cancelled",
            s.state.as_str()
        )));
    }
    for t in tx.tasks().in_session(id)? {
        if t.state.is_active() {
            tx.tasks().cancel(t.id, now)?;
            tasks::record(&tx, actor, "cancelled with its session", t.id);
        }
    }
    tx.sessions()
        .finish(id, SessionState::Cancelled, None, now)?;
    tracing::debug!(%actor, session = id, "session cancelled");
    tx.commit()
}

/// A session with its members and their hosts.
pub fn show(db: &Db, id: i64) -> Result<SessionView> {
    let s = db.sessions().get(id)?.ok_or_else(|| no_session(id))?;
    Ok(SessionView::new(&s, &members_of(db, id)?))
}

pub fn list(db: &Db) -> Result<Vec<SessionView>> {
    db.sessions()
        .all()?
        .iter()
        .map(|s| Ok(SessionView::new(s, &members_of(db, s.id)?)))
        .collect()
}

fn members_of(db: &Db, id: i64) -> Result<Vec<(Task, Option<Host>)>> {
    db.tasks()
        .in_session(id)?
        .into_iter()
        .map(|t| {
            let h = db.hosts().get(t.host)?;
            Ok((t, h))
        })
        .collect()
}

/// The session of a task's client, which it joins (the first join is
/// recorded, for the start policy).
pub fn join(db: &mut Db, task: &Task, now: i64) -> Result<Session> {
    let id = task
        .session
        .ok_or_else(|| Error::Usage(format!("task {} belongs to no multicast session", task.id)))?;
    let tx = db.transaction()?;
    let s = tx.sessions().get(id)?.ok_or_else(|| no_session(id))?;
    tx.tasks().set_session_joined(task.id, now)?;
    tasks::record(&tx, &Actor::Client(task.id), "joined its session", task.id);
    tx.commit()?;
    Ok(s)
}

/// The service's view of an active session: the row, its members, and
/// the start policy's room.
pub fn room(db: &Db, s: &Session) -> Result<(Vec<Task>, policy::Room)> {
    let members = db.tasks().in_session(s.id)?;
    let active: Vec<&Task> = members.iter().filter(|t| t.state.is_active()).collect();
    let room = policy::Room {
        members: active.len(),
        joined: active.iter().filter(|t| t.session_joined.is_some()).count(),
        first_join: members.iter().filter_map(|t| t.session_joined).min(),
    };
    Ok((members, room))
}

/// The service starts a waiting session on `channel`.
pub fn begin(
    db: &mut Db,
    id: i64,
    channel: (std::net::Ipv4Addr, u16),
    reason: &str,
    now: i64,
) -> Result<()> {
    let tx = db.transaction()?;
    tx.sessions().set_running(id, channel, reason, now)?;
    tracing::debug!(session = id, reason, "session started");
    tx.commit()
}

/// The service woke the members of a session.
pub fn woken(db: &mut Db, id: i64, now: i64) -> Result<()> {
    db.sessions().set_woken(id, now)
}

/// Stores the receivers' statuses and the sender's totals, together.
pub fn record_progress(
    db: &mut Db,
    id: i64,
    statuses: &[(TaskId, ReceiverStatus)],
    totals: (u64, u64, u64),
) -> Result<()> {
    let tx = db.transaction()?;
    for (task, status) in statuses {
        let text = serde_json::to_string(status).unwrap_or_default();
        tx.tasks().set_session_status(*task, &text)?;
    }
    tx.sessions().set_totals(id, totals.0, totals.1, totals.2)?;
    tx.commit()
}

/// Ends a session whose members have all ended: `done` when any member
/// restored, else `failed`. Returns the end state, or `None` while a
/// member is still active.
pub fn end_if_over(db: &mut Db, id: i64, now: i64) -> Result<Option<SessionState>> {
    let tx = db.transaction()?;
    let members = tx.tasks().in_session(id)?;
    if members.iter().any(|t| t.state.is_active()) {
        return Ok(None);
    }
    let state = if members.iter().any(|t| t.state == TaskState::Done) {
        SessionState::Done
    } else {
        SessionState::Failed
    };
    let error = (state == SessionState::Failed)
        .then(|| "no member restored the image; `marrow task show ID` says why".to_string());
    tx.sessions().finish(id, state, error.as_deref(), now)?;
    tx.commit()?;
    Ok(Some(state))
}

/// Sending failed (a chunk unreadable in the store): the session fails;
/// its receivers hear it end and fetch the rest over HTTP, whose errors
/// name the chunk.
pub fn fail(db: &mut Db, id: i64, why: &str, now: i64) -> Result<()> {
    db.sessions()
        .finish(id, SessionState::Failed, Some(why), now)
}

#[cfg(test)]
mod tests;
