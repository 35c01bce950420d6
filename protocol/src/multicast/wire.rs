//! The multicast frame format (`docs/multicast.md`): a checked parse of
//! one UDP datagram into a [`Frame`], and its emit.
//!
//! Two kinds of frame go to a session's group, both in network byte order
//! behind one common head:
//!
//! ```text
//!  0  4  magic "MRWC"
//!  4  1  version (1)
//!  5  1  kind: 1 symbol, 2 announce
//!  6  2  flags (0; a frame with a flag set is refused, so a later version
//!        can give them meaning)
//!  8  8  session id
//! 16 32  image id (BLAKE3 of the manifest)
//! ```
//!
//! A symbol frame then carries one RaptorQ encoding symbol of one chunk:
//!
//! ```text
//! 48  4  chunk index in the session's chunk table
//! 52 32  chunk id (BLAKE3 of the chunk's plain bytes)
//! 84  4  chunk length: the stored (compressed) bytes, RFC 6330's F
//! 88  4  encoding symbol id (ESI, RFC 6330 §3.2: 24 bits)
//! 92  8  sequence number of the frame in the session
//! 100 T  the symbol; T is the rest of the datagram
//! ```
//!
//! An announce frame says the session is alive and how far it has got:
//!
//! ```text
//! 48  8  sequence number of the last symbol frame sent
//! 56  4  cycle (passes of the carousel begun)
//! 60  4  chunks in the session's table
//! 64  2  symbol size T
//! 66  1  state: 1 running, 2 ending
//! 67  1  reserved (0)
//! 68  4  rate, kbit/s
//! ```
//!
//! Every frame names its session, image and (for a symbol) chunk, so a
//! receiver can check each against its own before it keeps a byte.

use crate::error::FrameError;
use crate::{ChunkId, ImageId};

pub const MAGIC: [u8; 4] = *b"MRWC";
pub const VERSION: u8 = 1;

/// Bytes before a symbol frame's symbol.
pub const SYMBOL_HEADER_LEN: usize = 100;
/// An announce frame's length.
pub const ANNOUNCE_LEN: usize = 72;
/// The largest UDP payload that crosses a 1500-byte Ethernet MTU without
/// fragmenting: 1500 - 20 (IPv4) - 8 (UDP).
pub const MAX_DATAGRAM: usize = 1472;
/// The symbol size Marrow sends: what fits [`MAX_DATAGRAM`] behind the
/// header, rounded down to the 8-byte symbol alignment it uses.
pub const SYMBOL_SIZE: u16 = ((MAX_DATAGRAM - SYMBOL_HEADER_LEN) / 8 * 8) as u16;
/// RaptorQ's symbol alignment (RFC 6330 §4.3, Al): symbols are a multiple
/// of it.
pub const ALIGNMENT: u8 = 8;
/// RFC 6330 §3.2: an ESI is 24 bits.
pub const MAX_ESI: u32 = (1 << 24) - 1;
/// RFC 6330 §5.1.2 (Table 2): at most 56403 source symbols in a block.
pub const MAX_SOURCE_SYMBOLS: u32 = 56403;
/// The largest chunk a frame may describe. The chunker's largest chunk is
/// 512 KiB plain; zstd's worst case adds little. Anything bigger is not a
/// Marrow chunk.
pub const MAX_CHUNK_LEN: u32 = 4 << 20;

const KIND_SYMBOL: u8 = 1;
const KIND_ANNOUNCE: u8 = 2;

/// A session's id on the wire: random, chosen when the session is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl SessionId {
    /// Parses the 16 hex digits that [`SessionId`]'s `Display` writes.
    pub fn parse(s: &str) -> Option<SessionId> {
        if s.len() != 16 {
            return None;
        }
        u64::from_str_radix(s, 16).ok().map(SessionId)
    }
}

// In JSON a session id is its hex string: a u64 does not survive
// JavaScript's numbers.
impl serde::Serialize for SessionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SessionId, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        SessionId::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("bad session id {s:?}: not 16 hex digits"))
        })
    }
}

/// One encoding symbol of one chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolFrame<'a> {
    pub session: SessionId,
    pub image: ImageId,
    pub chunk_index: u32,
    pub chunk: ChunkId,
    /// The chunk's stored (compressed) length, RFC 6330's F.
    pub chunk_len: u32,
    /// Encoding symbol id: below K a source symbol, from K on a repair
    /// symbol (RFC 6330 §5.3.1).
    pub esi: u32,
    pub seq: u64,
    pub symbol: &'a [u8],
}

