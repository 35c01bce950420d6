//! Who asks for a change of state. Every operation of `crate::tasks` and
//! `crate::access` takes one, and the audit log records it.

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
    /// A signed-in user of the admin API or web UI.
    User(String),
    /// An API token, by its id and name.
    Token { id: i64, name: Option<String> },
    /// A request that carried no valid credentials.
    Anonymous,
    /// A schedule firing, by its name.
    Scheduler(String),
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Cli => f.write_str("local"),
            Actor::Client(id) => write!(f, "client of task {id}"),
            Actor::Boot(mac) => write!(f, "boot of {mac}"),
            Actor::User(name) => write!(f, "user {name}"),
            Actor::Token { id, name: Some(n) } => write!(f, "token {n} (#{id})"),
            Actor::Token { id, name: None } => write!(f, "token #{id}"),
            Actor::Anonymous => f.write_str("anonymous"),
            Actor::Scheduler(name) => write!(f, "schedule {name}"),
        }
    }
}
