//! Marrow's state in SQLite (`<data-dir>/marrow.db`): hosts, leases, tasks,
//! multicast sessions.
//!
//! Each resource has its own handle ([`Hosts`], [`Leases`], [`TaskRows`]),
//! taken from the database for a single statement or from a [`Tx`] for a
//! read-then-update sequence that must see and change one state. The
//! handles only run SQL; the rules of a task (who may create, claim or end
//! it) live in `crate::tasks`, which is the only writer of task state.
//!
//! The schema and its versions are in [`migrations`].

mod api_tokens;
mod audit;
mod hosts;
mod integrity;
mod leases;
mod migrations;
mod schedules;
mod scripts;
mod sessions;
mod sites;
mod tasks;
mod users;
mod web_sessions;

pub use integrity::integrity_check;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, TransactionBehavior};

pub use api_tokens::{ApiToken, ApiTokens};
pub use audit::{AuditEntry, AuditFilter, AuditRows, NewAudit};
pub use hosts::{BootSeen, Host, Hosts};
pub use leases::Leases;
pub use schedules::{ScheduleRow, ScheduleRows, ScheduleRun};
pub use scripts::{ScriptRow, ScriptRows};
pub use sessions::{NewSessionRow, Session, SessionRows, StartPolicyRow};
pub use sites::{SiteRow, SiteRows, SyncRun};
pub use tasks::{NewTaskRow, Task, TaskRows, TaskState};
pub use users::{User, Users};
pub use web_sessions::{WebSession, WebSessions};

use crate::error::{Error, Result};
use migrations::MIGRATIONS;

pub struct Db {
    conn: Connection,
    path: PathBuf,
}

/// The connection and the file it is, for errors that name the database.
#[derive(Clone, Copy)]
struct Conn<'a> {
    conn: &'a Connection,
    path: &'a Path,
}

impl<'a> Conn<'a> {
    fn err(self) -> impl Fn(rusqlite::Error) -> Error + 'a {
        move |source| Error::Db {
            path: self.path.to_path_buf(),
            source,
        }
    }
}

impl Db {
    /// Opens (creating and migrating) the database file at `path`; its
    /// folder is created when missing.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        }
        let conn = Connection::open(path).map_err(|source| Error::Db {
            path: path.to_path_buf(),
            source,
        })?;
        let mut db = Db {
            conn,
            path: path.to_path_buf(),
        };
        db.migrate()?;
        Ok(db)
    }

    /// For commands that only read: the database at `path` when there is
    /// one, else an empty one in memory, so a listing on a data directory
    /// that was never used shows nothing and creates nothing.
    pub fn open_for_reading(path: &Path) -> Result<Self> {
        if path.exists() {
            return Self::open(path);
        }
        let conn = Connection::open_in_memory().map_err(|source| Error::Db {
            path: path.to_path_buf(),
            source,
        })?;
        let mut db = Db {
            conn,
            path: path.to_path_buf(),
        };
        db.migrate()?;
        Ok(db)
    }

    fn c(&self) -> Conn<'_> {
        Conn {
            conn: &self.conn,
            path: &self.path,
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
                path.display(),
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

    pub fn hosts(&self) -> Hosts<'_> {
        Hosts(self.c())
    }

    pub fn leases(&self) -> Leases<'_> {
        Leases(self.c())
    }

    pub fn tasks(&self) -> TaskRows<'_> {
        TaskRows(self.c())
    }

    pub fn sessions(&self) -> SessionRows<'_> {
        SessionRows(self.c())
    }

    pub fn users(&self) -> Users<'_> {
        Users(self.c())
    }

    pub fn api_tokens(&self) -> ApiTokens<'_> {
        ApiTokens(self.c())
    }

    pub fn web_sessions(&self) -> WebSessions<'_> {
        WebSessions(self.c())
    }

    pub fn audit(&self) -> AuditRows<'_> {
        AuditRows(self.c())
    }

    pub fn schedules(&self) -> ScheduleRows<'_> {
        ScheduleRows(self.c())
    }

    pub fn scripts(&self) -> ScriptRows<'_> {
        ScriptRows(self.c())
    }

    pub fn sites(&self) -> SiteRows<'_> {
        SiteRows(self.c())
    }

    /// Begins a write transaction. It takes SQLite's write lock at once
    /// (`BEGIN IMMEDIATE`), so a read-then-update sequence never finds its
    /// reads stale, and two writers (the service and a CLI command) queue
    /// on `busy_timeout` instead of failing to upgrade a read lock.
    pub fn transaction(&mut self) -> Result<Tx<'_>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|source| Error::Db {
                path: self.path.clone(),
                source,
            })?;
        Ok(Tx {
            tx,
            path: &self.path,
        })
    }
}

