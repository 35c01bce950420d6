//! One transfer, as an async task on its own socket (RFC 1350 §4: a new
//! transfer id), driving `marrow_protocol::tftp::Transfer`. The file is
//! read block by block as it is sent, so no transfer holds a file in
//! memory; the kernel's page cache keeps the few boot files of a room hot.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use marrow_protocol::tftp::{ErrorCode, Limits, Outcome, Packet, Request, Source, Transfer};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use super::slots::Slot;
use crate::serve::state::Shared;

/// What a transfer sends: an open regular file (of the TFTP root or the
/// boot folder), or bytes made for this request (a host's GRUB
/// configuration).
#[derive(Debug)]
pub(crate) enum FileSource {
    File { file: File, len: u64 },
    Made(Vec<u8>),
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        match self {
            FileSource::File { len, .. } => *len,
            FileSource::Made(bytes) => bytes.len() as u64,
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, String> {
        let file = match self {
            FileSource::File { file, .. } => file,
            FileSource::Made(bytes) => {
                let from = (offset as usize).min(bytes.len());
                let n = buf.len().min(bytes.len() - from);
                buf[..n].copy_from_slice(&bytes[from..from + n]);
                return Ok(n);
            }
        };
        let mut done = 0;
        while done < buf.len() {
            match file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(done)
    }
}

/// Runs one transfer to its end; `slot` is held until then.
pub(crate) async fn run(
    shared: Arc<Shared>,
    local_ip: Ipv4Addr,
    peer: SocketAddr,
    req: Request,
    source: FileSource,
    slot: Slot,
) {
    let file = req.filename.escape_debug().to_string();
    let c = &shared.config;
    let limits = Limits {
        max_block_size: c.max_block_size,
        max_window_size: c.max_window_size,
        max_timeout: Duration::from_secs(u64::from(c.tftp_max_timeout_secs)),
        ..Limits::default()
    };
    let sock = match bind_to(local_ip, peer).await {
        Ok(s) => s,
        Err(e) => {
            warn!("TFTP transfer socket on {local_ip} for {peer}: {e}");
            return;
        }
    };
    let t = match Transfer::new(&req, source, limits) {
        Ok(t) => t,
        Err(why) => {
            info!(%peer, file, "TFTP refused: {why}");
            shared.metrics.tftp_refused("netascii_too_large");
            let reply = Packet::Error {
                code: ErrorCode::NotDefined,
                message: why,
            };
            let _ = sock.send(&reply.to_vec()).await;
            return;
        }
    };
    let started = Instant::now();
    let (t, gone) = drive(t, &sock, peer).await;
    drop(slot);
    let bytes = t.bytes_acknowledged();
    let outcome = match t.outcome() {
        Some(Outcome::Complete) => "complete",
        Some(Outcome::ClientError { .. }) => "client_error",
        Some(Outcome::TimedOut) => "timed_out",
        Some(Outcome::ReadFailed { .. }) => "read_failed",
        None if gone => "client_gone",
        None => "unfinished",
    };
    shared.metrics.tftp_transfer(outcome, bytes);
    match t.outcome() {
        Some(Outcome::ClientError { code, message }) => {
            // The PXE tsize probe ends this way on purpose.
            debug!(%peer, file, "TFTP ended by client error {}: {message}", code.code())
        }
        Some(Outcome::ReadFailed { detail }) => warn!(%peer, file, "TFTP read failed: {detail}"),
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

async fn bind_to(local_ip: Ipv4Addr, peer: SocketAddr) -> std::io::Result<UdpSocket> {
    let sock = UdpSocket::bind((local_ip, 0)).await?;
    sock.connect(peer).await?;
    Ok(sock)
}

/// Sends what the transfer has due, waits for input until its next
/// deadline, and repeats until it ends. Returns it, and whether the client
/// went away (ICMP port unreachable on the connected socket).
async fn drive(
    mut t: Transfer<FileSource>,
    sock: &UdpSocket,
    peer: SocketAddr,
) -> (Transfer<FileSource>, bool) {
    let mut out = vec![0u8; (t.block_size() + 4).max(1024)];
    let mut inbuf = vec![0u8; 2048];
    loop {
        let now = Instant::now();
        while let Some(n) = t.poll_transmit(now, &mut out) {
            if let Err(e) = sock.send(&out[..n]).await {
                debug!(%peer, "TFTP send: {e}");
                return (t, true);
            }
        }
        if t.outcome().is_some() {
            return (t, false);
        }
        let deadline = t
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        match tokio::time::timeout_at(deadline.into(), sock.recv(&mut inbuf)).await {
            Ok(Ok(n)) => {
                if let Err(e) = t.handle_input(Instant::now(), &inbuf[..n]) {
                    debug!(%peer, "ignoring TFTP datagram: {e}");
                }
            }
            Ok(Err(_)) => return (t, true),
            // The deadline passed: the next poll_transmit retransmits.
            Err(_) => {}
        }
    }
}
