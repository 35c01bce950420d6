//! The `hosts` table: one row per machine, keyed by its MAC.

use std::net::Ipv4Addr;

use marrow_protocol::dhcp::UefiChain;
use marrow_protocol::MacAddr;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{bad_column, Conn};
use crate::error::{Error, Result};

/// One row of `marrow host list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Host {
    pub mac: MacAddr,
    pub name: Option<String>,
    /// `bios`, `uefi-x64`, … as seen in option 93; `None` until it boots.
    pub arch: Option<String>,
    pub client_uuid: Option<String>,
    /// Unix seconds of the last PXE boot seen.
    pub last_boot: Option<i64>,
    pub ip: Option<String>,
    /// The room it stands in (`marrow host add --group`), which a session
    /// can restore as a whole.
    pub group: Option<String>,
    /// Its own UEFI x64 boot chain (`host set --uefi-boot`); `None`
    /// follows the configuration's `boot.uefi`.
    pub uefi_boot: Option<UefiChain>,
}

/// What a boot tells us about a host.
#[derive(Debug, Clone, Default)]
pub struct BootSeen {
    pub arch: Option<String>,
    pub client_uuid: Option<String>,
    pub ip: Option<Ipv4Addr>,
}

const COLUMNS: &str =
    "SELECT mac, name, arch, client_uuid, last_boot, ip, group_name, uefi_boot FROM hosts";

pub struct Hosts<'a>(pub(super) Conn<'a>);

