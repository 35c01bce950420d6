//! The TFTP driver over `marrow_protocol::tftp::Transfer`: requests are
//! received on a tokio socket, and each transfer runs on its own blocking
//! thread and socket.
//!
//! Written here rather than on `async-tftp` because that crate (0.4) keeps
//! retransmitting after a client's ERROR (its ACK wait ignores every other
//! packet), which is exactly what PXE ROMs send after their `tsize` probe;
//! it also runs on async-io rather than tokio and follows symlinks out of
//! its root. See docs/boot.md.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use marrow_protocol::tftp::{check_path, ErrorCode, Limits, Outcome, Packet, Request, Transfer};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use super::files::{confine, Confinement};
use super::state::Shared;
use crate::error::{Error, Result};

/// Whole boot files kept in memory: a room of PXE clients asks for the same
/// few hundred kilobytes at once. Keyed by canonical path; an entry is
/// reused only while the file's size and mtime are unchanged.
pub type FileCache = Mutex<HashMap<PathBuf, (u64, SystemTime, Arc<[u8]>)>>;

pub async fn bind(ip: Ipv4Addr, port: u16) -> Result<UdpSocket> {
    UdpSocket::bind((ip, port))
        .await
        .map_err(Error::io(format!("TFTP socket {ip}:{port}")))
}

/// A refused request: the TFTP error to send and the metric label.
struct Refusal {
    code: ErrorCode,
    message: String,
    label: &'static str,
}

fn open(shared: &Shared, name: &str) -> std::result::Result<Arc<[u8]>, Refusal> {
    let refuse = |code, message: String, label| Refusal {
        code,
        message,
        label,
    };
    let rel =
        check_path(name).map_err(|e| refuse(ErrorCode::AccessViolation, e.to_string(), "path"))?;
    let real = confine(&shared.boot.tftp_root, &rel).map_err(|c| match c {
        Confinement::NotFound => refuse(
            ErrorCode::FileNotFound,
            format!("{name}: no such file"),
            "not_found",
        ),
        Confinement::Outside => refuse(
            ErrorCode::AccessViolation,
            format!("{name}: outside the TFTP root"),
            "outside_root",
        ),
    })?;
    let meta = std::fs::metadata(&real).map_err(|_| {
        refuse(
            ErrorCode::FileNotFound,
            format!("{name}: no such file"),
            "not_found",
        )
    })?;
    if !meta.is_file() {
        return Err(refuse(
            ErrorCode::FileNotFound,
            format!("{name}: not a file"),
            "not_found",
        ));
    }
    let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let mut cache = shared
        .boot
        .tftp_cache
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some((len, t, data)) = cache.get(&real) {
        if *len == meta.len() && *t == mtime {
            return Ok(data.clone());
        }
    }
    let data: Arc<[u8]> = std::fs::read(&real)
        .map_err(|e| {
            refuse(
                ErrorCode::AccessViolation,
                format!("{name}: {e}"),
                "unreadable",
            )
        })?
        .into();
    cache.insert(real, (meta.len(), mtime, data.clone()));
    Ok(data)
}

pub async fn run(shared: Arc<Shared>, local_ip: Ipv4Addr, sock: UdpSocket) -> Result<()> {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                warn!("TFTP receive on {local_ip}: {e}");
                continue;
            }
        };
        let refusal = match Packet::parse(&buf[..n]) {
            Ok(Packet::Rrq(req)) => match open(&shared, &req.filename) {
                Ok(data) => {
                    tokio::spawn(transfer(shared.clone(), local_ip, peer, req, data));
                    continue;
                }
                Err(r) => {
                    info!(%peer, file = %req.filename.escape_debug(), "TFTP refused: {}", r.message);
                    r
                }
            },
            Ok(Packet::Wrq(req)) => Refusal {
                code: ErrorCode::AccessViolation,
                message: format!("{}: this server is read-only", req.filename.escape_debug()),
                label: "write",
            },
            Ok(other) => {
                debug!(%peer, "ignoring TFTP {other:?} on the request port");
                continue;
            }
            Err(e) => {
                debug!(%peer, "ignoring TFTP datagram: {e}");
                shared.metrics.tftp_refused("malformed");
                continue;
            }
        };
        shared.metrics.tftp_refused(refusal.label);
        let reply = Packet::Error {
            code: refusal.code,
            message: refusal.message,
        }
        .to_vec();
        if let Err(e) = sock.send_to(&reply, peer).await {
            debug!(%peer, "TFTP error not sent: {e}");
        }
    }
}

