//! One pull from a site as the shell, the scheduler and the web UI start
//! it: the site's lock taken, the run noted in `sync_runs` and kept up to
//! date while it goes (so `sync status` and the UI show it live), its end
//! and report written, and the whole recorded in the audit log.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use image_format::progress::Progress;
use image_format::store::{LockStore, ManifestStore, WriteStore};

use super::pull::{pull, PullOptions, PullReport, Watch};
use super::run_lock;
use crate::admin::{self, Ctx};
use crate::clock::{Clock, SystemClock};
use crate::db::{Db, SyncRun};
use crate::error::Result;
use crate::paths::DataDir;

/// Writes a running pull's counts to its row, at most once a second.
struct RunWatch {
    db: Mutex<(Db, Instant)>,
    id: i64,
    paused: AtomicBool,
    counts: Mutex<(u64, u64)>,
}

impl RunWatch {
    fn write(&self, force: bool) {
        let (chunks, bytes) = *self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mut g = self.db.lock().unwrap_or_else(|e| e.into_inner());
        if !force && g.1.elapsed() < Duration::from_secs(1) {
            return;
        }
        g.1 = Instant::now();
        let state = match self.paused.load(Ordering::Relaxed) {
            true => "paused",
            false => "running",
        };
        // Progress is for the eye: a busy database must not stop a pull.
        if let Err(e) =
            g.0.sites()
                .run_progress(self.id, state, chunks as i64, bytes as i64)
        {
            tracing::debug!("sync run {}: progress not written: {e}", self.id);
        }
    }
}

impl Watch for RunWatch {
    fn paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
        self.write(true);
    }

    fn fetched(&self, chunks: u64, bytes: u64) {
        *self.counts.lock().unwrap_or_else(|e| e.into_inner()) = (chunks, bytes);
        self.write(false);
    }
}

/// Pulls from the site named `site` into `store`, as `ctx` asks.
pub fn pull_site<S>(
    dirs: &DataDir,
    store: &S,
    site: &str,
    opts: &PullOptions,
    ctx: &Ctx,
    progress: &dyn Progress,
) -> Result<PullReport>
where
    S: WriteStore + ManifestStore + LockStore,
{
    let db = Db::open(&dirs.db())?;
    let row = admin::get_site(&db, site)?;
    let _lock = run_lock::take(dirs, &row.name)?;
    let id = db.sites().run_started(&row.name, ctx.now)?;
    let watch = RunWatch {
        db: Mutex::new((db, Instant::now())),
        id,
        paused: AtomicBool::new(false),
        counts: Mutex::new((0, 0)),
    };
    let result = pull(store, &row, opts, &watch, progress);
    let (chunks, bytes) = *watch.counts.lock().unwrap_or_else(|e| e.into_inner());
    let (db, _) = watch.db.into_inner().unwrap_or_else(|e| e.into_inner());
    let ended = SystemClock.now().max(ctx.now);
    let run = match &result {
        Ok(r) => SyncRun {
            id,
            site: row.name.clone(),
            started: ctx.now,
            ended: Some(ended),
            state: if r.failed.is_empty() {
                "done"
            } else {
                "failed"
            }
            .into(),
            published: r.published.len() as i64,
            failed: r.failed.len() as i64,
            chunks: r.chunks_fetched as i64,
            bytes: r.bytes_fetched as i64,
            error: r
                .failed
                .first()
                .map(|f| format!("{}@{}: {}", f.image, short(&f.id), f.reason)),
            report: serde_json::to_string(r).ok(),
        },
        Err(e) => SyncRun {
            id,
            site: row.name.clone(),
            started: ctx.now,
            ended: Some(ended),
            state: "failed".into(),
            published: 0,
            failed: 0,
            chunks: chunks as i64,
            bytes: bytes as i64,
            error: Some(e.to_string()),
            report: None,
        },
    };
    db.sites().run_ended(&run)?;
    let outcome = match (&result, &run.error) {
        (Ok(_), None) => "ok".to_string(),
        (_, Some(e)) => format!("failed: {e}"),
        (Err(e), None) => format!("failed: {e}"),
    };
    let args = serde_json::json!({
        "images": opts.images, "bandwidth": opts.bandwidth,
        "window": opts.window.map(|w| w.to_string()),
        "published": run.published, "chunks": run.chunks, "bytes": run.bytes,
    });
    admin::record(
        &db,
        ctx,
        "sync.pull",
        Some(&row.name),
        Some(&args),
        &outcome,
    )?;
    result
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
