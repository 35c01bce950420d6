use std::path::{Path, PathBuf};

/// Everything the `marrow` binary can fail with. Library errors wrap in with
/// `#[from]` so their messages (which name the chunk, image or path) survive.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Image(#[from] image_format::Error),
    #[error(transparent)]
    Drivers(#[from] driver_store::Error),
    #[error(transparent)]
    Initramfs(#[from] marrow_initramfs::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed: {detail}")]
    Command { command: String, detail: String },
    #[error("{0}")]
    Usage(String),
    /// The named host, task, user, token or image does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what is stored (a name taken, a second
    /// active task).
    #[error("{0}")]
    Conflict(String),
    /// The admin API refused the request (remote CLI).
    #[error("{0}")]
    Refused(String),
    #[error("database {path}: {source}")]
    Db {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("config {key} = {value:?}: {reason}")]
    Config {
        key: String,
        value: String,
        reason: String,
    },
    /// Site sync: an upstream, the link to it, or this server's key or
    /// certificate.
    #[error("{site}: {detail}")]
    Site { site: String, detail: String },
    #[error("config file {path}: {detail}")]
    ConfigFile { path: PathBuf, detail: String },
}

impl Error {
    /// For `map_err`: an I/O error naming the path (or socket, or thing) it
    /// concerns.
    pub fn io(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.as_ref().to_path_buf();
        move |source| Error::Io { path, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