/// One transfer on its own socket (RFC 1350 §4: a new transfer id), on a
/// blocking thread: like tftpd-hpa's fork per transfer, a blocking
/// send/receive loop has no wake-up or timer-registration cost per block,
/// which is most of the time a lockstep transfer spends (scripts/bench-boot).
async fn transfer(
    shared: Arc<Shared>,
    local_ip: Ipv4Addr,
    peer: SocketAddr,
    req: Request,
    data: Arc<[u8]>,
) {
    let _ =
        tokio::task::spawn_blocking(move || blocking_transfer(&shared, local_ip, peer, &req, data))
            .await;
}

fn blocking_transfer(
    shared: &Shared,
    local_ip: Ipv4Addr,
    peer: SocketAddr,
    req: &Request,
    data: Arc<[u8]>,
) {
    let sock = match std::net::UdpSocket::bind((local_ip, 0)) {
        Ok(s) => s,
        Err(e) => {
            warn!("TFTP transfer socket on {local_ip}: {e}");
            return;
        }
    };
    if let Err(e) = sock.connect(peer) {
        warn!("TFTP connect to {peer}: {e}");
        return;
    }
    let c = &shared.config;
    let limits = Limits {
        max_block_size: c.max_block_size,
        max_window_size: c.max_window_size,
        ..Limits::default()
    };
    let started = Instant::now();
    let mut t = Transfer::new(req, data, limits);
    let mut out = vec![0u8; (t.block_size() + 4).max(1024)];
    let mut inbuf = vec![0u8; 2048];
    let mut gone = false;
    'outer: loop {
        let now = Instant::now();
        while let Some(n) = t.poll_transmit(now, &mut out) {
            if let Err(e) = sock.send(&out[..n]) {
                debug!(%peer, "TFTP send: {e}");
                gone = true;
                break 'outer;
            }
        }
        if t.outcome().is_some() {
            break;
        }
        let wait = t
            .poll_timeout()
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(std::time::Duration::from_secs(1))
            .max(std::time::Duration::from_millis(1));
        if sock.set_read_timeout(Some(wait)).is_err() {
            gone = true;
            break;
        }
        match sock.recv(&mut inbuf) {
            Ok(n) => {
                if let Err(e) = t.handle_input(Instant::now(), &inbuf[..n]) {
                    debug!(%peer, "ignoring TFTP datagram: {e}");
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            // ICMP port unreachable: the client went away.
            Err(_) => {
                gone = true;
                break;
            }
        }
    }
    let bytes = t.bytes_acknowledged();
    let outcome = match t.outcome() {
        Some(Outcome::Complete) => "complete",
        Some(Outcome::ClientError { .. }) => "client_error",
        Some(Outcome::TimedOut) => "timed_out",
        None if gone => "client_gone",
        None => "unfinished",
    };
    shared.metrics.tftp_transfer(outcome, bytes);
    let file = req.filename.escape_debug().to_string();
    match t.outcome() {
        Some(Outcome::ClientError { code, message }) => {
            // The PXE tsize probe ends this way on purpose.
            debug!(%peer, file, "TFTP ended by client error {}: {message}", code.code())
        }
        _ => info!(
            %peer,
            file,
            blksize = t.block_size(),
            windowsize = t.window_size(),
            bytes,
            ms = started.elapsed().as_millis() as u64,
            "TFTP {outcome}"
        ),
    }
}
