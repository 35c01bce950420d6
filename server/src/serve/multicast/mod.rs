//! Multicast sessions in the service: the registry of running senders
//! and the manager that moves sessions along, once a second.
//!
//! The manager reads every active session from the database, so a
//! session made or cancelled by the CLI, or left running by a stopped
//! service, is picked up on the next tick:
//! - waiting: wakes the members once (`--wake`), and starts the session
//!   when the start policy says so (`crate::sessions::policy`), on a free
//!   group of `[multicast]`;
//! - running: makes sure a sender runs (after a restart it begins with an
//!   empty view and learns the receivers from their next reports), tells
//!   it which members' tasks ended, stores the receivers' statuses and the
//!   totals, and ends the session once every member has ended.

pub mod channel;
mod sender;
mod table;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::Store;
use marrow_protocol::api::session::{Channel, SessionState};
use marrow_protocol::multicast::sender::{MemberStatus, Sender, SenderConfig, SenderStats};
use marrow_protocol::multicast::wire::SYMBOL_SIZE;
use marrow_protocol::ImageId;
use tracing::{info, warn};

pub(crate) use sender::Live;
pub(crate) use table::Table;

use super::net::Interface;
use super::state::Shared;
use crate::db::Session;
use crate::error::Result;
use crate::sessions::view::ReceiverStatus;
use crate::sessions::{self, policy};

/// How often the manager looks at the sessions: a session due to start
/// starts within this.
const TICK: Duration = Duration::from_millis(250);
/// How often receivers' statuses and the totals are stored.
const RECORD_EVERY: Duration = Duration::from_secs(1);

/// Running senders and the chunk tables of the sessions' images.
#[derive(Default)]
pub(crate) struct Registry {
    live: Mutex<HashMap<i64, Arc<Live>>>,
    tables: Mutex<HashMap<ImageId, Arc<Table>>>,
}

impl Registry {
    pub fn live(&self, id: i64) -> Option<Arc<Live>> {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    fn all_live(&self) -> Vec<Arc<Live>> {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The chunk table of `manifest`, built once.
    pub fn table(&self, store: &Store, manifest: &ImageId) -> Result<Arc<Table>> {
        if let Some(t) = self
            .tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(manifest)
        {
            return Ok(t.clone());
        }
        let t = Arc::new(Table::build(store, manifest)?);
        self.tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(*manifest, t.clone());
        Ok(t)
    }
}

/// The interface sessions send on: `multicast.interface`, else the first
/// served one.
pub(crate) fn interface<'a>(shared: &Shared, served: &'a [Interface]) -> Option<&'a Interface> {
    match &shared.config.multicast.interface {
        Some(name) => served.iter().find(|i| &i.name == name),
        None => served.first(),
    }
}

/// Runs the manager until the service stops.
pub(crate) async fn run(shared: Arc<Shared>, iface: Interface) {
    loop {
        let (s, i) = (shared.clone(), iface.clone());
        let done = tokio::task::spawn_blocking(move || tick(&s, &i)).await;
        match done {
            Ok(Err(e)) => warn!("multicast sessions: {e}"),
            Err(e) => warn!("multicast sessions: {e}"),
            Ok(Ok(())) => {}
        }
        tokio::time::sleep(TICK).await;
    }
}

fn tick(shared: &Arc<Shared>, iface: &Interface) -> Result<()> {
    let now = shared.now();
    let active = shared.db.blocking(|db| db.sessions().active())?;
    // Senders of sessions that ended elsewhere (cancelled by the CLI).
    for live in shared.sessions.all_live() {
        if !active.iter().any(|s| s.id == live.id) {
            live.stop();
        }
        if live.ended() {
            shared
                .sessions
                .live
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&live.id);
        }
    }
    let mut by_state: HashMap<&'static str, u64> = HashMap::new();
    for s in &active {
        let result = match s.state {
            SessionState::Waiting => waiting(shared, iface, s, now, &active),
            SessionState::Running => running(shared, iface, s, now, &mut by_state),
            _ => Ok(()),
        };
        if let Err(e) = result {
            warn!(session = s.id, "{e}");
        }
    }
    shared.metrics.set_session_receivers(by_state);
    Ok(())
}

