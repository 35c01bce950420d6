//! What a booting host is told to do, shared by the iPXE script (HTTP)
//! and the GRUB configuration (TFTP, the signed chain): its active task
//! with a fresh token when the request comes from the address it took in
//! DHCP, else the configured default.

use std::net::Ipv4Addr;

use marrow_protocol::ipxe::{Action, ScriptHost};
use marrow_protocol::MacAddr;
use tracing::{debug, info, warn};

use super::config::BootDefault;
use super::state::Shared;
use crate::db::BootSeen;
use crate::tasks::{self, BootDecision, OsRng};

/// The host and its action. `issue`: the request may take a token at all
/// (a HEAD never does).
pub(super) async fn plan(
    shared: &Shared,
    mac: MacAddr,
    ip: Option<Ipv4Addr>,
    issue: bool,
    via: &str,
) -> (ScriptHost, Action) {
    let default = match shared.config.boot_default {
        BootDefault::LocalDisk => Action::LocalDisk,
        BootDefault::Marrow => Action::Marrow { task: None },
        BootDefault::Menu => Action::Menu {
            default: shared.config.menu_default,
            timeout_secs: shared.config.menu_timeout_secs,
        },
    };
    let seen = BootSeen {
        arch: None,
        client_uuid: None,
        ip,
    };
    let now = shared.now();
    // A token goes only to the machine that is booting: the request must
    // come from the address this MAC took in DHCP, once per exchange.
    let issue = issue
        && match shared.boot.witnesses.take(mac, ip, now) {
            Ok(()) => true,
            Err(why) => {
                debug!(%mac, ?ip, "{via} without a token: {why}");
                false
            }
        };
    let decided = shared
        .db
        .call(move |db| tasks::boot(db, mac, &seen, issue, now, &mut OsRng))
        .await;
    let decision = match decided {
        Ok(d) => d,
        Err(e) => {
            warn!("host {mac}: boot not recorded and active task not looked up, booting the default: {e}");
            BootDecision {
                host: None,
                task: None,
            }
        }
    };
    let host = ScriptHost {
        mac,
        name: decision.host.as_ref().and_then(|h| h.name.clone()),
    };
    let action = action_for(decision, default);
    shared.metrics.http_boot();
    // The action's Debug form would print the token; log the task id only.
    let shown = match &action {
        Action::Marrow { task: Some(t) } => format!("marrow task {}", t.id),
        other => format!("{other:?}"),
    };
    info!(%mac, ?ip, action = %shown, "{via}");
    (host, action)
}

/// A host with an active task boots the Marrow environment with it (see
/// [`tasks::boot`]); any other host gets `default`.
pub(super) fn action_for(decision: BootDecision, default: Action) -> Action {
    match decision.task {
        Some(task) => Action::Marrow { task: Some(task) },
        None => default,
    }
}
