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

/// Why a datagram is not a multicast frame a receiver may look at
/// (`docs/multicast.md`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("multicast frame of {len} bytes is shorter than {need}")]
    Truncated { len: usize, need: usize },
    #[error("multicast frame magic is {found:02x?}, expected \"MRWC\"")]
    BadMagic { found: [u8; 4] },
    #[error("multicast frame version {version} is not 1")]
    UnsupportedVersion { version: u8 },
    #[error("multicast frame kind {kind} is not 1 (symbol) or 2 (announce)")]
    UnknownKind { kind: u8 },
    #[error("multicast frame has reserved flags {flags:#06x} set")]
    FlagsSet { flags: u16 },
    #[error("symbol of {len} bytes is not a positive multiple of the 8-byte alignment")]
    BadSymbolLength { len: usize },
    #[error("chunk length {len} is 0 or over the 4 MiB a chunk can have")]
    BadChunkLength { len: u32 },
    #[error("chunk of {chunk_len} bytes in {symbol_size}-byte symbols needs more than RFC 6330's 56403 source symbols")]
    TooManySymbols { chunk_len: u32, symbol_size: usize },
    #[error("encoding symbol id {esi} does not fit RFC 6330's 24 bits")]
    BadEsi { esi: u32 },
    #[error("announce frame of {len} bytes is not 72")]
    BadAnnounceLength { len: usize },
    #[error("announce state {state} is not 1 (running) or 2 (ending)")]
    BadAnnounceState { state: u8 },
    #[error("multicast frame does not fit: {len} bytes into a {capacity}-byte buffer")]
    BufferTooSmall { len: usize, capacity: usize },
}

/// Why a site sync chunk batch cannot be read (`sync.rs`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("chunk batch record of {len} bytes is longer than the {max} a chunk can be")]
    TooLong { len: u32, max: u32 },
    #[error("chunk batch ends inside a record ({left} bytes left over)")]
    Truncated { left: usize },
}

/// Why an NBD client's bytes end the connection (`nbd`): the protocol
/// (github.com/NetworkBlockDevice/nbd, doc/proto.md) leaves the server no
/// reply to these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NbdError {
    #[error("NBD client flags {flags:#x} have bits this server does not know")]
    UnknownClientFlags { flags: u32 },
    #[error("NBD option magic is {found:#x}, expected IHAVEOPT (0x49484156454f5054)")]
    BadOptionMagic { found: u64 },
    #[error("NBD option {option} carries {len} bytes, more than the {max} allowed")]
    OptionTooLong { option: u32, len: u32, max: u32 },
    #[error("NBD export {name:?} does not exist (asked by NBD_OPT_EXPORT_NAME)")]
    UnknownExport { name: String },
    #[error("NBD request magic is {found:#x}, expected 0x25609513")]
    BadRequestMagic { found: u32 },
}
