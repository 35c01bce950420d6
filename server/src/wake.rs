//! Wake-on-LAN: one magic packet per host, broadcast on the serving
//! interface's subnet. `marrow host wake`, `task … --wake` and a session's
//! `--wake` all send through here.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};

use marrow_protocol::wol::{magic_packet, PORT};
use marrow_protocol::MacAddr;

use crate::error::{Error, Result};
use crate::serve::net::Interface;

/// The interface's directed broadcast address (RFC 919).
pub fn broadcast(iface: &Interface) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(iface.ip) | !u32::from(iface.netmask()))
}

/// Sends each host's magic packet three times (a lost packet leaves a
/// machine off, and the packets cost nothing).
pub fn wake(iface: &Interface, hosts: &[MacAddr]) -> Result<()> {
    let sock = UdpSocket::bind(SocketAddrV4::new(iface.ip, 0))
        .map_err(Error::io(format!("Wake-on-LAN socket on {}", iface.ip)))?;
    sock.set_broadcast(true)
        .map_err(Error::io("Wake-on-LAN socket SO_BROADCAST"))?;
    let to = SocketAddrV4::new(broadcast(iface), PORT);
    for _ in 0..3 {
        for mac in hosts {
            sock.send_to(&magic_packet(*mac), to)
                .map_err(Error::io(format!("Wake-on-LAN packet for {mac} to {to}")))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_broadcast_address_is_the_subnet_with_its_host_bits_set() {
        let iface = Interface {
            name: "br0".into(),
            ip: Ipv4Addr::new(10, 95, 0, 1),
            prefix_len: 24,
        };
        assert_eq!(broadcast(&iface), Ipv4Addr::new(10, 95, 0, 255));
    }
}
