//! The database, reachable from async code without blocking the runtime:
//! every call runs on tokio's blocking pool with the connection to itself.

use std::sync::{Arc, Mutex};

use crate::db::Db;
use crate::error::{Error, Result};

#[derive(Clone)]
pub(crate) struct DbHandle(Arc<Mutex<Db>>);

impl DbHandle {
    pub fn new(db: Db) -> Self {
        DbHandle(Arc::new(Mutex::new(db)))
    }

    /// Runs `f` with the database, off the async threads.
    pub async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Db) -> Result<T> + Send + 'static,
    {
        // A statement takes microseconds: on the service's multi-threaded
        // runtime it runs in place (`block_in_place` moves this worker's
        // other tasks to another thread first), sparing every request a
        // hop to the blocking pool; elsewhere (tests) it takes the hop.
        use tokio::runtime::{Handle, RuntimeFlavor};
        if Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread {
            return tokio::task::block_in_place(|| self.blocking(f));
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.blocking(f))
            .await
            .map_err(|e| Error::Command {
                command: "database worker".into(),
                detail: e.to_string(),
            })?
    }

    /// Runs `f` with the database, for code already on a blocking thread.
    pub fn blocking<T>(&self, f: impl FnOnce(&mut Db) -> Result<T>) -> Result<T> {
        let mut db = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut db)
    }
}
