//! Hosts: list and register; the groups (rooms) they stand in.

use marrow_protocol::MacAddr;
use serde_json::json;

use super::requests::AddHost;
use super::views::{GroupView, HostView};
use super::{audited, Ctx};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::tasks;

pub fn list_hosts(db: &Db) -> Result<Vec<HostView>> {
    Ok(db.hosts().all()?.iter().map(HostView::from).collect())
}

/// Every group that has hosts, by name, with its members. A group is a
/// name hosts carry (`host add --group`); it exists while a host has it.
pub fn list_groups(db: &Db) -> Result<Vec<GroupView>> {
    let mut groups: std::collections::BTreeMap<String, GroupView> = Default::default();
    for h in db.hosts().all()? {
        let Some(g) = &h.group else { continue };
        groups
            .entry(g.to_lowercase())
            .or_insert_with(|| GroupView {
                name: g.clone(),
                hosts: Vec::new(),
            })
            .hosts
            .push(HostView::from(&h));
    }
    Ok(groups.into_values().collect())
}

/// Registers or names a host, and sets its group and UEFI boot chain
/// when given.
pub fn add_host(db: &mut Db, ctx: &Ctx, req: &AddHost) -> Result<HostView> {
    let args = json!(req);
    audited(db, ctx, "host.add", Some(&req.mac), args, |db| {
        let mac: MacAddr = req
            .mac
            .parse()
            .map_err(|e: marrow_protocol::MacParseError| Error::Usage(e.to_string()))?;
        match req.name.as_deref() {
            Some(name) => tasks::add_host(db, &ctx.actor, mac, name, req.rename, ctx.now)?,
            None => db.hosts().ensure(mac, ctx.now)?,
        }
        if let Some(g) = req.group.as_deref() {
            tasks::set_group(db, &ctx.actor, mac, g)?;
        }
        if let Some(chain) = req.uefi_boot.as_deref() {
            tasks::set_uefi_boot(db, &ctx.actor, mac, chain, ctx.now)?;
        }
        let host = db
            .hosts()
            .get(mac)?
            .ok_or_else(|| Error::NotFound(format!("no host {mac}")))?;
        Ok(HostView::from(&host))
    })
}
