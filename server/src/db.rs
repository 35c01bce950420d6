//! Marrow's state in SQLite (`<data-dir>/marrow.db`): hosts and leases.
//!
//! Schema version 1 (`PRAGMA user_version`):
//! - `hosts`: one row per machine, keyed by MAC (`aa:bb:cc:dd:ee:ff`).
//!   Other tables (the imaging work's `tasks`) reference `hosts(mac)`.
//! - `leases`: `full`-mode DHCP bindings, one per MAC, unique per address.
//!
//! Later versions add tables in new migration steps; a step never edits an
//! earlier one, so a database written by any version opens in a newer one.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use marrow_protocol::dhcp::Lease;
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

pub struct Db {
    conn: Connection,
    path: PathBuf,
}

impl Db {
    /// Opens (creating and migrating) `<data_dir>/marrow.db`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(data_dir).map_err(|source| Error::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
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
}
