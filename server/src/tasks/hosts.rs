//! The rules of hosts: how a command names one, and what a name may be.

use marrow_protocol::dhcp::UefiChain;
use marrow_protocol::MacAddr;

use super::Actor;
use crate::db::{Db, Hosts};
use crate::error::{Error, Result};

/// A MAC, registered on the spot when new (a technician often knows the
/// MAC from the machine's label before it ever PXE-boots), or the name of
/// a registered host.
pub fn resolve_host(hosts: &Hosts<'_>, arg: &str, now: i64) -> Result<MacAddr> {
    if let Ok(mac) = arg.parse::<MacAddr>() {
        check_unicast(mac)?;
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

/// A machine boots with the address of its own network card; broadcast,
/// multicast and the zero address name no machine.
fn check_unicast(mac: MacAddr) -> Result<()> {
    if mac.is_unicast() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{mac} is a broadcast, multicast or zero address, not one machine's"
    )))
}

/// Longest host name: a DNS label (RFC 1035 §2.3.4), as the name is used
/// for the machine's own name after a restore.
const MAX_NAME: usize = 63;

/// A name is a DNS-label-like word that cannot be taken for a MAC.
pub fn check_name(name: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::Usage(format!("host name {name:?}: {why}")));
    if name.is_empty() || name.len() > MAX_NAME {
        return bad(&format!("must be 1 to {MAX_NAME} characters"));
    }
    if name.parse::<MacAddr>().is_ok() {
        return bad("is a MAC address; commands could not tell it from one");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return bad("must start with a letter or digit");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return bad("may hold only letters, digits, '-', '_' and '.'");
    }
    Ok(())
}

/// Pre-registers a host, or names one that booted unnamed (`marrow host
/// add`). Giving a named host another name needs `rename`, so a typo in a
/// MAC cannot silently rename another machine.
pub fn add_host(
    db: &mut Db,
    actor: &Actor,
    mac: MacAddr,
    name: &str,
    rename: bool,
    now: i64,
) -> Result<()> {
    check_unicast(mac)?;
    check_name(name)?;
    let tx = db.transaction()?;
    if let Some(old) = tx.hosts().get(mac)?.and_then(|h| h.name) {
        if old != name && !rename {
            return Err(Error::Conflict(format!(
                "host {mac} is already named {old:?}; add --rename to name it {name:?}"
            )));
        }
    }
    tx.hosts().add(mac, name, now)?;
    tracing::debug!(%actor, %mac, name, "host named");
    tx.commit()
}

/// Gives a host its own UEFI x64 boot chain (`ipxe` or `signed`), or
/// `default` to follow the configuration's `boot.uefi`. A MAC not yet
/// registered is registered.
pub fn set_uefi_boot(
    db: &mut Db,
    actor: &Actor,
    mac: MacAddr,
    chain: &str,
    now: i64,
) -> Result<()> {
    check_unicast(mac)?;
    let chain = match chain {
        "default" => None,
        other => Some(UefiChain::parse(other).ok_or_else(|| {
            Error::Usage(format!(
                "UEFI boot {other:?}: expected signed, ipxe or default"
            ))
        })?),
    };
    let tx = db.transaction()?;
    tx.hosts().ensure(mac, now)?;
    tx.hosts().set_uefi_boot(mac, chain)?;
    tracing::debug!(%actor, %mac, chain = ?chain, "host UEFI boot chain set");
    tx.commit()
}

/// Puts a host in a group (a room), or in none when `group` is empty.
/// A group name follows the rules of a host name.
pub fn set_group(db: &mut Db, actor: &Actor, mac: MacAddr, group: &str) -> Result<()> {
    if !group.is_empty() {
        check_name(group)
            .map_err(|e| Error::Usage(e.to_string().replacen("host name", "group", 1)))?;
    }
    let tx = db.transaction()?;
    if tx.hosts().get(mac)?.is_none() {
        return Err(Error::NotFound(format!("no host {mac}")));
    }
    tx.hosts()
        .set_group(mac, (!group.is_empty()).then_some(group))?;
    tracing::debug!(%actor, %mac, group, "host grouped");
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(dir: &tempfile::TempDir) -> Db {
        Db::open(&dir.path().join("marrow.db")).unwrap()
    }

    #[test]
    fn a_host_gets_its_own_uefi_chain_and_default_gives_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = db(&dir);
        let mac: MacAddr = "52:54:00:12:34:56".parse().unwrap();
        // A MAC not registered yet is registered.
        set_uefi_boot(&mut db, &Actor::Cli, mac, "ipxe", 1).unwrap();
        let host = db.hosts().get(mac).unwrap().unwrap();
        assert_eq!(host.uefi_boot, Some(UefiChain::Ipxe));
        set_uefi_boot(&mut db, &Actor::Cli, mac, "signed", 2).unwrap();
        assert_eq!(
            db.hosts().get(mac).unwrap().unwrap().uefi_boot,
            Some(UefiChain::Signed)
        );
        set_uefi_boot(&mut db, &Actor::Cli, mac, "default", 3).unwrap();
        assert_eq!(db.hosts().get(mac).unwrap().unwrap().uefi_boot, None);
        let err = set_uefi_boot(&mut db, &Actor::Cli, mac, "shim", 4)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("shim") && err.contains("signed, ipxe or default"),
            "{err}"
        );
        let bcast: MacAddr = "ff:ff:ff:ff:ff:ff".parse().unwrap();
        assert!(set_uefi_boot(&mut db, &Actor::Cli, bcast, "ipxe", 5).is_err());
    }

    #[test]
    fn names_are_short_words_that_are_not_macs() {
        for good in ["lab-01", "room_B.07", "7b"] {
            check_name(good).unwrap();
        }
        let long = "a".repeat(64);
        for (bad, why) in [
            ("", "1 to 63"),
            (long.as_str(), "1 to 63"),
            ("-x", "start"),
            ("lab 01", "only letters"),
            ("52:54:00:12:34:56", "MAC"),
            ("52-54-00-12-34-56", "MAC"),
        ] {
            let err = check_name(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_named_host_is_renamed_only_when_asked_and_names_differ_in_more_than_case() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = db(&dir);
        let a: MacAddr = "52:54:00:00:00:0a".parse().unwrap();
        let b: MacAddr = "52:54:00:00:00:0b".parse().unwrap();
        add_host(&mut db, &Actor::Cli, a, "lab-01", false, 1).unwrap();
        add_host(&mut db, &Actor::Cli, a, "lab-01", false, 2).unwrap();
        let err = add_host(&mut db, &Actor::Cli, a, "lab-02", false, 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("lab-01") && err.contains("--rename"), "{err}");
        add_host(&mut db, &Actor::Cli, a, "lab-02", true, 4).unwrap();
        let err = add_host(&mut db, &Actor::Cli, b, "LAB-02", false, 5)
            .unwrap_err()
            .to_string();
        assert!(err.contains("already used"), "{err}");
        let bcast: MacAddr = "ff:ff:ff:ff:ff:ff".parse().unwrap();
        assert!(add_host(&mut db, &Actor::Cli, bcast, "x", false, 6).is_err());
        assert!(resolve_host(&db.hosts(), "01:00:5e:00:00:01", 7).is_err());
        assert!(db.hosts().all().unwrap().len() == 1);
    }
}
