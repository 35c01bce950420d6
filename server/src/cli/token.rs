//! `marrow token`: API tokens for scripts and the remote CLI. The secret
//! is printed once; only its hash is stored.

use super::Global;
use crate::admin::{self, requests::NewToken, Ctx};
use crate::clock::{Clock, SystemClock};
use crate::db::Db;
use crate::error::Result;
use crate::tasks::OsRng;
use crate::when::format_time;

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Make a token and print it (once).
    Create {
        /// admin, operator, viewer, or sync (a site's pull token).
        #[arg(long, alias = "scope")]
        role: String,
        #[arg(long)]
        name: Option<String>,
        /// How long it lives: 30d, 12h, 90m; default: until revoked.
        #[arg(long)]
        expires: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id or name.
    Revoke { token: String },
}

pub fn run(global: &Global, cmd: TokenCommand) -> Result<()> {
    let dirs = global.dirs();
    let ctx = Ctx::local(SystemClock.now());
    match cmd {
        TokenCommand::Create {
            role,
            name,
            expires,
            json,
        } => {
            let req = NewToken {
                role,
                name,
                expires,
            };
            let t = admin::create_token(&mut Db::open(&dirs.db())?, &ctx, &req, &mut OsRng)?;
            if json {
                return super::print_json(&t);
            }
            println!("{}", t.token);
            eprintln!(
                "token #{} ({}), role {}{}: shown once, store it now",
                t.id,
                t.name.as_deref().unwrap_or("unnamed"),
                t.role,
                t.expires
                    .map(|e| format!(", expires {} UTC", format_time(e)))
                    .unwrap_or_default()
            );
            Ok(())
        }
        TokenCommand::List { json } => {
            let tokens = admin::list_tokens(&Db::open_for_reading(&dirs.db())?)?;
            if json {
                return super::print_json(&tokens);
            }
            if tokens.is_empty() {
                println!("no tokens");
                return Ok(());
            }
            println!(
                "{:>4}  {:<20}  {:<8}  {:<19}  {:<19}  STATE",
                "ID", "NAME", "ROLE", "CREATED (UTC)", "LAST USED"
            );
            let now = ctx.now;
            for t in tokens {
                let state = match (t.revoked, t.expires) {
                    (Some(r), _) => format!("revoked {}", format_time(r)),
                    (None, Some(e)) if e <= now => format!("expired {}", format_time(e)),
                    (None, Some(e)) => format!("expires {}", format_time(e)),
                    (None, None) => "live".into(),
                };
                println!(
                    "{:>4}  {:<20}  {:<8}  {:<19}  {:<19}  {state}",
                    t.id,
                    t.name.as_deref().unwrap_or("-"),
                    t.role,
                    format_time(t.created),
                    t.last_used.map(format_time).unwrap_or_else(|| "-".into()),
                );
            }
            Ok(())
        }
        TokenCommand::Revoke { token } => {
            let n = admin::revoke_token(&mut Db::open(&dirs.db())?, &ctx, &token)?;
            println!("revoked {n} token{}", if n == 1 { "" } else { "s" });
            Ok(())
        }
    }
}
