//! Who asks for a change of task or host state. Every operation of
//! `crate::tasks` takes one, so that the audit log (issue "Operating
//! Marrow") records it in the same transaction as the change.

use std::fmt;

use marrow_protocol::{MacAddr, TaskId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Someone at the server's shell, through the `marrow` CLI: access is
    /// the data directory's file rights.
    Cli,
    /// The imaging client that holds a task's current token.
    Client(TaskId),
    /// A host's firmware asking for its boot script.
    Boot(MacAddr),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Cli => f.write_str("cli"),
            Actor::Client(id) => write!(f, "client of task {id}"),
            Actor::Boot(mac) => write!(f, "boot of {mac}"),
        }
    }
}