impl Hosts<'_> {
    pub fn get(&self, mac: MacAddr) -> Result<Option<Host>> {
        self.0
            .conn
            .query_row(
                &format!("{COLUMNS} WHERE mac = ?1"),
                params![mac.to_string()],
                row_to_host,
            )
            .optional()
            .map_err(self.0.err())
    }

    pub fn by_name(&self, name: &str) -> Result<Option<Host>> {
        self.0
            .conn
            .query_row(
                &format!("{COLUMNS} WHERE name = ?1 COLLATE NOCASE"),
                params![name],
                row_to_host,
            )
            .optional()
            .map_err(self.0.err())
    }

    pub fn all(&self) -> Result<Vec<Host>> {
        let mut stmt = self
            .0
            .conn
            .prepare(&format!("{COLUMNS} ORDER BY mac"))
            .map_err(self.0.err())?;
        let rows = stmt.query_map([], row_to_host).map_err(self.0.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.0.err())
    }

    /// Registers or names a host (`marrow host add`); refuses a name
    /// another host has, naming that host.
    pub fn add(&self, mac: MacAddr, name: &str, now: i64) -> Result<()> {
        let taken: Option<String> = self
            .0
            .conn
            .query_row(
                "SELECT mac FROM hosts WHERE name = ?1 COLLATE NOCASE AND mac != ?2",
                params![name, mac.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.0.err())?;
        if let Some(other) = taken {
            return Err(Error::Conflict(format!(
                "host name {name:?} is already used by {other}"
            )));
        }
        self.0
            .conn
            .execute(
                "INSERT INTO hosts (mac, name, first_seen) VALUES (?1, ?2, ?3)
                 ON CONFLICT(mac) DO UPDATE SET name = excluded.name",
                params![mac.to_string(), name, now],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    /// Puts a registered host in a group (a room), or in none.
    pub fn set_group(&self, mac: MacAddr, group: Option<&str>) -> Result<()> {
        self.0
            .conn
            .execute(
                "UPDATE hosts SET group_name = ?2 WHERE mac = ?1",
                params![mac.to_string(), group],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    /// Gives a registered host its own UEFI boot chain, or (`None`) the
    /// configuration's.
    pub fn set_uefi_boot(&self, mac: MacAddr, chain: Option<UefiChain>) -> Result<()> {
        self.0
            .conn
            .execute(
                "UPDATE hosts SET uefi_boot = ?2 WHERE mac = ?1",
                params![mac.to_string(), chain.map(UefiChain::name)],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    /// The hosts of a group, by MAC (group names compare without case).
    pub fn in_group(&self, group: &str) -> Result<Vec<Host>> {
        let mut stmt = self
            .0
            .conn
            .prepare(&format!(
                "{COLUMNS} WHERE group_name = ?1 COLLATE NOCASE ORDER BY mac"
            ))
            .map_err(self.0.err())?;
        let rows = stmt
            .query_map(params![group], row_to_host)
            .map_err(self.0.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.0.err())
    }

    /// Registers a host by MAC alone when it is not known yet (a task may
    /// name a machine before its first PXE boot).
    pub fn ensure(&self, mac: MacAddr, now: i64) -> Result<()> {
        self.0
            .conn
            .execute(
                "INSERT INTO hosts (mac, first_seen) VALUES (?1, ?2) ON CONFLICT(mac) DO NOTHING",
                params![mac.to_string(), now],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    /// Records a PXE boot, registering the host the first time it is seen.
    pub fn record_boot(&self, mac: MacAddr, seen: &BootSeen, now: i64) -> Result<()> {
        self.0
            .conn
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
            .map_err(self.0.err())?;
        Ok(())
    }

    /// Records a boot of a registered host; an unknown MAC stays unknown.
    pub fn touch_boot(&self, mac: MacAddr, seen: &BootSeen, now: i64) -> Result<()> {
        self.0
            .conn
            .execute(
                "UPDATE hosts SET
                   arch = COALESCE(?2, arch),
                   client_uuid = COALESCE(?3, client_uuid),
                   ip = COALESCE(?4, ip),
                   last_boot = ?5
                 WHERE mac = ?1",
                params![
                    mac.to_string(),
                    seen.arch,
                    seen.client_uuid,
                    seen.ip.map(|ip| ip.to_string()),
                    now
                ],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    /// Stores the inventory a host's client reported (JSON).
    pub fn set_inventory(&self, mac: MacAddr, inventory: &str, now: i64) -> Result<()> {
        self.0
            .conn
            .execute(
                "UPDATE hosts SET inventory = ?2, inventory_at = ?3 WHERE mac = ?1",
                params![mac.to_string(), inventory, now],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    /// The host's last reported inventory (JSON) and when it came.
    pub fn inventory(&self, mac: MacAddr) -> Result<Option<(String, i64)>> {
        self.0
            .conn
            .query_row(
                "SELECT inventory, inventory_at FROM hosts
                 WHERE mac = ?1 AND inventory IS NOT NULL",
                params![mac.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.0.err())
    }
}

pub(super) fn parse_mac(index: usize, text: String) -> rusqlite::Result<MacAddr> {
    text.parse().map_err(|_| bad_column(index, "MAC", &text))
}

fn row_to_host(r: &rusqlite::Row<'_>) -> rusqlite::Result<Host> {
    Ok(Host {
        mac: parse_mac(0, r.get(0)?)?,
        name: r.get(1)?,
        arch: r.get(2)?,
        client_uuid: r.get(3)?,
        last_boot: r.get(4)?,
        ip: r.get(5)?,
        group: r.get(6)?,
        uefi_boot: match r.get::<_, Option<String>>(7)? {
            None => None,
            Some(v) => {
                Some(UefiChain::parse(&v).ok_or_else(|| bad_column(7, "UEFI boot chain", &v))?)
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::Db;
    use super::*;

    fn mac() -> MacAddr {
        "52:54:00:12:34:56".parse().unwrap()
    }

    fn db(dir: &tempfile::TempDir) -> Db {
        Db::open(&dir.path().join("marrow.db")).unwrap()
    }

    #[test]
    fn a_booting_host_is_registered_then_updated() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(&dir);
        let seen = BootSeen {
            arch: Some("bios".into()),
            client_uuid: None,
            ip: None,
        };
        db.hosts().record_boot(mac(), &seen, 100).unwrap();
        let seen = BootSeen {
            arch: None,
            client_uuid: None,
            ip: Some(Ipv4Addr::new(10, 0, 0, 5)),
        };
        db.hosts().record_boot(mac(), &seen, 200).unwrap();
        let h = db.hosts().get(mac()).unwrap().unwrap();
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
        let db = db(&dir);
        db.hosts().add(mac(), "lab-01", 1).unwrap();
        db.hosts()
            .record_boot(mac(), &BootSeen::default(), 5)
            .unwrap();
        assert_eq!(db.hosts().all().unwrap()[0].name.as_deref(), Some("lab-01"));
        let other: MacAddr = "52:54:00:00:00:01".parse().unwrap();
        let err = db.hosts().add(other, "lab-01", 1).unwrap_err().to_string();
        assert!(
            err.contains("lab-01") && err.contains("52:54:00:12:34:56"),
            "{err}"
        );
    }
}
