//! `/`: what is imaging now and how far along, what failed lately and
//! why, the store's size and sharing, and boot activity since the
//! service started.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;

use super::html::{bytes, esc, seg, time};
use super::layout::{page, Viewer};
use super::{blocking, failed, sessions, signed_in, sites, tasks, PageResult};
use crate::admin;
use crate::serve::admin::caller::Caller;
use crate::serve::state::Shared;

/// Failures shown: the most recent ones.
const RECENT_FAILURES: usize = 8;

fn card(n: &str, k: &str) -> String {
    format!(
        "<div class=\"card\"><div class=\"n\">{}</div><div class=\"k\">{}</div></div>",
        esc(n),
        esc(k)
    )
}

pub(super) async fn show(State(shared): State<Arc<Shared>>, caller: Caller) -> PageResult {
    let who = signed_in(&caller)?;
    let dirs = shared.dirs.clone();
    let (all_tasks, all_sessions, hosts, upstreams) = blocking(&shared, move |db| {
        Ok((
            admin::list_tasks(db)?,
            admin::list_sessions(db)?,
            admin::list_hosts(db)?,
            admin::list_sites(db, &dirs)?,
        ))
    })
    .await
    .map_err(|e| failed(who, e))?;
    let path = shared.config.store.clone();
    let store = tokio::task::spawn_blocking(move || admin::summarize_store(&path))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let now = shared.now();
    let boot = shared.metrics.boot_activity();
    let active: Vec<_> = all_tasks
        .iter()
        .filter(|t| matches!(t.state.as_str(), "pending" | "running"))
        .rev()
        .cloned()
        .collect();
    let live_sessions: Vec<_> = all_sessions
        .iter()
        .filter(|s| s.state.is_active())
        .rev()
        .cloned()
        .collect();
    let failures: Vec<_> = all_tasks
        .iter()
        .rev()
        .filter(|t| t.state == "failed")
        .take(RECENT_FAILURES)
        .collect();
    let mut body = String::from("<div class=\"cards\">");
    body.push_str(&card(&active.len().to_string(), "active tasks"));
    body.push_str(&card(
        &live_sessions.len().to_string(),
        "sessions waiting or running",
    ));
    body.push_str(&card(&hosts.len().to_string(), "hosts"));
    body.push_str(&card(
        &format!("{} / {}", store.names, store.versions),
        "images / versions",
    ));
    body.push_str(&card(
        &bytes(store.stored_bytes),
        "store size (compressed chunks)",
    ));
    body.push_str(&card(
        &format!("{:.1}×", store.ratio()),
        &format!(
            "dedup and compression ({} of image data)",
            bytes(store.image_bytes)
        ),
    ));
    body.push_str("</div>");
    body.push_str(&format!(
        "<h2>Imaging now</h2><div data-live data-live-tasks id=\"active-tasks\">{}</div>",
        tasks::table(&active, now)
    ));
    if !live_sessions.is_empty() {
        body.push_str(&format!(
            "<h2>Room sessions</h2><div data-live data-live-sessions>{}</div>",
            sessions::table(&live_sessions, now)
        ));
    }
    body.push_str("<h2>Recent failures</h2>");
    if failures.is_empty() {
        body.push_str("<p class=\"muted\">None.</p>");
    } else {
        let rows: String = failures
            .iter()
            .map(|t| {
                format!(
                    "<tr><td><a href=\"/tasks/{id}\">{id}</a></td><td><a href=\"/hosts/{}\">{}</a></td><td>{}</td>\
                     <td class=\"error\">{}</td><td>{}</td></tr>",
                    seg(&t.host),
                    esc(&t.host),
                    esc(&t.kind),
                    esc(t.error.as_deref().unwrap_or("")),
                    time(t.updated, now),
                    id = t.id,
                )
            })
            .collect();
        body.push_str(&format!(
            "<table><thead><tr><th>Task</th><th>Host</th><th>Kind</th><th>Why</th><th>When</th></tr></thead><tbody>{rows}</tbody></table>"
        ));
    }
    if !upstreams.is_empty() {
        body.push_str(&format!(
            "<h2>Site sync</h2><div data-live data-live-sync>{}</div>",
            sites::table(&upstreams, now)
        ));
    }
    body.push_str(&format!(
        "<h2>Boot activity since the service started</h2><div class=\"cards\">{}{}{}{}</div>",
        card(
            &boot.dhcp_replies.to_string(),
            &format!("DHCP replies ({} ignored)", boot.dhcp_ignored)
        ),
        card(
            &boot.tftp_transfers.to_string(),
            &format!("TFTP transfers ({})", bytes(boot.tftp_bytes))
        ),
        card(&boot.http_boots.to_string(), "iPXE boot scripts"),
        card(&bytes(boot.http_file_bytes), "boot files over HTTP"),
    ));
    Ok(page("Dashboard", "/", Some(&Viewer { who }), &body).into_response())
}
