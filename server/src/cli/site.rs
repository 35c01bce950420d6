//! `marrow site add|list|remove`: the upstreams this server pulls images
//! from, each with the one key it trusts for them.

use super::Global;
use crate::admin::{self, requests::NewSite, views::SiteView, Ctx};
use crate::clock::{Clock, SystemClock};
use crate::db::Db;
use crate::error::Result;
use crate::when::format_time;

#[derive(Debug, clap::Subcommand)]
pub enum SiteCommand {
    /// Register an upstream.
    Add {
        name: String,
        /// Its TLS port: https://HOST:8443.
        #[arg(long)]
        url: String,
        /// A token it made with `marrow token create --scope sync`.
        #[arg(long, env = "MARROW_SITE_TOKEN", hide_env_values = true)]
        token: String,
        /// Its identity key, as its `marrow key show` prints it.
        #[arg(long)]
        key: String,
        /// Its certificate's sha256 fingerprint (`marrow key show`);
        /// without it the URL must carry a CA-valid certificate.
        #[arg(long)]
        fingerprint: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List upstreams and their last pull.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Forget an upstream (what was pulled from it stays).
    Remove { name: String },
}

pub fn run(global: &Global, cmd: SiteCommand) -> Result<()> {
    let dirs = global.dirs();
    let ctx = Ctx::local(SystemClock.now());
    match cmd {
        SiteCommand::Add {
            name,
            url,
            token,
            key,
            fingerprint,
            json,
        } => {
            let req = NewSite {
                name,
                url,
                token,
                key,
                fingerprint,
            };
            let site = admin::add_site(&mut Db::open(&dirs.db())?, &ctx, &req)?;
            if json {
                return super::print_json(&site);
            }
            println!(
                "site {} added: {} (key {}, {})",
                site.name,
                site.url,
                site.key,
                match &site.fingerprint {
                    Some(f) => format!("certificate pinned to {f}"),
                    None => "certificate checked against public CAs".into(),
                }
            );
            Ok(())
        }
        SiteCommand::List { json } => {
            let sites = admin::list_sites(&Db::open_for_reading(&dirs.db())?, &dirs)?;
            if json {
                return super::print_json(&sites);
            }
            print_sites(&sites);
            Ok(())
        }
        SiteCommand::Remove { name } => {
            admin::remove_site(&mut Db::open(&dirs.db())?, &ctx, &name)?;
            println!("site {name} removed; what was pulled from it stays");
            Ok(())
        }
    }
}

fn print_sites(sites: &[SiteView]) {
    if sites.is_empty() {
        println!("no sites; add an upstream with `marrow site add NAME --url URL --token TOKEN --key KEY`");
        return;
    }
    println!(
        "{:<16}  {:<32}  {:<12}  {:<19}  LAST PULL",
        "NAME", "URL", "TRUST", "ADDED (UTC)"
    );
    for s in sites {
        let trust = match &s.fingerprint {
            Some(_) => "pinned",
            None => "public CA",
        };
        let last = match &s.last_run {
            Some(r) => format!("{} {}", r.state, format_time(r.started)),
            None => "never".into(),
        };
        println!(
            "{:<16}  {:<32}  {:<12}  {:<19}  {last}",
            s.name,
            s.url,
            trust,
            format_time(s.created)
        );
    }
}
