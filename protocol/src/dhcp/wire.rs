//! The DHCPv4 / BOOTP packet (RFC 2131 §2, RFC 951) as a plain value with
//! `parse` and `emit`. Options are kept in arrival order and unknown codes
//! are kept, not rejected (so the client side can read anything a server
//! sends, and the server can log what a firmware asked for).
//!
//! Why not `dhcproto`'s `Message`: its options live in a `HashMap`, so replies
//! come out in a different order each run (no golden bytes, and option 53 is
//! not first, which old PXE ROMs expect), and its decoder silently stops at
//! the first malformed option instead of saying what was wrong.

use std::net::Ipv4Addr;

use crate::error::DhcpError;
use crate::MacAddr;

/// RFC 2131 §3: the four octets before the options.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// Fixed BOOTP header before the magic cookie.
const HEADER_LEN: usize = 236;
/// RFC 1542 §2.1: some relays and PXE ROMs drop BOOTP messages shorter
/// than 300 bytes, so replies are padded to it.
pub const MIN_LEN: usize = 300;

pub const OP_REQUEST: u8 = 1;
pub const OP_REPLY: u8 = 2;

/// Option codes Marrow reads or writes (RFC 2132 unless noted).
pub mod code {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS: u8 = 6;
    pub const HOSTNAME: u8 = 12;
    pub const VENDOR_SPECIFIC: u8 = 43;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_LIST: u8 = 55;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const VENDOR_CLASS: u8 = 60;
    pub const CLIENT_ID: u8 = 61;
    pub const TFTP_SERVER: u8 = 66;
    pub const BOOTFILE: u8 = 67;
    /// RFC 3004.
    pub const USER_CLASS: u8 = 77;
    /// RFC 4578 §2.1.
    pub const CLIENT_ARCH: u8 = 93;
    /// RFC 4578 §2.2.
    pub const CLIENT_NDI: u8 = 94;
    /// RFC 4578 §2.3.
    pub const CLIENT_UUID: u8 = 97;
    /// iPXE's encapsulated options (<https://ipxe.org/howto/dhcpd>).
    pub const IPXE_ENCAP: u8 = 175;
    pub const END: u8 = 255;
}

/// RFC 2132 §9.6 message types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Discover,
    Offer,
    Request,
    Decline,
    Ack,
    Nak,
    Release,
    Inform,
    Other(u8),
}

impl MessageType {
    pub fn from_byte(b: u8) -> Self {
        match b {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            n => MessageType::Other(n),
        }
    }

    pub fn to_byte(self) -> u8 {
        match self {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
            MessageType::Other(n) => n,
        }
    }
}

/// One option, as code and raw value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpOption {
    pub code: u8,
    pub data: Vec<u8>,
}

/// A BOOTP/DHCP packet. Field names are readable; the RFC 2131 name is in
/// each doc comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// `op`: 1 BOOTREQUEST, 2 BOOTREPLY.
    pub op: u8,
    /// `htype`: 1 for Ethernet.
    pub htype: u8,
    /// `hlen`: 6 for Ethernet.
    pub hlen: u8,
    /// `hops`: incremented by relays.
    pub hops: u8,
    /// `xid`: transaction id chosen by the client.
    pub xid: u32,
    /// `secs`: seconds since the client began.
    pub secs: u16,
    /// `flags`: bit 15 is BROADCAST.
    pub flags: u16,
    /// `ciaddr`: the client's address when it already has one.
    pub client_addr: Ipv4Addr,
    /// `yiaddr`: the address offered to the client.
    pub your_addr: Ipv4Addr,
    /// `siaddr`: the next server (TFTP) in a boot reply.
    pub next_server: Ipv4Addr,
    /// `giaddr`: the relay agent's address, 0 when not relayed.
    pub relay_addr: Ipv4Addr,
    /// `chaddr`: client hardware address, 16 octets of which `hlen` count.
    pub client_hw: [u8; 16],
    /// `sname`: server host name, NUL padded.
    pub server_name: Vec<u8>,
    /// `file`: boot file name, NUL padded.
    pub boot_file: Vec<u8>,
    /// Options in the order they appear; PAD and END are not kept.
    pub options: Vec<DhcpOption>,
}

