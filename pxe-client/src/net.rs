//! Bringing the boot NIC up with the static address from `ip=`: pick the
//! interface (pure), then send the rtnetlink requests over a netlink
//! socket and confirm the result in `/proc/net/route`.

use nix::net::if_::if_nametoindex;
use nix::sys::socket::{
    bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol,
    SockType,
};
use nix::sys::socket::{setsockopt, sockopt};
use std::ffi::OsString;
use std::io::Read;
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use crate::cmdline::StaticIp;
use crate::dhcp::{DhcpClient, Event, Lease};
use crate::netlink::{self, Request};
use crate::{Error, Result};
use marrow_protocol::MacAddr;

/// A NIC as the chooser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub mac: Option<MacAddr>,
    pub carrier: bool,
}

/// Which interface gets the address: the one `ip=` names, else the one
/// whose MAC is `BOOTIF` (the NIC the machine PXE-booted from), else the
/// only NIC, else the only NIC with a link. Anything else is ambiguous and
/// refused rather than guessed.
pub fn choose_link<'a>(
    links: &'a [Link],
    device: Option<&str>,
    bootif: Option<MacAddr>,
) -> Result<&'a Link> {
    let names = || {
        links
            .iter()
            .map(|l| l.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(dev) = device {
        return links
            .iter()
            .find(|l| l.name == dev)
            .ok_or_else(|| Error::Network {
                detail: format!(
                    "ip= names device {dev}, which is not among the NICs [{}]",
                    names()
                ),
            });
    }
    if let Some(mac) = bootif {
        return links
            .iter()
            .find(|l| l.mac == Some(mac))
            .ok_or_else(|| Error::Network {
                detail: format!("no NIC has the BOOTIF MAC {mac} (NICs: [{}])", names()),
            });
    }
    if let [only] = links {
        return Ok(only);
    }
    let up: Vec<&Link> = links.iter().filter(|l| l.carrier).collect();
    match up.as_slice() {
        [one] => Ok(one),
        _ => Err(Error::Network {
            detail: format!(
                "{} NICs ([{}]), {} with a link, and neither ip=…:DEVICE nor BOOTIF= says which to use",
                links.len(),
                names(),
                up.len()
            ),
        }),
    }
}

/// The default route's interface and gateway from `/proc/net/route`, whose
/// addresses are hex in host byte order (net/ipv4/fib_trie.c
/// `fib_route_seq_show`).
pub fn default_route(proc_net_route: &str) -> Option<(String, Ipv4Addr)> {
    proc_net_route.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (iface, dest, gw, mask) = (f.first()?, f.get(1)?, f.get(2)?, f.get(7)?);
        if *dest != "00000000" || *mask != "00000000" {
            return None;
        }
        let gw = u32::from_str_radix(gw, 16).ok()?;
        // The u32 holds the address's network-order bytes as they lie in memory.
        Some(((*iface).to_owned(), Ipv4Addr::from(gw.to_ne_bytes())))
    })
}

/// Sends each request and waits for its ack.
fn apply(requests: &[Request]) -> Result<()> {
    let io = |what: &str, e: nix::Error| Error::Network {
        detail: format!("netlink {what}: {e}"),
    };
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )
    .map_err(|e| io("socket", e))?;
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(|e| io("bind", e))?;
    let mut buf = vec![0u8; 8192];
    for (seq, req) in (1u32..).zip(requests) {
        send(fd.as_raw_fd(), &netlink::emit(req, seq), MsgFlags::empty())
            .map_err(|e| io("send", e))?;
        let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).map_err(|e| io("recv", e))?;
        netlink::parse_ack(&buf[..n], seq).map_err(|e| Error::Network {
            detail: format!("{req:?}: {e}"),
        })?;
    }
    Ok(())
}

fn ifindex(name: &str) -> Result<u32> {
    if_nametoindex(name).map_err(|e| Error::Network {
        detail: format!("interface {name}: {e}"),
    })
}

