//! `/api/v1/admin/drivers`: list, upload (a ZIP of packages), remove, and
//! match devices. Admins change the store; anyone signed in may look.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use driver_store::{Device, PciDevice, TargetOs, UsbDevice};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;

use super::caller::Caller;
use super::page::{self, Page, PageQuery};
use crate::access::Need;
use crate::admin::drivers::{self, DeviceMatch, ImportedView, PackageView};
use crate::serve::api_error::{ApiError, ApiResult, ErrorBody};
use crate::serve::body::{json_body, Small};
use crate::serve::off_thread::off_thread;
use crate::serve::state::Shared;

/// The largest ZIP an upload may send: vendor driver bundles run to a few
/// hundred MiB.
pub const UPLOAD_LIMIT: u64 = 1 << 30;

#[utoipa::path(get, path = "/api/v1/admin/drivers", tag = "drivers", params(PageQuery),
    responses((status = 200, body = Page<PackageView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<PackageView>>> {
    caller.require(Need::Read)?;
    let q: PageQuery = page::query(q.as_deref())?;
    let dir = shared.dirs.drivers();
    let all = off_thread(move || drivers::list_drivers(&dir)).await?;
    Ok(Json(Page::of(all, &q)?))
}

/// `?os=win11-x64&os=win10-x64&name=FILE.zip`.
fn upload_query(q: Option<&str>) -> ApiResult<(Vec<String>, String)> {
    let mut os = Vec::new();
    let mut name = "upload.zip".to_string();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("query: {e}")))?;
    for (k, v) in pairs {
        match k.as_str() {
            "os" => os.extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_string)),
            "name" => name = v,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown query parameter {other:?}; use os and name"
                )))
            }
        }
    }
    if os.is_empty() {
        return Err(ApiError::BadRequest(
            "name the Windows the packages are for: ?os=win11-x64".into(),
        ));
    }
    // Only the file's own name, for the audit log and the temporary
    // file (whose path the store records as the packages' source).
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    let name = if name.is_empty() || name.starts_with('.') {
        "upload.zip".to_string()
    } else {
        name
    };
    Ok((os, name))
}

/// Imports the packages of a ZIP file sent as the body.
#[utoipa::path(post, path = "/api/v1/admin/drivers", tag = "drivers",
    params(("os" = String, Query, description = "Windows the packages are for, repeatable: win11-x64"),
        ("name" = Option<String>, Query, description = "the ZIP's file name, recorded as the source")),
    request_body(content = Vec<u8>, content_type = "application/zip"),
    responses((status = 201, body = Vec<ImportedView>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody)))]
pub(crate) async fn add(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(q): RawQuery,
    body: Body,
) -> ApiResult<(StatusCode, Json<Vec<ImportedView>>)> {
    let who = caller.require(Need::Admin)?;
    let (os, name) = upload_query(q.as_deref())?;
    for o in &os {
        o.parse::<TargetOs>()
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    }
    let work = tempfile::Builder::new()
        .prefix("upload-")
        .tempdir_in(shared.dirs.root())
        .map_err(|e| ApiError::Internal(format!("{}: {e}", shared.dirs.root().display())))?;
    let path = work.path().join(&name);
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
    let mut stream = body.into_data_stream();
    let mut got = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("request body: {e}")))?;
        got += chunk.len() as u64;
        if got > UPLOAD_LIMIT {
            return Err(ApiError::TooLarge(format!(
                "request body is over the {UPLOAD_LIMIT}-byte limit"
            )));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
    }
    file.flush()
        .await
        .map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
    drop(file);
    let ctx = caller.ctx(who, shared.now());
    let dir = shared.dirs.drivers();
    let os2 = os.clone();
    // Off the database's lock: unpacking and hashing a large ZIP takes a while.
    let result = tokio::task::spawn_blocking(move || {
        let r = drivers::import_drivers(&dir, &[path], &os2, &driver_store::Quiet);
        drop(work);
        r
    })
    .await
    .map_err(|e| ApiError::Internal(format!("worker: {e}")))?;
    let outcome = result.as_ref().map(Vec::len).map_err(ToString::to_string);
    let sources = vec![name];
    shared
        .db
        .call(move |db| drivers::record_add(db, &ctx, &sources, &os, &outcome))
        .await?;
    Ok((StatusCode::CREATED, Json(result?)))
}

/// Removes a package by id, unique id prefix or name.
#[utoipa::path(delete, path = "/api/v1/admin/drivers/{package}", tag = "drivers",
    params(("package" = String, Path, description = "package id, id prefix or name")),
    responses((status = 200, body = Vec<Object>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn remove(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(package): Path<String>,
) -> ApiResult<Json<Vec<driver_store::PackageInfo>>> {
    let who = caller.require(Need::Admin)?;
    let ctx = caller.ctx(who, shared.now());
    let dir = shared.dirs.drivers();
    Ok(Json(
        shared
            .db
            .call(move |db| drivers::remove_drivers(db, &ctx, &dir, &[package]))
            .await?,
    ))
}

/// What `marrow drivers match` takes.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct MatchRequest {
    /// `win11-x64`, …
    os: String,
    /// `VVVV:DDDD[:SSSS:ssss][@RR][/CCSSPP]`
    #[serde(default)]
    pci: Vec<String>,
    /// `VVVV:PPPP[@RRRR][/CCSSPP]`
    #[serde(default)]
    usb: Vec<String>,
    /// A registered host whose reported inventory to use.
    #[serde(default)]
    host: Option<String>,
}

/// Ranks the stored drivers for the devices given, or a host's.
#[utoipa::path(post, path = "/api/v1/admin/drivers/match", tag = "drivers",
    request_body = MatchRequest,
    responses((status = 200, body = Vec<DeviceMatch>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn matches(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Small(body): Small,
) -> ApiResult<Json<Vec<DeviceMatch>>> {
    caller.require(Need::Read)?;
    let req: MatchRequest = json_body("match", &body)?;
    let target: TargetOs = req
        .os
        .parse()
        .map_err(|e: driver_store::Error| ApiError::BadRequest(e.to_string()))?;
    let mut devices = Vec::new();
    for p in &req.pci {
        devices.push(Device::Pci(
            p.parse::<PciDevice>()
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        ));
    }
    for u in &req.usb {
        devices.push(Device::Usb(
            u.parse::<UsbDevice>()
                .map_err(|e| ApiError::BadRequest(e.to_string()))?,
        ));
    }
    let dir = shared.dirs.drivers();
    let host = req.host.clone();
    let matched = shared
        .db
        .call(move |db| {
            if let Some(h) = &host {
                devices.extend(drivers::host_devices(db, h)?);
            }
            if devices.is_empty() {
                return Err(crate::error::Error::Usage(
                    "give pci, usb or host (and found no device)".into(),
                ));
            }
            drivers::match_drivers(&dir, &devices, &target)
        })
        .await?;
    Ok(Json(matched))
}
