//! The ids Marrow passes across crate boundaries, each its own type so
//! that a chunk id is never taken for an image id, nor a MAC for a name:
//!
//! - [`ChunkId`], [`ImageId`], [`PackageId`]: BLAKE3 content names of a
//!   chunk, an image manifest and a driver package;
//! - [`FileHash`]: the BLAKE3 of a file a client downloads and checks;
//! - [`TaskId`]: a task's number, as technicians type it;
//! - [`MacAddr`]: a host's hardware address, which is also its id.
//!
//! Every id parses from and prints to the text form users see (64 hex
//! digits, a number, `aa:bb:cc:dd:ee:ff`), and serializes as that text.
//!
//! What is *not* here: anything that does I/O, or knows what the ids
//! point at. The crates that own chunks, images, packages and tasks do.

#![forbid(unsafe_code)]

mod blake3_id;
mod error;
mod mac;
mod task;

pub use blake3_id::{ChunkId, FileHash, ImageId, PackageId};
pub use error::IdError;
pub use mac::{MacAddr, MacParseError};
pub use task::TaskId;
