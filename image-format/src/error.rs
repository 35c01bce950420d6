use std::path::PathBuf;

use crate::id::{ChunkId, ImageId};

/// The one error type of this crate. Every variant names the thing at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a disk: {why}")]
    NotADisk { path: PathBuf, why: String },
    #[error("{value:?} is not the id of {kind}: expected 64 hex digits")]
    BadId { kind: &'static str, value: String },
    #[error("MBR of {disk}: {detail}")]
    Mbr { disk: String, detail: String },
    #[error("GPT of {disk}: {detail}")]
    Gpt { disk: String, detail: String },
    #[error("{fs} filesystem at byte {offset} of {disk}: {detail}")]
    Filesystem {
        fs: &'static str,
        disk: String,
        offset: u64,
        detail: String,
    },
    #[error("chunk {id} missing from store {store}")]
    ChunkMissing { id: ChunkId, store: String },
    #[error("chunk {id} in store {store} is corrupt: {detail}")]
    ChunkCorrupt {
        id: ChunkId,
        store: String,
        detail: String,
    },
    #[error("manifest {id} in store {store} is corrupt: {detail}")]
    ManifestCorrupt {
        id: String,
        store: String,
        detail: String,
    },
    #[error("image {image} cannot be restored: {detail}")]
    Unrestorable { image: String, detail: String },
    #[error("store {store}: {detail}")]
    Store { store: String, detail: String },
    /// A backend (HTTP, S3) failed; the backend's own error is kept.
    #[error("store {store}: {source}")]
    Backend {
        store: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("no image named {name:?} in store {store}")]
    ImageNotFound { name: String, store: String },
    #[error("image {name:?} has no version {id:?} in store {store}")]
    VersionNotFound {
        name: String,
        id: String,
        store: String,
    },
    #[error("image reference {reference:?} is ambiguous: it matches {first} and {second}")]
    AmbiguousVersion {
        reference: String,
        first: ImageId,
        second: ImageId,
    },
    #[error("{name:?} is not a valid image name: {reason}")]
    BadName { name: String, reason: &'static str },
    #[error(
        "target {target} is too small: it holds {target_size} bytes ({}) but image {image} needs at least {needed} bytes ({})",
        human(*target_size), human(*needed)
    )]
    TargetTooSmall {
        target: String,
        target_size: u64,
        needed: u64,
        image: String,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("{what} was cancelled")]
    Cancelled { what: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Sizes as people read them, beside the exact byte count.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
