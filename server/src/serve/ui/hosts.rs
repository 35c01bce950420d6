//! `/hosts`: hosts by group (room) with their current task and last boot;
//! one host's inventory (DMI, disks, NICs, PCI and USB ids), task history
//! and the drivers a restore would inject, with capture/restore, wake and
//! name/group edits.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::IntoResponse;
use marrow_protocol::MacAddr;
use serde_json::Value;

use super::form::{Fields, Problems};
use super::html::{badge, bytes, esc, seg, task_bar, time, time_opt};
use super::layout::{page, Viewer};
use super::{act, allowed, blocking, failed, signed_in, tasks, PageResult};
use crate::access::Need;
use crate::admin::{self, requests::AddHost, requests::WakeRequest, views::HostView};
use crate::serve::admin::caller::Caller;
use crate::serve::state::Shared;

pub(super) async fn list(State(shared): State<Arc<Shared>>, caller: Caller) -> PageResult {
    let who = signed_in(&caller)?;
    let (hosts, all_tasks) = blocking(&shared, |db| {
        Ok((admin::list_hosts(db)?, admin::list_tasks(db)?))
    })
    .await
    .map_err(|e| failed(who, e))?;
    let now = shared.now();
    let mut groups: std::collections::BTreeMap<String, Vec<&HostView>> = Default::default();
    for h in &hosts {
        groups
            .entry(h.group.clone().unwrap_or_default())
            .or_default()
            .push(h);
    }
    let mut body = String::from("<div data-live data-live-tasks>");
    if hosts.is_empty() {
        body.push_str(
            "<p class=\"muted\">No hosts yet. A machine that PXE-boots on a served interface \
             appears here; or register one with <code>marrow host add MAC --name NAME</code>.</p>",
        );
    }
    for (group, members) in &groups {
        let title = match group.as_str() {
            "" => "Not in a group".to_string(),
            g => format!("Group {}", esc(g)),
        };
        body.push_str(&format!(
            "<h2>{title} <span class=\"muted\">({})</span></h2><table><thead><tr><th>Host</th>\
             <th>MAC</th><th>Arch</th><th>Last boot</th><th>Task</th><th>Progress</th></tr></thead><tbody>",
            members.len()
        ));
        for h in members {
            let task = all_tasks.iter().rev().find(|t| t.host == h.mac);
            let (task_cell, bar, attrs) = match task {
                Some(t) => (
                    format!(
                        "<a href=\"/tasks/{}\">{} {}</a> {}",
                        t.id,
                        esc(&t.kind),
                        t.id,
                        badge(&t.state)
                    ),
                    task_bar(t.progress.as_ref(), &t.state),
                    format!(
                        " data-task=\"{}\" data-task-state=\"{}\"",
                        t.id,
                        esc(&t.state)
                    ),
                ),
                None => ("–".into(), String::new(), String::new()),
            };
            body.push_str(&format!(
                "<tr{attrs}><td><a href=\"/hosts/{}\">{}</a></td><td><code>{}</code></td><td>{}</td>\
                 <td>{}</td><td>{task_cell}</td><td>{bar}</td></tr>",
                seg(&h.mac),
                esc(h.name.as_deref().unwrap_or("(no name)")),
                esc(&h.mac),
                esc(h.arch.as_deref().unwrap_or("–")),
                time_opt(h.last_boot, now),
            ));
        }
        body.push_str("</tbody></table>");
    }
    body.push_str("</div>");
    Ok(page("Hosts", "/hosts", Some(&Viewer { who }), &body).into_response())
}

fn dl(rows: &[(&str, String)]) -> String {
    let items: String = rows
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("<dt>{}</dt><dd>{}</dd>", esc(k), esc(v)))
        .collect();
    format!("<dl class=\"facts\">{items}</dl>")
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

