use super::Global;
use crate::error::{Error, Result};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {}

pub fn run(_global: &Global, _args: ServeArgs) -> Result<()> {
    Err(Error::NotBuilt { what: "marrow serve (boot service)" })
}
