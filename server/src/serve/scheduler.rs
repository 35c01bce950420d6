//! The serve loop's half of schedules: every few seconds, and once at
//! start (so that a run missed while the server was down runs now when
//! it is within its grace period), hand the time to `schedules::tick`.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::state::Shared;
use crate::schedules;
use crate::tasks::OsRng;

/// How often due times are looked for: a run starts at most this late.
const PERIOD: Duration = Duration::from_secs(10);

pub(crate) async fn run(shared: Arc<Shared>) {
    loop {
        let s = shared.clone();
        let done = tokio::task::spawn_blocking(move || {
            let now = s.now();
            let store = s.config.store.clone();
            let iface = s.wake_iface.clone();
            s.db.blocking(|db| schedules::tick(db, &store, now, iface.as_ref(), &mut OsRng))
        })
        .await;
        match done {
            Ok(Ok(runs)) => {
                for (name, r) in runs {
                    match r.outcome.as_str() {
                        "ok" => {
                            info!(schedule = %name, task = ?r.task, session = ?r.session, "schedule ran")
                        }
                        other => warn!(schedule = %name, due = r.due, "schedule: {other}"),
                    }
                }
            }
            Ok(Err(e)) => warn!("schedules: {e}"),
            Err(e) => warn!("schedules: {e}"),
        }
        tokio::time::sleep(PERIOD).await;
    }
}
