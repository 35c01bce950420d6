//! The Marrow server: boot service (DHCP, TFTP, HTTP), task and host state,
//! and the admin commands of the `marrow` binary.
//!
//! - [`tasks`]: the rules of tasks and hosts, and the only writer of task
//!   state; the CLI and the client API both call it.
//! - [`sessions`]: the rules of multicast sessions, beside `tasks`.
//! - [`db`]: SQLite, one handle per resource, statements only.
//! - [`access`]: roles, passwords, login throttling, admin credentials.
//! - [`admin`]: the admin operations, shared by the CLI and the admin API,
//!   each recorded in the audit log.
//! - [`serve`]: the boot service, the client API and the admin API.
//! - [`sites`]: site sync: the identity key, signatures, TLS, the pull.
//! - [`cli`]: the `marrow` subcommands.
//! - [`paths`]: the data directory's layout; [`clock`]: the one clock.

// Unsafe code is confined to `sys`, each block with its SAFETY comment.
#![deny(unsafe_code)]

pub mod access;
pub mod admin;
pub mod cli;
pub mod clock;
pub mod db;
pub mod doctor;
mod driver_plan;
mod error;
pub mod nbd;
pub mod paths;
mod progress;
pub mod schedules;
pub mod serve;
pub mod sessions;
pub mod sites;
pub mod store;
mod sys;
pub mod tasks;
pub mod wake;
pub mod when;

pub use error::Error;