/// The inventory the client last reported, as tables.
fn inventory_html(inv: &Value, at: i64, now: i64) -> String {
    let d = &inv["dmi"];
    let mut out = format!(
        "<h2>Inventory <span class=\"muted\">reported {}</span></h2>",
        time(at, now)
    );
    out.push_str(&dl(&[
        ("vendor", s(&d["sys_vendor"])),
        ("product", s(&d["product_name"])),
        ("serial", s(&d["product_serial"])),
        ("UUID", s(&d["product_uuid"])),
        (
            "board",
            format!("{} {}", s(&d["board_vendor"]), s(&d["board_name"]))
                .trim()
                .to_string(),
        ),
        (
            "BIOS",
            format!("{} {}", s(&d["bios_vendor"]), s(&d["bios_version"]))
                .trim()
                .to_string(),
        ),
        ("CPU", s(&inv["cpu"]["model"])),
        (
            "memory",
            inv["memory_bytes"].as_u64().map(bytes).unwrap_or_default(),
        ),
        ("firmware", firmware(&inv["firmware"])),
    ]));
    let rows = |v: &Value, f: &dyn Fn(&Value) -> String| -> String {
        v.as_array()
            .map(|a| a.iter().map(f).collect())
            .unwrap_or_default()
    };
    out.push_str(&format!(
        "<h2>Disks</h2><table><thead><tr><th>Name</th><th>Size</th><th>Model</th><th>Serial</th><th>Kind</th></tr></thead><tbody>{}</tbody></table>",
        rows(&inv["disks"], &|x| format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s(&x["name"])),
            bytes(x["size_bytes"].as_u64().unwrap_or(0)),
            esc(&s(&x["model"])),
            esc(&s(&x["serial"])),
            match (x["usb"].as_bool(), x["rotational"].as_bool()) {
                (Some(true), _) => "USB",
                (_, Some(true)) => "spinning",
                _ => "solid state",
            }
        ))
    ));
    out.push_str(&format!(
        "<h2>Network</h2><table><thead><tr><th>Name</th><th>MAC</th><th>Driver</th><th>Speed</th></tr></thead><tbody>{}</tbody></table>",
        rows(&inv["nics"], &|x| format!(
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(&s(&x["name"])),
            esc(&s(&x["mac"])),
            esc(&s(&x["driver"])),
            x["speed_mbps"].as_u64().map(|m| format!("{m} Mbit/s")).unwrap_or_else(|| "–".into())
        ))
    ));
    out.push_str(&format!(
        "<h2>PCI devices</h2><table><thead><tr><th>Slot</th><th>ID</th><th>Class</th><th>Driver</th></tr></thead><tbody>{}</tbody></table>",
        rows(&inv["pci"], &|x| format!(
            "<tr><td>{}</td><td><code>{}:{} {}:{}</code></td><td><code>{}</code></td><td>{}</td></tr>",
            esc(&s(&x["slot"])),
            esc(&s(&x["vendor"])),
            esc(&s(&x["device"])),
            esc(&s(&x["subsystem_vendor"])),
            esc(&s(&x["subsystem_device"])),
            esc(&s(&x["class"])),
            esc(&s(&x["driver"]))
        ))
    ));
    let usb = rows(&inv["usb"], &|x| {
        format!(
            "<tr><td>{}</td><td><code>{}:{}</code></td><td>{}</td></tr>",
            esc(&s(&x["path"])),
            esc(&s(&x["vendor"])),
            esc(&s(&x["product"])),
            esc(format!("{} {}", s(&x["manufacturer"]), s(&x["product_name"])).trim())
        )
    });
    if !usb.is_empty() {
        out.push_str(&format!(
            "<h2>USB devices</h2><table><thead><tr><th>Path</th><th>ID</th><th>Name</th></tr></thead><tbody>{usb}</tbody></table>"
        ));
    }
    out
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct ShowQuery {
    /// Preview the drivers a restore would inject for this Windows.
    os: Option<String>,
}

