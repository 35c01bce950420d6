//! The form that makes a multicast session (a room restore), shown on an
//! image's page and on the sessions page: the image, the room or hosts,
//! when it starts, its rate and each member's restore options, each
//! checked next to its field before anything is made.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use image_format::catalog::ImageRef;
use marrow_protocol::disk_rule::DiskRule;

use super::form::{text_input, Fields, Problems};
use super::html::esc;
use super::layout::{page, Viewer};
use super::{allowed, blocking, see_other, PageResult};
use crate::access::Need;
use crate::admin::{self, requests::NewSessionRequest, views::GroupView};
use crate::serve::admin::caller::Caller;
use crate::serve::state::Shared;
use crate::tasks::OsRng;
use crate::when::{parse_at, parse_duration, parse_rate};

/// The new-session form, filled with `values`, showing `problems`; the
/// room is chosen from the groups hosts are in.
pub(super) fn form(
    viewer: &Viewer<'_>,
    groups: &[GroupView],
    values: &Fields,
    problems: &Problems,
) -> String {
    let v = |k: &str| values.get(k);
    let current = v("group").unwrap_or_default();
    let options: String = std::iter::once(("".to_string(), "— the hosts below —".to_string()))
        .chain(groups.iter().map(|g| {
            (
                g.name.clone(),
                format!("{} ({} hosts)", g.name, g.hosts.len()),
            )
        }))
        .map(|(value, label)| {
            let sel = if value.eq_ignore_ascii_case(&current) {
                " selected"
            } else {
                ""
            };
            format!(
                "<option value=\"{}\"{sel}>{}</option>",
                esc(&value),
                esc(&label)
            )
        })
        .collect();
    let after = v("after").unwrap_or_else(|| "reboot".into());
    let opt = |value: &str, label: &str| {
        let sel = if value == after { " selected" } else { "" };
        format!("<option value=\"{value}\"{sel}>{label}</option>")
    };
    let check = |name: &str, label: &str| {
        let on = if values.checked(name) { " checked" } else { "" };
        format!(
            "<label class=\"check\"><input type=\"checkbox\" name=\"{name}\"{on}> {label}</label>"
        )
    };
    let rate = v("rate_cap").unwrap_or_else(|| "800M".into());
    format!(
        "<form class=\"panel\" method=\"post\" action=\"/sessions\" id=\"session-form\">{csrf}{top}\
         {image}<label>Room <span class=\"hint\">every host of this group</span>\
         <select name=\"group\"{ginvalid} aria-describedby=\"group-error\">{options}</select>{gerr}</label>\
         {hosts}{min}{wait}{at}{rate}{disk}{hostname}{script}\
         <label>When each restore ends <select name=\"after\">{reboot}{off}</select></label>\
         {grow}{wake}<button id=\"make-session\">Make the session</button></form>",
        csrf = viewer.csrf(),
        top = problems.top(),
        image = text_input(
            "image",
            "Image",
            "NAME (its latest version, fixed now) or NAME@ID",
            v("image").as_deref(),
            problems
        ),
        ginvalid = problems.invalid("group"),
        gerr = problems.under("group"),
        hosts = text_input(
            "hosts",
            "Hosts",
            "MACs or names, separated by spaces; with or without a room",
            v("hosts").as_deref(),
            problems
        ),
        min = text_input(
            "min_receivers",
            "Start once this many have joined",
            "empty: when every member has joined",
            v("min_receivers").as_deref(),
            problems
        ),
        wait = text_input(
            "max_wait",
            "Or this long after the first joined",
            "90s, 10m, 2h; empty: no limit",
            v("max_wait").as_deref(),
            problems
        ),
        at = text_input(
            "at",
            "Or at",
            "2026-12-02T22:00 (the server's local time) or …Z (UTC)",
            v("at").as_deref(),
            problems
        ),
        rate = text_input(
            "rate_cap",
            "Rate cap",
            "bits per second: 200M, 800M, 1G",
            Some(&rate),
            problems
        ),
        disk = text_input(
            "disk",
            "Disk rule",
            "serial=S, wwn=W, name=sda or size=MIN-MAX; empty: the only internal disk",
            v("disk").as_deref(),
            problems
        ),
        hostname = text_input(
            "hostname",
            "Hostname",
            "a pattern with {host}, {mac}, {group}, {n}",
            v("hostname").as_deref(),
            problems
        ),
        script = text_input(
            "post_script",
            "Post-deploy script",
            "a script from `marrow script add`",
            v("post_script").as_deref(),
            problems
        ),
        reboot = opt("reboot", "reboot"),
        off = opt("poweroff", "power off"),
        grow = check(
            "grow_last_partition",
            "Grow the last partition to the end of a larger disk"
        ),
        wake = check("wake", "Wake every member when the session is due"),
    )
}

