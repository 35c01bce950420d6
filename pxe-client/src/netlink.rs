//! The few rtnetlink requests the client needs to bring a NIC up with a
//! static address: set the link up, add an IPv4 address, add a default
//! route. Sans-I/O: [`emit`] builds the request bytes and [`parse_ack`]
//! reads the kernel's answer; `net` owns the socket.
//!
//! Layouts are those of `<linux/netlink.h>` and `<linux/rtnetlink.h>`
//! (rtnetlink(7)): a 16-byte `nlmsghdr`, the family header (`ifinfomsg`,
//! `ifaddrmsg` or `rtmsg`), then `rtattr`s, each padded to 4 bytes, all in
//! host byte order.

use std::net::Ipv4Addr;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;

const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;

const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const IFF_UP: u32 = 0x1;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RT_TABLE_MAIN: u8 = 254;
/// "Route installed during boot" (`RTPROT_BOOT`), what `ip route add` uses.
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RTN_UNICAST: u8 = 1;

/// One request, with the interface index it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `ip link set dev IF up`.
    LinkUp { ifindex: u32 },
    /// `ip addr replace ADDR/PREFIX brd + dev IF`.
    AddAddress {
        ifindex: u32,
        address: Ipv4Addr,
        prefix_len: u8,
    },
    /// `ip route replace default via GW dev IF`, or a link-scope route to a
    /// host when the gateway sits outside the subnet (`onlink`).
    AddRoute {
        ifindex: u32,
        destination: Ipv4Addr,
        prefix_len: u8,
        gateway: Option<Ipv4Addr>,
    },
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_ne_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_ne_bytes());
}

fn put_attr(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    put_u16(out, (4 + data.len()) as u16);
    put_u16(out, kind);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(4) * 4, 0);
}

/// The broadcast address of `address/prefix_len` (all host bits set).
pub fn broadcast(address: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    let host_mask = u32::MAX.checked_shr(u32::from(prefix_len)).unwrap_or(0);
    Ipv4Addr::from(u32::from(address) | host_mask)
}

/// The bytes of `req` as netlink message number `seq`.
pub fn emit(req: &Request, seq: u32) -> Vec<u8> {
    let mut body = Vec::new();
    let (kind, flags) = match *req {
        Request::LinkUp { ifindex } => {
            // struct ifinfomsg: family, pad, type, index, flags, change.
            body.push(AF_UNSPEC);
            body.push(0);
            put_u16(&mut body, 0);
            put_u32(&mut body, ifindex);
            put_u32(&mut body, IFF_UP);
            put_u32(&mut body, IFF_UP);
            (RTM_NEWLINK, 0)
        }
        Request::AddAddress {
            ifindex,
            address,
            prefix_len,
        } => {
            // struct ifaddrmsg: family, prefixlen, flags, scope, index.
            body.extend_from_slice(&[AF_INET, prefix_len, 0, RT_SCOPE_UNIVERSE]);
            put_u32(&mut body, ifindex);
            put_attr(&mut body, IFA_LOCAL, &address.octets());
            put_attr(&mut body, IFA_ADDRESS, &address.octets());
            put_attr(
                &mut body,
                IFA_BROADCAST,
                &broadcast(address, prefix_len).octets(),
            );
            (RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE)
        }
        Request::AddRoute {
            ifindex,
            destination,
            prefix_len,
            gateway,
        } => {
            // struct rtmsg: family, dst_len, src_len, tos, table, protocol,
            // scope, type, flags.
            let scope = if gateway.is_some() {
                RT_SCOPE_UNIVERSE
            } else {
                RT_SCOPE_LINK
            };
            body.extend_from_slice(&[
                AF_INET,
                prefix_len,
                0,
                0,
                RT_TABLE_MAIN,
                RTPROT_BOOT,
                scope,
                RTN_UNICAST,
            ]);
            put_u32(&mut body, 0);
            if prefix_len > 0 {
                put_attr(&mut body, RTA_DST, &destination.octets());
            }
            if let Some(gw) = gateway {
                put_attr(&mut body, RTA_GATEWAY, &gw.octets());
            }
            put_attr(&mut body, RTA_OIF, &ifindex.to_ne_bytes());
            (RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE)
        }
    };
    let mut out = Vec::with_capacity(NLMSG_HDRLEN + body.len());
    put_u32(&mut out, (NLMSG_HDRLEN + body.len()) as u32);
    put_u16(&mut out, kind);
    put_u16(&mut out, NLM_F_REQUEST | NLM_F_ACK | flags);
    put_u32(&mut out, seq);
    put_u32(&mut out, 0);
    out.extend_from_slice(&body);
    out
}

