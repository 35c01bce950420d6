//! Upstream sites (`marrow site add|list|remove`) and what their pulls did
//! (`marrow sync status`). A site's token is kept, since this server must
//! present it, but never shown again.

use serde_json::json;

use super::requests::NewSite;
use super::views::{SiteView, SyncRunView};
use super::{audited, check_name, Ctx};
use crate::db::{Db, SiteRow, SyncRun};
use crate::error::{Error, Result};
use crate::paths::DataDir;
use crate::sites::signature::PublicKey;
use crate::sites::{run_lock, tls};

impl SyncRunView {
    /// `interrupted`: the run says it is running, but no pull holds the
    /// site's lock (its process was killed or the machine went down).
    fn from_row(r: &SyncRun, dirs: &DataDir) -> SyncRunView {
        let state = if matches!(r.state.as_str(), "running" | "paused")
            && !run_lock::is_held(dirs, &r.site)
        {
            "interrupted".to_string()
        } else {
            r.state.clone()
        };
        SyncRunView {
            id: r.id,
            site: r.site.clone(),
            started: r.started,
            ended: r.ended,
            state,
            published: r.published,
            failed: r.failed,
            chunks: r.chunks,
            bytes: r.bytes,
            error: r.error.clone(),
            report: r
                .report
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok()),
        }
    }
}

fn view(s: &SiteRow, last: Option<SyncRunView>) -> SiteView {
    SiteView {
        name: s.name.clone(),
        url: s.url.clone(),
        key: s.key.clone(),
        fingerprint: s.fingerprint.clone(),
        read_through: s.read_through,
        created: s.created,
        last_run: last,
    }
}

/// Every upstream with its newest pull.
pub fn list_sites(db: &Db, dirs: &DataDir) -> Result<Vec<SiteView>> {
    let runs = db.sites().last_runs()?;
    Ok(db
        .sites()
        .all()?
        .iter()
        .map(|s| {
            let last = runs
                .iter()
                .find(|r| r.site.eq_ignore_ascii_case(&s.name))
                .map(|r| SyncRunView::from_row(r, dirs));
            view(s, last)
        })
        .collect())
}

/// One upstream's pulls, newest first.
pub fn site_runs(db: &Db, dirs: &DataDir, name: &str, limit: i64) -> Result<Vec<SyncRunView>> {
    let site = get_site(db, name)?;
    Ok(db
        .sites()
        .runs(&site.name, limit)?
        .iter()
        .map(|r| SyncRunView::from_row(r, dirs))
        .collect())
}

/// The stored row, or an error that says how to add it.
pub fn get_site(db: &Db, name: &str) -> Result<SiteRow> {
    db.sites().get(name)?.ok_or_else(|| {
        Error::NotFound(format!(
            "no site {name:?}; add it with `marrow site add {name} --url URL --token TOKEN --key KEY`"
        ))
    })
}

/// Registers an upstream after checking every field: an HTTPS URL, a
/// key as `marrow key show` prints it, a pin that parses.
pub fn add_site(db: &mut Db, ctx: &Ctx, req: &NewSite) -> Result<SiteView> {
    let args = json!({
        "url": req.url, "key": req.key, "fingerprint": req.fingerprint,
    });
    audited(db, ctx, "site.add", Some(&req.name), args, |db| {
        check_name("site", &req.name)?;
        let url = req.url.trim().trim_end_matches('/');
        let rest = url.strip_prefix("https://").ok_or_else(|| {
            Error::Usage(format!(
                "--url {url:?}: sites talk HTTPS only; give https://HOST:8443 (the upstream's TLS port)"
            ))
        })?;
        if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
            return Err(Error::Usage(format!(
                "--url {url:?}: give https://HOST[:PORT], without a path"
            )));
        }
        if req.token.trim().is_empty() {
            return Err(Error::Usage(
                "--token: give the token `marrow token create --scope sync` printed upstream"
                    .into(),
            ));
        }
        let key: PublicKey = req.key.parse()?;
        let fingerprint = match &req.fingerprint {
            Some(f) => Some(format!("sha256:{}", hex::encode(tls::parse_pin(f)?))),
            None => None,
        };
        let row = SiteRow {
            name: req.name.clone(),
            url: url.to_string(),
            token: req.token.trim().to_string(),
            key: key.to_string(),
            fingerprint,
            read_through: false,
            created: ctx.now,
        };
        if !db.sites().add(&row)? {
            return Err(Error::Conflict(format!(
                "site {:?} exists; remove it first with `marrow site remove {}`",
                req.name, req.name
            )));
        }
        Ok(view(&row, None))
    })
}

/// Forgets an upstream. What was pulled from it stays, and so does the
/// history of its pulls.
pub fn remove_site(db: &mut Db, ctx: &Ctx, name: &str) -> Result<()> {
    audited(
        db,
        ctx,
        "site.remove",
        Some(name),
        json!({}),
        |db| match db.sites().remove(name)? {
            true => Ok(()),
            false => Err(Error::NotFound(format!("no site {name:?}"))),
        },
    )
}
