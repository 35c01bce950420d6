//! The TFTP driver over `marrow_protocol::tftp::Transfer`.
//!
//! TFTP runs on a runtime and thread of its own, so no TFTP load can take
//! a thread from HTTP and the client API. Requests arrive on the server
//! port; each transfer is an async task on its own socket, and only as
//! many run as [`Slots`] allow, in total and per client address. Files are
//! opened on the request loop (a `stat` and an `open`) and read block by
//! block by their transfer.
//!
//! Written here rather than on `async-tftp` because that crate (0.4) keeps
//! retransmitting after a client's ERROR (its ACK wait ignores every other
//! packet), which is exactly what PXE ROMs send after their `tsize` probe;
//! it also runs on async-io rather than tokio and follows symlinks out of
//! its root. See docs/boot.md.

mod slots;
mod transfer;

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;

use std::path::Path;

use marrow_protocol::grub;
use marrow_protocol::ipxe::ScriptSite;
use marrow_protocol::tftp::{check_path, ErrorCode, Packet, Request};
use marrow_protocol::MacAddr;
use marrow_protocol::TftpError;
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use super::boot_plan;
use super::files::{confine, Confinement};
use super::state::Shared;
use crate::error::{Error, Result};
use slots::Busy;
pub(crate) use slots::Slots;
use transfer::FileSource;

/// A TFTP error message says which file, but never echoes more than this
/// many characters of a name the client sent (a 3000-character name must
/// not come back as a 3000-byte packet).
const NAME_IN_ERRORS: usize = 64;

/// Binds the server port; the socket is handed to [`spawn`].
pub fn bind(ip: Ipv4Addr, port: u16) -> Result<std::net::UdpSocket> {
    let sock = std::net::UdpSocket::bind((ip, port))
        .map_err(Error::io(format!("TFTP socket {ip}:{port}")))?;
    sock.set_nonblocking(true)
        .map_err(Error::io(format!("TFTP socket {ip}:{port}")))?;
    Ok(sock)
}

/// Serves each bound socket on a thread and runtime of TFTP's own. The
/// thread ends with the process.
pub fn spawn(shared: Arc<Shared>, sockets: Vec<(Ipv4Addr, std::net::UdpSocket)>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::io("TFTP runtime"))?;
    std::thread::Builder::new()
        .name("marrow-tftp".into())
        .spawn(move || {
            runtime.block_on(async move {
                let mut loops = tokio::task::JoinSet::new();
                for (ip, sock) in sockets {
                    match UdpSocket::from_std(sock) {
                        Ok(sock) => {
                            loops.spawn(run(shared.clone(), ip, sock));
                        }
                        Err(e) => warn!("TFTP socket on {ip}: {e}"),
                    }
                }
                while loops.join_next().await.is_some() {}
            })
        })
        .map_err(Error::io("TFTP thread"))?;
    Ok(())
}

/// A refused request: the TFTP error to send and the metric label.
struct Refusal {
    code: ErrorCode,
    message: String,
    label: &'static str,
}

fn refuse(code: ErrorCode, message: String, label: &'static str) -> Refusal {
    Refusal {
        code,
        message,
        label,
    }
}

/// The name as error messages show it: escaped, and cut short.
fn shown(name: &str) -> String {
    let escaped: String = name.escape_debug().collect();
    match escaped.char_indices().nth(NAME_IN_ERRORS) {
        Some((at, _)) => format!("{}...", &escaped[..at]),
        None => escaped,
    }
}

/// Where a requested name is served from.
enum Named {
    /// A file of the TFTP root.
    Root(std::path::PathBuf),
    /// `marrow/FILE`: a file of the data directory's boot folder (the
    /// signed chain, the kernel and the initramfs).
    Boot(std::path::PathBuf),
    /// `grub/grub.cfg`, which Debian's network GRUB reads first.
    GrubPrefix,
    /// `grub/marrow-MAC.cfg`: that host's GRUB configuration.
    GrubHost(MacAddr),
}

