use super::Global;
use crate::error::{Error, Result};

#[derive(Debug, clap::Subcommand)]
pub enum TaskCommand {
    /// Not built yet.
    #[command(hide = true)]
    Pending,
}

pub fn run(_global: &Global, _cmd: TaskCommand) -> Result<()> {
    Err(Error::NotBuilt {
        what: "marrow task (task scheduling)",
    })
}
