//! The DHCP socket driver: one socket per interface and port, bound to the
//! device (`SO_BINDTODEVICE`), so the arrival interface is known and nothing
//! is ever answered on an interface that is not configured.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use marrow_protocol::dhcp::{
    decide, Arch, Arrival, ClientKind, Decision, IgnoreReason, MessageType, Reply, Request, Site,
};
use marrow_protocol::MacAddr;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

use super::config::DhcpMode;
use super::net::Interface;
use super::state::Shared;
use crate::db::BootSeen;
use crate::error::{Error, Result};

pub fn bind(iface: &Interface, port: u16) -> Result<UdpSocket> {
    let what = || format!("DHCP socket on {} port {port}", iface.name);
    let io = |source| Error::Io {
        path: what().into(),
        source,
    };
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(io)?;
    s.set_reuse_address(true).map_err(io)?;
    s.set_broadcast(true).map_err(io)?;
    s.bind_device(Some(iface.name.as_bytes())).map_err(io)?;
    s.set_nonblocking(true).map_err(io)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())
        .map_err(io)?;
    UdpSocket::from_std(s.into()).map_err(io)
}

fn ignore_label(r: &IgnoreReason) -> &'static str {
    match r {
        IgnoreReason::NotPxeInProxyMode { .. } => "not_pxe",
        IgnoreReason::Unanswered { .. } => "message_type",
        IgnoreReason::OtherServer { .. } => "other_server",
        IgnoreReason::NoBootFile { .. } => "no_boot_file",
        IgnoreReason::PoolExhausted { .. } => "pool_exhausted",
        IgnoreReason::NoRequestedAddress { .. } => "no_requested_address",
        IgnoreReason::NotOurs { .. } => "not_ours",
        IgnoreReason::NoPool { .. } => "no_pool",
    }
}

/// How often, at most, expired leases leave the pool and the database (on
/// the next packet): an address that expired is free to offer either way,
/// so this only bounds what is kept.
const PURGE_EVERY_SECS: i64 = 60;

/// Drops expired leases from the pool and from storage.
async fn purge_expired(shared: &Arc<Shared>, now: i64) {
    let expired = {
        let mut pools = shared.boot.pools.lock().unwrap_or_else(|e| e.into_inner());
        match pools.as_mut() {
            Some(p) => p.purge(now.max(0) as u64),
            None => return,
        }
    };
    if !expired.is_empty() {
        debug!(leases = expired.len(), "expired leases purged");
        forget_leases(shared, expired.iter().map(|l| l.mac).collect()).await;
    }
}

/// Deletes the stored leases of `macs`, which the pool has already let go.
async fn forget_leases(shared: &Arc<Shared>, macs: Vec<MacAddr>) {
    let deleted = shared
        .db
        .call(move |db| {
            for mac in macs {
                db.leases().delete(mac)?;
            }
            Ok(())
        })
        .await;
    if let Err(e) = deleted {
        warn!("leases not deleted from the database: {e}");
    }
}

