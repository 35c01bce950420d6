//! Multicast sessions: create, add members, start, cancel, list, show.

use marrow_protocol::api::After;
use serde_json::json;

use super::requests::{AddMembers, NewSessionRequest};
use super::views::{CreatedSession, MemberView};
use super::{audited, Ctx};
use crate::db::{Db, StartPolicyRow};
use crate::error::{Error, Result};
use crate::sessions::view::SessionView;
use crate::sessions::{self, Member, NewSession};
use crate::store::StoreSpec;
use crate::tasks::Rng;

/// The sender's default ceiling: 800 Mbit/s leaves a gigabit LAN room
/// for everything else (docs/multicast.md).
pub const DEFAULT_RATE_CAP: u64 = 800_000_000;

pub fn list_sessions(db: &Db) -> Result<Vec<SessionView>> {
    sessions::list(db)
}

pub fn get_session(db: &Db, id: i64) -> Result<SessionView> {
    sessions::show(db, id)
}

impl NewSessionRequest {
    /// The checked session it asks for.
    pub fn to_new_session(&self) -> Result<NewSession> {
        if self.min_receivers == Some(0) {
            return Err(Error::Usage("--min-receivers must be at least 1".into()));
        }
        if self.max_wait_secs.is_some_and(|s| s < 0) {
            return Err(Error::Usage("--max-wait must not be negative".into()));
        }
        if self.rate_cap == Some(0) {
            return Err(Error::Usage("--rate-cap must be above 0".into()));
        }
        let after = match self.after.as_deref() {
            None => After::Reboot,
            Some(a) => After::parse(a)
                .ok_or_else(|| Error::Usage(format!("after {a:?}: use reboot or poweroff")))?,
        };
        Ok(NewSession {
            image: self.image.clone(),
            group: self.group.clone(),
            hosts: self.hosts.clone(),
            policy: StartPolicyRow {
                min_receivers: self.min_receivers,
                max_wait_secs: self.max_wait_secs,
                start_at: self.start_at,
            },
            rate_cap: self.rate_cap.unwrap_or(DEFAULT_RATE_CAP),
            disk_rule: self.disk.clone(),
            grow_last_partition: self.grow_last_partition,
            after,
            wake: self.wake,
            hostname: self.hostname.clone(),
            post_script: self.post_script.clone(),
        })
    }
}

fn members(list: Vec<Member>, show_tokens: bool) -> Vec<MemberView> {
    list.into_iter()
        .map(|m| MemberView {
            host: m.host.to_string(),
            task: m.task.0,
            token: show_tokens.then_some(m.token),
        })
        .collect()
}

/// Makes a session and a restore task per member; the image must be in
/// the data directory's store.
pub fn create_session(
    db: &mut Db,
    store: &StoreSpec,
    ctx: &Ctx,
    req: &NewSessionRequest,
    rng: &mut dyn Rng,
) -> Result<CreatedSession> {
    let mut args = serde_json::to_value(req).unwrap_or_default();
    if let Some(o) = args.as_object_mut() {
        o.remove("show_tokens");
    }
    let object = req.group.clone().unwrap_or_else(|| req.hosts.join(","));
    audited(db, ctx, "session.create", Some(&object), args, |db| {
        let new = req.to_new_session()?;
        let c = sessions::create_in(db, store, &ctx.actor, &new, ctx.now, rng)?;
        Ok(CreatedSession {
            id: c.id,
            members: members(c.members, req.show_tokens),
        })
    })
}

pub fn add_members(
    db: &mut Db,
    ctx: &Ctx,
    id: i64,
    req: &AddMembers,
    rng: &mut dyn Rng,
) -> Result<Vec<MemberView>> {
    let object = id.to_string();
    let args = json!({ "hosts": req.hosts });
    audited(db, ctx, "session.add", Some(&object), args, |db| {
        if req.hosts.is_empty() {
            return Err(Error::Usage("give the hosts to add".into()));
        }
        let added = sessions::add(db, &ctx.actor, id, &req.hosts, ctx.now, rng)?;
        Ok(members(added, req.show_tokens))
    })
}

pub fn start_session(db: &mut Db, ctx: &Ctx, id: i64) -> Result<SessionView> {
    let object = id.to_string();
    audited(db, ctx, "session.start", Some(&object), json!({}), |db| {
        sessions::request_start(db, &ctx.actor, id, ctx.now)?;
        sessions::show(db, id)
    })
}

pub fn cancel_session(db: &mut Db, ctx: &Ctx, id: i64) -> Result<SessionView> {
    let object = id.to_string();
    audited(db, ctx, "session.cancel", Some(&object), json!({}), |db| {
        sessions::cancel(db, &ctx.actor, id, ctx.now)?;
        sessions::show(db, id)
    })
}
