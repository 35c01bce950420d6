use std::path::PathBuf;

/// Everything the driver store can fail with. Each message names the file,
/// line or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An INF file that cannot be read as INF.
    #[error("{file} line {line}: {reason}")]
    Inf {
        file: String,
        line: usize,
        reason: String,
    },
    /// An INF file whose bytes are not text in any encoding INF files use.
    #[error("{file}: {reason}")]
    InfEncoding { file: String, reason: String },
    /// A device ID given on the command line or by the client that does not parse.
    #[error("device {text:?}: {reason}")]
    DeviceId { text: String, reason: String },
    /// A target OS name that is not one Marrow knows.
    #[error("target OS {text:?}: {reason}")]
    TargetOs { text: String, reason: String },
    /// A driver package that cannot be imported.
    #[error("driver package {path}: {reason}")]
    Package { path: PathBuf, reason: String },
    /// A package id that is not in the store.
    #[error("driver package {id} is not in the store {store}")]
    UnknownPackage { id: String, store: PathBuf },
    /// The store's index database failed.
    #[cfg(feature = "store")]
    #[error("driver index {path}: {source}")]
    Db {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A file operation failed; the path says which file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A ZIP archive that cannot be read.
    #[cfg(feature = "store")]
    #[error("zip archive {path}: {reason}")]
    Zip { path: PathBuf, reason: String },
    /// An answer file that is not well-formed XML or not an unattend file.
    #[error("answer file {path}: {reason}")]
    AnswerFile { path: PathBuf, reason: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a path to an I/O error.
pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