/// What the kernel said about request `seq`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    #[error("netlink reply of {len} bytes is too short for an ack")]
    Short { len: usize },
    #[error("netlink reply has type {kind}, not an ack (NLMSG_ERROR)")]
    NotAck { kind: u16 },
    #[error("netlink ack is for message {got}, expected {expected}")]
    WrongSeq { expected: u32, got: u32 },
    #[error("kernel refused the request: errno {errno} ({})", std::io::Error::from_raw_os_error(*errno))]
    Refused { errno: i32 },
}

/// Reads the `NLMSG_ERROR` answer to request `seq`: error 0 is the ack.
pub fn parse_ack(reply: &[u8], seq: u32) -> Result<(), AckError> {
    // nlmsghdr, then struct nlmsgerr { int error; struct nlmsghdr msg; }.
    if reply.len() < NLMSG_HDRLEN + 4 {
        return Err(AckError::Short { len: reply.len() });
    }
    let kind = u16::from_ne_bytes([reply[4], reply[5]]);
    if kind != NLMSG_ERROR {
        return Err(AckError::NotAck { kind });
    }
    let got = u32::from_ne_bytes(reply[8..12].try_into().expect("4 bytes"));
    if got != seq {
        return Err(AckError::WrongSeq { expected: seq, got });
    }
    let errno = i32::from_ne_bytes(reply[16..20].try_into().expect("4 bytes"));
    match errno {
        0 => Ok(()),
        e => Err(AckError::Refused { errno: -e }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    // Expected bytes are the <linux/rtnetlink.h> structs laid out by hand
    // for x86_64 (little-endian); the initramfs boot test checks that the
    // kernel accepts them and routes with them.
    #[test]
    fn link_up_request_sets_iff_up_in_flags_and_change() {
        assert_eq!(
            hex(&emit(&Request::LinkUp { ifindex: 2 }, 1)),
            "20000000\
             10000500\
             01000000\
             00000000\
             00000000\
             02000000\
             01000000\
             01000000"
        );
    }

    #[test]
    fn address_request_carries_local_address_and_broadcast() {
        let bytes = emit(
            &Request::AddAddress {
                ifindex: 2,
                address: Ipv4Addr::new(10, 0, 2, 15),
                prefix_len: 24,
            },
            2,
        );
        assert_eq!(
            hex(&bytes),
            "30000000\
             14000505\
             02000000\
             00000000\
             02180000\
             02000000\
             080002000a00020f\
             080001000a00020f\
             080004000a0002ff"
        );
    }

    #[test]
    fn default_route_request_names_gateway_and_interface() {
        let bytes = emit(
            &Request::AddRoute {
                ifindex: 2,
                destination: Ipv4Addr::UNSPECIFIED,
                prefix_len: 0,
                gateway: Some(Ipv4Addr::new(10, 0, 2, 1)),
            },
            3,
        );
        assert_eq!(
            hex(&bytes),
            "2c000000\
             18000505\
             03000000\
             00000000\
             020000 00fe030001\
             00000000\
             080005000a000201\
             0800040002000000"
                .replace(' ', "")
        );
    }

    #[test]
    fn broadcast_sets_every_host_bit() {
        assert_eq!(
            broadcast(Ipv4Addr::new(192, 168, 7, 9), 23),
            Ipv4Addr::new(192, 168, 7, 255)
        );
        assert_eq!(
            broadcast(Ipv4Addr::new(10, 1, 2, 3), 32),
            Ipv4Addr::new(10, 1, 2, 3)
        );
        assert_eq!(
            broadcast(Ipv4Addr::new(10, 1, 2, 3), 0),
            Ipv4Addr::BROADCAST
        );
    }

    fn ack(seq: u32, errno: i32) -> Vec<u8> {
        let mut v = Vec::new();
        put_u32(&mut v, 36);
        put_u16(&mut v, NLMSG_ERROR);
        put_u16(&mut v, 0);
        put_u32(&mut v, seq);
        put_u32(&mut v, 0);
        v.extend_from_slice(&errno.to_ne_bytes());
        v.extend_from_slice(&[0; 16]);
        v
    }

    #[test]
    fn zero_error_is_an_ack_and_negative_errno_a_refusal() {
        assert_eq!(parse_ack(&ack(7, 0), 7), Ok(()));
        assert_eq!(
            parse_ack(&ack(7, -17), 7),
            Err(AckError::Refused { errno: 17 })
        );
        assert_eq!(
            parse_ack(&ack(6, 0), 7),
            Err(AckError::WrongSeq {
                expected: 7,
                got: 6
            })
        );
        assert_eq!(
            parse_ack(&ack(7, 0)[..10], 7),
            Err(AckError::Short { len: 10 })
        );
        let mut not_ack = ack(7, 0);
        not_ack[4] = 16;
        assert_eq!(parse_ack(&not_ack, 7), Err(AckError::NotAck { kind: 16 }));
    }
}
