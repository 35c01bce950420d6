//! The `schedules` and `schedule_runs` tables.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::Conn;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRow {
    pub name: String,
    /// `schedules::When`, as JSON.
    pub spec: String,
    /// The command's arguments, as a JSON array of strings.
    pub argv: String,
    pub grace_secs: i64,
    pub paused: bool,
    /// A one-shot that has fired.
    pub done: bool,
    pub created: i64,
    /// Due times up to here were run or recorded as missed.
    pub checked_until: i64,
}

/// One due time of a schedule and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduleRun {
    /// Unix seconds it was due.
    pub due: i64,
    /// Unix seconds it was handled.
    pub at: i64,
    /// `ok`, `missed: …` or `failed: …`.
    pub outcome: String,
    pub task: Option<i64>,
    pub session: Option<i64>,
}

const COLUMNS: &str =
    "SELECT name, spec, argv, grace_secs, paused, done, created, checked_until FROM schedules";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScheduleRow> {
    Ok(ScheduleRow {
        name: r.get(0)?,
        spec: r.get(1)?,
        argv: r.get(2)?,
        grace_secs: r.get(3)?,
        paused: r.get(4)?,
        done: r.get(5)?,
        created: r.get(6)?,
        checked_until: r.get(7)?,
    })
}

pub struct ScheduleRows<'a>(pub(super) Conn<'a>);

impl ScheduleRows<'_> {
    pub fn insert(&self, s: &ScheduleRow) -> Result<()> {
        if self.get(&s.name)?.is_some() {
            return Err(Error::Conflict(format!(
                "schedule {:?} already exists",
                s.name
            )));
        }
        self.0
            .conn
            .execute(
                "INSERT INTO schedules (name, spec, argv, grace_secs, paused, done, created, checked_until)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![s.name, s.spec, s.argv, s.grace_secs, s.paused, s.done, s.created, s.checked_until],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<Option<ScheduleRow>> {
        self.0
            .conn
            .query_row(&format!("{COLUMNS} WHERE name = ?1"), params![name], row)
            .optional()
            .map_err(self.0.err())
    }

    pub fn all(&self) -> Result<Vec<ScheduleRow>> {
        let mut stmt = self
            .0
            .conn
            .prepare(&format!("{COLUMNS} ORDER BY name"))
            .map_err(self.0.err())?;
        let rows = stmt.query_map([], row).map_err(self.0.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.0.err())
    }

    pub fn remove(&self, name: &str) -> Result<bool> {
        let n = self
            .0
            .conn
            .execute("DELETE FROM schedules WHERE name = ?1", params![name])
            .map_err(self.0.err())?;
        Ok(n == 1)
    }

    /// Pauses or resumes; a resumed schedule does not run what came due
    /// while it was paused, so `checked_until` moves to `now`.
    pub fn set_paused(&self, name: &str, paused: bool, now: i64) -> Result<bool> {
        let n = self
            .0
            .conn
            .execute(
                "UPDATE schedules SET paused = ?2,
                    checked_until = CASE WHEN ?2 THEN checked_until ELSE max(checked_until, ?3) END
                 WHERE name = ?1",
                params![name, paused, now],
            )
            .map_err(self.0.err())?;
        Ok(n == 1)
    }

    pub fn checked(&self, name: &str, until: i64, done: bool) -> Result<()> {
        self.0
            .conn
            .execute(
                "UPDATE schedules SET checked_until = ?2, done = done OR ?3 WHERE name = ?1",
                params![name, until, done],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    pub fn add_run(&self, name: &str, run: &ScheduleRun) -> Result<()> {
        self.0
            .conn
            .execute(
                "INSERT INTO schedule_runs (schedule, due, at, outcome, task_id, session_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![name, run.due, run.at, run.outcome, run.task, run.session],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    /// The last `limit` runs, oldest first.
    pub fn runs(&self, name: &str, limit: usize) -> Result<Vec<ScheduleRun>> {
        let mut stmt = self
            .0
            .conn
            .prepare(
                "SELECT due, at, outcome, task_id, session_id FROM
                   (SELECT * FROM schedule_runs WHERE schedule = ?1 ORDER BY id DESC LIMIT ?2)
                 ORDER BY id",
            )
            .map_err(self.0.err())?;
        let rows = stmt
            .query_map(params![name, limit as i64], |r| {
                Ok(ScheduleRun {
                    due: r.get(0)?,
                    at: r.get(1)?,
                    outcome: r.get(2)?,
                    task: r.get(3)?,
                    session: r.get(4)?,
                })
            })
            .map_err(self.0.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.0.err())
    }

    pub fn remove_runs(&self, name: &str) -> Result<()> {
        self.0
            .conn
            .execute(
                "DELETE FROM schedule_runs WHERE schedule = ?1",
                params![name],
            )
            .map_err(self.0.err())?;
        Ok(())
    }
}
