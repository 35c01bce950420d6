//! The `sites` table (the upstreams this server pulls from, with the
//! token it sends and the key and certificate it trusts) and `sync_runs`
//! (each pull's outcome, for `sync status`).

use rusqlite::{params, OptionalExtension};

use super::Conn;
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteRow {
    pub name: String,
    pub url: String,
    /// The upstream's sync token, sent as a bearer token. Kept as given:
    /// this server must present it, so it cannot keep only a hash.
    pub token: String,
    /// The upstream's identity key, `ed25519:<hex>`: the only key whose
    /// images this site publishes.
    pub key: String,
    /// The pinned TLS certificate, `sha256:<hex>`; `None`: public CAs.
    pub fingerprint: Option<String>,
    /// Restores at this site fetch what they lack from this upstream on
    /// demand (`read_through = true` in its `[[sync]]` entry, which
    /// `marrow serve` writes here at start).
    pub read_through: bool,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRun {
    pub id: i64,
    pub site: String,
    pub started: i64,
    pub ended: Option<i64>,
    /// `running`, `done`, `failed` (some version or the link failed),
    /// `paused` (outside its window).
    pub state: String,
    pub published: i64,
    pub failed: i64,
    pub chunks: i64,
    pub bytes: i64,
    pub error: Option<String>,
    /// The pull's report, JSON.
    pub report: Option<String>,
}

const SITE_COLUMNS: &str =
    "SELECT name, url, token, key, fingerprint, read_through, created FROM sites";
const RUN_COLUMNS: &str = "SELECT id, site, started, ended, state, published, failed, chunks, \
     bytes, error, report FROM sync_runs";

fn site(r: &rusqlite::Row<'_>) -> rusqlite::Result<SiteRow> {
    Ok(SiteRow {
        name: r.get(0)?,
        url: r.get(1)?,
        token: r.get(2)?,
        key: r.get(3)?,
        fingerprint: r.get(4)?,
        read_through: r.get(5)?,
        created: r.get(6)?,
    })
}

fn run(r: &rusqlite::Row<'_>) -> rusqlite::Result<SyncRun> {
    Ok(SyncRun {
        id: r.get(0)?,
        site: r.get(1)?,
        started: r.get(2)?,
        ended: r.get(3)?,
        state: r.get(4)?,
        published: r.get(5)?,
        failed: r.get(6)?,
        chunks: r.get(7)?,
        bytes: r.get(8)?,
        error: r.get(9)?,
        report: r.get(10)?,
    })
}

pub struct SiteRows<'a>(pub(super) Conn<'a>);

impl SiteRows<'_> {
    /// Adds a site; false when one of that name exists.
    pub fn add(&self, s: &SiteRow) -> Result<bool> {
        let n = self
            .0
            .conn
            .execute(
                "INSERT INTO sites (name, url, token, key, fingerprint, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(name) DO NOTHING",
                params![s.name, s.url, s.token, s.key, s.fingerprint, s.created],
            )
            .map_err(self.0.err())?;
        Ok(n > 0)
    }

    pub fn get(&self, name: &str) -> Result<Option<SiteRow>> {
        self.0
            .conn
            .query_row(
                &format!("{SITE_COLUMNS} WHERE name = ?1"),
                params![name],
                site,
            )
            .optional()
            .map_err(self.0.err())
    }

    pub fn all(&self) -> Result<Vec<SiteRow>> {
        let mut stmt = self
            .0
            .conn
            .prepare(&format!("{SITE_COLUMNS} ORDER BY name"))
            .map_err(self.0.err())?;
        let rows = stmt.query_map([], site).map_err(self.0.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.0.err())
    }

    /// Removes it; false when there was none. Its runs stay, as history.
    pub fn remove(&self, name: &str) -> Result<bool> {
        let n = self
            .0
            .conn
            .execute("DELETE FROM sites WHERE name = ?1", params![name])
            .map_err(self.0.err())?;
        Ok(n > 0)
    }

    /// Marks exactly the sites in `names` as read-through.
    pub fn set_read_through(&self, names: &[String]) -> Result<()> {
        self.0
            .conn
            .execute("UPDATE sites SET read_through = 0", [])
            .map_err(self.0.err())?;
        for n in names {
            self.0
                .conn
                .execute(
                    "UPDATE sites SET read_through = 1 WHERE name = ?1",
                    params![n],
                )
                .map_err(self.0.err())?;
        }
        Ok(())
    }

    /// Notes a pull's start; its id.
    pub fn run_started(&self, site: &str, now: i64) -> Result<i64> {
        self.0
            .conn
            .execute(
                "INSERT INTO sync_runs (site, started, state) VALUES (?1, ?2, 'running')",
                params![site, now],
            )
            .map_err(self.0.err())?;
        Ok(self.0.conn.last_insert_rowid())
    }

    /// Notes a pull's end and what it did.
    pub fn run_ended(&self, r: &SyncRun) -> Result<()> {
        self.0
            .conn
            .execute(
                "UPDATE sync_runs SET ended = ?2, state = ?3, published = ?4, failed = ?5,
                 chunks = ?6, bytes = ?7, error = ?8, report = ?9 WHERE id = ?1",
                params![
                    r.id,
                    r.ended,
                    r.state,
                    r.published,
                    r.failed,
                    r.chunks,
                    r.bytes,
                    r.error,
                    r.report
                ],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    /// A running pull's state and counts so far, for `sync status` and
    /// the web UI while it runs.
    pub fn run_progress(&self, id: i64, state: &str, chunks: i64, bytes: i64) -> Result<()> {
        self.0
            .conn
            .execute(
                "UPDATE sync_runs SET state = ?2, chunks = ?3, bytes = ?4 WHERE id = ?1",
                params![id, state, chunks, bytes],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    /// A site's runs, newest first.
    pub fn runs(&self, site: &str, limit: i64) -> Result<Vec<SyncRun>> {
        let mut stmt = self
            .0
            .conn
            .prepare(&format!(
                "{RUN_COLUMNS} WHERE site = ?1 ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(self.0.err())?;
        let rows = stmt
            .query_map(params![site, limit], run)
            .map_err(self.0.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.0.err())
    }

    /// Each site's newest run.
    pub fn last_runs(&self) -> Result<Vec<SyncRun>> {
        let mut stmt = self
            .0
            .conn
            .prepare(&format!(
                "{RUN_COLUMNS} WHERE id IN (SELECT MAX(id) FROM sync_runs GROUP BY site) ORDER BY site"
            ))
            .map_err(self.0.err())?;
        let rows = stmt.query_map([], run).map_err(self.0.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.0.err())
    }
}