pub async fn run(shared: Arc<Shared>, iface: Interface, sock: UdpSocket, port: u16) -> Result<()> {
    let site = shared.site(&iface);
    let mode = match site.mode {
        marrow_protocol::dhcp::Mode::Full => "full",
        marrow_protocol::dhcp::Mode::Proxy => "proxy",
    };
    let mut buf = vec![0u8; 4096];
    let mut purged = 0i64;
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                warn!("DHCP receive on {} port {port}: {e}", iface.name);
                continue;
            }
        };
        let SocketAddr::V4(source) = from else {
            continue;
        };
        let req = match Request::parse(&buf[..n]) {
            Ok(r) => r,
            Err(e) => {
                debug!(%source, iface = %iface.name, "ignoring DHCP datagram: {e}");
                shared.metrics.dhcp_malformed();
                continue;
            }
        };
        if let Some((opt93, opt60)) = req.arch_conflict {
            debug!(mac = %req.mac, "option 93 says arch {opt93}, option 60 says {opt60}; using option 93");
        }
        let now = shared.now();
        if now - purged >= PURGE_EVERY_SECS {
            purged = now;
            purge_expired(&shared, now).await;
        }
        let host_site = with_host_chain(&shared, &site, &req).await;
        let decision = {
            let mut pools = shared.boot.pools.lock().unwrap_or_else(|e| e.into_inner());
            decide(
                &req,
                host_site.as_ref().unwrap_or(&site),
                pools.as_mut(),
                now as u64,
                Arrival { port, source },
            )
        };
        witness(&shared, &req, port, source, now);
        let arch = req.arch.map(|a| a.name()).unwrap_or_else(|| "none".into());
        match decision {
            Decision::Ignore(reason) => {
                debug!(iface = %iface.name, port, "not answering: {reason}");
                shared.metrics.dhcp_ignored(ignore_label(&reason));
            }
            Decision::Release(lease) => {
                info!(mac = %lease.mac, ip = %lease.ip, "lease released");
                forget_leases(&shared, vec![lease.mac]).await;
            }
            Decision::Decline(lease) => {
                warn!(
                    mac = %lease.mac,
                    ip = %lease.ip,
                    "address declined: another host on the segment uses it; not offered for {} s",
                    marrow_protocol::dhcp::DECLINE_HOLD_SECS
                );
                forget_leases(&shared, vec![lease.mac]).await;
            }
            Decision::Reply(reply) => {
                if let Some(lease) = reply.commit {
                    shared.boot.witnesses.saw(lease.mac, lease.ip, now);
                    if let Err(e) = shared.db.call(move |db| db.leases().save(&lease)).await {
                        warn!("lease for {} not stored: {e}", lease.mac);
                    }
                }
                let pxe = req.kind != ClientKind::Plain;
                // Hosts are registered from DHCP (and by admins), never by
                // an HTTP request naming a MAC; a group address is no host.
                if pxe
                    && req.mac.is_unicast()
                    && matches!(
                        req.message_type,
                        MessageType::Discover | MessageType::Request
                    )
                {
                    let seen = BootSeen {
                        arch: req.arch.map(|a| a.name()),
                        client_uuid: req.client_uuid.clone(),
                        ip: reply.commit.map(|l| l.ip),
                    };
                    let mac = req.mac;
                    let recorded = shared
                        .db
                        .call(move |db| db.hosts().record_boot(mac, &seen, now))
                        .await;
                    if let Err(e) = recorded {
                        warn!("host {mac} not recorded: {e}");
                    }
                }
                let bytes = match reply.packet.emit() {
                    Ok(b) => b,
                    Err(e) => {
                        warn!("reply to {} not encoded: {e}", req.mac);
                        continue;
                    }
                };
                let kind = reply.packet.message_type().unwrap_or(MessageType::Other(0));
                let dest = reachable(&sock, &iface, &reply);
                if let Err(e) = sock.send_to(&bytes, dest).await {
                    warn!("DHCP send to {dest} on {}: {e}", iface.name);
                    continue;
                }
                let kind_name = format!("{kind:?}").to_lowercase();
                shared.metrics.dhcp_reply(&kind_name, &arch, mode);
                if pxe {
                    info!(
                        mac = %req.mac,
                        arch = %arch,
                        ipxe = req.is_ipxe,
                        yiaddr = %reply.packet.your_addr,
                        file = reply.boot_file.as_deref().unwrap_or(""),
                        to = %dest,
                        "DHCP {kind_name}"
                    );
                } else {
                    debug!(mac = %req.mac, yiaddr = %reply.packet.your_addr, to = %dest, "DHCP {kind_name}");
                }
            }
        }
    }
}

/// Where a reply can go: to `yiaddr` once the kernel knows the client's
/// MAC for it, else (without `CAP_NET_ADMIN`, say) to everyone, which RFC
/// 2131 §4.1 always allows.
fn reachable(sock: &UdpSocket, iface: &Interface, reply: &Reply) -> SocketAddrV4 {
    let Some(mac) = reply.unicast_to else {
        return reply.destination;
    };
    match crate::sys::set_neighbour(sock, &iface.name, *reply.destination.ip(), mac.0) {
        Ok(()) => reply.destination,
        Err(e) => {
            debug!(%mac, iface = %iface.name, "broadcasting: the client's address not bound to its MAC: {e}");
            SocketAddrV4::new(Ipv4Addr::BROADCAST, 68)
        }
    }
}

/// The site as this request's host sees it, when the host has its own
/// UEFI boot chain (`host set --uefi-boot`) that differs from the
/// configuration's. Only UEFI x64 firmware (not iPXE, which is past that
/// choice) is looked up; a database error keeps the configuration's.
async fn with_host_chain(shared: &Shared, site: &Site, req: &Request) -> Option<Site> {
    if req.is_ipxe
        || req.kind == ClientKind::Plain
        || !matches!(req.arch, Some(Arch::UefiX64 | Arch::HttpX64))
    {
        return None;
    }
    let mac = req.mac;
    let chain = match shared.db.call(move |db| db.hosts().get(mac)).await {
        Ok(host) => host.and_then(|h| h.uefi_boot)?,
        Err(e) => {
            warn!("host {mac}: UEFI boot chain not looked up, using boot.uefi: {e}");
            return None;
        }
    };
    (chain != site.uefi).then(|| Site {
        uefi: chain,
        ..site.clone()
    })
}

/// Notes the address a client took, for the boot script's token check
/// (`super::witness`). Full mode witnesses its own commits (above); proxy
/// mode sees the client's REQUEST, whose option 50 names the address the
/// other server offered, and port 4011 requests, sent from that address.
fn witness(shared: &Shared, req: &Request, port: u16, source: SocketAddrV4, now: i64) {
    if shared.config.dhcp_mode == DhcpMode::Full {
        return;
    }
    if port == 4011 {
        shared.boot.witnesses.saw(req.mac, *source.ip(), now);
    } else if req.message_type == MessageType::Request {
        if let Some(ip) = req.requested_ip {
            shared.boot.witnesses.saw(req.mac, ip, now);
        }
    }
}
