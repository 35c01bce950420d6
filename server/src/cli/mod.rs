//! Argument parsing for every `marrow` subcommand and the dispatch to each.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub(crate) use logging::log_to_stderr;
pub(crate) use scheduled::scheduled_action;

use crate::admin::backend::{Backend, Local};
use crate::error::{Error, Result};
use crate::paths::DataDir;

mod audit;
mod doctor;
mod drivers;
mod host;
mod image;
mod initramfs;
mod key;
mod logging;
mod remote;
mod schedule;
mod scheduled;
mod script;
mod serve;
mod session;
mod site;
mod store;
mod sync;
mod task;
mod token;
mod user;

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
    /// Run `host`, `task`, `session`, `schedule`, `image list|inspect|delete`
    /// and `audit` through this server's admin API (http://HOST:8080)
    /// instead of the data directory.
    #[arg(long, global = true, env = "MARROW_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// The TOML configuration (`marrow serve`'s settings, the S3 store's
    /// endpoint and keys, the `[[sync]]` entries); flags override it.
    #[arg(long, global = true, env = "MARROW_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The API token for --server (`marrow token create` makes one).
    #[arg(long, global = true, env = "MARROW_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl Global {
    /// The data directory's layout.
    pub fn dirs(&self) -> DataDir {
        DataDir::new(&self.data_dir)
    }

    /// The chunk store: `flag` (`--store`), else the configuration's
    /// `store`, else `DATA_DIR/store`.
    pub fn store_spec(&self, flag: Option<&str>) -> Result<crate::store::StoreSpec> {
        crate::serve::config::File::read(self.config.as_deref())?.store_spec(&self.data_dir, flag)
    }

    /// Where the command runs: the server named by `--server`, else the
    /// local data directory.
    pub fn backend(&self) -> Result<Box<dyn Backend>> {
        match &self.server {
            Some(url) => Ok(Box::new(remote::Remote::new(url, self.token.as_deref())?)),
            None => Ok(Box::new(Local {
                dirs: self.dirs(),
                store: self.store_spec(None)?,
                interface: None,
            })),
        }
    }

    /// Refuses `--server` for a command that works on the server's own
    /// disks and files.
    fn local_only(&self, what: &str) -> Result<()> {
        match &self.server {
            Some(_) => Err(Error::Usage(format!(
                "`marrow {what}` runs on the server itself; --server works with host, task, session, schedule, image list|inspect|delete and audit"
            ))),
            None => Ok(()),
        }
    }
}

/// Prints a listing or report as pretty JSON (`--json`).
pub(crate) fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::Usage(format!("JSON output: {e}")))?;
    println!("{text}");
    Ok(())
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
    /// People who sign in to the admin API and web UI.
    #[command(subcommand)]
    User(user::UserCommand),
    /// API tokens for scripts and the remote CLI.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// The log of every state-changing action and refused request.
    Audit(audit::AuditArgs),
    /// Run task and session commands at set times.
    #[command(subcommand)]
    Schedule(schedule::ScheduleCommand),
    /// Post-deploy scripts that restores run (`--post-script NAME`).
    #[command(subcommand)]
    Script(script::ScriptCommand),
    /// This server's identity key, which signs its images.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Upstream sites this one pulls images from.
    #[command(subcommand)]
    Site(site::SiteCommand),
    /// Pull images from an upstream site, and see how pulls went.
    #[command(subcommand)]
    Sync(sync::SyncCommand),
    /// Check the set-up and say what to fix, one line each.
    Doctor(doctor::DoctorArgs),
}

pub fn run(cli: Cli) -> Result<()> {
    let global = cli.global;
    let local_only = match &cli.command {
        Command::Serve(_) => Some("serve"),
        Command::Image(cmd) if !cmd.remote_capable() => Some("image"),
        Command::Store(_) => Some("store"),
        Command::Drivers(_) => Some("drivers"),
        Command::Initramfs(_) => Some("initramfs"),
        Command::User(_) => Some("user"),
        Command::Token(_) => Some("token"),
        Command::Script(_) => Some("script"),
        Command::Key(_) => Some("key"),
        Command::Site(_) => Some("site"),
        Command::Sync(_) => Some("sync"),
        Command::Doctor(_) => Some("doctor"),
        _ => None,
    };
    if let Some(what) = local_only {
        global.local_only(what)?;
    }
    let shell_action = shell_action(&cli.command);
    let result = dispatch(&global, cli.command);
    if let Some((action, object)) = shell_action {
        audit_shell(&global, action, object.as_deref(), &result);
    }
    result
}

/// The state-changing commands that work on the server's own store and
/// boot files, outside `crate::admin`: (audit action, object).
fn shell_action(cmd: &Command) -> Option<(&'static str, Option<String>)> {
    use image::ImageCommand as I;
    Some(match cmd {
        Command::Image(I::Capture { name, .. }) => ("image.capture", Some(name.clone())),
        Command::Image(I::Import { name, .. }) => ("image.import", Some(name.clone())),
        Command::Image(I::Sign { image, .. }) => ("image.sign", Some(image.clone())),
        Command::Image(I::Restore {
            image,
            dry_run: false,
            ..
        }) => ("image.restore", Some(image.clone())),
        Command::Store(store::StoreCommand::Gc { .. }) => ("store.gc", None),
        Command::Initramfs(initramfs::InitramfsCommand::Build(_)) => ("initramfs.build", None),
        _ => return None,
    })
}

/// Records a shell command in the data directory's audit log, when there
/// is a data directory: a capture into a store elsewhere on a machine
/// that runs no server has no log to go to. Failing to record is said,
/// not fatal: the command's own outcome stands.
fn audit_shell(global: &Global, action: &str, object: Option<&str>, result: &Result<()>) {
    use crate::clock::{Clock, SystemClock};
    if !global.data_dir.is_dir() {
        return;
    }
    let outcome = match result {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("failed: {e}"),
    };
    let ctx = crate::admin::Ctx::local(SystemClock.now());
    let recorded = crate::db::Db::open(&global.dirs().db())
        .and_then(|db| crate::admin::record(&db, &ctx, action, object, None, &outcome));
    if let Err(e) = recorded {
        eprintln!("marrow: {action} not recorded in the audit log: {e}");
    }
}

fn dispatch(global: &Global, command: Command) -> Result<()> {
    let global = global.clone();
    match command {
        Command::Serve(args) => serve::run(&global, args),
        Command::Image(cmd) => image::run(&global, cmd),
        Command::Store(cmd) => store::run(&global, cmd),
        Command::Host(cmd) => host::run(&global, cmd),
        Command::Task(cmd) => task::run(&global, cmd),
        Command::Session(cmd) => session::run(&global, cmd),
        Command::Drivers(cmd) => drivers::run(&global, cmd),
        Command::Initramfs(cmd) => initramfs::run(&global, cmd),
        Command::User(cmd) => user::run(&global, cmd),
        Command::Token(cmd) => token::run(&global, cmd),
        Command::Audit(args) => audit::run(&global, args),
        Command::Schedule(cmd) => schedule::run(&global, cmd),
        Command::Script(cmd) => script::run(&global, cmd),
        Command::Key(cmd) => key::run(&global, cmd),
        Command::Site(cmd) => site::run(&global, cmd),
        Command::Sync(cmd) => sync::run(&global, cmd),
        Command::Doctor(args) => doctor::run(&global, args),
    }
}
