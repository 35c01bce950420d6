//! `/images`: every image with its versions and sizes; one version's
//! layout, filesystems, stored size and what it shares with the others,
//! with restore (to a host) and delete.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::IntoResponse;

use super::form::{Fields, Problems};
use super::html::{bytes, esc, seg, time};
use super::layout::{page, Viewer};
use super::{act, blocking, failed, session_form, signed_in, sites, tasks, PageResult};
use crate::access::Need;
use crate::admin;
use crate::serve::admin::caller::Caller;
use crate::serve::off_thread::off_thread;
use crate::serve::state::Shared;

pub(super) async fn list(State(shared): State<Arc<Shared>>, caller: Caller) -> PageResult {
    let who = signed_in(&caller)?;
    let path = shared.config.store.clone();
    let rows = off_thread(move || admin::list_images(&path))
        .await
        .map_err(|e| failed(who, e))?;
    let sites = site_list(&shared).await.map_err(|e| failed(who, e))?;
    let now = shared.now();
    let body = match rows.is_empty() {
        true => "<p class=\"muted\">No images yet: capture a host from its page.</p>".to_string(),
        false => {
            let trs: String = rows
                .iter()
                .map(|r| {
                    format!(
                        "<tr><td><a href=\"/images/{}\">{}</a></td><td class=\"num\">{}</td>\
                         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                         <td>{}</td><td>{}</td><td>{}</td></tr>",
                        seg(&r.name),
                        esc(&r.name),
                        r.versions,
                        bytes(r.logical_bytes),
                        bytes(r.used_bytes),
                        r.chunks,
                        esc(&r.table),
                        sites::origin(&shared, &sites, r.signed_by.as_deref()),
                        time(r.created, now)
                    )
                })
                .collect();
            format!(
                "<table><thead><tr><th>Name</th><th class=\"num\">Versions</th><th class=\"num\">Disk</th>\
                 <th class=\"num\">Used</th><th class=\"num\">Chunks</th><th>Table</th><th>Origin</th><th>Latest</th></tr></thead>\
                 <tbody>{trs}</tbody></table>"
            )
        }
    };
    Ok(page("Images", "/images", Some(&Viewer { who }), &body).into_response())
}

