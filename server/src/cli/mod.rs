//! Argument parsing for every `marrow` subcommand and the dispatch to each.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

use crate::error::Result;
use crate::paths::DataDir;

mod drivers;
mod host;
mod image;
mod initramfs;
mod serve;
mod session;
mod store;
mod task;
mod when;

#[derive(Debug, Parser)]
#[command(name = "marrow", version, about = "Network boot and disk imaging")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts, before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Where Marrow keeps its state (database, chunk store, boot files).
    #[arg(
        long,
        global = true,
        env = "MARROW_DATA_DIR",
        default_value = "/var/lib/marrow"
    )]
    pub data_dir: PathBuf,
}

impl Global {
    /// The data directory's layout.
    pub fn dirs(&self) -> DataDir {
        DataDir::new(&self.data_dir)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the boot service (DHCP, TFTP, HTTP).
    Serve(serve::ServeArgs),
    /// Capture, restore and manage disk images.
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Maintain the chunk store.
    #[command(subcommand)]
    Store(store::StoreCommand),
    /// Register and list hosts.
    #[command(subcommand)]
    Host(host::HostCommand),
    /// Schedule and follow capture and restore tasks.
    #[command(subcommand)]
    Task(task::TaskCommand),
    /// Restore a room at once: multicast sessions.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Import, list and match drivers.
    #[command(subcommand)]
    Drivers(drivers::DriversCommand),
    /// Build the boot kernel and initramfs.
    #[command(subcommand)]
    Initramfs(initramfs::InitramfsCommand),
}

pub fn run(cli: Cli) -> Result<()> {
    let global = cli.global;
    match cli.command {
        Command::Serve(args) => serve::run(&global, args),
        Command::Image(cmd) => image::run(&global, cmd),
        Command::Store(cmd) => store::run(&global, cmd),
        Command::Host(cmd) => host::run(&global, cmd),
        Command::Task(cmd) => task::run(&global, cmd),
        Command::Session(cmd) => session::run(&global, cmd),
        Command::Drivers(cmd) => drivers::run(&global, cmd),
        Command::Initramfs(cmd) => initramfs::run(&global, cmd),
    }
}