fn classify(rel: std::path::PathBuf) -> Named {
    let Some(text) = rel.to_str() else {
        return Named::Root(rel);
    };
    if text == grub::PREFIX_CONFIG {
        return Named::GrubPrefix;
    }
    if let Some(mac) = grub::host_config_mac(text) {
        return Named::GrubHost(mac);
    }
    match text.split_once('/') {
        Some((grub::BOOT_PREFIX, file)) if !file.contains('/') => Named::Boot(file.into()),
        _ => Named::Root(rel),
    }
}

/// Opens a regular file under `root` for `name`. Anything else (a FIFO, a
/// device, a folder) is refused before it is opened, and the open does not
/// block, so no name can stall the request loop.
fn open(root: &Path, rel: &Path, name: &str) -> std::result::Result<FileSource, Refusal> {
    let who = shown(name);
    // The boot folder is named as the data directory was given.
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let real = confine(&root, rel).map_err(|c| match c {
        Confinement::NotFound => refuse(
            ErrorCode::FileNotFound,
            format!("{who}: no such file"),
            "not_found",
        ),
        Confinement::Outside => refuse(
            ErrorCode::AccessViolation,
            format!("{who}: outside the TFTP root"),
            "outside_root",
        ),
    })?;
    let not_found = || {
        refuse(
            ErrorCode::FileNotFound,
            format!("{who}: no such file"),
            "not_found",
        )
    };
    let meta = std::fs::metadata(&real).map_err(|_| not_found())?;
    if !meta.is_file() {
        return Err(refuse(
            ErrorCode::FileNotFound,
            format!("{who}: not a file"),
            "not_found",
        ));
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(&real)
        .map_err(|e| {
            refuse(
                ErrorCode::AccessViolation,
                format!("{who}: {e}"),
                "unreadable",
            )
        })?;
    let len = file.metadata().map(|m| m.len()).map_err(|_| not_found())?;
    Ok(FileSource::File { file, len })
}

/// A host's GRUB configuration, rendered from the same plan as its iPXE
/// script; the token check is the same (the request's address must be
/// the one the MAC took in DHCP).
async fn grub_config(
    shared: &Shared,
    local_ip: Ipv4Addr,
    peer: SocketAddr,
    mac: MacAddr,
) -> Vec<u8> {
    let ip = match peer {
        SocketAddr::V4(a) => Some(*a.ip()),
        SocketAddr::V6(a) => a.ip().to_ipv4_mapped(),
    };
    let (host, action) = boot_plan::plan(shared, mac, ip, true, "GRUB configuration").await;
    let site = ScriptSite {
        server_url: shared.http_base_for(local_ip),
        kernel_args: shared.config.kernel_args.clone(),
    };
    grub::render(&site, &host, &action).into_bytes()
}

/// What a request that does not parse is told, when it is a request at
/// all (opcode 1 or 2): RFC 2347 §2 (option negotiation) and RFC 1350 §5.
fn refusal_for_bad_request(bytes: &[u8], e: &TftpError) -> Option<Refusal> {
    let opcode = u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]);
    if opcode != 1 && opcode != 2 {
        return None;
    }
    Some(match e {
        TftpError::DuplicateOption { name } => refuse(
            ErrorCode::OptionRefused,
            format!("option {} appears twice", shown(name)),
            "duplicate_option",
        ),
        TftpError::BadMode { mode } => refuse(
            ErrorCode::IllegalOperation,
            format!("mode {} is not octet or netascii", shown(mode)),
            "bad_mode",
        ),
        TftpError::NotText { field } => refuse(
            ErrorCode::IllegalOperation,
            format!("the {field} is not UTF-8"),
            "not_text",
        ),
        other => refuse(ErrorCode::IllegalOperation, other.to_string(), "malformed"),
    })
}

