//! HTTP: the iPXE script, the kernel and initramfs (with Range), the TFTP
//! root for UEFI HTTP boot clients, `/healthz` and `/metrics`; the client
//! API is merged in from [`super::api`].

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use marrow_protocol::ipxe::{render, ScriptSite};
use marrow_protocol::routes;
use marrow_protocol::tftp::check_path;
use marrow_protocol::MacAddr;
use serde::Deserialize;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tracing::{debug, warn};

use super::files::{serve_file, text};
use super::state::Shared;
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

/// A client gets this long to send a request's headers; a connection that
/// dribbles them (slowloris) is closed instead of held for good.
const HEADER_TIMEOUT: Duration = Duration::from_secs(15);

/// Serves HTTP/1.1 (what iPXE, UEFI HTTP boot and the client speak) on
/// `listener`, one task per connection, each request told its peer address.
pub async fn run(shared: Arc<Shared>, listener: TcpListener, base_url: String) -> Result<()> {
    serve(shared, listener, base_url, None).await
}

/// Serves the same routes over TLS: the port between sites
/// (`crate::sites::tls`). A handshake that fails closes that connection.
pub async fn run_tls(
    shared: Arc<Shared>,
    listener: TcpListener,
    base_url: String,
    acceptor: tokio_rustls::TlsAcceptor,
) -> Result<()> {
    serve(shared, listener, base_url, Some(acceptor)).await
}

async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    base_url: String,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> Result<()> {
    let app = app(shared, base_url);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: wait, do not spin.
                warn!("HTTP accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let svc = app
            .clone()
            .map_request(move |mut req: axum::extract::Request<_>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let http = http.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let svc = TowerToHyperService::new(svc);
            let done = match tls {
                None => http.serve_connection(TokioIo::new(stream), svc).await,
                Some(acceptor) => {
                    // The handshake gets the same bound as a request's headers.
                    let shake = tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream));
                    match shake.await {
                        Ok(Ok(stream)) => http.serve_connection(TokioIo::new(stream), svc).await,
                        Ok(Err(e)) => {
                            debug!(%peer, "TLS handshake: {e}");
                            return;
                        }
                        Err(_) => {
                            debug!(%peer, "TLS handshake: timed out");
                            return;
                        }
                    }
                }
            };
            if let Err(e) = done {
                debug!(%peer, "HTTP connection: {e}");
            }
        });
    }
}

