//! Marrow's state in SQLite (`<data-dir>/marrow.db`): hosts, leases, tasks.
//!
//! Schema version 3 (`PRAGMA user_version`):
//! - `hosts`: one row per machine, keyed by MAC (`aa:bb:cc:dd:ee:ff`).
//!   Other tables reference `hosts(mac)`.
//! - `leases`: `full`-mode DHCP bindings, one per MAC, unique per address.
//! - `tasks` (version 2): capture and restore tasks. A partial unique index
//!   keeps at most one active (`pending` or `running`) task per host. Only
//!   the BLAKE3 hash of a task's one-time token is stored (`token_hash`).
//! - version 3: what a task does when it ends (`after`), the Windows target
//!   whose drivers a restore injects (`inject_drivers`), the manifest a
//!   restore resolved to when claimed (`manifest`), and each host's last
//!   reported inventory (`hosts.inventory`, JSON).
//!
//! Later versions add tables in new migration steps; a step never edits an
//! earlier one, so a database written by any version opens in a newer one.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use image_format::catalog::ImageRef;
use marrow_protocol::api::After;
use marrow_protocol::dhcp::Lease;
use marrow_protocol::disk_rule::DiskRule;
use marrow_protocol::MacAddr;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::error::{Error, Result};

/// The MAC address is a host's id.
pub type HostId = MacAddr;

const MIGRATIONS: &[&str] = &[
    // 1: hosts and leases.
    "CREATE TABLE hosts (
        mac TEXT PRIMARY KEY NOT NULL,
        name TEXT UNIQUE,
        arch TEXT,
        client_uuid TEXT,
        ip TEXT,
        first_seen INTEGER NOT NULL,
        last_boot INTEGER
    );
    CREATE TABLE leases (
        mac TEXT PRIMARY KEY NOT NULL,
        ip TEXT NOT NULL UNIQUE,
        expires INTEGER NOT NULL
    );",
    // 2: capture and restore tasks.
    "CREATE TABLE tasks (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('capture', 'restore')),
        host TEXT NOT NULL REFERENCES hosts(mac),
        image TEXT NOT NULL,
        disk_rule TEXT,
        grow_last_partition INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL
            CHECK (state IN ('pending', 'running', 'done', 'failed', 'cancelled')),
        error TEXT,
        progress TEXT,
        report TEXT,
        token_hash TEXT,
        created INTEGER NOT NULL,
        updated INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX tasks_one_active_per_host
        ON tasks(host) WHERE state IN ('pending', 'running');",
    // 3: the end action, driver injection, the claimed manifest, inventories.
    "ALTER TABLE tasks ADD COLUMN after TEXT NOT NULL DEFAULT 'reboot'
        CHECK (after IN ('reboot', 'poweroff'));
    ALTER TABLE tasks ADD COLUMN inject_drivers TEXT;
    ALTER TABLE tasks ADD COLUMN manifest TEXT;
    ALTER TABLE hosts ADD COLUMN inventory TEXT;
    ALTER TABLE hosts ADD COLUMN inventory_at INTEGER;",
];

/// One row of `marrow host list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Host {
    pub mac: String,
    pub name: Option<String>,
    /// `bios`, `uefi-x64`, … as seen in option 93; `None` until it boots.
    pub arch: Option<String>,
    pub client_uuid: Option<String>,
    /// Unix seconds of the last PXE boot seen.
    pub last_boot: Option<i64>,
    pub ip: Option<String>,
}

/// What a boot tells us about a host.
#[derive(Debug, Clone, Default)]
pub struct BootSeen {
    pub arch: Option<String>,
    pub client_uuid: Option<String>,
    pub ip: Option<Ipv4Addr>,
}

/// A task's id: the `tasks` row id, shown to the technician and passed to
/// the client as `marrow.task=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TaskId(pub i64);

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for TaskId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        s.parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(TaskId)
            .ok_or_else(|| Error::Usage(format!("task id {s:?} is not a positive number")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    Capture,
    Restore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Pending,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl TaskKind {
    fn as_str(self) -> &'static str {
        match self {
            TaskKind::Capture => "capture",
            TaskKind::Restore => "restore",
        }
    }
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
}

/// What `marrow task capture|restore` asks for.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub kind: TaskKind,
    pub host: HostId,
    /// `NAME`, or `NAME@ID` for a restore.
    pub image: String,
    /// Which disk the client may write or read; `None`: the only internal disk.
    pub disk_rule: Option<String>,
    pub grow_last_partition: bool,
    pub after: After,
    /// For a restore: the Windows target whose drivers to inject.
    pub inject_drivers: Option<String>,
}

