use super::Global;
use crate::error::{Error, Result};

#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {
    /// Not built yet.
    #[command(hide = true)]
    Pending,
}

pub fn run(_global: &Global, _cmd: StoreCommand) -> Result<()> {
    Err(Error::NotBuilt { what: "marrow store" })
}