pub(super) async fn show(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(image): Path<String>,
) -> PageResult {
    let who = signed_in(&caller)?;
    let viewer = Viewer { who };
    let path = shared.config.store.clone();
    let reference = image.clone();
    let v = off_thread(move || admin::inspect_image(&path, &reference))
        .await
        .map_err(|e| failed(who, e))?;
    let sites = site_list(&shared).await.map_err(|e| failed(who, e))?;
    let l = &v.layout;
    let signature = match &v.signed_by {
        Some(key) => format!("valid, by <code title=\"{0}\">{0}</code>", esc(key)),
        None => esc(&v.signature),
    };
    let mut body = format!(
        "<dl class=\"facts\"><dt>version</dt><dd><code>{}</code></dd><dt>disk</dt><dd>{} ({:?} table, {}-byte sectors)</dd>\
         <dt>used</dt><dd>{}</dd><dt>stored</dt><dd>{} in {} chunks</dd>\
         <dt>signature</dt><dd>{signature}</dd><dt>origin</dt><dd>{}</dd></dl>",
        esc(&v.image),
        bytes(l.size),
        l.table,
        l.sector_size,
        bytes(v.used_bytes),
        bytes(v.stored_bytes),
        v.unique_chunks,
        sites::origin(&shared, &sites, v.signed_by.as_deref()),
    );
    for w in &l.warnings {
        body.push_str(&format!("<p class=\"problem\">{}</p>", esc(w)));
    }
    body.push_str(&versions(&shared, &viewer, &image, &v, &sites));
    let parts: String = v
        .regions
        .iter()
        .map(|r| {
            let label = match r.partition {
                Some(n) => format!("partition {n}"),
                None => format!("{:?}", r.role).to_lowercase(),
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&label),
                esc(r.fs.name()),
                bytes(r.length),
                bytes(r.data_bytes),
                bytes(r.zero_bytes),
                r.chunks
            )
        })
        .collect();
    body.push_str(&format!(
        "<h2>Layout</h2><table><thead><tr><th>Region</th><th>Filesystem</th><th class=\"num\">Size</th>\
         <th class=\"num\">Data</th><th class=\"num\">Zeros</th><th class=\"num\">Chunks</th></tr></thead>\
         <tbody>{parts}</tbody></table>"
    ));
    body.push_str("<h2>Shared with other images</h2>");
    if v.shared.is_empty() {
        body.push_str("<p class=\"muted\">No chunks shared with other images.</p>");
    } else {
        let trs: String = v
            .shared
            .iter()
            .map(|s| {
                format!(
                    "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    esc(&s.image),
                    s.chunks,
                    bytes(s.stored_bytes)
                )
            })
            .collect();
        body.push_str(&format!(
            "<table><thead><tr><th>Image</th><th class=\"num\">Chunks</th><th class=\"num\">Stored</th></tr></thead><tbody>{trs}</tbody></table>"
        ));
    }
    if viewer.may(Need::Operate) {
        let mut values = Fields::default();
        values.0.insert("kind".into(), "restore".into());
        values.0.insert("image".into(), image.clone());
        body.push_str(&format!(
            "<h2>Restore to a host</h2>{}",
            tasks::form(&viewer, &values, &Problems::default())
        ));
        let groups = blocking(&shared, |db| admin::list_groups(db))
            .await
            .map_err(|e| failed(who, e))?;
        let mut values = Fields::default();
        values.0.insert("image".into(), image.clone());
        body.push_str(&format!(
            "<h2>Restore to a room</h2><p class=\"muted\">One multicast session: every member \
             restores the same stream at once, and none can stall the others.</p>{}",
            session_form::form(&viewer, &groups, &values, &Problems::default())
        ));
    }
    if viewer.may(Need::Admin) {
        body.push_str(&format!(
            "<h2>Delete</h2><form method=\"post\" action=\"/images/{}/delete\">{}\
             <button class=\"danger\" id=\"delete-image\">Delete {}</button></form>\
             <p class=\"muted\">Its chunks go at the next <code>marrow store gc</code> unless another image uses them.</p>",
            seg(&image),
            viewer.csrf(),
            esc(&image)
        ));
    }
    Ok(page(&format!("Image {image}"), "/images", Some(&viewer), &body).into_response())
}

pub(super) async fn delete(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(image): Path<String>,
) -> PageResult {
    let path = shared.config.store.clone();
    act(&shared, &caller, Need::Admin, "/images", move |db, ctx| {
        admin::delete_image(db, ctx, &path, &image)
    })
    .await
}

/// The upstream sites, to name where an image came from.
async fn site_list(shared: &Arc<Shared>) -> crate::error::Result<Vec<admin::views::SiteView>> {
    let dirs = shared.dirs.clone();
    shared.db.call(move |db| admin::list_sites(db, &dirs)).await
}

/// Every version of the image's name: each one's page, its origin, and
/// (for admins) its own delete.
fn versions(
    shared: &Shared,
    viewer: &Viewer<'_>,
    image: &str,
    v: &admin::views::ImageInspect,
    sites_known: &[admin::views::SiteView],
) -> String {
    let name = image.split('@').next().unwrap_or(image);
    let now = shared.now();
    let rows: String = v
        .versions
        .iter()
        .rev()
        .map(|ver| {
            let short = &ver.id[..12.min(ver.id.len())];
            let reference = format!("{name}@{short}");
            let here = if ver.id == v.image { " (this one)" } else { "" };
            let delete = match viewer.may(Need::Admin) {
                true => format!(
                    "<form class=\"inline\" method=\"post\" action=\"/images/{}/delete\">{}\
                     <button class=\"danger small\">Delete</button></form>",
                    seg(&reference),
                    viewer.csrf()
                ),
                false => String::new(),
            };
            format!(
                "<tr><td><a href=\"/images/{}\"><code>{}</code></a>{here}</td><td>{}</td><td>{}</td><td>{delete}</td></tr>",
                seg(&reference),
                esc(short),
                time(ver.created, now),
                sites::origin(shared, sites_known, ver.signed_by.as_deref()),
            )
        })
        .collect();
    format!(
        "<h2>Versions</h2><table id=\"versions\"><thead><tr><th>Version</th><th>Made</th><th>Origin</th><th></th></tr></thead>\
         <tbody>{rows}</tbody></table>"
    )
}
