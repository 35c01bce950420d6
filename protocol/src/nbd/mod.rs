//! A read-only NBD server as a state machine: bytes in, [`Action`]s out.
//! It speaks the fixed newstyle handshake with `NBD_OPT_EXPORT_NAME`,
//! `NBD_OPT_LIST`, `NBD_OPT_INFO`, `NBD_OPT_GO` and `NBD_OPT_ABORT`, and
//! simple replies in transmission (doc/proto.md of the NBD project). A
//! read becomes an [`Action::Read`]; the driver reads, and sends what
//! [`read_reply`] makes of the outcome, so an unreadable range is an error
//! for that request only.

mod server;
pub mod wire;

pub use server::{read_reply, Action, Export, Server};
