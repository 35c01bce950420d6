//! The NBD driver: TCP connections fed to the sans-I/O server in
//! `marrow_protocol::nbd`, reads answered from [`ImageView`]s on the
//! blocking pool. A read whose chunk fails its check is an `EIO` reply
//! for that request, logged with the chunk; the connection and the server
//! go on.

use std::sync::Arc;

use image_format::view::ImageView;
use marrow_protocol::nbd::{read_reply, wire::EIO, Action, Export, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{info, warn};

/// An image version offered under `name`.
pub struct Exported {
    pub name: String,
    pub view: Arc<ImageView>,
}

/// Accepts connections until the task is dropped.
pub async fn serve(listener: TcpListener, exports: Arc<Vec<Exported>>) {
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

async fn connection(mut stream: TcpStream, exports: &[Exported]) -> Result<(), String> {
    let _ = stream.set_nodelay(true);
    let offered = exports
        .iter()
        .map(|e| Export {
            name: e.name.clone(),
            size: e.view.size(),
        })
        .collect();
    let (mut server, greeting) = Server::new(offered);
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
                    let view = exports
                        .iter()
                        .find(|e| e.name == name)
                        .map(|e| e.view.clone())
                        .ok_or_else(|| format!("read before an export was chosen ({name:?})"))?;
                    let outcome =
                        tokio::task::spawn_blocking(move || view.read(offset, len as usize))
                            .await
                            .map_err(|e| format!("read task: {e}"))?
                            .map_err(|e| {
                                warn!("NBD export {name}: read of {len} bytes at {offset}: {e}");
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
