//! The `sessions` table: multicast sessions. Statements only; the rules
//! (who may create, start or cancel one, and when it starts) are
//! `crate::sessions`'s.

use std::net::Ipv4Addr;

use marrow_protocol::api::session::SessionState;
use marrow_protocol::multicast::SessionId;
use marrow_protocol::ImageId;
use rusqlite::{params, OptionalExtension};

use super::{bad_column, Conn};
use crate::error::Result;

/// One row of `sessions`.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: i64,
    pub wire_id: SessionId,
    /// `NAME@ID`: what every member restores.
    pub image: String,
    pub manifest: ImageId,
    pub state: SessionState,
    pub policy: StartPolicyRow,
    pub start_requested: bool,
    /// `--rate-cap`, bits per second.
    pub rate_cap: u64,
    pub wake: bool,
    /// When the members were woken (Unix seconds).
    pub woken: Option<i64>,
    /// The group and port, from the start on.
    pub channel: Option<(Ipv4Addr, u16)>,
    pub started: Option<i64>,
    /// Which rule started it.
    pub start_reason: Option<String>,
    pub sent_bytes: u64,
    pub cycles: u64,
    pub repair_symbols: u64,
    pub error: Option<String>,
    pub created: i64,
    pub updated: i64,
}

/// The start policy as stored: each rule is optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StartPolicyRow {
    pub min_receivers: Option<u32>,
    pub max_wait_secs: Option<i64>,
    pub start_at: Option<i64>,
}

/// A checked session, ready to be stored.
#[derive(Debug, Clone)]
pub struct NewSessionRow {
    pub wire_id: SessionId,
    pub image: String,
    pub manifest: ImageId,
    pub policy: StartPolicyRow,
    pub rate_cap: u64,
    pub wake: bool,
}

const COLUMNS: &str = "SELECT id, wire_id, image, manifest, state, min_receivers,
    max_wait_secs, start_at, start_requested, rate_cap, wake, woken, group_addr, port,
    started, start_reason, sent_bytes, cycles, repair_symbols, error, created, updated
    FROM sessions";

pub struct SessionRows<'a>(pub(super) Conn<'a>);

impl SessionRows<'_> {
    pub fn insert(&self, new: &NewSessionRow, now: i64) -> Result<i64> {
        self.0
            .conn
            .execute(
                "INSERT INTO sessions (wire_id, image, manifest, state, min_receivers,
                    max_wait_secs, start_at, rate_cap, wake, created, updated)
                 VALUES (?1, ?2, ?3, 'waiting', ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                params![
                    new.wire_id.to_string(),
                    new.image,
                    new.manifest.to_hex(),
                    new.policy.min_receivers,
                    new.policy.max_wait_secs,
                    new.policy.start_at,
                    new.rate_cap as i64,
                    new.wake,
                    now
                ],
            )
            .map_err(self.0.err())?;
        Ok(self.0.conn.last_insert_rowid())
    }

    pub fn get(&self, id: i64) -> Result<Option<Session>> {
        self.0
            .conn
            .query_row(
                &format!("{COLUMNS} WHERE id = ?1"),
                params![id],
                row_to_session,
            )
            .optional()
            .map_err(self.0.err())
    }

    pub fn all(&self) -> Result<Vec<Session>> {
        self.many(&format!("{COLUMNS} ORDER BY id"))
    }

    /// Waiting or running sessions.
    pub fn active(&self) -> Result<Vec<Session>> {
        self.many(&format!(
            "{COLUMNS} WHERE state IN ('waiting', 'running') ORDER BY id"
        ))
    }

    fn many(&self, sql: &str) -> Result<Vec<Session>> {
        let mut stmt = self.0.conn.prepare(sql).map_err(self.0.err())?;
        let rows = stmt.query_map([], row_to_session).map_err(self.0.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.0.err())
    }

    pub fn request_start(&self, id: i64, now: i64) -> Result<()> {
        self.update(
            "UPDATE sessions SET start_requested = 1, updated = ?2 WHERE id = ?1",
            params![id, now],
        )
    }

    pub fn set_woken(&self, id: i64, now: i64) -> Result<()> {
        self.update(
            "UPDATE sessions SET woken = ?2, updated = ?2 WHERE id = ?1",
            params![id, now],
        )
    }

    /// Running from `now`, on `channel`, because of `reason`.
    pub fn set_running(
        &self,
        id: i64,
        channel: (Ipv4Addr, u16),
        reason: &str,
        now: i64,
    ) -> Result<()> {
        self.update(
            "UPDATE sessions SET state = 'running', group_addr = ?2, port = ?3,
                started = ?4, start_reason = ?5, updated = ?4
             WHERE id = ?1 AND state = 'waiting'",
            params![id, channel.0.to_string(), channel.1, now, reason],
        )
    }

    /// The sender's totals over the session's life (across restarts).
    pub fn set_totals(&self, id: i64, sent_bytes: u64, cycles: u64, repair: u64) -> Result<()> {
        self.update(
            "UPDATE sessions SET sent_bytes = ?2, cycles = ?3, repair_symbols = ?4 WHERE id = ?1",
            params![id, sent_bytes as i64, cycles as i64, repair as i64],
        )
    }

    /// Ends an active session in `state` (done, failed, cancelled).
    pub fn finish(
        &self,
        id: i64,
        state: SessionState,
        error: Option<&str>,
        now: i64,
    ) -> Result<()> {
        self.update(
            "UPDATE sessions SET state = ?2, error = ?3, updated = ?4
             WHERE id = ?1 AND state IN ('waiting', 'running')",
            params![id, state.as_str(), error, now],
        )
    }

    fn update(&self, sql: &str, args: impl rusqlite::Params) -> Result<()> {
        self.0.conn.execute(sql, args).map_err(self.0.err())?;
        Ok(())
    }
}

fn row_to_session(r: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    let wire: String = r.get(1)?;
    let wire_id = SessionId::parse(&wire).ok_or_else(|| bad_column(1, "session wire id", &wire))?;
    let manifest: String = r.get(3)?;
    let manifest = manifest
        .parse()
        .map_err(|_| bad_column(3, "manifest id", &manifest))?;
    let state: String = r.get(4)?;
    let state =
        SessionState::parse(&state).ok_or_else(|| bad_column(4, "session state", &state))?;
    let group: Option<String> = r.get(12)?;
    let port: Option<u16> = r.get(13)?;
    let channel = match (group, port) {
        (Some(g), Some(p)) => Some((
            g.parse().map_err(|_| bad_column(12, "group address", &g))?,
            p,
        )),
        _ => None,
    };
    let count = |i: usize| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
    Ok(Session {
        id: r.get(0)?,
        wire_id,
        image: r.get(2)?,
        manifest,
        state,
        policy: StartPolicyRow {
            min_receivers: r.get(5)?,
            max_wait_secs: r.get(6)?,
            start_at: r.get(7)?,
        },
        start_requested: r.get(8)?,
        rate_cap: count(9)?,
        wake: r.get(10)?,
        woken: r.get(11)?,
        channel,
        started: r.get(14)?,
        start_reason: r.get(15)?,
        sent_bytes: count(16)?,
        cycles: count(17)?,
        repair_symbols: count(18)?,
        error: r.get(19)?,
        created: r.get(20)?,
        updated: r.get(21)?,
    })
}