/// Whether the sender carries on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnounceState {
    Running,
    /// The session ends: receivers that still lack chunks fetch them over
    /// HTTP.
    Ending,
}

/// The sender's heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    pub session: SessionId,
    pub image: ImageId,
    /// The last symbol frame's sequence number (0: none sent yet).
    pub seq: u64,
    pub cycle: u32,
    pub chunk_count: u32,
    pub symbol_size: u16,
    pub state: AnnounceState,
    pub rate_kbit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    Symbol(SymbolFrame<'a>),
    Announce(Announce),
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn id32(b: &[u8], at: usize) -> [u8; 32] {
    b[at..at + 32].try_into().expect("32 bytes")
}

/// The source symbols a chunk of `len` stored bytes has at symbol size
/// `t`: RFC 6330's K = ceil(F / T).
pub fn source_symbols(len: u32, t: u16) -> u32 {
    len.div_ceil(t as u32)
}

impl<'a> Frame<'a> {
    /// Parses one datagram. Every field is checked against the limits
    /// above; nothing of a refused frame is kept.
    pub fn parse(b: &'a [u8]) -> Result<Frame<'a>, FrameError> {
        if b.len() < 48 {
            return Err(FrameError::Truncated {
                len: b.len(),
                need: 48,
            });
        }
        let magic: [u8; 4] = b[..4].try_into().expect("4 bytes");
        if magic != MAGIC {
            return Err(FrameError::BadMagic { found: magic });
        }
        if b[4] != VERSION {
            return Err(FrameError::UnsupportedVersion { version: b[4] });
        }
        let flags = be16(b, 6);
        if flags != 0 {
            return Err(FrameError::FlagsSet { flags });
        }
        let session = SessionId(be64(b, 8));
        let image = ImageId(id32(b, 16));
        match b[5] {
            KIND_SYMBOL => Self::parse_symbol(b, session, image),
            KIND_ANNOUNCE => Self::parse_announce(b, session, image),
            kind => Err(FrameError::UnknownKind { kind }),
        }
    }

    fn parse_symbol(
        b: &'a [u8],
        session: SessionId,
        image: ImageId,
    ) -> Result<Frame<'a>, FrameError> {
        if b.len() <= SYMBOL_HEADER_LEN {
            return Err(FrameError::Truncated {
                len: b.len(),
                need: SYMBOL_HEADER_LEN + ALIGNMENT as usize,
            });
        }
        let symbol = &b[SYMBOL_HEADER_LEN..];
        if !symbol.len().is_multiple_of(ALIGNMENT as usize) {
            return Err(FrameError::BadSymbolLength { len: symbol.len() });
        }
        let chunk_len = be32(b, 84);
        if chunk_len == 0 || chunk_len > MAX_CHUNK_LEN {
            return Err(FrameError::BadChunkLength { len: chunk_len });
        }
        let k = source_symbols(chunk_len, symbol.len() as u16);
        if k > MAX_SOURCE_SYMBOLS {
            return Err(FrameError::TooManySymbols {
                chunk_len,
                symbol_size: symbol.len(),
            });
        }
        let esi = be32(b, 88);
        if esi > MAX_ESI {
            return Err(FrameError::BadEsi { esi });
        }
        Ok(Frame::Symbol(SymbolFrame {
            session,
            image,
            chunk_index: be32(b, 48),
            chunk: ChunkId(id32(b, 52)),
            chunk_len,
            esi,
            seq: be64(b, 92),
            symbol,
        }))
    }

    fn parse_announce(
        b: &'a [u8],
        session: SessionId,
        image: ImageId,
    ) -> Result<Frame<'a>, FrameError> {
        if b.len() != ANNOUNCE_LEN {
            return Err(FrameError::BadAnnounceLength { len: b.len() });
        }
        let state = match b[66] {
            1 => AnnounceState::Running,
            2 => AnnounceState::Ending,
            state => return Err(FrameError::BadAnnounceState { state }),
        };
        if b[67] != 0 {
            return Err(FrameError::FlagsSet {
                flags: b[67] as u16,
            });
        }
        let symbol_size = be16(b, 64);
        if symbol_size == 0 || !symbol_size.is_multiple_of(ALIGNMENT as u16) {
            return Err(FrameError::BadSymbolLength {
                len: symbol_size as usize,
            });
        }
        Ok(Frame::Announce(Announce {
            session,
            image,
            seq: be64(b, 48),
            cycle: be32(b, 56),
            chunk_count: be32(b, 60),
            symbol_size,
            state,
            rate_kbit: be32(b, 68),
        }))
    }

    /// The frame's length on the wire.
    pub fn len(&self) -> usize {
        match self {
            Frame::Symbol(s) => SYMBOL_HEADER_LEN + s.symbol.len(),
            Frame::Announce(_) => ANNOUNCE_LEN,
        }
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the frame into `out` and returns its length, or refuses a
    /// buffer that is too small.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, FrameError> {
        let len = self.len();
        if out.len() < len {
            return Err(FrameError::BufferTooSmall {
                len,
                capacity: out.len(),
            });
        }
        let (kind, session, image) = match self {
            Frame::Symbol(s) => (KIND_SYMBOL, s.session, &s.image),
            Frame::Announce(a) => (KIND_ANNOUNCE, a.session, &a.image),
        };
        out[..4].copy_from_slice(&MAGIC);
        out[4] = VERSION;
        out[5] = kind;
        out[6..8].fill(0);
        out[8..16].copy_from_slice(&session.0.to_be_bytes());
        out[16..48].copy_from_slice(&image.0);
        match self {
            Frame::Symbol(s) => {
                out[48..52].copy_from_slice(&s.chunk_index.to_be_bytes());
                out[52..84].copy_from_slice(&s.chunk.0);
                out[84..88].copy_from_slice(&s.chunk_len.to_be_bytes());
                out[88..92].copy_from_slice(&s.esi.to_be_bytes());
                out[92..100].copy_from_slice(&s.seq.to_be_bytes());
                out[100..len].copy_from_slice(s.symbol);
            }
            Frame::Announce(a) => {
                out[48..56].copy_from_slice(&a.seq.to_be_bytes());
                out[56..60].copy_from_slice(&a.cycle.to_be_bytes());
                out[60..64].copy_from_slice(&a.chunk_count.to_be_bytes());
                out[64..66].copy_from_slice(&a.symbol_size.to_be_bytes());
                out[66] = match a.state {
                    AnnounceState::Running => 1,
                    AnnounceState::Ending => 2,
                };
                out[67] = 0;
                out[68..72].copy_from_slice(&a.rate_kbit.to_be_bytes());
            }
        }
        Ok(len)
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.len()];
        self.emit(&mut out).expect("sized to fit");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbol_frame(symbol: &[u8]) -> Frame<'_> {
        Frame::Symbol(SymbolFrame {
            session: SessionId(0x0102_0304_0506_0708),
            image: ImageId([0x11; 32]),
            chunk_index: 7,
            chunk: ChunkId([0x22; 32]),
            chunk_len: 5000,
            esi: 4,
            seq: 99,
            symbol,
        })
    }

    #[test]
    fn the_symbol_size_fills_an_ethernet_frame() {
        assert_eq!(SYMBOL_SIZE, 1368);
        assert!(SYMBOL_HEADER_LEN + SYMBOL_SIZE as usize <= MAX_DATAGRAM);
        assert_eq!(SYMBOL_SIZE % ALIGNMENT as u16, 0);
    }

    #[test]
    fn a_symbol_frame_round_trips() {
        let sym = vec![0xab; SYMBOL_SIZE as usize];
        let f = symbol_frame(&sym);
        let bytes = f.to_vec();
        assert_eq!(bytes.len(), MAX_DATAGRAM - 4);
        assert_eq!(Frame::parse(&bytes).unwrap(), f);
    }

    #[test]
    fn an_announce_round_trips() {
        let a = Frame::Announce(Announce {
            session: SessionId(5),
            image: ImageId([3; 32]),
            seq: 1 << 40,
            cycle: 3,
            chunk_count: 8000,
            symbol_size: SYMBOL_SIZE,
            state: AnnounceState::Ending,
            rate_kbit: 400_000,
        });
        let bytes = a.to_vec();
        assert_eq!(bytes.len(), ANNOUNCE_LEN);
        assert_eq!(Frame::parse(&bytes).unwrap(), a);
    }

    #[test]
    fn emit_refuses_a_short_buffer() {
        let sym = [0u8; 8];
        let mut out = [0u8; 50];
        assert_eq!(
            symbol_frame(&sym).emit(&mut out),
            Err(FrameError::BufferTooSmall {
                len: 108,
                capacity: 50
            })
        );
    }

    #[test]
    fn k_is_the_chunk_length_in_symbols_rounded_up() {
        assert_eq!(source_symbols(1, 1368), 1);
        assert_eq!(source_symbols(1368, 1368), 1);
        assert_eq!(source_symbols(1369, 1368), 2);
    }
}