/// One row of `tasks`, as `marrow task list|show --json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Task {
    pub id: TaskId,
    pub kind: TaskKind,
    /// The host's MAC.
    pub host: String,
    pub image: String,
    pub disk_rule: Option<String>,
    pub grow_last_partition: bool,
    pub after: After,
    pub inject_drivers: Option<String>,
    /// The manifest id a restore resolved to when the client claimed it.
    pub manifest: Option<String>,
    pub state: TaskState,
    pub error: Option<String>,
    /// The client's last progress report (JSON), while running.
    pub progress: Option<serde_json::Value>,
    /// The client's final report (JSON): bytes read, written and fetched.
    pub report: Option<serde_json::Value>,
    /// Unix seconds.
    pub created: i64,
    pub updated: i64,
}

/// A fresh one-time task token: 32 random bytes from the kernel, in hex.
pub fn new_token() -> Result<String> {
    use std::io::Read;
    let path = Path::new("/dev/urandom");
    let mut bytes = [0u8; 32];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(Error::io(path))?;
    Ok(hex::encode(bytes))
}

/// The BLAKE3 hash (hex) under which a task's token is stored.
pub fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

pub struct Db {
    conn: Connection,
    path: PathBuf,
}

impl Db {
    /// Opens (creating and migrating) `<data_dir>/marrow.db`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(Error::io(data_dir))?;
        let path = data_dir.join("marrow.db");
        let conn = Connection::open(&path).map_err(|source| Error::Db {
            path: path.clone(),
            source,
        })?;
        let mut db = Db { conn, path };
        db.migrate()?;
        Ok(db)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |source| Error::Db {
            path: self.path.clone(),
            source,
        }
    }

    fn migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let err = |source| Error::Db {
            path: path.clone(),
            source,
        };
        // WAL: the DHCP, TFTP and HTTP tasks and the CLI read while the
        // service writes. NORMAL sync is durable across process crashes.
        self.conn
            .execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
            )
            .map_err(err)?;
        let version: usize = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        if version > MIGRATIONS.len() {
            return Err(Error::Usage(format!(
                "{}: database schema version {version} is newer than this marrow ({})",
                self.path.display(),
                MIGRATIONS.len()
            )));
        }
        for (i, step) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = self.conn.transaction().map_err(err)?;
            tx.execute_batch(step).map_err(err)?;
            tx.pragma_update(None, "user_version", i + 1).map_err(err)?;
            tx.commit().map_err(err)?;
        }
        Ok(())
    }

    /// Registers or names a host (`marrow host add`).
    pub fn add_host(&self, mac: HostId, name: &str, now: i64) -> Result<()> {
        let taken: Option<String> = self
            .conn
            .query_row(
                "SELECT mac FROM hosts WHERE name = ?1 AND mac != ?2",
                params![name, mac.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?;
        if let Some(other) = taken {
            return Err(Error::Usage(format!(
                "host name {name:?} is already used by {other}"
            )));
        }
        self.conn
            .execute(
                "INSERT INTO hosts (mac, name, first_seen) VALUES (?1, ?2, ?3)
                 ON CONFLICT(mac) DO UPDATE SET name = excluded.name",
                params![mac.to_string(), name, now],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Records a PXE boot, registering the host the first time it is seen.
    pub fn record_boot(&self, mac: HostId, seen: &BootSeen, now: i64) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO hosts (mac, arch, client_uuid, ip, first_seen, last_boot)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT(mac) DO UPDATE SET
                   arch = COALESCE(excluded.arch, hosts.arch),
                   client_uuid = COALESCE(excluded.client_uuid, hosts.client_uuid),
                   ip = COALESCE(excluded.ip, hosts.ip),
                   last_boot = excluded.last_boot",
                params![
                    mac.to_string(),
                    seen.arch,
                    seen.client_uuid,
                    seen.ip.map(|ip| ip.to_string()),
                    now
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    pub fn host(&self, mac: HostId) -> Result<Option<Host>> {
        self.conn
            .query_row(
                "SELECT mac, name, arch, client_uuid, last_boot, ip FROM hosts WHERE mac = ?1",
                params![mac.to_string()],
                row_to_host,
            )
            .optional()
            .map_err(self.err())
    }

    pub fn hosts(&self) -> Result<Vec<Host>> {
        let mut stmt = self
            .conn
            .prepare("SELECT mac, name, arch, client_uuid, last_boot, ip FROM hosts ORDER BY mac")
            .map_err(self.err())?;
        let rows = stmt.query_map([], row_to_host).map_err(self.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())
    }

    pub fn save_lease(&self, lease: &Lease) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM leases WHERE ip = ?1 AND mac != ?2",
                params![lease.ip.to_string(), lease.mac.to_string()],
            )
            .map_err(self.err())?;
        self.conn
            .execute(
                "INSERT INTO leases (mac, ip, expires) VALUES (?1, ?2, ?3)
                 ON CONFLICT(mac) DO UPDATE SET ip = excluded.ip, expires = excluded.expires",
                params![
                    lease.mac.to_string(),
                    lease.ip.to_string(),
                    lease.expires as i64
                ],
            )
            .map_err(self.err())?;
        Ok(())
    }

    pub fn delete_lease(&self, mac: HostId) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM leases WHERE mac = ?1",
                params![mac.to_string()],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// All stored leases; rows that no longer parse are skipped (and named
    /// in the returned list of complaints).
    pub fn leases(&self) -> Result<(Vec<Lease>, Vec<String>)> {
        let mut stmt = self
            .conn
            .prepare("SELECT mac, ip, expires FROM leases")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(self.err())?;
        let mut leases = Vec::new();
        let mut bad = Vec::new();
        for row in rows {
            let (mac, ip, expires) = row.map_err(self.err())?;
            match (mac.parse::<MacAddr>(), ip.parse::<Ipv4Addr>()) {
                (Ok(mac), Ok(ip)) => leases.push(Lease {
                    mac,
                    ip,
                    expires: expires.max(0) as u64,
                }),
                _ => bad.push(format!("lease row mac={mac:?} ip={ip:?}")),
            }
        }
        Ok((leases, bad))
    }

    /// Registers a host by MAC alone when it is not known yet (a task may
    /// name a machine before its first PXE boot).
    pub fn ensure_host(&self, mac: HostId, now: i64) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO hosts (mac, first_seen) VALUES (?1, ?2) ON CONFLICT(mac) DO NOTHING",
                params![mac.to_string(), now],
            )
            .map_err(self.err())?;
        Ok(())
    }

    pub fn host_by_name(&self, name: &str) -> Result<Option<Host>> {
        self.conn
            .query_row(
                "SELECT mac, name, arch, client_uuid, last_boot, ip FROM hosts WHERE name = ?1",
                params![name],
                row_to_host,
            )
            .optional()
            .map_err(self.err())
    }

    /// Creates a pending task, storing only the hash of its one-time
    /// `token`. Refuses a second active task for the same host and an image
    /// reference that `ImageRef::parse` rejects (or, for a capture, one with
    /// an `@ID`: a capture makes a new version).
    pub fn create_task(&self, new: &NewTask, token: &str, now: i64) -> Result<TaskId> {
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
            os.parse::<driver_store::TargetOs>()?;
        }
        let mac = new.host.to_string();
        let tx = self.conn.unchecked_transaction().map_err(self.err())?;
        if self.host(new.host)?.is_none() {
            return Err(Error::Usage(format!("host {mac} is not registered")));
        }
        if let Some(active) = self.active_task(new.host)? {
            return Err(Error::Usage(format!(
                "host {mac} already has task {} ({}); cancel it first with `marrow task cancel {}`",
                active.id,
                active.state.as_str(),
                active.id
            )));
        }
        tx.execute(
            "INSERT INTO tasks (kind, host, image, disk_rule, grow_last_partition, state,
                                token_hash, created, updated, after, inject_drivers)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?7, ?8, ?9)",
            params![
                new.kind.as_str(),
                mac,
                image,
                new.disk_rule,
                new.grow_last_partition,
                token_hash(token),
                now,
                new.after.as_str(),
                new.inject_drivers,
            ],
        )
        .map_err(self.err())?;
        let id = TaskId(tx.last_insert_rowid());
        tx.commit().map_err(self.err())?;
        Ok(id)
    }

    pub fn task(&self, id: TaskId) -> Result<Option<Task>> {
        self.conn
            .query_row(
                &format!("{TASK_COLUMNS} WHERE id = ?1"),
                params![id.0],
                row_to_task,
            )
            .optional()
            .map_err(self.err())
    }

    pub fn tasks(&self) -> Result<Vec<Task>> {
        let mut stmt = self
            .conn
            .prepare(&format!("{TASK_COLUMNS} ORDER BY id"))
            .map_err(self.err())?;
        let rows = stmt.query_map([], row_to_task).map_err(self.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())
    }

    /// The host's pending or running task, if any.
    pub fn active_task(&self, host: HostId) -> Result<Option<Task>> {
        self.conn
            .query_row(
                &format!("{TASK_COLUMNS} WHERE host = ?1 AND state IN ('pending', 'running')"),
                params![host.to_string()],
                row_to_task,
            )
            .optional()
            .map_err(self.err())
    }

    /// Replaces the token of the host's active task with `token` and
    /// returns the task, or `None` when the host has no active task. Each
    /// boot script carries a fresh token, so earlier tokens stop working.
    ///
    /// A running task counts: a host that PXE-boots while its task runs
    /// lost its client (power cut, reset, crash), and booting the client
    /// again resumes the task rather than stranding it.
    pub fn rotate_token(&self, host: HostId, token: &str, now: i64) -> Result<Option<TaskId>> {
        self.conn
            .query_row(
                "UPDATE tasks SET token_hash = ?2, updated = ?3
                 WHERE host = ?1 AND state IN ('pending', 'running') RETURNING id",
                params![host.to_string(), token_hash(token), now],
                |r| r.get(0).map(TaskId),
            )
            .optional()
            .map_err(self.err())
    }

    /// The active task `token` belongs to, if it is that task's current token.
    pub fn task_for_token(&self, token: &str) -> Result<Option<Task>> {
        self.conn
            .query_row(
                &format!(
                    "{TASK_COLUMNS} WHERE token_hash = ?1 AND state IN ('pending', 'running')"
                ),
                params![token_hash(token)],
                row_to_task,
            )
            .optional()
            .map_err(self.err())
    }

    /// Marks the token's task running (again, after a client restart) and
    /// records the manifest a restore resolved to. `None`: not an active
    /// task's current token.
    pub fn claim_task(
        &self,
        token: &str,
        manifest: Option<&str>,
        now: i64,
    ) -> Result<Option<Task>> {
        let Some(task) = self.task_for_token(token)? else {
            return Ok(None);
        };
        self.conn
            .execute(
                "UPDATE tasks SET state = 'running', manifest = COALESCE(?2, manifest),
                    error = NULL, updated = ?3 WHERE id = ?1",
                params![task.id.0, manifest, now],
            )
            .map_err(self.err())?;
        self.task(task.id)
    }

    /// Stores the client's latest progress report (JSON).
    pub fn set_progress(&self, id: TaskId, progress: &str, now: i64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE tasks SET progress = ?2, updated = ?3
                 WHERE id = ?1 AND state IN ('pending', 'running')",
                params![id.0, progress, now],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Ends a task with the client's final report: `done`, or `failed` with
    /// `error`. The token is forgotten, so the host boots its local disk.
    pub fn finish_task(
        &self,
        id: TaskId,
        report: &str,
        error: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let state = if error.is_some() { "failed" } else { "done" };
        self.conn
            .execute(
                "UPDATE tasks SET state = ?2, report = ?3, error = ?4, token_hash = NULL,
                    updated = ?5 WHERE id = ?1 AND state IN ('pending', 'running')",
                params![id.0, state, report, error, now],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Stores the inventory a host's client reported (JSON).
    pub fn set_inventory(&self, host: &str, inventory: &str, now: i64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE hosts SET inventory = ?2, inventory_at = ?3 WHERE mac = ?1",
                params![host, inventory, now],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// The host's last reported inventory (JSON) and when it came.
    pub fn inventory(&self, host: HostId) -> Result<Option<(String, i64)>> {
        self.conn
            .query_row(
                "SELECT inventory, inventory_at FROM hosts
                 WHERE mac = ?1 AND inventory IS NOT NULL",
                params![host.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())
    }

    /// Cancels a pending or running task and forgets its token; a finished
    /// task is refused, naming its state.
    pub fn cancel_task(&self, id: TaskId, now: i64) -> Result<()> {
        let task = self
            .task(id)?
            .ok_or_else(|| Error::Usage(format!("no task {id}")))?;
        if !matches!(task.state, TaskState::Pending | TaskState::Running) {
            return Err(Error::Usage(format!(
                "task {id} is already {}; only pending or running tasks can be cancelled",
                task.state.as_str()
            )));
        }
        self.conn
            .execute(
                "UPDATE tasks SET state = 'cancelled', token_hash = NULL, updated = ?2
                 WHERE id = ?1",
                params![id.0, now],
            )
            .map_err(self.err())?;
        Ok(())
    }
}

fn row_to_host(r: &rusqlite::Row<'_>) -> rusqlite::Result<Host> {
    Ok(Host {
        mac: r.get(0)?,
        name: r.get(1)?,
        arch: r.get(2)?,
        client_uuid: r.get(3)?,
        last_boot: r.get(4)?,
        ip: r.get(5)?,
    })
}

const TASK_COLUMNS: &str = "SELECT id, kind, host, image, disk_rule, grow_last_partition, state,
    error, progress, report, created, updated, after, inject_drivers, manifest FROM tasks";

fn row_to_task(r: &rusqlite::Row<'_>) -> rusqlite::Result<Task> {
    // The CHECK constraints keep kind and state to these words.
    let bad = |i: usize, what: &str, v: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("task {what} {v:?}").into(),
        )
    };
    let kind: String = r.get(1)?;
    let kind = match kind.as_str() {
        "capture" => TaskKind::Capture,
        "restore" => TaskKind::Restore,
        other => return Err(bad(1, "kind", other)),
    };
    let state: String = r.get(6)?;
    let state = TaskState::parse(&state).ok_or_else(|| bad(6, "state", &state))?;
    let json = |v: Option<String>| {
        v.map(|s| serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
    };
    Ok(Task {
        id: TaskId(r.get(0)?),
        kind,
        host: r.get(2)?,
        image: r.get(3)?,
        disk_rule: r.get(4)?,
        grow_last_partition: r.get(5)?,
        state,
        error: r.get(7)?,
        progress: json(r.get(8)?),
        report: json(r.get(9)?),
        created: r.get(10)?,
        updated: r.get(11)?,
        after: {
            let after: String = r.get(12)?;
            After::parse(&after).ok_or_else(|| bad(12, "after", &after))?
        },
        inject_drivers: r.get(13)?,
        manifest: r.get(14)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac() -> MacAddr {
        "52:54:00:12:34:56".parse().unwrap()
    }

    #[test]
    fn a_booting_host_is_registered_then_updated() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let seen = BootSeen {
            arch: Some("bios".into()),
            client_uuid: None,
            ip: None,
        };
        db.record_boot(mac(), &seen, 100).unwrap();
        let seen = BootSeen {
            arch: None,
            client_uuid: None,
            ip: Some(Ipv4Addr::new(10, 0, 0, 5)),
        };
        db.record_boot(mac(), &seen, 200).unwrap();
        let h = db.host(mac()).unwrap().unwrap();
        assert_eq!(
            h.arch.as_deref(),
            Some("bios"),
            "a later boot without arch keeps the known arch"
        );
        assert_eq!(h.ip.as_deref(), Some("10.0.0.5"));
        assert_eq!(h.last_boot, Some(200));
    }

    #[test]
    fn a_preregistered_name_survives_boots_and_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        db.add_host(mac(), "lab-01", 1).unwrap();
        db.record_boot(mac(), &BootSeen::default(), 5).unwrap();
        assert_eq!(db.hosts().unwrap()[0].name.as_deref(), Some("lab-01"));
        let other: MacAddr = "52:54:00:00:00:01".parse().unwrap();
        let err = db.add_host(other, "lab-01", 1).unwrap_err().to_string();
        assert!(
            err.contains("lab-01") && err.contains("52:54:00:12:34:56"),
            "{err}"
        );
    }

    #[test]
    fn leases_survive_reopening_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let lease = Lease {
            mac: mac(),
            ip: Ipv4Addr::new(10, 0, 0, 100),
            expires: 5000,
        };
        Db::open(dir.path()).unwrap().save_lease(&lease).unwrap();
        let (leases, bad) = Db::open(dir.path()).unwrap().leases().unwrap();
        assert_eq!(leases, vec![lease]);
        assert!(bad.is_empty());
    }

    fn restore(image: &str) -> NewTask {
        NewTask {
            kind: TaskKind::Restore,
            host: mac(),
            image: image.into(),
            disk_rule: None,
            grow_last_partition: true,
            after: marrow_protocol::api::After::Reboot,
            inject_drivers: None,
        }
    }

    #[test]
    fn a_task_is_created_pending_and_stores_only_its_token_hash() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        db.ensure_host(mac(), 1).unwrap();
        let id = db
            .create_task(&restore("win11@ABCDEF"), "secret", 10)
            .unwrap();
        let t = db.task(id).unwrap().unwrap();
        assert_eq!(t.state, TaskState::Pending);
        assert_eq!(
            t.image, "win11@abcdef",
            "the id is kept as ImageRef parses it"
        );
        assert!(t.grow_last_partition);
        let stored: String = db
            .conn
            .query_row("SELECT token_hash FROM tasks WHERE id = ?1", [id.0], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(stored, token_hash("secret"));
        assert!(!stored.contains("secret"));
        assert_eq!(db.task_for_token("secret").unwrap().unwrap().id, id);
    }

    #[test]
    fn a_second_active_task_for_a_host_is_refused_naming_the_host_and_task() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        db.ensure_host(mac(), 1).unwrap();
        let first = db.create_task(&restore("win11"), "a", 10).unwrap();
        let err = db
            .create_task(&restore("win11"), "b", 11)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("52:54:00:12:34:56") && err.contains(&format!("task {first}")),
            "{err}"
        );
        db.cancel_task(first, 12).unwrap();
        db.create_task(&restore("win11"), "c", 13).unwrap();
    }

    #[test]
    fn bad_image_references_and_capture_with_an_id_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        db.ensure_host(mac(), 1).unwrap();
        assert!(db.create_task(&restore("win11@xyz"), "t", 1).is_err());
        assert!(db.create_task(&restore("bad name"), "t", 1).is_err());
        let mut capture = restore("win11@abcd");
        capture.kind = TaskKind::Capture;
        let err = db.create_task(&capture, "t", 1).unwrap_err().to_string();
        assert!(err.contains("win11@abcd"), "{err}");
        assert!(db.tasks().unwrap().is_empty());
    }

    #[test]
    fn a_task_for_an_unregistered_host_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let err = db
            .create_task(&restore("win11"), "t", 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains("52:54:00:12:34:56"), "{err}");
    }

    #[test]
    fn rotating_the_token_retires_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        db.ensure_host(mac(), 1).unwrap();
        let id = db.create_task(&restore("win11"), "first", 10).unwrap();
        assert_eq!(db.rotate_token(mac(), "second", 11).unwrap(), Some(id));
        assert!(db.task_for_token("first").unwrap().is_none());
        assert_eq!(db.task_for_token("second").unwrap().unwrap().id, id);
        let other: MacAddr = "52:54:00:00:00:09".parse().unwrap();
        assert_eq!(db.rotate_token(other, "x", 12).unwrap(), None);
    }

    #[test]
    fn cancelling_forgets_the_token_and_a_finished_task_cannot_be_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        db.ensure_host(mac(), 1).unwrap();
        let id = db.create_task(&restore("win11"), "tok", 10).unwrap();
        db.cancel_task(id, 11).unwrap();
        assert_eq!(db.task(id).unwrap().unwrap().state, TaskState::Cancelled);
        assert!(db.task_for_token("tok").unwrap().is_none());
        assert_eq!(db.rotate_token(mac(), "new", 12).unwrap(), None);
        let err = db.cancel_task(id, 13).unwrap_err().to_string();
        assert!(
            err.contains(&format!("task {id}")) && err.contains("cancelled"),
            "{err}"
        );
        assert!(db
            .cancel_task(TaskId(99), 13)
            .unwrap_err()
            .to_string()
            .contains("99"));
    }

    #[test]
    fn a_version_1_database_gains_the_tasks_table_and_keeps_its_hosts() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("marrow.db")).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO hosts (mac, name, first_seen) VALUES ('52:54:00:12:34:56', 'lab', 1)",
                [],
            )
            .unwrap();
        }
        let db = Db::open(dir.path()).unwrap();
        assert_eq!(db.hosts().unwrap()[0].name.as_deref(), Some("lab"));
        db.create_task(&restore("win11"), "t", 2).unwrap();
    }
}
