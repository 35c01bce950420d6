//! The `tasks` table. Statements only: which changes are allowed, and
//! when, is `crate::tasks`'s business.

use marrow_protocol::api::{After, TaskKind};
use marrow_protocol::{ImageId, MacAddr, TaskId};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::hosts::parse_mac;
use super::{bad_column, Conn};
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Pending,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Done => "done",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => TaskState::Pending,
            "running" => TaskState::Running,
            "done" => TaskState::Done,
            "failed" => TaskState::Failed,
            "cancelled" => TaskState::Cancelled,
            _ => return None,
        })
    }

    /// Pending or running: the task still owns its host's next boot.
    pub fn is_active(self) -> bool {
        matches!(self, TaskState::Pending | TaskState::Running)
    }
}

/// One row of `tasks`, as `marrow task list|show --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub id: TaskId,
    pub kind: TaskKind,
    pub host: MacAddr,
    pub image: String,
    pub disk_rule: Option<String>,
    pub grow_last_partition: bool,
    pub after: After,
    pub inject_drivers: Option<String>,
    /// The manifest id a restore resolved to when the client claimed it.
    pub manifest: Option<ImageId>,
    pub state: TaskState,
    pub error: Option<String>,
    /// The client's last progress report (JSON), while running.
    pub progress: Option<serde_json::Value>,
    /// The client's final report (JSON): bytes read, written and fetched.
    pub report: Option<serde_json::Value>,
    /// Unix seconds.
    pub created: i64,
    pub updated: i64,
    /// The multicast session the task belongs to.
    pub session: Option<i64>,
    /// When its client joined the session (Unix seconds).
    pub session_joined: Option<i64>,
    /// The receiver's last status in the session (JSON).
    pub session_status: Option<serde_json::Value>,
    /// The hostname pattern the restore was given (`lab-{mac}`), and the
    /// name it expanded to for this host.
    pub hostname_pattern: Option<String>,
    pub hostname: Option<String>,
    /// The post-deploy script the restore runs (`marrow script add`).
    pub post_script: Option<String>,
}

/// A checked task, ready to be stored.
#[derive(Debug, Clone)]
pub struct NewTaskRow {
    pub kind: TaskKind,
    pub host: MacAddr,
    /// `NAME`, or `NAME@ID` with the id in lower case.
    pub image: String,
    pub disk_rule: Option<String>,
    pub grow_last_partition: bool,
    pub after: After,
    pub inject_drivers: Option<String>,
    pub session: Option<i64>,
    pub hostname_pattern: Option<String>,
    pub hostname: Option<String>,
    pub post_script: Option<String>,
}

const COLUMNS: &str = "SELECT id, kind, host, image, disk_rule, grow_last_partition, state,
    error, progress, report, created, updated, after, inject_drivers, manifest,
    session_id, session_joined, session_status, hostname_pattern, hostname, post_script
    FROM tasks";

const ACTIVE: &str = "state IN ('pending', 'running')";

pub struct TaskRows<'a>(pub(super) Conn<'a>);

