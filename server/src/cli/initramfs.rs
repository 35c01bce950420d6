use super::Global;
use crate::error::{Error, Result};

#[derive(Debug, clap::Subcommand)]
pub enum InitramfsCommand {
    /// Not built yet.
    #[command(hide = true)]
    Pending,
}

pub fn run(_global: &Global, _cmd: InitramfsCommand) -> Result<()> {
    Err(Error::NotBuilt { what: "marrow initramfs (initramfs builder)" })
}