/// Brings up `lo`, then `link` with `ip`'s address and default route.
pub fn configure(link: &Link, ip: &StaticIp) -> Result<()> {
    let lo = ifindex("lo")?;
    let index = ifindex(&link.name)?;
    let mut requests = vec![
        Request::LinkUp { ifindex: lo },
        Request::LinkUp { ifindex: index },
        Request::AddAddress {
            ifindex: index,
            address: ip.address,
            prefix_len: ip.prefix_len,
        },
    ];
    if let Some(gw) = ip.gateway {
        if !same_subnet(ip.address, gw, ip.prefix_len) {
            // A gateway outside the subnet is reachable only with a host
            // route to it on the link first (`ip route add GW dev IF`).
            requests.push(Request::AddRoute {
                ifindex: index,
                destination: gw,
                prefix_len: 32,
                gateway: None,
            });
        }
        requests.push(Request::AddRoute {
            ifindex: index,
            destination: Ipv4Addr::UNSPECIFIED,
            prefix_len: 0,
            gateway: Some(gw),
        });
    }
    apply(&requests)
}

/// The link `name`, whatever kind it is (the boot path only considers
/// hardware NICs; the shell command takes any interface, e.g. a veth).
pub fn link_named(name: &str) -> Result<Link> {
    let dir = std::path::Path::new("/sys/class/net").join(name);
    let mac = std::fs::read_to_string(dir.join("address")).map_err(|e| Error::Network {
        detail: format!("interface {name}: {e}"),
    })?;
    let carrier = std::fs::read_to_string(dir.join("carrier")).is_ok_and(|c| c.trim() == "1");
    Ok(Link {
        name: name.to_owned(),
        mac: mac.trim().parse().ok(),
        carrier,
    })
}

/// Gets a lease for `link` with [`DhcpClient`] over a UDP socket bound to
/// the interface, giving up after `limit`. The link is brought up first;
/// the lease is not configured (see [`configure_lease`]).
pub fn dhcp(link: &Link, limit: Duration, mut log: impl FnMut(&str)) -> Result<Lease> {
    let net_err = |what: String| {
        move |e: std::io::Error| Error::Network {
            detail: format!("{what}: {e}"),
        }
    };
    let mac = link.mac.ok_or_else(|| Error::Network {
        detail: format!("{} has no Ethernet MAC", link.name),
    })?;
    apply(&[
        Request::LinkUp {
            ifindex: ifindex("lo")?,
        },
        Request::LinkUp {
            ifindex: ifindex(&link.name)?,
        },
    ])?;
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 68))
        .map_err(net_err("binding UDP port 68".into()))?;
    sock.set_broadcast(true)
        .map_err(net_err("SO_BROADCAST".into()))?;
    // Without an address, replies and our broadcasts must be tied to the
    // one NIC, or a second NIC's server could answer.
    setsockopt(&sock, sockopt::BindToDevice, &OsString::from(&link.name)).map_err(|e| {
        Error::Network {
            detail: format!("SO_BINDTODEVICE {}: {e}", link.name),
        }
    })?;
    let mut seed = [0u8; 4];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(net_err("/dev/urandom".into()))?;
    let start = Instant::now();
    let mut client = DhcpClient::new(mac, u32::from_ne_bytes(seed), Duration::ZERO);
    let mut buf = vec![0u8; 1500];
    loop {
        let now = start.elapsed();
        if now >= limit {
            return Err(Error::Network {
                detail: format!(
                    "no DHCP lease on {} ({mac}) within {} s",
                    link.name,
                    limit.as_secs()
                ),
            });
        }
        if let Some(packet) = client.poll_transmit(now) {
            sock.send_to(&packet, (Ipv4Addr::BROADCAST, 67))
                .map_err(net_err(format!("DHCP send on {}", link.name)))?;
        }
        let due = client.poll_timeout().unwrap_or(limit).min(limit);
        let wait = due
            .saturating_sub(start.elapsed())
            .max(Duration::from_millis(10));
        sock.set_read_timeout(Some(wait))
            .map_err(net_err("SO_RCVTIMEO".into()))?;
        match sock.recv(&mut buf) {
            Ok(n) => match client.handle_input(start.elapsed(), &buf[..n]) {
                Event::Bound(lease) => return Ok(lease),
                Event::Restarted { server } => log(&format!(
                    "DHCP server {server} refused the offer; starting over"
                )),
                Event::Ignored(_) => {}
            },
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(net_err(format!("DHCP receive on {}", link.name))(e)),
        }
    }
}

