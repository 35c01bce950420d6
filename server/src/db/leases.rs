//! The `leases` table: `full`-mode DHCP bindings, one per MAC, unique per
//! address, restored into the pool when the service starts.

use std::net::Ipv4Addr;

use marrow_protocol::dhcp::Lease;
use marrow_protocol::MacAddr;
use rusqlite::params;

use super::Conn;
use crate::error::Result;

pub struct Leases<'a>(pub(super) Conn<'a>);

impl Leases<'_> {
    /// Stores a lease, dropping any other MAC's lease of the same address.
    pub fn save(&self, lease: &Lease) -> Result<()> {
        self.0
            .conn
            .execute(
                "DELETE FROM leases WHERE ip = ?1 AND mac != ?2",
                params![lease.ip.to_string(), lease.mac.to_string()],
            )
            .map_err(self.0.err())?;
        self.0
            .conn
            .execute(
                "INSERT INTO leases (mac, ip, expires) VALUES (?1, ?2, ?3)
                 ON CONFLICT(mac) DO UPDATE SET ip = excluded.ip, expires = excluded.expires",
                params![
                    lease.mac.to_string(),
                    lease.ip.to_string(),
                    lease.expires as i64
                ],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    pub fn delete(&self, mac: MacAddr) -> Result<()> {
        self.0
            .conn
            .execute(
                "DELETE FROM leases WHERE mac = ?1",
                params![mac.to_string()],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    /// All stored leases; rows that no longer parse are skipped (and named
    /// in the returned list of complaints).
    pub fn all(&self) -> Result<(Vec<Lease>, Vec<String>)> {
        let mut stmt = self
            .0
            .conn
            .prepare("SELECT mac, ip, expires FROM leases")
            .map_err(self.0.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(self.0.err())?;
        let mut leases = Vec::new();
        let mut bad = Vec::new();
        for row in rows {
            let (mac, ip, expires) = row.map_err(self.0.err())?;
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

#[cfg(test)]
mod tests {
    use super::super::Db;
    use super::*;

    #[test]
    fn leases_survive_reopening_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("marrow.db");
        let lease = Lease {
            mac: "52:54:00:12:34:56".parse().unwrap(),
            ip: Ipv4Addr::new(10, 0, 0, 100),
            expires: 5000,
        };
        Db::open(&path).unwrap().leases().save(&lease).unwrap();
        let (leases, bad) = Db::open(&path).unwrap().leases().all().unwrap();
        assert_eq!(leases, vec![lease]);
        assert!(bad.is_empty());
    }
}
