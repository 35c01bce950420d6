//! `/tasks`: every task with live bars; one task's progress, error and
//! report; the form that makes a capture or restore (from a host's or an
//! image's page), cancel and retry.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use image_format::catalog::ImageRef;
use marrow_protocol::disk_rule::DiskRule;

use super::form::{text_input, Fields, Problems};
use super::html::{badge, esc, seg, task_bar, time};
use super::layout::{page, Viewer};
use super::{act, allowed, blocking, failed, see_other, signed_in, PageResult};
use crate::access::Need;
use crate::admin::{self, requests::NewTaskRequest, views::TaskView};
use crate::serve::admin::caller::Caller;
use crate::serve::state::Shared;
use crate::tasks::OsRng;

/// A task's row in a listing, live.
pub(super) fn row(t: &TaskView, now: i64) -> String {
    format!(
        "<tr data-task=\"{id}\" data-task-state=\"{state}\"><td><a href=\"/tasks/{id}\">{id}</a></td>\
         <td>{kind}</td><td><a href=\"/hosts/{hseg}\">{host}</a></td><td>{image}</td><td>{badge}</td>\
         <td>{bar}</td><td>{when}</td></tr>",
        id = t.id,
        state = esc(&t.state),
        kind = esc(&t.kind),
        hseg = seg(&t.host),
        host = esc(&t.host),
        image = esc(&t.image),
        badge = badge(&t.state),
        bar = task_bar(t.progress.as_ref(), &t.state),
        when = time(t.updated, now),
    )
}

pub(super) fn table(tasks: &[TaskView], now: i64) -> String {
    if tasks.is_empty() {
        return "<p class=\"muted\">No tasks.</p>".into();
    }
    let rows: String = tasks.iter().map(|t| row(t, now)).collect();
    format!(
        "<table><thead><tr><th>ID</th><th>Kind</th><th>Host</th><th>Image</th><th>State</th>\
         <th>Progress</th><th>Updated</th></tr></thead><tbody>{rows}</tbody></table>"
    )
}

pub(super) async fn list(State(shared): State<Arc<Shared>>, caller: Caller) -> PageResult {
    let who = signed_in(&caller)?;
    let mut tasks = blocking(&shared, |db| admin::list_tasks(db))
        .await
        .map_err(|e| failed(who, e))?;
    tasks.reverse();
    let body = format!(
        "<div data-live data-live-tasks>{}</div>",
        table(&tasks, shared.now())
    );
    Ok(page("Tasks", "/tasks", Some(&Viewer { who }), &body).into_response())
}

/// The new-task form, filled with `values`, showing `problems`.
pub(super) fn form(viewer: &Viewer<'_>, values: &Fields, problems: &Problems) -> String {
    let v = |k: &str| values.get(k);
    let kind = v("kind").unwrap_or_else(|| "restore".into());
    let opt = |value: &str, label: &str, current: &str| {
        let sel = if value == current { " selected" } else { "" };
        format!("<option value=\"{value}\"{sel}>{label}</option>")
    };
    let check = |name: &str, label: &str| {
        let on = if values.checked(name) { " checked" } else { "" };
        format!(
            "<label class=\"check\"><input type=\"checkbox\" name=\"{name}\"{on}> {label}</label>"
        )
    };
    format!(
        "<form class=\"panel\" method=\"post\" action=\"/tasks\" id=\"task-form\">{csrf}{top}\
         <label>Kind <select name=\"kind\">{cap}{res}</select></label>\
         {host}{image}{disk}{drivers}{hostname}{script}\
         <label>When it ends <select name=\"after\">{reboot}{off}</select></label>\
         {grow}{wake}{token}<button id=\"make-task\">Make the task</button></form>",
        csrf = viewer.csrf(),
        top = problems.top(),
        cap = opt("capture", "Capture the host's disk into the image", &kind),
        res = opt("restore", "Restore the image onto the host", &kind),
        host = text_input(
            "host",
            "Host",
            "MAC or registered name",
            v("host").as_deref(),
            problems
        ),
        image = text_input(
            "image",
            "Image",
            "NAME, or NAME@ID for a restore",
            v("image").as_deref(),
            problems
        ),
        disk = text_input(
            "disk",
            "Disk rule",
            "serial=S, wwn=W, name=sda or size=MIN-MAX; empty: the only internal disk",
            v("disk").as_deref(),
            problems
        ),
        drivers = text_input(
            "inject_drivers",
            "Inject drivers for",
            "restore: win10-x64, win11-x64, …; empty: none",
            v("inject_drivers").as_deref(),
            problems
        ),
        hostname = text_input(
            "hostname",
            "Hostname",
            "restore: a name, or {host}, {mac}, {group}, {n}",
            v("hostname").as_deref(),
            problems
        ),
        script = text_input(
            "post_script",
            "Post-deploy script",
            "restore: a script from `marrow script add`",
            v("post_script").as_deref(),
            problems
        ),
        reboot = opt(
            "reboot",
            "reboot",
            v("after").as_deref().unwrap_or("reboot")
        ),
        off = opt(
            "poweroff",
            "power off",
            v("after").as_deref().unwrap_or("reboot")
        ),
        grow = check(
            "grow_last_partition",
            "Grow the last partition to the end of a larger disk (restore)"
        ),
        wake = check("wake", "Wake the host now (Wake-on-LAN)"),
        token = check(
            "show_token",
            "Show the one-time token, to run the client by hand"
        ),
    )
}

