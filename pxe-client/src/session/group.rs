//! The socket a receiver takes a session's frames from: bound to the
//! group and port (so frames of other groups on the same port stay out),
//! joined on the interface that routes to the server or the one given,
//! with a receive buffer deep enough to ride out a slow disk write and
//! the receive loop's naps.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, ToSocketAddrs, UdpSocket};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::{Error, Result};

/// Receive buffer asked for: about 0.17 s at 800 Mbit/s.
const RCVBUF: usize = 16 << 20;

fn net(detail: String) -> Error {
    Error::Network { detail }
}

/// The local address of the interface the route to `base` (an
/// `http://HOST:PORT` URL) leaves by.
pub fn address_towards(base: &str) -> Result<Ipv4Addr> {
    let rest = base.trim_start_matches("http://");
    let hostport = rest.split('/').next().unwrap_or(rest);
    let with_port = match hostport.contains(':') {
        true => hostport.to_string(),
        false => format!("{hostport}:80"),
    };
    let server = with_port
        .to_socket_addrs()
        .map_err(|e| net(format!("resolving {hostport}: {e}")))?
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| net(format!("{hostport} has no IPv4 address")))?;
    let probe = UdpSocket::bind("0.0.0.0:0").map_err(|e| net(format!("UDP socket: {e}")))?;
    probe
        .connect(server)
        .map_err(|e| net(format!("no route to {server}: {e}")))?;
    match probe.local_addr() {
        Ok(SocketAddr::V4(a)) => Ok(*a.ip()),
        other => Err(net(format!(
            "the route to {server} has no IPv4 source: {other:?}"
        ))),
    }
}

/// The first IPv4 address of interface `name`.
pub fn address_of(name: &str) -> Result<Ipv4Addr> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| net(format!("listing interfaces: {e}")))?;
    for a in addrs {
        if a.interface_name != name {
            continue;
        }
        if let Some(sin) = a.address.as_ref().and_then(|s| s.as_sockaddr_in()) {
            return Ok(sin.ip());
        }
    }
    Err(net(format!(
        "interface {name} has no IPv4 address (--interface)"
    )))
}

/// Joins `group` on the interface with address `local`.
pub fn join(group: Ipv4Addr, port: u16, local: Ipv4Addr) -> Result<UdpSocket> {
    let what = |e: std::io::Error| net(format!("joining {group}:{port} on {local}: {e}"));
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(what)?;
    sock.set_reuse_address(true).map_err(what)?;
    // As root the buffer may exceed net.core.rmem_max (SO_RCVBUFFORCE).
    let forced =
        nix::sys::socket::setsockopt(&sock, nix::sys::socket::sockopt::RcvBufForce, &RCVBUF);
    if forced.is_err() {
        let _ = sock.set_recv_buffer_size(RCVBUF);
    }
    sock.bind(&SockAddr::from(SocketAddrV4::new(group, port)))
        .map_err(what)?;
    sock.join_multicast_v4(&group, &local).map_err(what)?;
    // Non-blocking: the receive loop drains the queue, then sleeps while
    // the next frames gather (see `session::GATHER`).
    sock.set_nonblocking(true).map_err(what)?;
    Ok(sock.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_to_loopback_leaves_from_loopback() {
        assert_eq!(
            address_towards("http://127.0.0.1:8080").unwrap(),
            Ipv4Addr::LOCALHOST
        );
        assert_eq!(address_of("lo").unwrap(), Ipv4Addr::LOCALHOST);
        let err = address_of("no-such-if0").unwrap_err().to_string();
        assert!(err.contains("no-such-if0"), "{err}");
    }
}
