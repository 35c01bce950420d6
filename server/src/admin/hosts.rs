//! Hosts: list and register.

use marrow_protocol::MacAddr;
use serde_json::json;

use super::requests::AddHost;
use super::views::HostView;
use super::{audited, Ctx};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::tasks;

pub fn list_hosts(db: &Db) -> Result<Vec<HostView>> {
    Ok(db.hosts().all()?.iter().map(HostView::from).collect())
}

/// Registers or names a host, and sets its group when given.
pub fn add_host(db: &mut Db, ctx: &Ctx, req: &AddHost) -> Result<HostView> {
    let args = json!(req);
    audited(db, ctx, "host.add", Some(&req.mac), args, |db| {
        let mac: MacAddr = req
            .mac
            .parse()
            .map_err(|e: marrow_protocol::MacParseError| Error::Usage(e.to_string()))?;
        tasks::add_host(db, &ctx.actor, mac, &req.name, req.rename, ctx.now)?;
        if let Some(g) = req.group.as_deref() {
            tasks::set_group(db, &ctx.actor, mac, g)?;
        }
        let host = db
            .hosts()
            .get(mac)?
            .ok_or_else(|| Error::NotFound(format!("no host {mac}")))?;
        Ok(HostView::from(&host))
    })
}
