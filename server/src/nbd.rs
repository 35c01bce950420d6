//! The NBD driver: TCP connections fed to the sans-I/O server in
//! `marrow_protocol::nbd`, reads answered from [`ImageView`]s on the
//! blocking pool. A read whose chunk fails its check is an `EIO` reply
//! for that request, logged with the chunk; the connection and the server
//! go on.

use std::sync::{Arc, RwLock};

use image_format::catalog::{self, ImageRef};
use image_format::store::ReadStore as _;
use image_format::view::ImageView;

use crate::clock::{Clock, SystemClock};
use marrow_protocol::nbd::{read_reply, wire::EIO, Action, Export, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

/// Opens version `reference` of the image in `store` for export: its
/// `NAME@SHORTID` and its view, keeping `cache_bytes` of chunks.
pub fn open_export(
    store: Arc<crate::store::Store>,
    reference: &str,
    cache_bytes: usize,
) -> crate::error::Result<(String, ImageView)> {
    let r = ImageRef::parse(reference)?;
    let id = catalog::resolve(store.as_ref(), &r, &store.describe())?.id;
    let manifest = catalog::load(store.as_ref(), &id, &store.describe())?;
    let view = ImageView::open(id, &manifest, store, cache_bytes)?;
    Ok((format!("{}@{}", r.name, id.short()), view))
}

/// An image version offered under `name`, until `expires` (Unix seconds)
/// when set.
pub struct Exported {
    pub name: String,
    pub view: Arc<ImageView>,
    pub expires: Option<i64>,
}

/// The exports a listener offers: fixed for `marrow image serve`, added
/// on request (and expiring) in the service, where an export's name is a
/// secret and is not listed.
pub struct Exports {
    table: RwLock<Vec<Arc<Exported>>>,
    listable: bool,
}

impl Exports {
    pub fn fixed(exports: Vec<Exported>) -> Exports {
        Exports {
            table: RwLock::new(exports.into_iter().map(Arc::new).collect()),
            listable: true,
        }
    }

    pub fn unlisted() -> Exports {
        Exports {
            table: RwLock::new(Vec::new()),
            listable: false,
        }
    }

    pub fn add(&self, export: Exported, now: i64) {
        let mut table = self.table.write().expect("exports lock");
        table.retain(|e| e.expires.is_none_or(|t| t > now));
        table.push(Arc::new(export));
    }

    /// The exports not expired at `now`.
    pub fn current(&self, now: i64) -> Vec<Arc<Exported>> {
        self.table
            .read()
            .expect("exports lock")
            .iter()
            .filter(|e| e.expires.is_none_or(|t| t > now))
            .cloned()
            .collect()
    }
}

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, exports: Arc<Exports>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!("NBD accept: {e}");
                continue;
            }
        };
        let exports = exports.clone();
        tokio::spawn(async move {
            match connection(stream, &exports).await {
                Ok(()) => info!("NBD client {peer} disconnected"),
                Err(e) => warn!("NBD client {peer}: {e}"),
            }
        });
    }
}

async fn connection(mut stream: TcpStream, exports: &Exports) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    // What this connection may choose from: the exports as it began.
    let offered = exports.current(SystemClock.now());
    let list = offered
        .iter()
        .map(|e| Export {
            name: e.name.clone(),
            size: e.view.size(),
        })
        .collect();
    let (mut server, greeting) = if exports.listable {
        Server::new(list)
    } else {
        Server::unlisted(list)
    };
    stream
        .write_all(&greeting)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(());
        }
        let actions = server.receive(&buf[..n]).map_err(|e| e.to_string())?;
        for action in actions {
            match action {
                Action::Send(bytes) => stream.write_all(&bytes).await.map_err(|e| e.to_string())?,
                Action::Read {
                    cookie,
                    offset,
                    len,
                } => {
                    let name = server.export().map(|e| e.name.clone()).unwrap_or_default();
                    let view = offered
                        .iter()
                        .find(|e| e.name == name)
                        .map(|e| e.view.clone())
                        .ok_or_else(|| format!("read before an export was chosen ({name:?})"))?;
                    let outcome =
                        tokio::task::spawn_blocking(move || view.read(offset, len as usize))
                            .await
                            .map_err(|e| format!("read task: {e}"))?
                            .map_err(|e| {
                                warn!("NBD read of {len} bytes at {offset}: {e}");
                                EIO
                            });
                    stream
                        .write_all(&read_reply(cookie, outcome))
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Action::Close => return Ok(()),
            }
        }
    }
}
