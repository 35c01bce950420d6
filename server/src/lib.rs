//! The Marrow server: boot service (DHCP, TFTP, HTTP), task and host state,
//! and the admin commands of the `marrow` binary.

#![forbid(unsafe_code)]

pub mod cli;
pub mod db;
mod driver_plan;
mod error;
mod progress;
pub mod serve;

pub use error::Error;
