use super::Global;
use crate::error::{Error, Result};

#[derive(Debug, clap::Subcommand)]
pub enum DriversCommand {
    /// Not built yet.
    #[command(hide = true)]
    Pending,
}

pub fn run(_global: &Global, _cmd: DriversCommand) -> Result<()> {
    Err(Error::NotBuilt { what: "marrow drivers (driver store)" })
}
