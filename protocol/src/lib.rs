//! Sans-I/O protocol code shared by the Marrow server and the imaging client.
//!
//! What is here:
//! - [`dhcp`]: a parsed view of DHCPv4 requests (on top of `dhcproto`), the
//!   pure boot-service policy `decide(request, site) -> Decision`, client
//!   architecture dispatch (RFC 4578 option 93, cross-checked with option 60)
//!   and the address pool arithmetic.
//! - [`tftp`]: the TFTP packet codec (RFC 1350, 2347, 2348, 2349, 7440), the
//!   server-side read transfer state machine and the lexical path check.
//! - [`ipxe`]: the pure iPXE boot script renderer.
//! - [`ndp`]: the Router Advertisement that ends iPXE's IPv6 wait.
//! - [`api`]: the client API's JSON bodies; [`routes`]: every HTTP route.
//! - [`disk_rule`]: `--disk` rules and the pure choice of a task's disk.
//! - [`wol`]: the Wake-on-LAN magic packet.
//! - [`causes`]: how both binaries print an error's chain of causes.
//! - [`sync`]: what an upstream site lists, and the chunk batch codec.
//! - [`nbd`]: the read-only NBD server (fixed newstyle handshake, simple
//!   replies) that exports an image version as a disk.
//! - [`multicast`]: the room restore's wire format, its RaptorQ (RFC 6330)
//!   chunk code, and the sender and receiver state machines.
//!
//! What is *not* here: sockets, files, clocks or randomness. Time comes in as
//! an argument (`now`), bytes come in and go out as slices, and the callers
//! (the server's tokio tasks, the client's loop) own all I/O.

#![forbid(unsafe_code)]

pub mod api;
pub mod causes;
pub mod dhcp;
pub mod disk_rule;
mod error;
pub mod grub;
pub mod ipxe;
pub mod multicast;
pub mod nbd;
pub mod ndp;
pub mod routes;
pub mod sync;
pub mod tftp;
pub mod wol;

pub use error::{BatchError, DhcpError, FrameError, NbdError, TftpError};
pub use marrow_ids::{
    ChunkId, FileHash, IdError, ImageId, MacAddr, MacParseError, PackageId, TaskId,
};