/// The request the form asks for, or what is wrong with it, field by field.
fn check(shared: &Shared, fields: &Fields) -> Result<NewTaskRequest, Problems> {
    let mut p = Problems::default();
    let kind = fields.get("kind").unwrap_or_default();
    if kind != "capture" && kind != "restore" {
        p.add("kind", "choose capture or restore");
    }
    let host = fields.get("host").unwrap_or_default();
    if host.is_empty() {
        p.add("host", "give the host's MAC or registered name");
    }
    let image = fields.get("image").unwrap_or_default();
    match ImageRef::parse(&image) {
        Err(e) => p.add("image", e.to_string()),
        Ok(r) if kind == "restore" => {
            let known = admin::list_images(&shared.config.store)
                .map(|rows| rows.iter().any(|row| row.name == r.name))
                .unwrap_or(false);
            if !known {
                p.add("image", format!("no image {:?} in the store", r.name));
            }
        }
        Ok(_) => {}
    }
    if let Some(rule) = fields.get("disk") {
        if let Err(e) = DiskRule::parse(&rule) {
            p.add("disk", e.to_string());
        }
    }
    if let Some(os) = fields.get("inject_drivers") {
        if let Err(e) = os.parse::<driver_store::TargetOs>() {
            p.add("inject_drivers", e.to_string());
        }
    }
    if let Some(pattern) = fields.get("hostname") {
        if let Err(e) = crate::tasks::hostname::check_pattern(&pattern) {
            p.add("hostname", e.to_string());
        }
    }
    if kind == "capture" {
        for (f, what) in [
            ("inject_drivers", "driver injection"),
            ("hostname", "a hostname"),
            ("post_script", "a post-deploy script"),
        ] {
            if fields.get(f).is_some() {
                p.add(f, format!("{what} is for restores only"));
            }
        }
    }
    if !p.is_empty() {
        return Err(p);
    }
    Ok(NewTaskRequest {
        kind,
        host,
        image,
        disk: fields.get("disk"),
        grow_last_partition: fields.checked("grow_last_partition"),
        inject_drivers: fields.get("inject_drivers"),
        after: fields.get("after"),
        show_token: fields.checked("show_token"),
        wake: fields.checked("wake"),
        hostname: fields.get("hostname"),
        post_script: fields.get("post_script"),
    })
}

/// Which field an operation's error is about, by what it names.
fn field_of(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.contains("post-deploy script") {
        "post_script"
    } else if m.contains("hostname") {
        "hostname"
    } else if m.contains("no host") || m.contains("already has task") || m.contains("broadcast") {
        "host"
    } else if m.contains("image") {
        "image"
    } else {
        ""
    }
}