fn waiting(
    shared: &Arc<Shared>,
    iface: &Interface,
    s: &Session,
    now: i64,
    active: &[Session],
) -> Result<()> {
    let (members, room) = shared.db.blocking(|db| sessions::room(db, s))?;
    let wake_due = s.wake && s.woken.is_none() && s.policy.start_at.is_none_or(|at| now >= at);
    if wake_due {
        let hosts: Vec<_> = members
            .iter()
            .filter(|t| t.state.is_active())
            .map(|t| t.host)
            .collect();
        crate::wake::wake(iface, &hosts)?;
        shared.db.blocking(|db| sessions::woken(db, s.id, now))?;
        info!(
            session = s.id,
            hosts = hosts.len(),
            "woke the members on {}",
            iface.name
        );
    }
    let Some(reason) = policy::start_reason(&s.policy, s.start_requested, room, now) else {
        return Ok(());
    };
    let in_use: Vec<_> = active
        .iter()
        .filter_map(|a| a.channel.map(|c| c.0))
        .collect();
    let mc = &shared.config.multicast;
    let group = mc.allocate(&in_use).ok_or_else(|| {
        crate::Error::Usage(format!(
            "no free multicast group for session {}: every group of multicast.groups is in use",
            s.id
        ))
    })?;
    shared
        .db
        .blocking(|db| sessions::begin(db, s.id, (group, mc.port), &reason, now))?;
    info!(session = s.id, "started on {group}:{}: {reason}", mc.port);
    let mut started = s.clone();
    started.channel = Some((group, mc.port));
    start_sender(shared, iface, &started)
}

/// Starts (or, after a restart, resumes) the sender of a running session.
fn start_sender(shared: &Arc<Shared>, iface: &Interface, s: &Session) -> Result<()> {
    let Some((group, port)) = s.channel else {
        return Ok(());
    };
    let store = shared.store()?;
    let table = shared.sessions.table(&store, &s.manifest)?;
    let cfg = SenderConfig {
        session: s.wire_id,
        image: s.manifest,
        chunks: table.chunks.clone(),
        symbol_size: SYMBOL_SIZE,
        rate_cap_bps: s.rate_cap,
    };
    let base = SenderStats {
        sent_bytes: s.sent_bytes,
        cycles: s.cycles.min(u32::MAX as u64) as u32,
        repair_symbols: s.repair_symbols,
        ..SenderStats::default()
    };
    let live = Arc::new(Live::new(
        s.id,
        s.wire_id,
        s.manifest,
        Channel { group, port },
        table,
        Sender::new(cfg, Instant::now()),
        base,
    ));
    sender::spawn(live.clone(), shared.clone(), iface.ip)?;
    shared
        .sessions
        .live
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(s.id, live);
    Ok(())
}

fn status(m: &MemberStatus) -> ReceiverStatus {
    ReceiverStatus {
        phase: m.phase,
        mode: m.mode,
        reason: m.reason.clone(),
        loss: m.loss,
        multicast_bytes: m.multicast_bytes,
        unicast_bytes: m.unicast_bytes,
        done_bytes: m.done_bytes,
        total_bytes: m.total_bytes,
        away: m.away,
    }
}

fn running(
    shared: &Arc<Shared>,
    iface: &Interface,
    s: &Session,
    now: i64,
    by_state: &mut HashMap<&'static str, u64>,
) -> Result<()> {
    let live = match shared.sessions.live(s.id) {
        Some(l) => l,
        None => {
            info!(session = s.id, "resuming the sender of a running session");
            start_sender(shared, iface, s)?;
            return Ok(());
        }
    };
    let (members, _) = shared.db.blocking(|db| sessions::room(db, s))?;
    let (statuses, here): (Vec<_>, Vec<_>) = {
        let mut sender = live.sender.lock().unwrap_or_else(|e| e.into_inner());
        for t in members.iter().filter(|t| !t.state.is_active()) {
            sender.leave(t.id);
        }
        // Members that left are stored too: one may fall back and finish
        // between two looks, and its status says why it went to unicast.
        sender
            .members(Instant::now())
            .iter()
            .map(|m| ((m.id, status(m)), !m.left))
            .unzip()
    };
    for ((_, st), _) in statuses.iter().zip(&here).filter(|(_, here)| **here) {
        let key = match (st.away, st.phase) {
            (true, _) => "away",
            (_, p) => p.as_str(),
        };
        *by_state.entry(key).or_default() += 1;
    }
    let totals = live.totals();
    let over = members.iter().all(|t| !t.state.is_active());
    if live.record_due(RECORD_EVERY) || over {
        shared
            .db
            .blocking(|db| sessions::record_progress(db, s.id, &statuses, totals))?;
    }
    if let Some(why) = live
        .failure
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
    {
        shared
            .db
            .blocking(|db| sessions::fail(db, s.id, &why, now))?;
        live.stop();
        return Ok(());
    }
    if let Some(state) = shared
        .db
        .blocking(|db| sessions::end_if_over(db, s.id, now))?
    {
        info!(
            session = s.id,
            "{} after {} cycles",
            state.as_str(),
            totals.1
        );
        live.stop();
    }
    Ok(())
}
