//! Waking hosts: by MAC, by name, or a whole group (room), with one
//! magic packet per host on the interface that serves them.

use marrow_protocol::MacAddr;
use serde_json::json;

use super::requests::WakeRequest;
use super::views::{WakeReport, WokenHost};
use super::{audited, Ctx};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::serve::net::Interface;

/// The hosts a request names, each once, by MAC: each MAC (registered
/// or not), each registered name, and every host of the group.
fn targets(db: &Db, req: &WakeRequest) -> Result<Vec<(MacAddr, Option<String>)>> {
    let mut out = Vec::new();
    for arg in &req.hosts {
        let host = match arg.parse::<MacAddr>() {
            Ok(mac) => {
                if !mac.is_unicast() {
                    return Err(Error::Usage(format!("{mac} is not one machine's address")));
                }
                (mac, db.hosts().get(mac)?.and_then(|h| h.name))
            }
            Err(_) => {
                let h = db.hosts().by_name(arg)?.ok_or_else(|| {
                    Error::NotFound(format!("no host named {arg:?} (and it is not a MAC)"))
                })?;
                (h.mac, h.name)
            }
        };
        out.push(host);
    }
    if let Some(g) = &req.group {
        let members = db.hosts().in_group(g)?;
        if members.is_empty() {
            return Err(Error::NotFound(format!("group {g:?} has no hosts")));
        }
        out.extend(members.into_iter().map(|h| (h.mac, h.name)));
    }
    if out.is_empty() {
        return Err(Error::Usage(
            "name the hosts to wake: MAC or NAME, or --group ROOM".into(),
        ));
    }
    out.sort_by_key(|(mac, _)| *mac);
    out.dedup_by_key(|(mac, _)| *mac);
    Ok(out)
}

/// Sends each named host its magic packet on `iface`.
pub fn wake_hosts(
    db: &mut Db,
    ctx: &Ctx,
    iface: &Interface,
    req: &WakeRequest,
) -> Result<WakeReport> {
    let object = req.group.clone().unwrap_or_else(|| req.hosts.join(","));
    audited(db, ctx, "host.wake", Some(&object), json!(req), |db| {
        let hosts = targets(db, req)?;
        let macs: Vec<MacAddr> = hosts.iter().map(|(mac, _)| *mac).collect();
        crate::wake::wake(iface, &macs)?;
        Ok(WakeReport {
            interface: iface.name.clone(),
            broadcast: format!(
                "{}:{}",
                crate::wake::broadcast(iface),
                marrow_protocol::wol::PORT
            ),
            hosts: hosts
                .into_iter()
                .map(|(mac, name)| WokenHost {
                    mac: mac.to_string(),
                    name,
                })
                .collect(),
        })
    })
}
