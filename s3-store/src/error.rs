//! The one error of this crate; it travels inside
//! `image_format::Error::Backend`, which names the store.

/// An S3 request that failed, naming the object and what was asked.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("{op} {key}: HTTP {status}: {message}")]
    Status {
        op: &'static str,
        key: String,
        status: u16,
        message: String,
    },
    #[error("{op} {key}: {detail}")]
    Transport {
        op: &'static str,
        key: String,
        detail: String,
    },
    #[error("{what}: {detail}")]
    Settings { what: String, detail: String },
    #[error("listing {prefix}: {detail}")]
    Listing { prefix: String, detail: String },
}

impl S3Error {
    /// Worth asking again: the server or the connection failed, not the
    /// request.
    pub fn is_transient(&self) -> bool {
        match self {
            S3Error::Status { status, .. } => *status >= 500 || *status == 429,
            S3Error::Transport { .. } => true,
            _ => false,
        }
    }
}
