//! `/sites`: the upstreams this server pulls images from, how each pull
//! went (live while one runs), and "pull now"; and where an image came
//! from, by the key that signed it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::IntoResponse;

use super::html::{badge, bytes, esc, seg, time, time_opt};
use super::layout::{page, Viewer};
use super::{allowed, blocking, failed, see_other, signed_in, PageResult};
use crate::access::Need;
use crate::admin::{self, views::SiteView, views::SyncRunView};
use crate::serve::admin::caller::Caller;
use crate::serve::state::Shared;
use crate::serve::sync_runner;

/// Pulls shown per site.
const HISTORY: i64 = 8;

/// Who signed an image: this server, a site (by the key it was given),
/// or a key no site has.
pub(super) fn origin(shared: &Shared, sites: &[SiteView], signed_by: Option<&str>) -> String {
    let Some(key) = signed_by else {
        return "<span class=\"muted\">unsigned</span>".into();
    };
    if key == shared.identity.public().to_string() {
        return "this server".into();
    }
    match sites.iter().find(|s| s.key == key) {
        Some(s) => format!(
            "site <a href=\"/sites#{0}\">{1}</a>",
            seg(&s.name),
            esc(&s.name)
        ),
        None => format!("<span title=\"{}\">a key no site has</span>", esc(key)),
    }
}

/// The counts of a run: chunks and bytes, and versions published/refused.
fn counts(r: &SyncRunView) -> String {
    format!(
        "{} published, {} refused; {} chunks, {}",
        r.published,
        r.failed,
        r.chunks,
        bytes(r.bytes.max(0) as u64)
    )
}

/// A site's newest pull, as a table row the script keeps current.
fn last_run(site: &SiteView, now: i64) -> String {
    match &site.last_run {
        None => "<td>never pulled</td><td></td><td></td><td></td>".into(),
        Some(r) => format!(
            "<td>{}</td><td>{}</td><td data-counts>{}</td><td class=\"error\">{}</td>",
            badge(&r.state),
            time(r.started, now),
            esc(&counts(r)),
            esc(r.error.as_deref().unwrap_or(""))
        ),
    }
}

/// The sites and their last pulls, as the dashboard and this page show them.
pub(super) fn table(sites: &[SiteView], now: i64) -> String {
    let rows: String = sites
        .iter()
        .map(|s| {
            let (run, state) = s
                .last_run
                .as_ref()
                .map(|r| (r.id.to_string(), r.state.clone()))
                .unwrap_or_default();
            format!(
                "<tr data-sync=\"{}\" data-sync-run=\"{run}\" data-sync-state=\"{}\">\
                 <td><a href=\"/sites#{}\">{}</a></td>{}</tr>",
                esc(&s.name.to_ascii_lowercase()),
                esc(&state),
                seg(&s.name),
                esc(&s.name),
                last_run(s, now)
            )
        })
        .collect();
    format!(
        "<table><thead><tr><th>Site</th><th>Last pull</th><th>Started</th><th>What it moved</th>\
         <th>Error</th></tr></thead><tbody>{rows}</tbody></table>"
    )
}

pub(super) async fn list(State(shared): State<Arc<Shared>>, caller: Caller) -> PageResult {
    let who = signed_in(&caller)?;
    let viewer = Viewer { who };
    let dirs = shared.dirs.clone();
    let sites = blocking(&shared, move |db| {
        let sites = admin::list_sites(db, &dirs)?;
        let mut runs = Vec::new();
        for s in &sites {
            runs.push(admin::site_runs(db, &dirs, &s.name, HISTORY)?);
        }
        Ok((sites, runs))
    })
    .await
    .map_err(|e| failed(who, e))?;
    let (sites, runs) = sites;
    let now = shared.now();
    let mut body = format!(
        "<p class=\"muted\">Sites that pull from this server trust its key \
         <code>{}</code>; <code>marrow key show</code> prints it with the TLS fingerprint.</p>",
        esc(&shared.identity.public().to_string())
    );
    if sites.is_empty() {
        body.push_str(
            "<p class=\"muted\">No upstream sites. Add one at the server's shell: \
             <code>marrow site add NAME --url https://HOST:8443 --token TOKEN --key KEY \
             --fingerprint SHA256</code>.</p>",
        );
        return Ok(page("Sites", "/sites", Some(&viewer), &body).into_response());
    }
    body.push_str(&format!(
        "<div data-live data-live-sync>{}</div>",
        table(&sites, now)
    ));
    for (s, history) in sites.iter().zip(&runs) {
        let trust = match &s.fingerprint {
            Some(f) => format!("certificate pinned to <code>{}</code>", esc(f)),
            None => "certificate checked against public CAs".into(),
        };
        body.push_str(&format!(
            "<h2 id=\"{}\">{}</h2><dl class=\"facts\"><dt>URL</dt><dd><code>{}</code></dd>\
             <dt>trusts</dt><dd><code>{}</code></dd><dt>TLS</dt><dd>{trust}</dd>\
             <dt>read-through</dt><dd>{}</dd><dt>added</dt><dd>{}</dd></dl>",
            seg(&s.name),
            esc(&s.name),
            esc(&s.url),
            esc(&s.key),
            if s.read_through {
                "on: restores fetch what is missing"
            } else {
                "off"
            },
            time(s.created, now)
        ));
        if viewer.may(Need::Operate) {
            body.push_str(&format!(
                "<form method=\"post\" action=\"/sites/{}/pull\">{}<button id=\"pull-{}\">Pull now</button></form>",
                seg(&s.name),
                viewer.csrf(),
                esc(&s.name.to_ascii_lowercase())
            ));
        }
        if history.is_empty() {
            continue;
        }
        let rows: String = history
            .iter()
            .map(|r| {
                format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"error\">{}</td></tr>",
                    badge(&r.state),
                    time(r.started, now),
                    time_opt(r.ended, now),
                    esc(&counts(r)),
                    esc(r.error.as_deref().unwrap_or(""))
                )
            })
            .collect();
        body.push_str(&format!(
            "<table><thead><tr><th>State</th><th>Started</th><th>Ended</th><th>What it moved</th>\
             <th>Error</th></tr></thead><tbody>{rows}</tbody></table>"
        ));
    }
    Ok(page("Sites", "/sites", Some(&viewer), &body).into_response())
}

/// "Pull now": starts the pull in the background and shows the page,
/// where its run goes on live.
pub(super) async fn pull(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(name): Path<String>,
) -> PageResult {
    let who = allowed(&caller, Need::Operate)?;
    let ctx = caller.ctx(who, shared.now());
    sync_runner::pull_now(shared.clone(), name, ctx)
        .await
        .map_err(|e| failed(who, e))?;
    Ok(see_other("/sites"))
}
