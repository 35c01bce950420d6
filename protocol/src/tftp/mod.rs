//! TFTP, read-only server side: the packet codec, the per-transfer state
//! machine and the lexical check of requested paths.

mod path;
mod transfer;
mod wire;

pub use path::{check_path, PathRefusal};
pub use transfer::{Limits, Outcome, Source, Transfer, MAX_NETASCII_BYTES};
pub use wire::{ErrorCode, Mode, Packet, Request, TransferOptions};