impl TaskRows<'_> {
    /// Stores a pending task with the hash of its first token. The unique
    /// index refuses a second active task for the host.
    pub fn insert(&self, new: &NewTaskRow, token_hash: &str, now: i64) -> Result<TaskId> {
        self.0
            .conn
            .execute(
                "INSERT INTO tasks (kind, host, image, disk_rule, grow_last_partition, state,
                                    token_hash, created, updated, after, inject_drivers,
                                    session_id, hostname_pattern, hostname, post_script)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?7, ?8, ?9, ?10, ?11, ?12,
                         ?13)",
                params![
                    new.kind.as_str(),
                    new.host.to_string(),
                    new.image,
                    new.disk_rule,
                    new.grow_last_partition,
                    token_hash,
                    now,
                    new.after.as_str(),
                    new.inject_drivers,
                    new.session,
                    new.hostname_pattern,
                    new.hostname,
                    new.post_script,
                ],
            )
            .map_err(self.0.err())?;
        Ok(TaskId(self.0.conn.last_insert_rowid()))
    }

    pub fn get(&self, id: TaskId) -> Result<Option<Task>> {
        self.one(&format!("{COLUMNS} WHERE id = ?1"), params![id.0])
    }

    pub fn all(&self) -> Result<Vec<Task>> {
        let mut stmt = self
            .0
            .conn
            .prepare(&format!("{COLUMNS} ORDER BY id"))
            .map_err(self.0.err())?;
        let rows = stmt.query_map([], row_to_task).map_err(self.0.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.0.err())
    }

    /// The active task that writes hostname `name`, any case.
    pub fn active_with_hostname(&self, name: &str) -> Result<Option<Task>> {
        self.one(
            &format!("{COLUMNS} WHERE hostname = ?1 COLLATE NOCASE AND {ACTIVE} LIMIT 1"),
            params![name],
        )
    }

    /// The active tasks that run post-deploy script `name`.
    pub fn active_with_script(&self, name: &str) -> Result<Vec<TaskId>> {
        let mut stmt = self
            .0
            .conn
            .prepare(&format!(
                "SELECT id FROM tasks WHERE post_script = ?1 COLLATE NOCASE AND {ACTIVE} ORDER BY id"
            ))
            .map_err(self.0.err())?;
        let rows = stmt
            .query_map(params![name], |r| Ok(TaskId(r.get(0)?)))
            .map_err(self.0.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.0.err())
    }

    /// The member tasks of a session, by id.
    pub fn in_session(&self, session: i64) -> Result<Vec<Task>> {
        let mut stmt = self
            .0
            .conn
            .prepare(&format!("{COLUMNS} WHERE session_id = ?1 ORDER BY id"))
            .map_err(self.0.err())?;
        let rows = stmt
            .query_map(params![session], row_to_task)
            .map_err(self.0.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.0.err())
    }

    /// The client of a session task joined (again): the first join counts.
    pub fn set_session_joined(&self, id: TaskId, now: i64) -> Result<()> {
        self.update(
            "UPDATE tasks SET session_joined = COALESCE(session_joined, ?2) WHERE id = ?1",
            params![id.0, now],
        )
    }

    /// The receiver's latest status in its session (JSON).
    pub fn set_session_status(&self, id: TaskId, status: &str) -> Result<()> {
        self.update(
            "UPDATE tasks SET session_status = ?2 WHERE id = ?1",
            params![id.0, status],
        )
    }

    /// The host's pending or running task, if any.
    pub fn active_for(&self, host: MacAddr) -> Result<Option<Task>> {
        self.one(
            &format!("{COLUMNS} WHERE host = ?1 AND {ACTIVE}"),
            params![host.to_string()],
        )
    }

    /// The active task whose current token hashes to `token_hash`.
    pub fn active_by_token_hash(&self, token_hash: &str) -> Result<Option<Task>> {
        self.one(
            &format!("{COLUMNS} WHERE token_hash = ?1 AND {ACTIVE}"),
            params![token_hash],
        )
    }

    fn one(&self, sql: &str, args: impl rusqlite::Params) -> Result<Option<Task>> {
        self.0
            .conn
            .query_row(sql, args, row_to_task)
            .optional()
            .map_err(self.0.err())
    }

    pub fn set_token_hash(&self, id: TaskId, token_hash: &str, now: i64) -> Result<()> {
        self.update(
            "UPDATE tasks SET token_hash = ?2, updated = ?3 WHERE id = ?1",
            params![id.0, token_hash, now],
        )
    }

    /// Running (again), keeping the manifest fixed at the first claim.
    pub fn set_running(&self, id: TaskId, manifest: Option<&ImageId>, now: i64) -> Result<()> {
        self.update(
            "UPDATE tasks SET state = 'running', manifest = COALESCE(?2, manifest),
                error = NULL, updated = ?3 WHERE id = ?1",
            params![id.0, manifest.map(ImageId::to_hex), now],
        )
    }

    pub fn set_manifest(&self, id: TaskId, manifest: &ImageId, now: i64) -> Result<()> {
        self.update(
            "UPDATE tasks SET manifest = ?2, updated = ?3 WHERE id = ?1",
            params![id.0, manifest.to_hex(), now],
        )
    }

    /// A running task's host booted again: its client is gone.
    pub fn note_restart(&self, id: TaskId, now: i64) -> Result<()> {
        self.update(
            "UPDATE tasks SET error = ?2, updated = ?3 WHERE id = ?1 AND state = 'running'",
            params![
                id.0,
                "its host booted again while the client ran; the token went to the new boot, \
                 whose client resumes the task",
                now
            ],
        )
    }

    pub fn set_progress(&self, id: TaskId, progress: &str, now: i64) -> Result<()> {
        self.update(
            &format!("UPDATE tasks SET progress = ?2, updated = ?3 WHERE id = ?1 AND {ACTIVE}"),
            params![id.0, progress, now],
        )
    }

    /// Ends an active task with the client's report: `done`, or `failed`
    /// with `error`. The token is forgotten, so the host boots its disk.
    pub fn finish(&self, id: TaskId, report: &str, error: Option<&str>, now: i64) -> Result<()> {
        let state = match error {
            Some(_) => TaskState::Failed,
            None => TaskState::Done,
        };
        self.update(
            &format!(
                "UPDATE tasks SET state = ?2, report = ?3, error = ?4, token_hash = NULL,
                    updated = ?5 WHERE id = ?1 AND {ACTIVE}"
            ),
            params![id.0, state.as_str(), report, error, now],
        )
    }

    /// Cancels a task, forgetting its token.
    pub fn cancel(&self, id: TaskId, now: i64) -> Result<()> {
        self.update(
            "UPDATE tasks SET state = 'cancelled', token_hash = NULL, updated = ?2
             WHERE id = ?1",
            params![id.0, now],
        )
    }

    /// The token hash stored for a task, which nothing else reads back.
    #[cfg(test)]
    pub fn stored_token_hash(&self, id: TaskId) -> Result<Option<String>> {
        self.0
            .conn
            .query_row(
                "SELECT token_hash FROM tasks WHERE id = ?1",
                params![id.0],
                |r| r.get(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(self.0.err())
    }

    fn update(&self, sql: &str, args: impl rusqlite::Params) -> Result<()> {
        self.0.conn.execute(sql, args).map_err(self.0.err())?;
        Ok(())
    }
}

fn row_to_task(r: &rusqlite::Row<'_>) -> rusqlite::Result<Task> {
    // The CHECK constraints keep kind, state and after to these words.
    let kind: String = r.get(1)?;
    let kind = TaskKind::parse(&kind).ok_or_else(|| bad_column(1, "task kind", &kind))?;
    let state: String = r.get(6)?;
    let state = TaskState::parse(&state).ok_or_else(|| bad_column(6, "task state", &state))?;
    let after: String = r.get(12)?;
    let after = After::parse(&after).ok_or_else(|| bad_column(12, "task after", &after))?;
    let manifest = r
        .get::<_, Option<String>>(14)?
        .map(|m| m.parse().map_err(|_| bad_column(14, "manifest id", &m)))
        .transpose()?;
    let json = |v: Option<String>| {
        v.map(|s| serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
    };
    Ok(Task {
        id: TaskId(r.get(0)?),
        kind,
        host: parse_mac(2, r.get(2)?)?,
        image: r.get(3)?,
        disk_rule: r.get(4)?,
        grow_last_partition: r.get(5)?,
        state,
        error: r.get(7)?,
        progress: json(r.get(8)?),
        report: json(r.get(9)?),
        created: r.get(10)?,
        updated: r.get(11)?,
        after,
        inject_drivers: r.get(13)?,
        manifest,
        session: r.get(15)?,
        session_joined: r.get(16)?,
        session_status: json(r.get(17)?),
        hostname_pattern: r.get(18)?,
        hostname: r.get(19)?,
        post_script: r.get(20)?,
    })
}
