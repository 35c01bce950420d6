//! The store is held (its shared lock) by every task from its claim until
//! it ends, so `marrow store gc` waits for running captures and restores
//! instead of sweeping chunks a capture has uploaded but not yet named in
//! its manifest, or its chunks waiting to be flushed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use image_format::store::WriteStore;

use crate::store::StoreGuard;
use marrow_protocol::TaskId;
use tracing::warn;

use super::state::Shared;

#[derive(Default)]
pub(crate) struct Holds(Mutex<HashMap<TaskId, StoreGuard>>);

impl Holds {
    pub fn hold(&self, task: TaskId, lock: StoreGuard) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(task, lock);
    }

    /// Lets go of `task`'s hold, if it has one.
    pub fn release(&self, task: TaskId) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&task)
            .is_some()
    }

    fn held(&self) -> Vec<TaskId> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.keys().copied().collect()
    }
}

/// How often holds of tasks that ended elsewhere (cancelled from the CLI,
/// say) are let go.
const SWEEP: Duration = Duration::from_secs(10);

/// Ends the holds of tasks that are no longer active, flushing the store
/// first so every chunk they uploaded is durable when gc may run.
pub(crate) async fn sweep(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(SWEEP).await;
        let held = shared.images.holds.held();
        if held.is_empty() {
            continue;
        }
        let lookup = held.clone();
        let ended = shared
            .db
            .call(move |db| {
                let mut ended = Vec::new();
                for id in lookup {
                    let active = db.tasks().get(id)?.is_some_and(|t| t.state.is_active());
                    if !active {
                        ended.push(id);
                    }
                }
                Ok(ended)
            })
            .await;
        match ended {
            Ok(ended) => {
                for id in ended {
                    release(&shared, id).await;
                }
            }
            Err(e) => warn!("store holds not swept: {e}"),
        }
    }
}

/// Flushes the store and lets go of `task`'s hold.
pub(crate) async fn release(shared: &Arc<Shared>, task: TaskId) {
    let shared2 = shared.clone();
    let flushed = tokio::task::spawn_blocking(move || shared2.store()?.flush().map_err(Into::into))
        .await
        .unwrap_or_else(|e| {
            Err(crate::Error::Command {
                command: "store flush".into(),
                detail: e.to_string(),
            })
        });
    if let Err(e) = flushed {
        warn!(%task, "store not flushed at the end of the task: {e}");
    }
    shared.images.holds.release(task);
}