/// The request the form asks for, or what is wrong with it, field by field.
fn check(shared: &Shared, groups: &[GroupView], f: &Fields) -> Result<NewSessionRequest, Problems> {
    let mut p = Problems::default();
    let image = f.get("image").unwrap_or_default();
    match ImageRef::parse(&image) {
        Err(e) => p.add("image", e.to_string()),
        Ok(r) => {
            let known = admin::list_images(&shared.config.store)
                .map(|rows| rows.iter().any(|row| row.name == r.name))
                .unwrap_or(false);
            if !known {
                p.add("image", format!("no image {:?} in the store", r.name));
            }
        }
    }
    let group = f.get("group");
    if let Some(g) = &group {
        if !groups.iter().any(|k| k.name.eq_ignore_ascii_case(g)) {
            p.add("group", format!("no host is in the group {g:?}"));
        }
    }
    let hosts: Vec<String> = f
        .get("hosts")
        .unwrap_or_default()
        .split([' ', ','])
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect();
    if group.is_none() && hosts.is_empty() {
        p.add("group", "choose a room, or give the hosts below");
    }
    let min_receivers = match f.get("min_receivers").map(|s| s.parse::<u32>()) {
        None => None,
        Some(Ok(n)) if n > 0 => Some(n),
        Some(_) => {
            p.add(
                "min_receivers",
                "give a whole number of receivers, 1 or more",
            );
            None
        }
    };
    let max_wait_secs = match f.get("max_wait").map(|s| parse_duration(&s)) {
        None => None,
        Some(Ok(secs)) if secs >= 0 => Some(secs),
        Some(Ok(_)) => {
            p.add("max_wait", "the wait must not be negative");
            None
        }
        Some(Err(e)) => {
            p.add("max_wait", e);
            None
        }
    };
    let start_at = match f.get("at").map(|s| parse_at(&s)) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            p.add("at", e.to_string());
            None
        }
    };
    let rate_cap = match parse_rate(&f.get("rate_cap").unwrap_or_else(|| "800M".into())) {
        Ok(r) => Some(r),
        Err(e) => {
            p.add("rate_cap", e);
            None
        }
    };
    if let Some(rule) = f.get("disk") {
        if let Err(e) = DiskRule::parse(&rule) {
            p.add("disk", e.to_string());
        }
    }
    if let Some(pattern) = f.get("hostname") {
        if let Err(e) = crate::tasks::hostname::check_pattern(&pattern) {
            p.add("hostname", e.to_string());
        }
    }
    if !p.is_empty() {
        return Err(p);
    }
    Ok(NewSessionRequest {
        image,
        group,
        hosts,
        min_receivers,
        max_wait_secs,
        start_at,
        rate_cap,
        disk: f.get("disk"),
        grow_last_partition: f.checked("grow_last_partition"),
        after: f.get("after"),
        wake: f.checked("wake"),
        hostname: f.get("hostname"),
        post_script: f.get("post_script"),
        show_tokens: false,
    })
}

/// Which field a refused session is about, by what the error names.
fn field_of(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.contains("post-deploy script") {
        "post_script"
    } else if m.contains("hostname") {
        "hostname"
    } else if m.contains("group") {
        "group"
    } else if m.contains("no host") || m.contains("already has") {
        "hosts"
    } else if m.contains("image") {
        "image"
    } else {
        ""
    }
}

/// The page that shows the form again, with what is wrong.
fn refused(viewer: &Viewer<'_>, groups: &[GroupView], f: &Fields, p: &Problems) -> Response {
    let body = form(viewer, groups, f, p);
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        page("New session", "/sessions", Some(viewer), &body),
    )
        .into_response()
}

pub(super) async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    fields: Fields,
) -> PageResult {
    let who = allowed(&caller, Need::Operate)?;
    let viewer = Viewer { who };
    let groups = blocking(&shared, |db| admin::list_groups(db))
        .await
        .map_err(|e| super::failed(who, e))?;
    let req = match check(&shared, &groups, &fields) {
        Ok(req) => req,
        Err(problems) => return Ok(refused(&viewer, &groups, &fields, &problems)),
    };
    let ctx = caller.ctx(who, shared.now());
    let store = shared.config.store.clone();
    let made = blocking(&shared, move |db| {
        admin::create_session(db, &store, &ctx, &req, &mut OsRng)
    })
    .await;
    match made {
        Ok(c) => Ok(see_other(&format!("/sessions/{}", c.id))),
        Err(e) => {
            let message = e.message();
            let mut problems = Problems::default();
            problems.add(field_of(&message), message);
            Ok(refused(&viewer, &groups, &fields, &problems))
        }
    }
}