pub(super) async fn create(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    fields: Fields,
) -> PageResult {
    let who = allowed(&caller, Need::Operate)?;
    let viewer = Viewer { who };
    let req = match check(&shared, &fields) {
        Ok(req) => req,
        Err(problems) => {
            let body = form(&viewer, &fields, &problems);
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                page("New task", "/tasks", Some(&viewer), &body),
            )
                .into_response());
        }
    };
    let ctx = caller.ctx(who, shared.now());
    let (store, iface) = (shared.config.store.clone(), shared.wake_iface.clone());
    let made = blocking(&shared, move |db| {
        admin::create_task_and_wake(db, &store, &ctx, &req, iface.as_ref(), &mut OsRng)
    })
    .await;
    match made {
        Ok(c) => match &c.token {
            Some(token) => {
                let body = format!(
                    "<p class=\"notice\">Task <a href=\"/tasks/{id}\">{id}</a> is made.</p>\
                     <p>Its one-time token, shown this once:</p><pre id=\"task-token\">{}</pre>\
                     <p class=\"muted\">marrow-client capture|restore --server URL --token TOKEN --disk PATH</p>",
                    esc(token),
                    id = c.id
                );
                Ok(page("Task made", "/tasks", Some(&viewer), &body).into_response())
            }
            None => Ok(see_other(&format!("/tasks/{}", c.id))),
        },
        Err(e) => {
            let message = e.message();
            let mut problems = Problems::default();
            problems.add(field_of(&message), message);
            let body = form(&viewer, &fields, &problems);
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                page("New task", "/tasks", Some(&viewer), &body),
            )
                .into_response())
        }
    }
}

/// The fields that make the same task again.
fn retry_form(viewer: &Viewer<'_>, t: &TaskView) -> String {
    let hidden = |k: &str, v: Option<&str>| match v {
        Some(v) => format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(v)),
        None => String::new(),
    };
    // A restore pinned to the manifest it first resolved stays on it.
    let image = match (&t.manifest, t.kind.as_str()) {
        (Some(m), "restore") if !t.image.contains('@') => format!("{}@{m}", t.image),
        _ => t.image.clone(),
    };
    format!(
        "<form class=\"inline\" method=\"post\" action=\"/tasks\">{}{}{}{}{}{}{}{}{}{}\
         <button id=\"retry\">Retry</button></form>",
        viewer.csrf(),
        hidden("kind", Some(&t.kind)),
        hidden("host", Some(&t.host)),
        hidden("image", Some(&image)),
        hidden("disk", t.disk.as_deref()),
        hidden("inject_drivers", t.inject_drivers.as_deref()),
        hidden("after", Some(&t.after)),
        hidden("post_script", t.post_script.as_deref()),
        hidden("hostname", t.hostname.as_deref()),
        if t.grow_last_partition {
            "<input type=\"hidden\" name=\"grow_last_partition\" value=\"on\">"
        } else {
            ""
        }
    )
}

