//! HTTP: the iPXE script, the kernel and initramfs (with Range), the TFTP
//! root for UEFI HTTP boot clients, `/healthz` and `/metrics`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use marrow_protocol::ipxe::{render, Action, ScriptHost, ScriptSite};
use marrow_protocol::tftp::check_path;
use marrow_protocol::MacAddr;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;
use tracing::{info, warn};

use super::config::BootDefault;
use super::{boot_dir, unix_now, Shared};
use crate::db::BootSeen;
use crate::error::{Error, Result};

pub async fn bind(ip: Ipv4Addr, port: u16) -> Result<TcpListener> {
    TcpListener::bind((ip, port))
        .await
        .map_err(|source| Error::Io {
            path: format!("HTTP listener {ip}:{port}").into(),
            source,
        })
}

/// Per-listener state: the shared service and this interface's base URL
/// (the address the client reached us on is one it can reach).
#[derive(Clone)]
struct Http {
    shared: Arc<Shared>,
    base_url: String,
}

pub async fn run(shared: Arc<Shared>, listener: TcpListener, base_url: String) -> Result<()> {
    let local = listener.local_addr().ok();
    let app = Router::new()
        .route("/boot.ipxe", get(boot_script))
        .route("/boot/{name}", get(boot_file))
        .route("/tftp/{*path}", get(tftp_file))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(Http { shared, base_url });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .map_err(|source| Error::Io {
        path: format!("HTTP server {local:?}").into(),
        source,
    })
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn metrics(State(Http { shared, .. }): State<Http>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.metrics.render(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct ScriptQuery {
    mac: String,
}

async fn boot_script(
    State(Http { shared, base_url }): State<Http>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<ScriptQuery>,
) -> Response {
    let mac: MacAddr = match q.mac.parse() {
        Ok(m) => m,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let ip = match peer {
        SocketAddr::V4(a) => Some(*a.ip()),
        SocketAddr::V6(a) => a.ip().to_ipv4_mapped(),
    };
    let host = {
        let db = shared.db();
        let seen = BootSeen {
            arch: None,
            client_uuid: None,
            ip,
        };
        if let Err(e) = db.record_boot(mac, &seen, unix_now() as i64) {
            warn!("host {mac} not recorded: {e}");
        }
        db.host(mac).ok().flatten()
    };
    // Pending tasks come from the imaging work's task table; until a host
    // has one, it gets the configured default.
    let action = match shared.config.boot_default {
        BootDefault::LocalDisk => Action::LocalDisk,
        BootDefault::Marrow => Action::Marrow { task: None },
        BootDefault::Menu => Action::Menu {
            default: shared.config.menu_default,
            timeout_secs: shared.config.menu_timeout_secs,
        },
    };
    let site = ScriptSite {
        server_url: base_url,
        kernel_args: shared.config.kernel_args.clone(),
    };
    let host = ScriptHost {
        mac,
        name: host.and_then(|h| h.name),
    };
    shared.metrics.http_boot();
    info!(%mac, %peer, ?action, "boot script");
    let body = render(&site, &host, &action);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn boot_file(
    State(Http { shared, .. }): State<Http>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let rel = match check_path(&name) {
        Ok(r) => r,
        Err(e) => return text(StatusCode::FORBIDDEN, format!("{name}: {e}\n")),
    };
    let dir = boot_dir(&shared.config.data_dir);
    serve_file(&shared, dir, rel, &headers).await
}

async fn tftp_file(
    State(Http { shared, .. }): State<Http>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let rel = match check_path(&path) {
        Ok(r) => r,
        Err(e) => return text(StatusCode::FORBIDDEN, format!("{path}: {e}\n")),
    };
    serve_file(&shared, shared.tftp_root.clone(), rel, &headers).await
}

/// A single byte range from a `Range` header (RFC 9110 §14.1.2), inclusive.
/// `Ok(None)`: no (or an ignorable multi-range) header, send everything.
/// `Err(())`: unsatisfiable, answer 416.
pub(crate) fn parse_range(value: &str, len: u64) -> std::result::Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        // Multipart ranges: RFC 9110 lets a server ignore Range entirely.
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let suffix: u64 = b.parse().map_err(|_| ())?;
        if suffix == 0 || len == 0 {
            return Err(());
        }
        (len.saturating_sub(suffix), len - 1)
    } else {
        let start: u64 = a.parse().map_err(|_| ())?;
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            b.parse::<u64>().map_err(|_| ())?.min(len.saturating_sub(1))
        };
        (start, end)
    };
    if start >= len || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

async fn serve_file(shared: &Shared, dir: PathBuf, rel: PathBuf, headers: &HeaderMap) -> Response {
    let shown = rel.display().to_string();
    let Ok(root) = dir.canonicalize() else {
        return text(
            StatusCode::NOT_FOUND,
            format!("{shown}: {} does not exist\n", dir.display()),
        );
    };
    let Ok(real) = root.join(&rel).canonicalize() else {
        return text(StatusCode::NOT_FOUND, format!("{shown}: no such file\n"));
    };
    if !real.starts_with(&root) {
        return text(
            StatusCode::FORBIDDEN,
            format!("{shown}: outside {}\n", root.display()),
        );
    }
    let mut file = match tokio::fs::File::open(&real).await {
        Ok(f) => f,
        Err(e) => return text(StatusCode::NOT_FOUND, format!("{shown}: {e}\n")),
    };
    let len = match file.metadata().await {
        Ok(m) if m.is_file() => m.len(),
        _ => return text(StatusCode::NOT_FOUND, format!("{shown}: not a file\n")),
    };
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = match range.map(|r| parse_range(r, len)) {
        None | Some(Ok(None)) => None,
        Some(Ok(Some(r))) => Some(r),
        Some(Err(())) => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{len}"))],
                format!("{shown}: range not satisfiable for {len} bytes\n"),
            )
                .into_response()
        }
    };
    let (status, start, count) = match range {
        Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        None => (StatusCode::OK, 0, len),
    };
    if start > 0 {
        if let Err(e) = file.seek(std::io::SeekFrom::Start(start)).await {
            return text(StatusCode::INTERNAL_SERVER_ERROR, format!("{shown}: {e}\n"));
        }
    }
    shared.metrics.http_file_bytes(count);
    let stream = tokio_util::io::ReaderStream::new(file.take(count));
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) =
            HeaderValue::from_str(&format!("bytes {}-{}/{len}", start, start + count - 1))
        {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn parses_the_single_range_forms() {
        assert_eq!(parse_range("bytes=0-99", 1000), Ok(Some((0, 99))));
        assert_eq!(parse_range("bytes=900-", 1000), Ok(Some((900, 999))));
        assert_eq!(parse_range("bytes=-100", 1000), Ok(Some((900, 999))));
        assert_eq!(parse_range("bytes=990-5000", 1000), Ok(Some((990, 999))));
    }

    #[test]
    fn refuses_unsatisfiable_ranges_and_ignores_multipart() {
        assert_eq!(parse_range("bytes=1000-", 1000), Err(()));
        assert_eq!(parse_range("bytes=5-2", 1000), Err(()));
        assert_eq!(parse_range("bytes=x-2", 1000), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 1000), Ok(None));
        assert_eq!(parse_range("items=0-1", 1000), Ok(None));
    }
}
