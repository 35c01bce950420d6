//! Answers IPv6 Router Solicitations with a Router Advertisement that
//! configures nothing, so iPXE stops waiting for IPv6 (about 13 s per boot
//! on a segment without a router). Only in `full` mode, where Marrow is the
//! network's only server; see `marrow_protocol::ndp` for the message.

use std::io::Read;
use std::net::{Ipv6Addr, SocketAddrV6};

use marrow_protocol::ndp::{is_router_solicitation, null_router_advertisement};
use marrow_protocol::MacAddr;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tracing::{debug, info, warn};

use super::net::Interface;

/// RFC 4291 §2.7.1: all-nodes and all-routers link-local groups.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

fn setup(iface: &Interface) -> std::io::Result<(Socket, u32, MacAddr)> {
    let index = nix::net::if_::if_nametoindex(iface.name.as_str()).map_err(std::io::Error::from)?;
    let mac_text = std::fs::read_to_string(format!("/sys/class/net/{}/address", iface.name))?;
    let mac: MacAddr = mac_text
        .trim()
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let s = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
    s.bind_device(Some(iface.name.as_bytes()))?;
    // RFC 4861 §6.1.2: Neighbor Discovery messages carry hop limit 255.
    s.set_multicast_hops_v6(255)?;
    s.set_unicast_hops_v6(255)?;
    s.join_multicast_v6(&ALL_ROUTERS, index)?;
    Ok((s, index, mac))
}

/// Starts the responder on its own thread; failure (IPv6 disabled on the
/// interface, say) is logged and the service runs without it.
pub fn spawn(iface: Interface) {
    let (sock, index, mac) = match setup(&iface) {
        Ok(x) => x,
        Err(e) => {
            warn!(
                "no IPv6 router advertisements on {}: {e}; iPXE will wait for IPv6",
                iface.name
            );
            return;
        }
    };
    let name = iface.name.clone();
    let spawned = std::thread::Builder::new().name(format!("ra-{name}")).spawn(move || {
        let dest = SockAddr::from(SocketAddrV6::new(ALL_NODES, 0, 0, index));
        let ra = null_router_advertisement(mac);
        // One unsolicited advertisement for clients already waiting.
        if let Err(e) = sock.send_to(&ra, &dest) {
            warn!("router advertisement on {name}: {e}");
        }
        info!(iface = %name, "answering IPv6 router solicitations (no prefixes, not a default router)");
        let mut buf = [0u8; 1500];
        loop {
            let n = match (&sock).read(&mut buf) {
                Ok(n) => n,
                Err(e) => {
                    warn!("ICMPv6 receive on {name}: {e}");
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    continue;
                }
            };
            if is_router_solicitation(&buf[..n]) {
                debug!(iface = %name, "router solicitation; advertising");
                if let Err(e) = sock.send_to(&ra, &dest) {
                    warn!("router advertisement on {name}: {e}");
                }
            }
        }
    });
    if let Err(e) = spawned {
        warn!("router advertisement thread for {}: {e}", iface.name);
    }
}
