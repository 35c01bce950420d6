//! `marrow user`: people who sign in to the admin API and web UI.

use std::io::BufRead;

use super::Global;
use crate::admin::{self, views::SetupLink, Ctx};
use crate::clock::{Clock, SystemClock};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::tasks::OsRng;

#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Add a user and print the one-time link that sets their password.
    Add {
        name: String,
        /// admin (everything), operator (tasks, sessions, schedules,
        /// wake) or viewer (read-only).
        #[arg(long)]
        role: String,
        #[arg(long)]
        json: bool,
    },
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove a user and sign them out.
    Remove { name: String },
    /// Print a new password-setting link for a user, or with --stdin set
    /// the password read from standard input.
    Passwd {
        name: String,
        /// Read the new password from the first line of standard input.
        #[arg(long)]
        stdin: bool,
        #[arg(long)]
        json: bool,
    },
}

fn print_link(link: &SetupLink, json: bool) -> Result<()> {
    if json {
        return super::print_json(link);
    }
    println!(
        "{} ({}): set the password within 24 h at\n{}",
        link.name, link.role, link.link
    );
    Ok(())
}

pub fn run(global: &Global, cmd: UserCommand) -> Result<()> {
    let dirs = global.dirs();
    let ctx = Ctx::local(SystemClock.now());
    match cmd {
        UserCommand::Add { name, role, json } => {
            let mut db = Db::open(&dirs.db())?;
            let base = admin::setup_link_base(&dirs);
            let link = admin::add_user(&mut db, &ctx, &base, &name, &role, &mut OsRng)?;
            print_link(&link, json)
        }
        UserCommand::List { json } => {
            let users = admin::list_users(&Db::open_for_reading(&dirs.db())?)?;
            if json {
                return super::print_json(&users);
            }
            if users.is_empty() {
                println!("no users; `marrow user add NAME --role admin` makes one");
                return Ok(());
            }
            println!("{:<24}  {:<8}  PASSWORD", "NAME", "ROLE");
            for u in users {
                let state = match (u.password_set, u.setup_expires.is_some()) {
                    (false, true) => "not set (link open)",
                    (true, true) => "set (reset link open)",
                    (true, false) => "set",
                    (false, false) => "not set",
                };
                println!("{:<24}  {:<8}  {state}", u.name, u.role);
            }
            Ok(())
        }
        UserCommand::Remove { name } => {
            admin::remove_user(&mut Db::open(&dirs.db())?, &ctx, &name)?;
            println!("user {name} removed");
            Ok(())
        }
        UserCommand::Passwd { name, stdin, json } => {
            let mut db = Db::open(&dirs.db())?;
            if !stdin {
                let base = admin::setup_link_base(&dirs);
                let link = admin::reset_user(&mut db, &ctx, &base, &name, &mut OsRng)?;
                return print_link(&link, json);
            }
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(Error::io("standard input"))?;
            let password = line.trim_end_matches(['\r', '\n']);
            admin::set_password(&mut db, &ctx, &name, password, &mut OsRng)?;
            println!("password of {name} set");
            Ok(())
        }
    }
}