fn report_html(t: &TaskView) -> String {
    let Some(r) = &t.report else {
        return String::new();
    };
    let n = |k: &str| r[k].as_u64().unwrap_or(0);
    let mut out = String::from("<h2>Report</h2><dl class=\"facts\" id=\"report\">");
    let mut fact = |k: &str, v: String| {
        out.push_str(&format!("<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v)));
    };
    if let Some(id) = r["image_id"].as_str() {
        fact("image id", id.to_string());
    }
    fact(
        "time",
        format!("{:.1} s", r["seconds"].as_f64().unwrap_or(0.0)),
    );
    match t.kind.as_str() {
        "capture" => {
            fact("read", super::html::bytes(n("read_bytes")));
            fact(
                "uploaded",
                format!(
                    "{} in {} chunks",
                    super::html::bytes(n("uploaded_bytes")),
                    n("uploaded_chunks")
                ),
            );
            fact(
                "already on the server",
                format!("{} chunks", n("known_chunks")),
            );
        }
        _ => {
            fact("written", super::html::bytes(n("written_bytes")));
            fact("already in place", super::html::bytes(n("skipped_bytes")));
            fact(
                "fetched",
                format!(
                    "{} in {} chunks, each verified",
                    super::html::bytes(n("fetched_bytes")),
                    n("fetched_chunks")
                ),
            );
        }
    }
    if let Some(h) = r["hostname"]["name"].as_str() {
        fact("hostname", h.to_string());
    }
    if let Some(s) = r["post_script"].as_object() {
        fact(
            "post-deploy script",
            format!(
                "{} {}",
                s.get("name").and_then(|v| v.as_str()).unwrap_or(""),
                s.get("status").and_then(|v| v.as_str()).unwrap_or("")
            ),
        );
    }
    out.push_str("</dl>");
    if let Some(o) = r["post_script"]["output"].as_str() {
        out.push_str(&format!("<h2>Script output</h2><pre>{}</pre>", esc(o)));
    }
    out.push_str(&format!(
        "<details><summary>The whole report</summary><pre>{}</pre></details>",
        esc(&serde_json::to_string_pretty(r).unwrap_or_default())
    ));
    out
}

pub(super) async fn show(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> PageResult {
    let who = signed_in(&caller)?;
    let viewer = Viewer { who };
    let t = blocking(&shared, move |db| admin::get_task(db, id))
        .await
        .map_err(|e| failed(who, e))?;
    let now = shared.now();
    let active = matches!(t.state.as_str(), "pending" | "running");
    let mut actions = String::new();
    if viewer.may(Need::Operate) {
        if active {
            actions.push_str(&format!(
                "<form class=\"inline\" method=\"post\" action=\"/tasks/{}/cancel\">{}\
                 <button class=\"danger\" id=\"cancel\">Cancel</button></form>",
                t.id,
                viewer.csrf()
            ));
        } else if t.state != "done" {
            actions.push_str(&retry_form(&viewer, &t));
        }
    }
    let error = match &t.error {
        Some(e) => format!("<p class=\"problem\" id=\"task-error\">{}</p>", esc(e)),
        None => String::new(),
    };
    let opt = |v: &Option<String>| v.as_deref().map_or("–".to_string(), esc);
    let body = format!(
        "<div data-live data-task=\"{id}\" data-task-state=\"{state}\" data-reload-on-end id=\"task\">\
         <p>{badge} {actions}</p>{bar}</div>{error}\
         <dl class=\"facts\"><dt>kind</dt><dd>{kind}</dd><dt>host</dt><dd><a href=\"/hosts/{hseg}\">{host}</a></dd>\
         <dt>image</dt><dd>{image}</dd><dt>manifest</dt><dd>{manifest}</dd><dt>disk rule</dt><dd>{disk}</dd>\
         <dt>drivers</dt><dd>{drivers}</dd><dt>hostname</dt><dd>{hostname}</dd><dt>script</dt><dd>{script}</dd>\
         <dt>then</dt><dd>{after}</dd><dt>session</dt><dd>{session}</dd>\
         <dt>made</dt><dd>{made}</dd><dt>updated</dt><dd>{updated}</dd></dl>{report}",
        id = t.id,
        state = esc(&t.state),
        badge = badge(&t.state),
        bar = task_bar(t.progress.as_ref(), &t.state),
        kind = esc(&t.kind),
        hseg = seg(&t.host),
        host = esc(&t.host),
        image = esc(&t.image),
        manifest = opt(&t.manifest),
        disk = opt(&t.disk),
        drivers = opt(&t.inject_drivers),
        hostname = opt(&t.hostname),
        script = opt(&t.post_script),
        after = esc(&t.after),
        session = t
            .session
            .map_or("–".to_string(), |s| format!("<a href=\"/sessions/{s}\">{s}</a>")),
        made = time(t.created, now),
        updated = time(t.updated, now),
        report = report_html(&t),
    );
    Ok(page(&format!("Task {}", t.id), "/tasks", Some(&viewer), &body).into_response())
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
        &format!("/tasks/{id}"),
        move |db, ctx| admin::cancel_task(db, ctx, id),
    )
    .await
}
