//! The parse errors of this crate. Each names the field and value at fault so
//! a debug log line is enough to understand why a packet was dropped.

/// Why a datagram is not a DHCP request we can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DhcpError {
    #[error(
        "DHCP packet of {len} bytes is shorter than the 240-byte BOOTP header and magic cookie"
    )]
    Truncated { len: usize },
    #[error("DHCP magic cookie is {found:02x?}, expected 63 82 53 63 (RFC 2131 §3)")]
    BadMagic { found: [u8; 4] },
    #[error("DHCP options do not decode: {detail}")]
    Options { detail: String },
    #[error("BOOTP op is {op}, not BOOTREQUEST (1)")]
    NotRequest { op: u8 },
    #[error("hardware type {htype} with length {hlen} is not Ethernet (1, 6)")]
    NotEthernet { htype: u8, hlen: u8 },
    #[error("option 52 (overload) = {value} is not supported: sname/file carry options")]
    Overload { value: u8 },
    #[error("no option 53 (message type)")]
    NoMessageType,
    #[error("DHCP reply does not encode: {detail}")]
    Encode { detail: String },
}

/// Why a datagram is not a TFTP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TftpError {
    #[error("TFTP packet of {len} bytes is too short for its opcode")]
    Truncated { len: usize },
    #[error("TFTP opcode {opcode} is not one of 1-6 (RFC 1350 §5, RFC 2347)")]
    BadOpcode { opcode: u16 },
    #[error("TFTP {field} is not NUL-terminated")]
    Unterminated { field: &'static str },
    #[error("TFTP {field} is not valid ASCII/UTF-8")]
    NotText { field: &'static str },
    #[error("TFTP mode {mode:?} is not octet or netascii")]
    BadMode { mode: String },
    #[error("TFTP option {name:?} appears twice")]
    DuplicateOption { name: String },
    #[error("TFTP packet does not fit: {len} bytes into a {capacity}-byte buffer")]
    BufferTooSmall { len: usize, capacity: usize },
}
