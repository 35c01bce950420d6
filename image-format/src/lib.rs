//! Marrow disk images.
//!
//! A disk is read as its partition layout plus, for each region, only the
//! blocks its filesystem uses. That data is cut into content-defined chunks
//! named by BLAKE3, compressed with zstd and stored once per store. A
//! manifest ties it together; a restore is planned as data before anything
//! is written, and every chunk is verified before it reaches the target.
//!
//! This crate does no network I/O. It reads and writes disks and files
//! through the traits it defines, so the client and the server drive it.

#![forbid(unsafe_code)]

pub mod aligned;
pub mod capture;
pub mod catalog;
pub mod chunker;
pub mod disk;
mod error;
pub mod fs;
pub mod grow;
mod id;
pub mod layout;
pub mod maintenance;
pub mod manifest;
pub mod placement;
pub mod plan;
pub mod progress;
pub mod ranges;
pub mod restore;
pub mod store;
pub mod table;
pub mod validate;
pub mod view;

pub use chunker::ChunkParams;
pub use error::{human, Error, Result};
pub use id::{ChunkId, ImageId};
pub use marrow_ids::IdError;

/// Worker threads for capture, restore and checks: one per core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}
