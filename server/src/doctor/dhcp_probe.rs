//! Another DHCP server on the segment? Marrow sends one DISCOVER from the
//! interface, as a client would, and lists who offers: that says whether
//! proxy mode is needed (PXE 2.1 §2.2.4) or full mode would fight it.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use marrow_protocol::dhcp::{code, MessageType, Packet, OP_REPLY, OP_REQUEST};
use marrow_protocol::MacAddr;
use socket2::{Domain, Protocol, Socket, Type};

use super::Finding;
use crate::serve::config::DhcpMode;
use crate::serve::net::Interface;

/// One OFFER heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// Option 54, else `siaddr`.
    pub server: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
}

pub fn check(iface: &Interface, mode: DhcpMode, secs: f64) -> Finding {
    match probe(iface, secs) {
        Ok(offers) => judge(iface, mode, secs, &offers),
        Err(e) => Finding::warn(
            format!("dhcp on {}", iface.name),
            format!("not probed: {e}"),
            "run as root with UDP port 68 free (no DHCP client on this host's interface)",
        ),
    }
}

/// What the offers heard mean for `mode`. An offer from this host's own
/// address is Marrow itself, already serving.
pub fn judge(iface: &Interface, mode: DhcpMode, secs: f64, offers: &[Offer]) -> Finding {
    let check = format!("dhcp on {}", iface.name);
    let others: Vec<&Offer> = offers.iter().filter(|o| o.server != iface.ip).collect();
    let list = others
        .iter()
        .map(|o| format!("{} (offered {})", o.server, o.yiaddr))
        .collect::<Vec<_>>()
        .join(", ");
    match (mode, others.is_empty()) {
        (DhcpMode::Full, true) => Finding::ok(
            check,
            format!("no other DHCP server answered in {secs} s; full mode is safe"),
        ),
        (DhcpMode::Full, false) => Finding::fail(
            check,
            format!("another DHCP server answers: {list}"),
            "run Marrow with --dhcp proxy beside it, or turn that server off for this segment",
        ),
        (_, false) => Finding::ok(check, format!("DHCP server {list}; proxy mode is right")),
        (_, true) => Finding::warn(
            check,
            format!("no DHCP server answered in {secs} s: in proxy mode no client gets an address"),
            "run Marrow with --dhcp full and a range, or check the segment's DHCP server",
        ),
    }
}

fn probe(iface: &Interface, secs: f64) -> std::io::Result<Vec<Offer>> {
    let mac = interface_mac(&iface.name)?;
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_broadcast(true)?;
    s.bind_device(Some(iface.name.as_bytes()))?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 68)).into())?;
    let sock: std::net::UdpSocket = s.into();
    let mut seed = [0u8; 4];
    getrandom::getrandom(&mut seed).map_err(std::io::Error::other)?;
    let xid = u32::from_be_bytes(seed);
    sock.send_to(
        &discover(xid, mac),
        SocketAddrV4::new(Ipv4Addr::BROADCAST, 67),
    )?;
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut offers = Vec::new();
    let mut buf = [0u8; 1500];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => return Err(e),
        };
        if let Some(offer) = read_offer(&buf[..n], xid) {
            if !offers.contains(&offer) {
                offers.push(offer);
            }
        }
    }
    Ok(offers)
}

/// A DISCOVER asking for broadcast replies (RFC 2131 §4.1), since this
/// host will not take the offered address.
pub fn discover(xid: u32, mac: MacAddr) -> Vec<u8> {
    let mut p = Packet::new(OP_REQUEST, xid, mac);
    p.flags = 0x8000;
    p.push_option(code::MESSAGE_TYPE, [MessageType::Discover.to_byte()]);
    p.push_option(
        code::PARAMETER_LIST,
        [code::SUBNET_MASK, code::ROUTER, code::DNS],
    );
    p.emit().expect("a DISCOVER with three options encodes")
}

/// The OFFER in `bytes` answering `xid`, if it is one.
pub fn read_offer(bytes: &[u8], xid: u32) -> Option<Offer> {
    let p = Packet::parse(bytes).ok()?;
    if p.op != OP_REPLY || p.xid != xid || p.message_type() != Some(MessageType::Offer) {
        return None;
    }
    let server = match p.option(code::SERVER_ID) {
        Some([a, b, c, d]) => Ipv4Addr::new(*a, *b, *c, *d),
        _ => p.next_server,
    };
    Some(Offer {
        server,
        yiaddr: p.your_addr,
    })
}

fn interface_mac(name: &str) -> std::io::Result<MacAddr> {
    let path = format!("/sys/class/net/{name}/address");
    let text = std::fs::read_to_string(&path)?;
    text.trim().parse().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{path} holds no Ethernet address"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface() -> Interface {
        Interface {
            name: "br0".into(),
            ip: Ipv4Addr::new(10, 0, 0, 1),
            prefix_len: 24,
        }
    }

    #[test]
    fn offers_decide_between_proxy_and_full() {
        let other = Offer {
            server: Ipv4Addr::new(10, 0, 0, 2),
            yiaddr: Ipv4Addr::new(10, 0, 0, 50),
        };
        let us = Offer {
            server: Ipv4Addr::new(10, 0, 0, 1),
            yiaddr: Ipv4Addr::new(10, 0, 0, 100),
        };
        let full_alone = judge(&iface(), DhcpMode::Full, 2.0, std::slice::from_ref(&us));
        assert_eq!(
            full_alone.status,
            super::super::Status::Ok,
            "Marrow's own offer"
        );
        let clash = judge(&iface(), DhcpMode::Full, 2.0, &[us, other.clone()]);
        assert_eq!(clash.status, super::super::Status::Fail);
        assert!(
            clash.detail.contains("10.0.0.2 (offered 10.0.0.50)"),
            "{}",
            clash.detail
        );
        assert!(clash.fix.unwrap().contains("--dhcp proxy"));
        let proxy = judge(&iface(), DhcpMode::Proxy, 2.0, &[other]);
        assert_eq!(proxy.status, super::super::Status::Ok);
        let lonely = judge(&iface(), DhcpMode::Proxy, 2.0, &[]);
        assert_eq!(lonely.status, super::super::Status::Warn);
    }

    #[test]
    fn only_an_offer_for_our_xid_counts() {
        let mac = MacAddr([2, 0, 0, 0, 0, 9]);
        let mut reply = Packet::new(OP_REPLY, 77, mac);
        reply.your_addr = Ipv4Addr::new(10, 0, 0, 50);
        reply.push_option(code::MESSAGE_TYPE, [MessageType::Offer.to_byte()]);
        reply.push_option(code::SERVER_ID, [10, 0, 0, 2]);
        let bytes = reply.emit().unwrap();
        assert_eq!(
            read_offer(&bytes, 77),
            Some(Offer {
                server: Ipv4Addr::new(10, 0, 0, 2),
                yiaddr: Ipv4Addr::new(10, 0, 0, 50)
            })
        );
        assert_eq!(read_offer(&bytes, 78), None, "another client's");
        assert_eq!(
            read_offer(&discover(77, mac), 77),
            None,
            "a request, not an offer"
        );
        assert_eq!(read_offer(b"junk", 77), None);
    }
}
