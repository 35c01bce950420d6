//! `marrow script`: the post-deploy scripts a restore can run, and the
//! post-deploy flags `task restore` and `session create` share.

use std::io::Read;
use std::path::PathBuf;

use super::Global;
use crate::admin::{self, requests::AddScript, Ctx};
use crate::clock::{Clock, SystemClock};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::when::format_time;

/// What a restore does to the restored system before it boots.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PostDeployArgs {
    /// Name the restored system: a name, or a pattern of {host} (the
    /// host's name), {mac}, {group} and {n} (its place in its group), such
    /// as lab-{mac} or {group}-{n}. Written to /etc/hostname and /etc/hosts
    /// on a Linux root and as ComputerName in a Windows answer file.
    #[arg(long, value_name = "PATTERN")]
    pub hostname: Option<String>,
    /// Run this script (`marrow script add`) in the client after the
    /// restore, with the restored partitions mounted; a failing script
    /// fails the task.
    #[arg(long, value_name = "NAME")]
    pub post_script: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ScriptCommand {
    /// Store a shell script that restores can run (`--post-script NAME`).
    Add {
        name: String,
        /// The script file, or - for standard input.
        file: PathBuf,
        /// Replace a script of that name.
        #[arg(long)]
        replace: bool,
        #[arg(long)]
        json: bool,
    },
    /// List the scripts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Print a script's text.
    Show { name: String },
    /// Remove a script that no active task runs.
    Remove { name: String },
}

fn read_body(file: &PathBuf) -> Result<String> {
    let mut bytes = Vec::new();
    let read = match file.as_os_str() == "-" {
        true => std::io::stdin().read_to_end(&mut bytes).map(|_| ()),
        false => std::fs::read(file).map(|b| bytes = b),
    };
    read.map_err(|source| Error::Io {
        path: file.clone(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|_| {
        Error::Usage(format!(
            "{}: not UTF-8 text; give a shell script",
            file.display()
        ))
    })
}

pub fn run(global: &Global, cmd: ScriptCommand) -> Result<()> {
    let db_path = global.dirs().db();
    let ctx = Ctx::local(SystemClock.now());
    match cmd {
        ScriptCommand::Add {
            name,
            file,
            replace,
            json,
        } => {
            let body = read_body(&file)?;
            let req = AddScript {
                name,
                body,
                replace,
            };
            let v = admin::add_script(&mut Db::open(&db_path)?, &ctx, &req)?;
            match json {
                true => super::print_json(&v),
                false => {
                    println!(
                        "script {} stored ({} bytes, blake3 {})",
                        v.name,
                        v.bytes,
                        &v.blake3[..16]
                    );
                    Ok(())
                }
            }
        }
        ScriptCommand::List { json } => {
            let all = admin::list_scripts(&Db::open_for_reading(&db_path)?)?;
            if json {
                return super::print_json(&all);
            }
            if all.is_empty() {
                println!("no scripts");
                return Ok(());
            }
            println!(
                "{:<24}  {:>8}  {:<16}  UPDATED (UTC)",
                "NAME", "BYTES", "BLAKE3"
            );
            for s in all {
                println!(
                    "{:<24}  {:>8}  {:<16}  {}",
                    s.name,
                    s.bytes,
                    s.blake3.get(..16).unwrap_or(&s.blake3),
                    format_time(s.updated)
                );
            }
            Ok(())
        }
        ScriptCommand::Show { name } => {
            print!(
                "{}",
                admin::script_body(&Db::open_for_reading(&db_path)?, &name)?
            );
            Ok(())
        }
        ScriptCommand::Remove { name } => {
            admin::remove_script(&mut Db::open(&db_path)?, &ctx, &name)?;
            println!("script {name} removed");
            Ok(())
        }
    }
}
