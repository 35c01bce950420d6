//! The rules of hosts: how a command names one, and what a name may be.

use marrow_protocol::MacAddr;

use super::Actor;
use crate::db::{Db, Hosts};
use crate::error::{Error, Result};

/// A MAC, registered on the spot when new (a technician often knows the
/// MAC from the machine's label before it ever PXE-boots), or the name of
/// a registered host.
pub fn resolve_host(hosts: &Hosts<'_>, arg: &str, now: i64) -> Result<MacAddr> {
    if let Ok(mac) = arg.parse::<MacAddr>() {
        hosts.ensure(mac, now)?;
        return Ok(mac);
    }
    let host = hosts.by_name(arg)?.ok_or_else(|| {
        Error::Usage(format!(
            "no host named {arg:?} (and it is not a MAC); register it with `marrow host add MAC --name {arg}`"
        ))
    })?;
    Ok(host.mac)
}

/// Pre-registers a host, or renames one (`marrow host add`).
pub fn add_host(db: &mut Db, actor: &Actor, mac: MacAddr, name: &str, now: i64) -> Result<()> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::Usage(format!(
            "host name {name:?} must be non-empty without spaces"
        )));
    }
    let tx = db.transaction()?;
    tx.hosts().add(mac, name, now)?;
    tracing::debug!(%actor, %mac, name, "host named");
    tx.commit()
}
