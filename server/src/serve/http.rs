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
use marrow_protocol::ipxe::{render, Action, ScriptHost, ScriptSite, TaskBoot};
use marrow_protocol::tftp::check_path;
use marrow_protocol::MacAddr;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;
use tracing::{info, warn};

use super::config::BootDefault;
use super::{boot_dir, unix_now, Shared};
use crate::db::{new_token, BootSeen, Db};
use crate::error::{Error, Result};

pub async fn bind(ip: Ipv4Addr, port: u16) -> Result<TcpListener> {
    TcpListener::bind((ip, port))
        .await
        .map_err(Error::io(format!("HTTP listener {ip}:{port}")))
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
    axum::serve(
        listener,
        app(shared, base_url).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .map_err(Error::io(format!("HTTP server {local:?}")))
}

fn app(shared: Arc<Shared>, base_url: String) -> Router {
    Router::new()
        .route("/boot.ipxe", get(boot_script))
        .route("/boot/{name}", get(boot_file))
        .route("/tftp/{*path}", get(tftp_file))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(Http {
            shared: shared.clone(),
            base_url,
        })
        .merge(super::api::routes().with_state(shared))
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
    let default = match shared.config.boot_default {
        BootDefault::LocalDisk => Action::LocalDisk,
        BootDefault::Marrow => Action::Marrow { task: None },
        BootDefault::Menu => Action::Menu {
            default: shared.config.menu_default,
            timeout_secs: shared.config.menu_timeout_secs,
        },
    };
    let (host, action) = {
        let db = shared.db();
        let seen = BootSeen {
            arch: None,
            client_uuid: None,
            ip,
        };
        let now = unix_now() as i64;
        if let Err(e) = db.record_boot(mac, &seen, now) {
            warn!("host {mac} not recorded: {e}");
        }
        let action = match boot_action(&db, mac, default.clone(), now) {
            Ok(a) => a,
            Err(e) => {
                warn!("host {mac}: active task not looked up, booting the default: {e}");
                default
            }
        };
        (db.host(mac).ok().flatten(), action)
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
    // The action's Debug form would print the token; log the task id only.
    let shown = match &action {
        Action::Marrow { task: Some(t) } => format!("marrow task {}", t.id),
        other => format!("{other:?}"),
    };
    info!(%mac, %peer, action = %shown, "boot script");
    let body = render(&site, &host, &action);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A host with an active (pending or running) task boots the Marrow
/// environment with that task;
/// any other host gets `default`.
///
/// Tokens rotate: only a token's BLAKE3 hash is stored, so the token cannot
/// be read back for the kernel command line. Each script rendered for a
/// active task therefore carries a fresh token, and storing its hash
/// retires every earlier one (the one `marrow task` made, and those of
/// scripts fetched before). The client holds the token of the boot it is
/// running; a host that reboots gets a new one.
fn boot_action(db: &Db, mac: MacAddr, default: Action, now: i64) -> Result<Action> {
    let token = new_token()?;
    Ok(match db.rotate_token(mac, &token, now)? {
        Some(id) => Action::Marrow {
            task: Some(TaskBoot {
                id: id.to_string(),
                token,
            }),
        },
        None => default,
    })
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
    use super::*;
    use crate::db::{NewTask, TaskKind};

    fn script(db: &Db, mac: MacAddr) -> String {
        let site = ScriptSite {
            server_url: "http://10.0.0.1:8080".into(),
            kernel_args: String::new(),
        };
        let host = ScriptHost { mac, name: None };
        render(
            &site,
            &host,
            &boot_action(db, mac, Action::LocalDisk, 5).unwrap(),
        )
    }

    fn token_in(script: &str) -> String {
        let at = script.find("marrow.token=").expect("a token") + "marrow.token=".len();
        script[at..].split_whitespace().next().unwrap().to_string()
    }

    #[test]
    fn a_host_with_a_pending_task_boots_marrow_with_the_task_id_and_a_fresh_token() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mac: MacAddr = "52:54:00:12:34:56".parse().unwrap();
        db.ensure_host(mac, 1).unwrap();
        let new = NewTask {
            kind: TaskKind::Capture,
            host: mac,
            image: "win11".into(),
            disk_rule: None,
            grow_last_partition: false,
            after: marrow_protocol::api::After::Reboot,
            inject_drivers: None,
        };
        let id = db.create_task(&new, "made-by-the-cli", 2).unwrap();
        let first = script(&db, mac);
        let kernel = first
            .lines()
            .find(|l| l.starts_with("kernel http://10.0.0.1:8080/boot/vmlinuz"))
            .expect(&first);
        assert!(kernel.contains(&format!("marrow.task={id} ")), "{kernel}");
        let token = token_in(&first);
        assert_eq!(token.len(), 64, "{token}");
        assert_eq!(db.task_for_token(&token).unwrap().unwrap().id, id);
        assert!(db.task_for_token("made-by-the-cli").unwrap().is_none());

        let second = token_in(&script(&db, mac));
        assert_ne!(second, token, "each boot script carries a new token");
        assert!(db.task_for_token(&token).unwrap().is_none());
    }

    /// The service's HTTP side on a loopback port, with default settings
    /// (`boot.default = local-disk`) and its database in `dir`.
    async fn serve_on_loopback(dir: &std::path::Path) -> (Arc<Shared>, SocketAddr) {
        use super::super::config::{Config, File, Flags};
        let config = Config::resolve(dir, File::default(), Flags::default()).unwrap();
        let shared = Arc::new(Shared {
            db: std::sync::Mutex::new(Db::open(dir).unwrap()),
            pool: std::sync::Mutex::new(None),
            network: None,
            boot_files: Default::default(),
            metrics: Default::default(),
            tftp_root: dir.to_path_buf(),
            tftp_cache: Default::default(),
            store: Default::default(),
            readable: Default::default(),
            driver_plans: Default::default(),
            config,
        });
        let listener = bind(Ipv4Addr::LOCALHOST, 0).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(run(shared.clone(), listener, "http://10.0.0.1:8080".into()));
        (shared, addr)
    }

    async fn get_body(addr: SocketAddr, path: &str) -> String {
        use tokio::io::AsyncWriteExt;
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: marrow\r\nConnection: close\r\n\r\n");
        conn.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        response
    }

    #[tokio::test]
    async fn boot_ipxe_gives_a_tasked_host_the_marrow_kernel_line_and_others_the_local_disk() {
        let dir = tempfile::tempdir().unwrap();
        let (shared, addr) = serve_on_loopback(dir.path()).await;
        let tasked: MacAddr = "52:54:00:12:34:58".parse().unwrap();
        let id = {
            let db = shared.db();
            db.ensure_host(tasked, 1).unwrap();
            let new = NewTask {
                kind: TaskKind::Restore,
                host: tasked,
                image: "win11".into(),
                disk_rule: None,
                grow_last_partition: false,
                after: marrow_protocol::api::After::Reboot,
                inject_drivers: None,
            };
            db.create_task(&new, "made-by-the-cli", 2).unwrap()
        };

        let script = get_body(addr, "/boot.ipxe?mac=52-54-00-12-34-58").await;
        let kernel = script
            .lines()
            .find(|l| l.starts_with("kernel http://10.0.0.1:8080/boot/vmlinuz"))
            .expect(&script);
        assert!(kernel.contains(&format!("marrow.task={id} ")), "{kernel}");
        let token = token_in(kernel);
        assert_eq!(shared.db().task_for_token(&token).unwrap().unwrap().id, id);

        let other = get_body(addr, "/boot.ipxe?mac=52-54-00-12-34-59").await;
        assert!(
            other.contains("sanboot --no-describe --drive 0x80") && !other.contains("vmlinuz"),
            "{other}"
        );
    }

    #[test]
    fn a_host_without_a_pending_task_boots_the_local_disk() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mac: MacAddr = "52:54:00:12:34:57".parse().unwrap();
        let s = script(&db, mac);
        assert!(s.contains("sanboot") && !s.contains("vmlinuz"), "{s}");
    }

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
