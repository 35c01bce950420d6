use super::Global;
use crate::error::{Error, Result};

#[derive(Debug, clap::Subcommand)]
pub enum HostCommand {
    /// Not built yet.
    #[command(hide = true)]
    Pending,
}

pub fn run(_global: &Global, _cmd: HostCommand) -> Result<()> {
    Err(Error::NotBuilt { what: "marrow host (host registry)" })
}
