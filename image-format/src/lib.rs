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

mod error;

pub use error::{Error, Result};