/// A write transaction: everything done through its handles commits
/// together or not at all (dropping it rolls back).
pub struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
    path: &'a Path,
}

impl Tx<'_> {
    fn c(&self) -> Conn<'_> {
        Conn {
            conn: &self.tx,
            path: self.path,
        }
    }

    pub fn hosts(&self) -> Hosts<'_> {
        Hosts(self.c())
    }

    pub fn leases(&self) -> Leases<'_> {
        Leases(self.c())
    }

    pub fn tasks(&self) -> TaskRows<'_> {
        TaskRows(self.c())
    }

    pub fn sessions(&self) -> SessionRows<'_> {
        SessionRows(self.c())
    }

    pub fn users(&self) -> Users<'_> {
        Users(self.c())
    }

    pub fn api_tokens(&self) -> ApiTokens<'_> {
        ApiTokens(self.c())
    }

    pub fn web_sessions(&self) -> WebSessions<'_> {
        WebSessions(self.c())
    }

    pub fn audit(&self) -> AuditRows<'_> {
        AuditRows(self.c())
    }

    pub fn schedules(&self) -> ScheduleRows<'_> {
        ScheduleRows(self.c())
    }

    pub fn scripts(&self) -> ScriptRows<'_> {
        ScriptRows(self.c())
    }

    pub fn sites(&self) -> SiteRows<'_> {
        SiteRows(self.c())
    }

    pub fn commit(self) -> Result<()> {
        let path = self.path.to_path_buf();
        self.tx
            .commit()
            .map_err(|source| Error::Db { path, source })
    }
}

/// A column value the schema's CHECK constraints should have kept out.
fn bad_column(index: usize, what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        index,
        rusqlite::types::Type::Text,
        format!("{what} {value:?}").into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_database_gains_the_tasks_table_and_keeps_its_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("marrow.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO hosts (mac, name, first_seen) VALUES ('52:54:00:12:34:56', 'lab', 1)",
                [],
            )
            .unwrap();
        }
        let db = Db::open(&path).unwrap();
        assert_eq!(db.hosts().all().unwrap()[0].name.as_deref(), Some("lab"));
        let row = NewTaskRow {
            kind: marrow_protocol::api::TaskKind::Restore,
            host: "52:54:00:12:34:56".parse().unwrap(),
            image: "win11".into(),
            disk_rule: None,
            grow_last_partition: false,
            after: marrow_protocol::api::After::Reboot,
            inject_drivers: None,
            session: None,
            hostname_pattern: None,
            hostname: None,
            post_script: None,
        };
        db.tasks().insert(&row, "hash", 2).unwrap();
    }

    #[test]
    fn a_dropped_transaction_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("marrow.db")).unwrap();
        let mac = "52:54:00:12:34:56".parse().unwrap();
        {
            let tx = db.transaction().unwrap();
            tx.hosts().ensure(mac, 1).unwrap();
        }
        assert!(db.hosts().get(mac).unwrap().is_none());
        let tx = db.transaction().unwrap();
        tx.hosts().ensure(mac, 1).unwrap();
        tx.commit().unwrap();
        assert!(db.hosts().get(mac).unwrap().is_some());
    }
}
