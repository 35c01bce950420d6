//! The Marrow server: boot service (DHCP, TFTP, HTTP), task and host state,
//! and the admin commands of the `marrow` binary.
//!
//! - [`tasks`]: the rules of tasks and hosts, and the only writer of task
//!   state; the CLI and the client API both call it.
//! - [`sessions`]: the rules of multicast sessions, beside `tasks`.
//! - [`db`]: SQLite, one handle per resource, statements only.
//! - [`serve`]: the boot service and the client API.
//! - [`cli`]: the `marrow` subcommands.
//! - [`paths`]: the data directory's layout; [`clock`]: the one clock.

// Unsafe code is confined to `sys`, each block with its SAFETY comment.
#![deny(unsafe_code)]

pub mod cli;
pub mod clock;
pub mod db;
mod driver_plan;
mod error;
pub mod paths;
mod progress;
pub mod serve;
pub mod sessions;
mod sys;
pub mod tasks;

pub use error::Error;
