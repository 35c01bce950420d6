//! The `[[sync]]` entries of `marrow.toml`, which `marrow serve` runs
//! itself: each pulls from its site every `every` (and soon again after a
//! pull that failed or was cut off), within its window and under its cap;
//! `read_through = true` also lets restores fetch on demand from it.
//!
//! ```toml
//! [[sync]]
//! from = "hq"
//! images = "win11-*"
//! window = "22:00-06:00"
//! bandwidth = "50M"
//! every = "1d"
//! read_through = true
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use image_format::progress::NoProgress;
use serde::Deserialize;
use tracing::{info, warn};

use super::state::Shared;
use crate::admin::Ctx;
use crate::error::{Error, Result};
use crate::sites::pull::PullOptions;
use crate::sites::window::Window;
use crate::tasks::Actor;
use crate::when::{parse_bandwidth, parse_duration};

/// One entry as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncFile {
    pub from: String,
    pub images: Option<String>,
    pub window: Option<String>,
    pub bandwidth: Option<String>,
    /// How often to pull: `12h`, `1d`; `off` for read-through only.
    pub every: Option<String>,
    #[serde(default)]
    pub read_through: bool,
}

/// One entry, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncEntry {
    pub from: String,
    pub images: Option<String>,
    pub window: Option<Window>,
    pub bandwidth: Option<u64>,
    /// Seconds between pulls; `None`: no scheduled pulls.
    pub every: Option<i64>,
    pub read_through: bool,
}

/// A pull that failed or was cut off is tried again this soon (or at its
/// `every`, when that comes first).
const RETRY_AFTER: i64 = 30 * 60;
/// How often due entries are looked for.
const PERIOD: Duration = Duration::from_secs(10);

impl SyncEntry {
    /// Checks entry `i`; errors name its key, e.g. `sync[0].window`.
    pub fn resolve(i: usize, f: &SyncFile) -> Result<SyncEntry> {
        let bad = |key: &str, value: &str, reason: String| Error::Config {
            key: format!("sync[{i}].{key}"),
            value: value.to_string(),
            reason,
        };
        crate::admin::check_name("site", &f.from)
            .map_err(|e| bad("from", &f.from, e.to_string()))?;
        let window = match &f.window {
            Some(w) => Some(Window::parse(w).map_err(|e| bad("window", w, e.to_string()))?),
            None => None,
        };
        let bandwidth = match &f.bandwidth {
            Some(b) => Some(parse_bandwidth(b).map_err(|e| bad("bandwidth", b, e))?),
            None => None,
        };
        let every = match f.every.as_deref() {
            Some("off") => None,
            Some(e) => {
                let secs = parse_duration(e).map_err(|why| bad("every", e, why))?;
                if secs < 60 {
                    return Err(bad("every", e, "pull at most once a minute".into()));
                }
                Some(secs)
            }
            None => Some(86_400),
        };
        Ok(SyncEntry {
            from: f.from.clone(),
            images: f.images.clone(),
            window,
            bandwidth,
            every,
            read_through: f.read_through,
        })
    }

    fn options(&self) -> PullOptions {
        PullOptions {
            images: self.images.clone(),
            bandwidth: self.bandwidth,
            window: self.window,
            version: None,
        }
    }
}

/// When entry `e` is next due, from its site's last pull: `started` and
/// whether it ended well. Pure, for tests on given times.
pub fn next_due(e: &SyncEntry, last: Option<(i64, bool)>) -> Option<i64> {
    let every = e.every?;
    Some(match last {
        None => 0,
        Some((started, true)) => started + every,
        Some((started, false)) => started + every.min(RETRY_AFTER),
    })
}

