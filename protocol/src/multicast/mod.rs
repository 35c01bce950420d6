//! Multicast restore of a room: one sender, any number of receivers.
//!
//! - [`wire`]: the frames on the group (symbols and announces), parsed
//!   and emitted without I/O; `docs/multicast.md` documents the layout.
//! - [`fec`]: each chunk as an RFC 6330 (RaptorQ) source block: the
//!   chunk's own bytes first, then repair symbols without end.
//! - [`sender`] and [`receiver`]: the state machines on caller-supplied
//!   time; their drivers live in the server and the client.
//! - [`rate`]: the sender's rate control from the receivers' loss.
//! - [`ranges`]: the set of chunk indexes a receiver holds, as ranges.

pub mod fec;
pub mod ranges;
pub mod rate;
pub mod receiver;
pub mod sender;
pub mod wire;

pub use ranges::RangeSet;
pub use wire::{Announce, AnnounceState, Frame, SessionId, SymbolFrame};
