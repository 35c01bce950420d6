use super::Global;
use crate::error::{Error, Result};

#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Not built yet.
    #[command(hide = true)]
    Pending,
}

pub fn run(_global: &Global, _cmd: ImageCommand) -> Result<()> {
    Err(Error::NotBuilt { what: "marrow image" })
}