/// Refuses entries whose site this server does not know: a typo in
/// `from` would otherwise pull nothing, night after night, in silence.
pub(crate) fn check_sites(db: &crate::db::Db, entries: &[SyncEntry]) -> Result<()> {
    for (i, e) in entries.iter().enumerate() {
        if db.sites().get(&e.from)?.is_none() {
            return Err(Error::Config {
                key: format!("sync[{i}].from"),
                value: e.from.clone(),
                reason: format!(
                    "no such site; add it first with `marrow site add {} --url URL --token TOKEN --key KEY`",
                    e.from
                ),
            });
        }
    }
    Ok(())
}

/// Marks the read-through sites, then runs due entries until the service
/// stops.
pub(crate) async fn run(shared: Arc<Shared>) {
    let entries = shared.config.sync.clone();
    let names: Vec<String> = entries
        .iter()
        .filter(|e| e.read_through)
        .map(|e| e.from.clone())
        .collect();
    match shared
        .db
        .call(move |db| db.sites().set_read_through(&names))
        .await
    {
        Ok(()) => {}
        Err(e) => warn!("read-through sites not marked: {e}"),
    }
    for e in &entries {
        info!(
            "sync from {}: {}{}{}{}",
            e.from,
            match e.every {
                Some(s) => format!("every {}", crate::when::format_duration(s)),
                None => "no scheduled pulls".into(),
            },
            e.window
                .map(|w| format!(", window {w}"))
                .unwrap_or_default(),
            e.bandwidth
                .map(|b| format!(", cap {} Mbit/s", b / 1_000_000))
                .unwrap_or_default(),
            if e.read_through { ", read-through" } else { "" }
        );
    }
    if entries.iter().all(|e| e.every.is_none()) {
        return;
    }
    let running: Arc<Mutex<HashSet<usize>>> = Arc::default();
    // Entries whose pull could not even start (its site was removed since,
    // or the database failed), and when: tried again after RETRY_AFTER.
    let refused: Arc<Mutex<HashMap<usize, i64>>> = Arc::default();
    loop {
        for (i, e) in entries.iter().enumerate() {
            if running
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&i)
            {
                continue;
            }
            let since = refused
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&i)
                .copied();
            if since.is_some_and(|t| shared.now() < t + RETRY_AFTER) {
                continue;
            }
            let site = e.from.clone();
            let last = shared
                .db
                .call(move |db| {
                    let runs = db.sites().last_runs()?;
                    Ok(runs
                        .into_iter()
                        .find(|r| r.site.eq_ignore_ascii_case(&site))
                        .map(|r| (r.started, r.state == "done")))
                })
                .await;
            let last = match last {
                Ok(l) => l,
                Err(err) => {
                    warn!("sync from {}: {err}", e.from);
                    continue;
                }
            };
            let due = next_due(e, last);
            if due.is_none_or(|d| d > shared.now()) {
                continue;
            }
            running.lock().unwrap_or_else(|e| e.into_inner()).insert(i);
            let (shared, e) = (shared.clone(), e.clone());
            let (running, refused) = (running.clone(), refused.clone());
            tokio::task::spawn_blocking(move || {
                let started = pull_entry(&shared, &e);
                let mut r = refused.lock().unwrap_or_else(|e| e.into_inner());
                match started {
                    true => r.remove(&i),
                    false => r.insert(i, shared.now()),
                };
                running.lock().unwrap_or_else(|e| e.into_inner()).remove(&i);
            });
        }
        tokio::time::sleep(PERIOD).await;
    }
}

