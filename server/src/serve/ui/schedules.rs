//! `/schedules`: each schedule's next runs and history; add, pause,
//! resume and remove (operators).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::form::{text_input, Fields, Problems};
use super::html::{badge, esc, seg, time};
use super::layout::{page, Viewer};
use super::{act, allowed, blocking, failed, see_other, signed_in, PageResult};
use crate::access::Need;
use crate::schedules::{self, NewSchedule, ScheduleView};
use crate::serve::admin::caller::Caller;
use crate::serve::state::Shared;

fn card(v: &ScheduleView, viewer: &Viewer<'_>, now: i64) -> String {
    let state = match (v.done, v.paused) {
        (true, _) => "done",
        (_, true) => "paused",
        _ => "live",
    };
    let next: String = v
        .next
        .iter()
        .map(|t| format!("<li>{}</li>", time(*t, now)))
        .collect();
    let runs: String = v
        .history
        .iter()
        .rev()
        .map(|r| {
            let made = match (r.task, r.session) {
                (Some(t), _) => format!("<a href=\"/tasks/{t}\">task {t}</a>"),
                (_, Some(s)) => format!("<a href=\"/sessions/{s}\">session {s}</a>"),
                _ => String::new(),
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{made}</td><td>{}</td></tr>",
                time(r.due, now),
                badge(r.outcome.split(':').next().unwrap_or("")),
                esc(r
                    .outcome
                    .split_once(':')
                    .map(|(_, why)| why.trim())
                    .unwrap_or(""))
            )
        })
        .collect();
    let mut actions = String::new();
    if viewer.may(Need::Operate) {
        let verb = if v.paused { "resume" } else { "pause" };
        actions = format!(
            "<form class=\"inline\" method=\"post\" action=\"/schedules/{n}/{verb}\">{csrf}<button>{}</button></form> \
             <form class=\"inline\" method=\"post\" action=\"/schedules/{n}/remove\">{csrf}\
             <button class=\"danger\">Remove</button></form>",
            if v.paused { "Resume" } else { "Pause" },
            n = seg(&v.name),
            csrf = viewer.csrf()
        );
    }
    format!(
        "<h2>{} {}</h2><p><code>{}</code> → <code>{}</code> {actions}</p>\
         <div class=\"grid2\"><div><h3>Next</h3><ul>{}</ul></div><div><h3>History</h3>\
         <table><thead><tr><th>Due</th><th>Outcome</th><th>Made</th><th>Why</th></tr></thead><tbody>{}</tbody></table></div></div>",
        esc(&v.name),
        badge(state),
        esc(&v.when),
        esc(&v.command.join(" ")),
        if next.is_empty() { "<li class=\"muted\">none</li>".to_string() } else { next },
        runs
    )
}

fn add_form(viewer: &Viewer<'_>, values: &Fields, p: &Problems) -> String {
    let v = |k: &str| values.get(k);
    format!(
        "<h2>Add a schedule</h2><form class=\"panel\" method=\"post\" action=\"/schedules\">{}{}{}{}{}{}{}\
         <button>Add</button></form>",
        viewer.csrf(),
        p.top(),
        text_input("name", "Name", "letters, digits, '.', '_', '-'", v("name").as_deref(), p),
        text_input("cron", "Cron", "0 22 * * 1-5; or give a time below", v("cron").as_deref(), p),
        text_input("at", "Once, at", "2026-12-24T18:00", v("at").as_deref(), p),
        text_input("tz", "Time zone", "Europe/Paris; empty: the server's", v("tz").as_deref(), p),
        text_input(
            "command",
            "Command",
            "session create --group room-b --image win11 --wake",
            v("command").as_deref(),
            p
        ),
    )
}

async fn render(
    shared: &Arc<Shared>,
    caller: &Caller,
    values: &Fields,
    problems: &Problems,
) -> PageResult {
    let who = signed_in(caller)?;
    let viewer = Viewer { who };
    let now = shared.now();
    let all = blocking(shared, move |db| schedules::list(db, now))
        .await
        .map_err(|e| failed(who, e))?;
    let mut body = String::new();
    if all.is_empty() {
        body.push_str("<p class=\"muted\">No schedules.</p>");
    }
    for v in &all {
        body.push_str(&card(v, &viewer, now));
    }
    if viewer.may(Need::Operate) {
        body.push_str(&add_form(&viewer, values, problems));
    }
    let status = match problems.is_empty() {
        true => StatusCode::OK,
        false => StatusCode::UNPROCESSABLE_ENTITY,
    };
    Ok((
        status,
        page("Schedules", "/schedules", Some(&viewer), &body),
    )
        .into_response())
}

pub(super) async fn list(State(shared): State<Arc<Shared>>, caller: Caller) -> PageResult {
    render(&shared, &caller, &Fields::default(), &Problems::default()).await
}

pub(super) async fn add(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    fields: Fields,
) -> PageResult {
    let who = allowed(&caller, Need::Operate)?;
    let req = NewSchedule {
        name: fields.get("name").unwrap_or_default(),
        cron: fields.get("cron"),
        at: fields.get("at"),
        tz: fields.get("tz"),
        grace: None,
        command: fields
            .get("command")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect(),
    };
    let ctx = caller.ctx(who, shared.now());
    match blocking(&shared, move |db| schedules::add(db, &ctx, &req)).await {
        Ok(_) => Ok(see_other("/schedules")),
        Err(e) => {
            let message = e.message();
            let mut p = Problems::default();
            let field =
                if message.contains("scheduled command") || message.contains("give the command") {
                    "command"
                } else if message.contains("cron") || message.contains("pattern") {
                    "cron"
                } else if message.contains("zone") || message.contains("tz") {
                    "tz"
                } else if message.contains("schedule \"") || message.contains("schedule name") {
                    "name"
                } else {
                    ""
                };
            p.add(field, message);
            render(&shared, &caller, &fields, &p).await
        }
    }
}

pub(super) async fn change(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path((name, verb)): Path<(String, String)>,
) -> PageResult {
    act(
        &shared,
        &caller,
        Need::Operate,
        "/schedules",
        move |db, ctx| match verb.as_str() {
            "pause" => schedules::set_paused(db, ctx, &name, true).map(drop),
            "resume" => schedules::set_paused(db, ctx, &name, false).map(drop),
            "remove" => schedules::remove(db, ctx, &name),
            other => Err(crate::error::Error::NotFound(format!(
                "no schedule action {other:?}"
            ))),
        },
    )
    .await
}
