//! `/audit`: the audit log, newest first, filtered by user and time.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;

use super::html::{badge, esc, time};
use super::layout::{page, Viewer};
use super::{allowed, blocking, failed, PageResult};
use crate::access::Need;
use crate::admin;
use crate::db::AuditFilter;
use crate::serve::admin::caller::Caller;
use crate::serve::state::Shared;

/// Rows shown at once; the filter narrows the rest.
const SHOWN: usize = 500;

#[derive(Debug, Default, serde::Deserialize)]
struct Query {
    user: Option<String>,
    /// `2h`, `7d` or a time.
    since: Option<String>,
}

pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> PageResult {
    let who = allowed(&caller, Need::Admin)?;
    let viewer = Viewer { who };
    let q: Query = serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    let now = shared.now();
    let user = q.user.clone().filter(|u| !u.trim().is_empty());
    let since_text = q.since.clone().filter(|s| !s.trim().is_empty());
    let mut problem = String::new();
    let since = match &since_text {
        None => None,
        Some(s) => match crate::when::parse_since(s, now) {
            Ok(t) => Some(t),
            Err(e) => {
                problem = format!(
                    "<span class=\"field-error\" data-error-for=\"since\">{}</span>",
                    esc(&e.to_string())
                );
                None
            }
        },
    };
    let filter = AuditFilter {
        since,
        user: user.clone(),
    };
    let mut rows = blocking(&shared, move |db| admin::list_audit(db, &filter))
        .await
        .map_err(|e| failed(who, e))?;
    rows.reverse();
    let total = rows.len();
    rows.truncate(SHOWN);
    let trs: String = rows
        .iter()
        .map(|r| {
            let outcome = r.outcome.split(':').next().unwrap_or("");
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} <span class=\"muted\">{}</span></td></tr>",
                time(r.at, now),
                esc(&r.actor),
                esc(&r.action),
                esc(r.object.as_deref().unwrap_or("")),
                esc(r.address.as_deref().unwrap_or("")),
                badge(outcome),
                esc(r.outcome.split_once(':').map(|(_, rest)| rest.trim()).unwrap_or(""))
            )
        })
        .collect();
    let body = format!(
        "<form method=\"get\" action=\"/audit\" class=\"panel\"><label>User <span class=\"hint\">a user or token name</span>\
         <input name=\"user\" value=\"{}\"></label><label>Since <span class=\"hint\">2h, 7d or 2026-12-01T08:00</span>\
         <input name=\"since\" value=\"{}\">{problem}</label><button>Filter</button></form>\
         <p class=\"muted\">{total} entries{}</p>\
         <table id=\"audit\"><thead><tr><th>When</th><th>Who</th><th>Action</th><th>Object</th><th>From</th><th>Outcome</th></tr></thead>\
         <tbody>{trs}</tbody></table>",
        esc(user.as_deref().unwrap_or("")),
        esc(since_text.as_deref().unwrap_or("")),
        if total > SHOWN { format!(", the newest {SHOWN} shown") } else { String::new() },
    );
    Ok(page("Audit log", "/audit", Some(&viewer), &body).into_response())
}