/// "Pull now" (web UI, admin API): a pull from `site` in the background,
/// with its `[[sync]]` entry's images, cap and window when it has one, as
/// `ctx` asks. Refuses an unknown site and one that is being pulled.
pub(crate) async fn pull_now(shared: Arc<Shared>, site: String, ctx: Ctx) -> Result<()> {
    let name = site.clone();
    let row = shared
        .db
        .call(move |db| crate::admin::get_site(db, &name))
        .await?;
    if crate::sites::run_lock::is_held(&shared.dirs, &row.name) {
        return Err(Error::Conflict(format!(
            "a pull from site {} is already running",
            row.name
        )));
    }
    let entry = shared
        .config
        .sync
        .iter()
        .find(|e| e.from.eq_ignore_ascii_case(&row.name))
        .cloned()
        .unwrap_or(SyncEntry {
            from: row.name.clone(),
            images: None,
            window: None,
            bandwidth: None,
            every: None,
            read_through: row.read_through,
        });
    tokio::task::spawn_blocking(move || {
        let store = match shared.store() {
            Ok(s) => s,
            Err(err) => return warn!("pull from {}: {err}", entry.from),
        };
        let done = crate::sites::run::pull_site(
            &shared.dirs,
            store.as_ref(),
            &entry.from,
            &entry.options(),
            &ctx,
            &NoProgress,
        );
        if let Err(err) = done {
            warn!("pull from {} ({}): {err}", entry.from, ctx.actor);
        }
    });
    Ok(())
}

/// Runs one pull; false when it could not start, and left no run behind.
fn pull_entry(shared: &Shared, e: &SyncEntry) -> bool {
    let store = match shared.store() {
        Ok(s) => s,
        Err(err) => {
            warn!("sync from {}: {err}", e.from);
            return false;
        }
    };
    let ctx = Ctx {
        actor: Actor::Scheduler(format!("sync from {}", e.from)),
        address: None,
        now: shared.now(),
    };
    let done = crate::sites::run::pull_site(
        &shared.dirs,
        store.as_ref(),
        &e.from,
        &e.options(),
        &ctx,
        &NoProgress,
    );
    match done {
        Ok(r) => {
            info!(
                "sync from {}: {} published, {} refused, {} chunks ({} bytes) fetched",
                e.from,
                r.published.len(),
                r.failed.len(),
                r.chunks_fetched,
                r.bytes_fetched
            );
            true
        }
        // The site is gone, or another pull of it runs: no run was noted.
        Err(err @ (Error::NotFound(_) | Error::Conflict(_))) => {
            warn!("sync from {}: {err}", e.from);
            false
        }
        Err(err) => {
            warn!("sync from {}: {err}", e.from);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(every: Option<&str>) -> SyncFile {
        SyncFile {
            from: "hq".into(),
            every: every.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn entries_are_checked_and_name_their_key() {
        let e = SyncEntry::resolve(0, &entry(None)).unwrap();
        assert_eq!(e.every, Some(86_400));
        assert_eq!(
            SyncEntry::resolve(0, &entry(Some("off"))).unwrap().every,
            None
        );
        let bad = [
            SyncFile {
                window: Some("22-6".into()),
                ..entry(None)
            },
            SyncFile {
                bandwidth: Some("fast".into()),
                ..entry(None)
            },
            entry(Some("10s")),
            SyncFile {
                from: "no/slash".into(),
                ..entry(None)
            },
        ];
        for (f, key) in bad.iter().zip(["window", "bandwidth", "every", "from"]) {
            let e = SyncEntry::resolve(2, f).unwrap_err().to_string();
            assert!(e.contains(&format!("sync[2].{key}")), "{e}");
        }
    }

    #[test]
    fn an_entry_is_due_at_once_then_every_period_and_soon_after_a_failure() {
        let e = SyncEntry::resolve(0, &entry(Some("1d"))).unwrap();
        assert_eq!(next_due(&e, None), Some(0));
        assert_eq!(next_due(&e, Some((1000, true))), Some(1000 + 86_400));
        assert_eq!(next_due(&e, Some((1000, false))), Some(1000 + RETRY_AFTER));
        let hourly = SyncEntry::resolve(0, &entry(Some("10m"))).unwrap();
        assert_eq!(next_due(&hourly, Some((1000, false))), Some(1600));
        let off = SyncEntry::resolve(0, &entry(Some("off"))).unwrap();
        assert_eq!(next_due(&off, None), None);
    }
}
