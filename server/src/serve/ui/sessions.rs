//! `/sessions`: multicast sessions, with the form for a new one; for one,
//! each receiver's state, progress, loss and multicast/unicast bytes,
//! live; start now, add hosts and cancel.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::IntoResponse;

use super::form::{Fields, Problems};
use super::html::{badge, bar, bytes, esc, seg, time, time_opt};
use super::layout::{page, Viewer};
use super::{act, blocking, failed, session_form, signed_in, PageResult};
use crate::access::Need;
use crate::admin::{self, requests::AddMembers};
use crate::serve::admin::caller::Caller;
use crate::serve::state::Shared;
use crate::sessions::view::SessionView;
use crate::tasks::OsRng;

fn row(s: &SessionView, now: i64) -> String {
    let done = s.done_count();
    format!(
        "<tr data-session=\"{id}\"><td><a href=\"/sessions/{id}\">{id}</a></td><td>{}</td><td>{}</td>\
         <td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
        esc(&s.image),
        badge(s.state.as_str()),
        bar(done as u64, s.receivers.len() as u64, &format!("{done} of {} done", s.receivers.len())),
        bytes(s.sent_bytes),
        time(s.created, now),
        id = s.id,
    )
}

pub(super) fn table(sessions: &[SessionView], now: i64) -> String {
    if sessions.is_empty() {
        return "<p class=\"muted\">No sessions.</p>".into();
    }
    let rows: String = sessions.iter().map(|s| row(s, now)).collect();
    format!(
        "<table><thead><tr><th>ID</th><th>Image</th><th>State</th><th>Receivers</th>\
         <th class=\"num\">Sent</th><th>Made</th></tr></thead><tbody>{rows}</tbody></table>"
    )
}

pub(super) async fn list(State(shared): State<Arc<Shared>>, caller: Caller) -> PageResult {
    let who = signed_in(&caller)?;
    let mut all = blocking(&shared, |db| admin::list_sessions(db))
        .await
        .map_err(|e| failed(who, e))?;
    all.reverse();
    let viewer = Viewer { who };
    let mut body = format!(
        "<div data-live data-live-sessions>{}</div>",
        table(&all, shared.now())
    );
    if viewer.may(Need::Operate) {
        let groups = blocking(&shared, |db| admin::list_groups(db))
            .await
            .map_err(|e| failed(who, e))?;
        body.push_str(&format!(
            "<h2>New session</h2>{}",
            session_form::form(&viewer, &groups, &Fields::default(), &Problems::default())
        ));
    }
    Ok(page("Sessions", "/sessions", Some(&viewer), &body).into_response())
}

pub(super) async fn show(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> PageResult {
    let who = signed_in(&caller)?;
    let viewer = Viewer { who };
    let s = blocking(&shared, move |db| admin::get_session(db, id))
        .await
        .map_err(|e| failed(who, e))?;
    let now = shared.now();
    let mut body = format!(
        "<div data-live data-session=\"{id}\" data-reload-on-change><p>{}</p></div>\
         <dl class=\"facts\"><dt>image</dt><dd>{}</dd><dt>multicast channel</dt><dd>{}</dd><dt>started</dt><dd>{}</dd>\
         <dt>why</dt><dd>{}</dd><dt>sent</dt><dd>{} in {} cycles, {} repair symbols</dd><dt>made</dt><dd>{}</dd></dl>",
        badge(s.state.as_str()),
        esc(&s.image),
        esc(s.channel.as_deref().unwrap_or("–")),
        time_opt(s.started, now),
        esc(s.start_reason.as_deref().unwrap_or("–")),
        bytes(s.sent_bytes),
        s.cycles,
        s.repair_symbols,
        time(s.created, now),
        id = s.id,
    );
    if let Some(e) = &s.error {
        body.push_str(&format!("<p class=\"problem\">{}</p>", esc(e)));
    }
    let rows: String = s
        .receivers
        .iter()
        .map(|r| {
            format!(
                "<tr><td><a href=\"/hosts/{}\">{}</a></td><td><a href=\"/tasks/{}\">{}</a></td><td>{}</td>\
                 <td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                seg(&r.host),
                esc(r.name.as_deref().unwrap_or(&r.host)),
                r.task,
                r.task,
                badge(&r.state),
                bar((r.progress * 1000.0) as u64, 1000, &format!("{:.0} %", r.progress * 100.0)),
                r.loss.map_or("–".into(), |l| format!("{:.1} %", l * 100.0)),
                bytes(r.multicast_bytes),
                bytes(r.unicast_bytes),
                esc(r.reason.as_deref().unwrap_or(""))
            )
        })
        .collect();
    body.push_str(&format!(
        "<h2>Receivers</h2><table><thead><tr><th>Host</th><th>Task</th><th>State</th><th>Progress</th>\
         <th class=\"num\">Loss</th><th class=\"num\">Multicast</th><th class=\"num\">Unicast</th><th>Why</th></tr></thead>\
         <tbody>{rows}</tbody></table>"
    ));
    if viewer.may(Need::Operate) && s.state.is_active() {
        body.push_str(&format!(
            "<h2>Actions</h2><p><form class=\"inline\" method=\"post\" action=\"/sessions/{id}/start\">{csrf}\
             <button id=\"start\">Start now</button></form> \
             <form class=\"inline\" method=\"post\" action=\"/sessions/{id}/cancel\">{csrf}\
             <button class=\"danger\" id=\"cancel\">Cancel</button></form></p>\
             <form class=\"panel\" method=\"post\" action=\"/sessions/{id}/members\">{csrf}\
             <label>Add hosts <span class=\"hint\">MACs or names, separated by spaces</span>\
             <input name=\"hosts\" required></label><button>Add</button></form>",
            id = s.id,
            csrf = viewer.csrf()
        ));
    }
    Ok(page(&format!("Session {id}"), "/sessions", Some(&viewer), &body).into_response())
}

pub(super) async fn start(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> PageResult {
    act(
        &shared,
        &caller,
        Need::Operate,
        &format!("/sessions/{id}"),
        move |db, ctx| admin::start_session(db, ctx, id),
    )
    .await
}

pub(super) async fn cancel(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> PageResult {
    act(
        &shared,
        &caller,
        Need::Operate,
        &format!("/sessions/{id}"),
        move |db, ctx| admin::cancel_session(db, ctx, id),
    )
    .await
}

pub(super) async fn add(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<i64>,
    fields: Fields,
) -> PageResult {
    let hosts: Vec<String> = fields
        .get("hosts")
        .unwrap_or_default()
        .split([' ', ','])
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect();
    let req = AddMembers {
        hosts,
        show_tokens: false,
    };
    act(
        &shared,
        &caller,
        Need::Operate,
        &format!("/sessions/{id}"),
        move |db, ctx| admin::add_members(db, ctx, id, &req, &mut OsRng),
    )
    .await
}