impl Packet {
    /// An empty packet with Ethernet addressing.
    pub fn new(op: u8, xid: u32, mac: MacAddr) -> Self {
        let mut client_hw = [0u8; 16];
        client_hw[..6].copy_from_slice(&mac.0);
        Packet {
            op,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid,
            secs: 0,
            flags: 0,
            client_addr: Ipv4Addr::UNSPECIFIED,
            your_addr: Ipv4Addr::UNSPECIFIED,
            next_server: Ipv4Addr::UNSPECIFIED,
            relay_addr: Ipv4Addr::UNSPECIFIED,
            client_hw,
            server_name: Vec::new(),
            boot_file: Vec::new(),
            options: Vec::new(),
        }
    }

    /// Parses a datagram. Never panics. Framing errors (truncation, bad
    /// cookie, an option running past the end) are errors; semantic checks
    /// (op, hardware type) belong to the caller.
    pub fn parse(bytes: &[u8]) -> Result<Self, DhcpError> {
        if bytes.len() < HEADER_LEN + 4 {
            return Err(DhcpError::Truncated { len: bytes.len() });
        }
        let ip = |at: usize| Ipv4Addr::new(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
        let cookie = [bytes[236], bytes[237], bytes[238], bytes[239]];
        if cookie != MAGIC_COOKIE {
            return Err(DhcpError::BadMagic { found: cookie });
        }
        let mut client_hw = [0u8; 16];
        client_hw.copy_from_slice(&bytes[28..44]);
        let mut options = Vec::new();
        let mut at = HEADER_LEN + 4;
        let mut ended = false;
        while at < bytes.len() {
            let code = bytes[at];
            match code {
                code::PAD => at += 1,
                code::END => {
                    ended = true;
                    break;
                }
                _ => {
                    let Some(&len) = bytes.get(at + 1) else {
                        return Err(DhcpError::Options {
                            detail: format!("option {code} at offset {at} has no length byte"),
                        });
                    };
                    let start = at + 2;
                    let end = start + usize::from(len);
                    if end > bytes.len() {
                        return Err(DhcpError::Options {
                            detail: format!(
                                "option {code} at offset {at} claims {len} bytes, {} remain",
                                bytes.len() - start
                            ),
                        });
                    }
                    options.push(DhcpOption {
                        code,
                        data: bytes[start..end].to_vec(),
                    });
                    at = end;
                }
            }
        }
        if !ended {
            return Err(DhcpError::Options {
                detail: "no END option (255)".to_string(),
            });
        }
        Ok(Packet {
            op: bytes[0],
            htype: bytes[1],
            hlen: bytes[2],
            hops: bytes[3],
            xid: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            secs: u16::from_be_bytes([bytes[8], bytes[9]]),
            flags: u16::from_be_bytes([bytes[10], bytes[11]]),
            client_addr: ip(12),
            your_addr: ip(16),
            next_server: ip(20),
            relay_addr: ip(24),
            client_hw,
            server_name: trim_nul(&bytes[44..108]),
            boot_file: trim_nul(&bytes[108..236]),
            options,
        })
    }

    /// The first option with `code`. RFC 3396 long-option concatenation is
    /// not needed for anything Marrow reads.
    pub fn option(&self, code: u8) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|o| o.code == code)
            .map(|o| o.data.as_slice())
    }

    pub fn push_option(&mut self, code: u8, data: impl Into<Vec<u8>>) {
        self.options.push(DhcpOption {
            code,
            data: data.into(),
        });
    }

    pub fn message_type(&self) -> Option<MessageType> {
        match self.option(code::MESSAGE_TYPE) {
            Some([b]) => Some(MessageType::from_byte(*b)),
            _ => None,
        }
    }

    /// The client's MAC, when `htype`/`hlen` say Ethernet.
    pub fn mac(&self) -> Option<MacAddr> {
        (self.htype == 1 && self.hlen == 6).then(|| {
            let mut m = [0u8; 6];
            m.copy_from_slice(&self.client_hw[..6]);
            MacAddr(m)
        })
    }

    pub fn broadcast_flag(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    /// Encoded length, padding included.
    pub fn buffer_len(&self) -> usize {
        let opts: usize = self.options.iter().map(|o| 2 + o.data.len().min(255)).sum();
        (HEADER_LEN + 4 + opts + 1).max(MIN_LEN)
    }

    /// Encodes into a new vector. Values longer than 255 bytes are cut at
    /// 255: nothing Marrow sends is that long, and a silent RFC 3396 split
    /// would surprise old ROMs more than a short value.
    pub fn emit(&self) -> Result<Vec<u8>, DhcpError> {
        if self.server_name.len() > 64 || self.boot_file.len() > 128 {
            return Err(DhcpError::Encode {
                detail: format!(
                    "sname of {} bytes or file of {} bytes exceeds 64/128",
                    self.server_name.len(),
                    self.boot_file.len()
                ),
            });
        }
        let mut out = Vec::with_capacity(self.buffer_len());
        out.extend_from_slice(&[self.op, self.htype, self.hlen, self.hops]);
        out.extend_from_slice(&self.xid.to_be_bytes());
        out.extend_from_slice(&self.secs.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        for a in [
            self.client_addr,
            self.your_addr,
            self.next_server,
            self.relay_addr,
        ] {
            out.extend_from_slice(&a.octets());
        }
        out.extend_from_slice(&self.client_hw);
        let mut sname = [0u8; 64];
        sname[..self.server_name.len()].copy_from_slice(&self.server_name);
        out.extend_from_slice(&sname);
        let mut file = [0u8; 128];
        file[..self.boot_file.len()].copy_from_slice(&self.boot_file);
        out.extend_from_slice(&file);
        out.extend_from_slice(&MAGIC_COOKIE);
        for o in &self.options {
            let data = &o.data[..o.data.len().min(255)];
            out.push(o.code);
            out.push(data.len() as u8);
            out.extend_from_slice(data);
        }
        out.push(code::END);
        if out.len() < MIN_LEN {
            out.resize(MIN_LEN, 0);
        }
        Ok(out)
    }
}

fn trim_nul(field: &[u8]) -> Vec<u8> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    field[..end].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discover() -> Packet {
        let mut p = Packet::new(
            OP_REQUEST,
            0xdead_beef,
            "52:54:00:12:34:56".parse().unwrap(),
        );
        p.flags = 0x8000;
        p.push_option(code::MESSAGE_TYPE, [1]);
        p.push_option(code::CLIENT_ARCH, [0, 0]);
        p.push_option(code::VENDOR_CLASS, &b"PXEClient:Arch:00000:UNDI:002001"[..]);
        p
    }

    #[test]
    fn emits_padded_to_300_bytes_and_parses_back_identically() {
        let p = discover();
        let bytes = p.emit().unwrap();
        assert_eq!(bytes.len(), 300);
        assert_eq!(&bytes[236..240], &MAGIC_COOKIE);
        assert_eq!(
            bytes[240],
            code::MESSAGE_TYPE,
            "option 53 comes first as written"
        );
        assert_eq!(Packet::parse(&bytes).unwrap(), p);
    }

    #[test]
    fn keeps_unknown_options_in_order() {
        let mut p = discover();
        p.push_option(222, [1, 2, 3]);
        let back = Packet::parse(&p.emit().unwrap()).unwrap();
        assert_eq!(
            back.options.last().unwrap(),
            &DhcpOption {
                code: 222,
                data: vec![1, 2, 3]
            }
        );
        assert_eq!(back.message_type(), Some(MessageType::Discover));
        assert!(back.broadcast_flag());
    }

    #[test]
    fn rejects_an_option_that_runs_past_the_end() {
        let mut bytes = discover().emit().unwrap();
        bytes.truncate(240);
        bytes.extend_from_slice(&[60, 40, b'P', b'X']);
        assert!(matches!(
            Packet::parse(&bytes),
            Err(DhcpError::Options { .. })
        ));
    }
}
