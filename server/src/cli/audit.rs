//! `marrow audit`: who did what, when, from where, and how it ended.

use super::Global;
use crate::clock::{Clock, SystemClock};
use crate::db::AuditFilter;
use crate::error::Result;
use crate::when::format_time;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Entries from this long ago (90m, 2h, 7d) or this time
    /// (2026-12-02T22:00 local, …Z for UTC).
    #[arg(long)]
    since: Option<String>,
    /// Entries of this user or token name.
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn run(global: &Global, args: AuditArgs) -> Result<()> {
    let filter = AuditFilter {
        since: args
            .since
            .as_deref()
            .map(|s| crate::when::parse_since(s, SystemClock.now()))
            .transpose()?,
        user: args.user,
    };
    let rows = global.backend()?.audit(&filter)?;
    if args.json {
        return super::print_json(&rows);
    }
    if rows.is_empty() {
        println!("no audit entries");
        return Ok(());
    }
    for r in rows {
        let args = r
            .args
            .as_ref()
            .filter(|a| a.as_object().is_none_or(|o| !o.is_empty()))
            .map(|a| format!(" {a}"))
            .unwrap_or_default();
        println!(
            "{}  {:<22} {:<15} {:<18} {:<20} {}{args}",
            format_time(r.at),
            r.actor,
            r.address.as_deref().unwrap_or("-"),
            r.action,
            r.object.as_deref().unwrap_or("-"),
            r.outcome,
        );
    }
    Ok(())
}
