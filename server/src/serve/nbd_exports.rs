//! Image versions the service exports over NBD on an admin's request.
//! Each export's name is a fresh secret token, so the URL is the
//! credential: the listener does not list exports, and an export ends
//! after [`EXPORT_SECS`]. The listener starts with the first export, so a
//! service nobody asks for one never opens the port.

use std::sync::Arc;

use tokio::net::TcpListener;

use crate::error::{Error, Result};
use crate::nbd::{Exported, Exports};

/// How long an export lives: a working day of looking at a version.
pub(crate) const EXPORT_SECS: i64 = 8 * 3600;

pub(crate) struct NbdExports {
    /// `None`: exports are turned off (`--nbd-port 0`).
    port: Option<u16>,
    exports: Arc<Exports>,
    listening: tokio::sync::Mutex<bool>,
}

impl NbdExports {
    pub fn new(port: Option<u16>) -> NbdExports {
        NbdExports {
            port,
            exports: Arc::new(Exports::unlisted()),
            listening: tokio::sync::Mutex::new(false),
        }
    }

    /// The port exports are served on, once listening.
    pub async fn listen(&self) -> Result<u16> {
        let port = self
            .port
            .ok_or_else(|| Error::Refused("NBD exports are turned off (--nbd-port 0)".into()))?;
        let mut listening = self.listening.lock().await;
        if !*listening {
            let listener = TcpListener::bind(("0.0.0.0", port))
                .await
                .map_err(Error::io(format!("NBD port {port}")))?;
            tracing::info!("NBD exports on port {port}");
            tokio::spawn(crate::nbd::serve(listener, self.exports.clone()));
            *listening = true;
        }
        Ok(port)
    }

    pub fn add(&self, export: Exported, now: i64) {
        self.exports.add(export, now);
    }
}