fn app(shared: Arc<Shared>, base_url: String) -> Router {
    Router::new()
        .route(routes::BOOT_SCRIPT, get(boot_script))
        .route(routes::BOOT_FILE, get(boot_file))
        .route(routes::TFTP_FILE, get(tftp_file))
        .route(routes::HEALTHZ, get(|| async { "ok\n" }))
        .route(routes::METRICS, get(metrics))
        .with_state(Http {
            shared: shared.clone(),
            base_url,
        })
        .merge(super::api::routes().with_state(shared.clone()))
        .merge(super::admin::router(shared))
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
    method: Method,
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
    // A HEAD never takes a token (axum answers HEAD with the GET handler).
    let (host, action) =
        super::boot_plan::plan(&shared, mac, ip, method != Method::HEAD, "boot script").await;
    let site = ScriptSite {
        server_url: base_url,
        kernel_args: shared.config.kernel_args.clone(),
    };
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
    serve_file(
        &shared.metrics,
        &shared.files,
        shared.dirs.boot(),
        rel,
        &headers,
    )
    .await
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
    let root = shared.boot.tftp_root.clone();
    serve_file(&shared.metrics, &shared.files, root, rel, &headers).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::BootSeen;
    use crate::db::Db;
    use crate::tasks::{self, Actor, Images, NewTask, OsRng};
    use marrow_protocol::ipxe::{Action, ScriptHost};

    /// Capture tasks need no image.
    const NO_IMAGES: Images<'static> = Images {
        store: None,
        name: "none",
    };
    use marrow_protocol::api::{After, TaskKind};
    use tokio::io::AsyncReadExt;

    fn script(db: &mut Db, mac: MacAddr) -> String {
        let site = ScriptSite {
            server_url: "http://10.0.0.1:8080".into(),
            kernel_args: String::new(),
        };
        let host = ScriptHost { mac, name: None };
        let decision = tasks::boot(db, mac, &BootSeen::default(), true, 5, &mut OsRng).unwrap();
        render(
            &site,
            &host,
            &crate::serve::boot_plan::action_for(decision, Action::LocalDisk),
        )
    }

    fn token_in(script: &str) -> String {
        let at = script.find("marrow.token=").expect("a token") + "marrow.token=".len();
        script[at..].split_whitespace().next().unwrap().to_string()
    }

    fn new_task(kind: TaskKind, mac: MacAddr) -> NewTask {
        NewTask {
            kind,
            host: mac.to_string(),
            image: "win11".into(),
            disk_rule: None,
            grow_last_partition: false,
            after: After::Reboot,
            inject_drivers: None,
            hostname: None,
            post_script: None,
        }
    }

    #[test]
    fn a_host_with_a_pending_task_boots_marrow_with_the_task_id_and_a_fresh_token() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("marrow.db")).unwrap();
        let mac: MacAddr = "52:54:00:12:34:56".parse().unwrap();
        let created = tasks::create(
            &mut db,
            &Actor::Cli,
            &new_task(TaskKind::Capture, mac),
            NO_IMAGES,
            2,
            &mut OsRng,
        )
        .unwrap();
        let id = created.id;
        let first = script(&mut db, mac);
        let kernel = first
            .lines()
            .find(|l| l.starts_with("kernel http://10.0.0.1:8080/boot/vmlinuz"))
            .expect(&first);
        assert!(kernel.contains(&format!("marrow.task={id} ")), "{kernel}");
        let token = token_in(&first);
        assert_eq!(token.len(), 64, "{token}");
        assert_eq!(tasks::authorize(&db, &token).unwrap().unwrap().id, id);
        assert!(tasks::authorize(&db, &created.token).unwrap().is_none());

        let second = token_in(&script(&mut db, mac));
        assert_ne!(second, token, "each boot script carries a new token");
        assert!(tasks::authorize(&db, &token).unwrap().is_none());
    }

    /// The service's HTTP side on a loopback port, with default settings
    /// (`boot.default = local-disk`) and its database in `dir`.
    async fn serve_on_loopback(dir: &std::path::Path) -> (Arc<Shared>, SocketAddr) {
        use super::super::config::{Config, File, Flags};
        let config = Config::resolve(dir, File::default(), Flags::default()).unwrap();
        let shared = Arc::new(Shared::new(config, &[]).unwrap());
        let listener = bind(Ipv4Addr::LOCALHOST, 0).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(run(shared.clone(), listener, "http://10.0.0.1:8080".into()));
        (shared, addr)
    }

    async fn request(addr: SocketAddr, method: &str, path: &str) -> String {
        use tokio::io::AsyncWriteExt;
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request =
            format!("{method} {path} HTTP/1.1\r\nHost: marrow\r\nConnection: close\r\n\r\n");
        conn.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        response
    }

    async fn get_body(addr: SocketAddr, path: &str) -> String {
        request(addr, "GET", path).await
    }

    #[tokio::test]
    async fn boot_ipxe_gives_a_tasked_host_the_marrow_kernel_line_and_others_the_local_disk() {
        let dir = tempfile::tempdir().unwrap();
        let (shared, addr) = serve_on_loopback(dir.path()).await;
        let tasked: MacAddr = "52:54:00:12:34:58".parse().unwrap();
        let new = new_task(TaskKind::Capture, tasked);
        let id = shared
            .db
            .call(move |db| tasks::create(db, &Actor::Cli, &new, NO_IMAGES, 2, &mut OsRng))
            .await
            .unwrap()
            .id;

        // The host took 127.0.0.1 in DHCP, as far as the service knows.
        shared
            .boot
            .witnesses
            .saw(tasked, Ipv4Addr::LOCALHOST, shared.now());
        let script = get_body(addr, "/boot.ipxe?mac=52-54-00-12-34-58").await;
        let kernel = script
            .lines()
            .find(|l| l.starts_with("kernel http://10.0.0.1:8080/boot/vmlinuz"))
            .expect(&script);
        assert!(kernel.contains(&format!("marrow.task={id} ")), "{kernel}");
        let token = token_in(kernel);
        let found = shared
            .db
            .call(move |db| tasks::authorize(db, &token))
            .await
            .unwrap();
        assert_eq!(found.unwrap().id, id);

        let other = get_body(addr, "/boot.ipxe?mac=52-54-00-12-34-59").await;
        assert!(
            other.contains("sanboot --no-describe --drive 0x80") && !other.contains("vmlinuz"),
            "{other}"
        );
    }

    #[test]
    fn a_host_without_a_pending_task_boots_the_local_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(&dir.path().join("marrow.db")).unwrap();
        let mac: MacAddr = "52:54:00:12:34:57".parse().unwrap();
        let s = script(&mut db, mac);
        assert!(s.contains("sanboot") && !s.contains("vmlinuz"), "{s}");
    }

    /// The boot script hands a token only to the machine that is booting:
    /// a GET from an address no DHCP exchange gave this MAC, a second GET
    /// for one exchange, and any HEAD get the default, and the live token
    /// of a running task stays valid.
    #[tokio::test]
    async fn a_token_goes_only_to_the_address_the_mac_took_in_dhcp_once_and_never_to_head() {
        let dir = tempfile::tempdir().unwrap();
        let (shared, addr) = serve_on_loopback(dir.path()).await;
        let mac: MacAddr = "52:54:00:12:34:60".parse().unwrap();
        let new = new_task(TaskKind::Capture, mac);
        let created = shared
            .db
            .call(move |db| tasks::create(db, &Actor::Cli, &new, NO_IMAGES, 2, &mut OsRng))
            .await
            .unwrap();
        let path = "/boot.ipxe?mac=52-54-00-12-34-60";
        let unseen = get_body(addr, path).await;
        assert!(!unseen.contains("marrow.token="), "{unseen}");
        // Another machine took the address in DHCP, not this request's.
        shared
            .boot
            .witnesses
            .saw(mac, Ipv4Addr::new(10, 9, 9, 9), shared.now());
        let spoofed = get_body(addr, path).await;
        assert!(!spoofed.contains("marrow.token="), "{spoofed}");
        shared
            .boot
            .witnesses
            .saw(mac, Ipv4Addr::LOCALHOST, shared.now());
        let head = request(addr, "HEAD", path).await;
        assert!(!head.contains("marrow.token="), "{head}");
        let token = created.token.clone();
        let live = shared
            .db
            .call(move |db| tasks::authorize(db, &token))
            .await
            .unwrap();
        assert!(live.is_some(), "neither GET nor HEAD rotated the token");
        let booting = get_body(addr, path).await;
        assert!(booting.contains("marrow.token="), "{booting}");
        let again = get_body(addr, path).await;
        assert!(
            !again.contains("marrow.token="),
            "one token per DHCP exchange"
        );
    }
}
