//! `/drivers`: the stored Windows driver packages, what each matches, and
//! their problems; upload a ZIP (with progress) and remove (admins).
//! A host's page previews what a restore would inject on it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::IntoResponse;

use super::html::{badge, esc, seg};
use super::layout::{page, Viewer};
use super::{act, failed, signed_in, PageResult};
use crate::access::Need;
use crate::admin::drivers::{self, DeviceMatch};
use crate::serve::admin::caller::Caller;
use crate::serve::off_thread::off_thread;
use crate::serve::state::Shared;

pub(super) async fn list(State(shared): State<Arc<Shared>>, caller: Caller) -> PageResult {
    let who = signed_in(&caller)?;
    let viewer = Viewer { who };
    let dir = shared.dirs.drivers();
    let packages = off_thread(move || drivers::list_drivers(&dir))
        .await
        .map_err(|e| failed(who, e))?;
    let admin = viewer.may(Need::Admin);
    let rows: String = packages
        .iter()
        .map(|v| {
            let p = &v.package;
            let class = p.infs.iter().find_map(|i| i.class.clone()).unwrap_or_default();
            let models: usize = p.infs.iter().map(|i| i.models).sum();
            let problems: String = p
                .problems()
                .iter()
                .map(|x| format!("<div class=\"error\">{}</div>", esc(x)))
                .collect();
            let remove = match admin {
                true => format!(
                    "<form class=\"inline\" method=\"post\" action=\"/drivers/{}/remove\">{}\
                     <button class=\"danger\">Remove</button></form>",
                    seg(&p.id.to_hex()),
                    viewer.csrf()
                ),
                false => String::new(),
            };
            format!(
                "<tr><td><code>{}</code></td><td>{}{problems}</td><td>{}</td><td>{}</td><td class=\"num\">{models}</td>\
                 <td class=\"num\">{}</td><td>{}</td><td>{remove}</td></tr>",
                esc(&p.id.short()),
                esc(&p.name),
                esc(&class),
                esc(&p.os.join(", ")),
                super::html::bytes(p.bytes),
                badge(if v.broken { "broken" } else { "ok" }),
            )
        })
        .collect();
    let mut body = match packages.is_empty() {
        true => "<p class=\"muted\">No driver packages.</p>".to_string(),
        false => format!(
            "<table id=\"packages\"><thead><tr><th>ID</th><th>Package</th><th>Class</th><th>For</th>\
             <th class=\"num\">Models</th><th class=\"num\">Size</th><th>State</th><th></th></tr></thead>\
             <tbody>{rows}</tbody></table>"
        ),
    };
    if admin {
        body.push_str(
            "<h2>Upload</h2><form class=\"panel\" id=\"driver-upload\" data-upload=\"/api/v1/admin/drivers\">\
             <label>ZIP of driver packages <span class=\"hint\">every folder holding an .inf is a package</span>\
             <input type=\"file\" name=\"zip\" accept=\".zip,application/zip\" required></label>\
             <label>For Windows <span class=\"hint\">win10-x64, win11-x64, …; several with commas</span>\
             <input name=\"os\" required value=\"win11-x64\"></label>\
             <div class=\"bar\" hidden><div class=\"fill\" style=\"width:0%\"></div></div>\
             <div class=\"bar-label\" data-upload-status></div><button>Upload</button></form>",
        );
    }
    Ok(page("Drivers", "/drivers", Some(&viewer), &body).into_response())
}

pub(super) async fn remove(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(package): Path<String>,
) -> PageResult {
    let dir = shared.dirs.drivers();
    act(&shared, &caller, Need::Admin, "/drivers", move |db, ctx| {
        drivers::remove_drivers(db, ctx, &dir, &[package])
    })
    .await
}

/// What a restore would inject on a host, for one Windows: a table per
/// device that has candidates, and the count of those without.
pub(super) fn preview(matched: &[DeviceMatch]) -> String {
    let with: Vec<&DeviceMatch> = matched
        .iter()
        .filter(|m| !m.candidates.is_empty())
        .collect();
    let mut out = format!(
        "<p class=\"muted\">{} of {} devices have a stored driver.</p>",
        with.len(),
        matched.len()
    );
    if with.is_empty() {
        return out;
    }
    let rows: String = with
        .iter()
        .map(|m| {
            let c = &m.candidates[0];
            format!(
                "<tr><td><code>{}</code></td><td>{} <span class=\"muted\">{}</span></td><td>{}</td></tr>",
                esc(&m.device),
                esc(&c.name),
                esc(&c.inf),
                esc(&c.reason)
            )
        })
        .collect();
    out.push_str(&format!(
        "<table id=\"driver-preview\"><thead><tr><th>Device</th><th>Would inject</th><th>Why</th></tr></thead><tbody>{rows}</tbody></table>"
    ));
    out
}
