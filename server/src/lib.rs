//! The Marrow server: boot service (DHCP, TFTP, HTTP), task and host state,
//! and the admin commands of the `marrow` binary.

#![forbid(unsafe_code)]

pub mod cli;
mod error;
mod progress;

pub use error::Error;