/// Configures `link` with what the DHCP server gave.
pub fn configure_lease(link: &Link, lease: &Lease) -> Result<StaticIp> {
    let ip = StaticIp {
        address: lease.address,
        prefix_len: lease.prefix_len,
        server: Some(lease.server_id),
        gateway: lease.router,
        hostname: None,
        device: Some(link.name.clone()),
        dns: lease.dns.clone(),
    };
    configure(link, &ip)?;
    Ok(ip)
}

fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix_len: u8) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0);
    u32::from(a) & mask == u32::from(b) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, mac: &str, carrier: bool) -> Link {
        Link {
            name: name.into(),
            mac: Some(mac.parse().unwrap()),
            carrier,
        }
    }

    #[test]
    fn bootif_picks_the_nic_that_booted() {
        let links = [
            link("eth0", "52:54:00:00:00:01", true),
            link("eth1", "52:54:00:00:00:02", true),
        ];
        let mac = "52:54:00:00:00:02".parse().unwrap();
        assert_eq!(choose_link(&links, None, Some(mac)).unwrap().name, "eth1");
    }

    #[test]
    fn device_from_ip_wins_over_bootif() {
        let links = [
            link("eth0", "52:54:00:00:00:01", true),
            link("eth1", "52:54:00:00:00:02", true),
        ];
        let mac = "52:54:00:00:00:02".parse().unwrap();
        assert_eq!(
            choose_link(&links, Some("eth0"), Some(mac)).unwrap().name,
            "eth0"
        );
        assert!(choose_link(&links, Some("eth9"), None).is_err());
    }

    #[test]
    fn without_hints_only_an_unambiguous_nic_is_chosen() {
        let one = [link("eth0", "52:54:00:00:00:01", false)];
        assert_eq!(choose_link(&one, None, None).unwrap().name, "eth0");
        let two = [
            link("eth0", "52:54:00:00:00:01", false),
            link("eth1", "52:54:00:00:00:02", true),
        ];
        assert_eq!(choose_link(&two, None, None).unwrap().name, "eth1");
        let both_up = [
            link("eth0", "52:54:00:00:00:01", true),
            link("eth1", "52:54:00:00:00:02", true),
        ];
        let err = choose_link(&both_up, None, None).unwrap_err().to_string();
        assert!(err.contains("eth0, eth1"), "{err}");
    }

    #[test]
    fn default_route_is_read_from_proc_net_route() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(
            default_route(text),
            Some(("eth0".into(), Ipv4Addr::new(10, 0, 2, 1)))
        );
        assert_eq!(default_route("Iface\tDestination\n"), None);
    }

    #[test]
    fn subnet_check_uses_the_prefix() {
        assert!(same_subnet(
            Ipv4Addr::new(10, 0, 2, 15),
            Ipv4Addr::new(10, 0, 2, 1),
            24
        ));
        assert!(!same_subnet(
            Ipv4Addr::new(10, 0, 2, 15),
            Ipv4Addr::new(10, 0, 3, 1),
            24
        ));
        assert!(same_subnet(
            Ipv4Addr::new(10, 0, 2, 15),
            Ipv4Addr::new(1, 2, 3, 4),
            0
        ));
    }
}