async fn run(shared: Arc<Shared>, local_ip: Ipv4Addr, sock: UdpSocket) {
    let slots = Slots::new(
        shared.config.tftp_max_transfers,
        shared.config.tftp_max_transfers_per_client,
    );
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
            Ok(Packet::Rrq(req)) => match start(&shared, &slots, local_ip, peer, req) {
                None => continue,
                Some(r) => r,
            },
            Ok(Packet::Wrq(req)) => refuse(
                ErrorCode::AccessViolation,
                format!("{}: this server is read-only", shown(&req.filename)),
                "write",
            ),
            Ok(other) => {
                debug!(%peer, "ignoring TFTP {other:?} on the request port");
                continue;
            }
            Err(e) => match refusal_for_bad_request(&buf[..n], &e) {
                Some(r) => {
                    info!(%peer, "TFTP request refused: {}", r.message);
                    r
                }
                None => {
                    debug!(%peer, "ignoring TFTP datagram: {e}");
                    shared.metrics.tftp_refused("malformed");
                    continue;
                }
            },
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

/// Starts a transfer for `req`, or says why not.
fn start(
    shared: &Arc<Shared>,
    slots: &Arc<Slots>,
    local_ip: Ipv4Addr,
    peer: SocketAddr,
    req: Request,
) -> Option<Refusal> {
    let slot = match slots.take(peer.ip()) {
        Ok(slot) => slot,
        Err(busy) => {
            let why = match busy {
                Busy::Server(n) => format!("server busy: {n} transfers running; retry"),
                Busy::Peer(n) => format!("{n} transfers to {} already running; retry", peer.ip()),
            };
            debug!(%peer, "TFTP refused: {why}");
            return Some(refuse(ErrorCode::NotDefined, why, "busy"));
        }
    };
    let rel = match check_path(&req.filename) {
        Ok(rel) => rel,
        Err(e) => {
            let r = refuse(
                ErrorCode::AccessViolation,
                format!("{}: {e}", shown(&req.filename)),
                "path",
            );
            info!(%peer, file = %shown(&req.filename), "TFTP refused: {}", r.message);
            return Some(r);
        }
    };
    let opened = match classify(rel) {
        Named::Root(rel) => open(&shared.boot.tftp_root, &rel, &req.filename),
        Named::Boot(file) => open(&shared.dirs.boot(), &file, &req.filename),
        Named::GrubPrefix => Ok(FileSource::Made(grub::prefix_config().into_bytes())),
        Named::GrubHost(mac) => {
            let shared = shared.clone();
            tokio::spawn(async move {
                let made = grub_config(&shared, local_ip, peer, mac).await;
                transfer::run(shared, local_ip, peer, req, FileSource::Made(made), slot).await
            });
            return None;
        }
    };
    match opened {
        Ok(source) => {
            tokio::spawn(transfer::run(
                shared.clone(),
                local_ip,
                peer,
                req,
                source,
                slot,
            ));
            None
        }
        Err(r) => {
            info!(%peer, file = %shown(&req.filename), "TFTP refused: {}", r.message);
            Some(r)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_name_is_cut_short_in_error_messages() {
        let long = "a".repeat(3000);
        let s = shown(&long);
        assert!(s.len() <= NAME_IN_ERRORS + 3, "{}", s.len());
        assert!(s.ends_with("..."));
        assert_eq!(shown("pxelinux.0"), "pxelinux.0");
    }

    #[test]
    fn bad_requests_get_an_error_naming_why_and_other_garbage_gets_nothing() {
        let dup = b"\x00\x01f\x00octet\x00blksize\x001432\x00BLKSIZE\x00512\x00";
        let e = Packet::parse(dup).unwrap_err();
        let r = refusal_for_bad_request(dup, &e).unwrap();
        assert_eq!(r.code, ErrorCode::OptionRefused);
        assert!(r.message.contains("BLKSIZE"), "{}", r.message);
        let mail = b"\x00\x01f\x00mail\x00";
        let e = Packet::parse(mail).unwrap_err();
        let r = refusal_for_bad_request(mail, &e).unwrap();
        assert_eq!(r.code, ErrorCode::IllegalOperation);
        assert!(r.message.contains("mail"), "{}", r.message);
        let latin1 = b"\x00\x01caf\xe9\x00octet\x00";
        let e = Packet::parse(latin1).unwrap_err();
        assert!(refusal_for_bad_request(latin1, &e)
            .unwrap()
            .message
            .contains("filename"));
        let junk = b"\x00\x09xx";
        let e = Packet::parse(junk).unwrap_err();
        assert!(refusal_for_bad_request(junk, &e).is_none());
    }
}