pub(super) async fn show(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(mac): Path<String>,
    RawQuery(q): RawQuery,
) -> PageResult {
    let q: ShowQuery = serde_urlencoded::from_str(q.as_deref().unwrap_or("")).unwrap_or_default();
    let who = signed_in(&caller)?;
    let viewer = Viewer { who };
    let parsed: MacAddr = mac.parse().map_err(|e: marrow_protocol::MacParseError| {
        failed(who, crate::error::Error::Usage(e.to_string()))
    })?;
    let (host, inventory, history) = blocking(&shared, move |db| {
        let host = db
            .hosts()
            .get(parsed)?
            .ok_or_else(|| crate::error::Error::NotFound(format!("no host {parsed}")))?;
        let inventory = db.hosts().inventory(parsed)?;
        let history: Vec<_> = admin::list_tasks(db)?
            .into_iter()
            .filter(|t| t.host == parsed.to_string())
            .rev()
            .collect();
        Ok((HostView::from(&host), inventory, history))
    })
    .await
    .map_err(|e| failed(who, e))?;
    let now = shared.now();
    let title = host.name.clone().unwrap_or_else(|| host.mac.clone());
    let mut body = dl(&[
        ("MAC", host.mac.clone()),
        ("name", host.name.clone().unwrap_or_default()),
        ("group", host.group.clone().unwrap_or_default()),
        ("firmware", host.arch.clone().unwrap_or_default()),
        ("address", host.ip.clone().unwrap_or_default()),
    ]);
    body.push_str(&format!(
        "<p class=\"muted\">Last PXE boot {}</p>",
        time_opt(host.last_boot, now)
    ));
    if viewer.may(Need::Operate) {
        let mut values = Fields::default();
        values.0.insert("host".into(), host.mac.clone());
        body.push_str(&format!(
            "<div class=\"grid2\"><div><h2>Capture or restore</h2>{}</div><div>",
            tasks::form(&viewer, &values, &Problems::default())
        ));
        body.push_str(&format!(
            "<h2>Wake</h2><form method=\"post\" action=\"/hosts/{}/wake\">{}<button id=\"wake\">Send Wake-on-LAN</button></form>",
            seg(&host.mac),
            viewer.csrf()
        ));
        if viewer.may(Need::Admin) {
            body.push_str(&format!(
                "<h2>Name and group</h2><form class=\"panel\" method=\"post\" action=\"/hosts/{}\">{}\
                 <label>Name <input name=\"name\" value=\"{}\" required></label>\
                 <label>Group <span class=\"hint\">empty: none</span><input name=\"group\" value=\"{}\"></label>\
                 <button id=\"save-host\">Save</button></form>",
                seg(&host.mac),
                viewer.csrf(),
                esc(host.name.as_deref().unwrap_or("")),
                esc(host.group.as_deref().unwrap_or(""))
            ));
        }
        body.push_str("</div></div>");
    }
    body.push_str(&format!(
        "<h2>Tasks</h2><div data-live data-live-tasks>{}</div>",
        tasks::table(&history, now)
    ));
    if let Some((text, _)) = &inventory {
        let os = q.os.clone().filter(|o| !o.trim().is_empty());
        body.push_str(&format!(
            "<h2>Drivers a restore would inject</h2><form method=\"get\" action=\"/hosts/{}\">\
             <label>For Windows <input name=\"os\" value=\"{}\" placeholder=\"win11-x64\"></label> \
             <button>Preview</button></form>",
            seg(&host.mac),
            esc(os.as_deref().unwrap_or(""))
        ));
        if let Some(os) = os {
            let (dir, text) = (shared.dirs.drivers(), text.clone());
            let matched = tokio::task::spawn_blocking(move || {
                let target: driver_store::TargetOs = os.parse()?;
                let devices = driver_store::devices_from_inventory(&text)?;
                admin::drivers::match_drivers(&dir, &devices, &target)
            })
            .await;
            match matched {
                Ok(Ok(m)) => body.push_str(&super::drivers::preview(&m)),
                Ok(Err(e)) => body.push_str(&format!(
                    "<p class=\"field-error\" data-error-for=\"os\">{}</p>",
                    esc(&e.to_string())
                )),
                Err(e) => {
                    body.push_str(&format!("<p class=\"problem\">{}</p>", esc(&e.to_string())))
                }
            }
        }
    }
    match &inventory {
        Some((text, at)) => {
            let inv: Value = serde_json::from_str(text).unwrap_or_default();
            body.push_str(&inventory_html(&inv, *at, now));
        }
        None => body.push_str(
            "<h2>Inventory</h2><p class=\"muted\">Not reported yet: the Marrow client reports it each time it boots on the machine.</p>",
        ),
    }
    Ok(page(&title, "/hosts", Some(&viewer), &body).into_response())
}

/// Renames a host or moves it to another group.
pub(super) async fn edit(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(mac): Path<String>,
    fields: Fields,
) -> PageResult {
    let req = AddHost {
        mac: mac.clone(),
        name: Some(fields.get("name").unwrap_or_default()),
        rename: true,
        group: Some(fields.get("group").unwrap_or_default()),
        uefi_boot: None,
    };
    let to = format!("/hosts/{}", seg(&mac));
    act(&shared, &caller, Need::Admin, &to, move |db, ctx| {
        admin::add_host(db, ctx, &req)
    })
    .await
}

pub(super) async fn wake(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(mac): Path<String>,
) -> PageResult {
    let who = allowed(&caller, Need::Operate)?;
    let ctx = caller.ctx(who, shared.now());
    let iface = shared.wake_iface.clone();
    let sent = blocking(&shared, move |db| {
        let iface = iface.ok_or_else(|| {
            crate::error::Error::Usage("no interface to send Wake-on-LAN on".into())
        })?;
        admin::wake_hosts(
            db,
            &ctx,
            &iface,
            &WakeRequest {
                hosts: vec![mac],
                group: None,
            },
        )
    })
    .await
    .map_err(|e| failed(who, e))?;
    let viewer = Viewer { who };
    let body = format!(
        "<p class=\"notice\">Magic packets sent to {} host(s) on {} ({}).</p>",
        sent.hosts.len(),
        esc(&sent.interface),
        esc(&sent.broadcast)
    );
    Ok(page("Woken", "/hosts", Some(&viewer), &body).into_response())
}

/// `UEFI, Secure Boot on, lockdown integrity`, from the client's report;
/// empty for reports that predate it.
fn firmware(f: &Value) -> String {
    if f.is_null() {
        return String::new();
    }
    let mode = if f["uefi"].as_bool() == Some(true) {
        "UEFI"
    } else {
        "BIOS"
    };
    let secure = match f["secure_boot"].as_bool() {
        Some(true) => "Secure Boot on",
        Some(false) => "Secure Boot off",
        None => "Secure Boot unknown",
    };
    match f["lockdown"].as_str() {
        Some(l) => format!("{mode}, {secure}, lockdown {l}"),
        None => format!("{mode}, {secure}"),
    }
}
