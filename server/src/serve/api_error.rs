//! Every failure of the client API, as one enum behind one `IntoResponse`:
//! a 4xx or 5xx status and a JSON body (`{"error": "..."}`) whose message
//! names what was wrong.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use marrow_protocol::api::ApiError as Body;
use tracing::warn;

#[derive(Debug, Clone)]
pub(crate) enum ApiError {
    /// 400: the request does not parse.
    BadRequest(String),
    /// 401: no token, or not a live task's current token.
    Unauthorized(String),
    /// 403: the token's task may not reach this image, chunk or package.
    Forbidden(String),
    /// 404
    NotFound(String),
    /// 409: the request conflicts with what the server holds.
    Conflict(String),
    /// 413
    TooLarge(String),
    /// 422: it parses, but is not what it claims to be.
    Unprocessable(String),
    /// 429: too soon; the client waits for its next turn.
    TooMany(String),
    /// 503: busy now; the client retries.
    Unavailable(String),
    /// 507: the store's disk is full (RFC 4918 §11.5); retrying will not
    /// help until someone frees space.
    InsufficientStorage(String),
    /// 500: the server's own failure.
    Internal(String),
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn message(self) -> String {
        match self {
            ApiError::BadRequest(m)
            | ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::TooLarge(m)
            | ApiError::Unprocessable(m)
            | ApiError::TooMany(m)
            | ApiError::Unavailable(m)
            | ApiError::InsufficientStorage(m)
            | ApiError::Internal(m) => m,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let error = self.message();
        if status == StatusCode::INTERNAL_SERVER_ERROR || status == StatusCode::INSUFFICIENT_STORAGE
        {
            warn!(status = status.as_u16(), "API: {error}");
        }
        (status, Json(Body { error })).into_response()
    }
}

/// What the caller got wrong is a 4xx naming it; the server's own errors
/// (database, store, files) are 500s.
impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        use crate::Error as E;
        let message = e.to_string();
        if out_of_space(&e) {
            return ApiError::InsufficientStorage(message);
        }
        match e {
            E::Usage(_) | E::Config { .. } => ApiError::BadRequest(message),
            E::NotFound(_) => ApiError::NotFound(message),
            E::Conflict(_) => ApiError::Conflict(message),
            E::Refused(_) => ApiError::Forbidden(message),
            E::Image(
                image_format::Error::ImageNotFound { .. }
                | image_format::Error::VersionNotFound { .. },
            ) => ApiError::NotFound(message),
            E::Image(
                image_format::Error::BadName { .. } | image_format::Error::AmbiguousVersion { .. },
            ) => ApiError::BadRequest(message),
            _ => ApiError::Internal(message),
        }
    }
}

impl From<image_format::Error> for ApiError {
    fn from(e: image_format::Error) -> Self {
        if out_of_space(&e) {
            return ApiError::InsufficientStorage(e.to_string());
        }
        ApiError::Internal(e.to_string())
    }
}

/// True when `e`, or anything it was caused by, is a full disk or quota
/// (ENOSPC, EDQUOT) or SQLite's SQLITE_FULL.
fn out_of_space(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::StorageFull
                || io.raw_os_error() == Some(nix::libc::EDQUOT)
            {
                return true;
            }
        }
        if let Some(rusqlite::Error::SqliteFailure(f, _)) = e.downcast_ref::<rusqlite::Error>() {
            if f.code == rusqlite::ErrorCode::DiskFull {
                return true;
            }
        }
        next = e.source();
    }
    false
}

impl From<driver_store::Error> for ApiError {
    fn from(e: driver_store::Error) -> Self {
        ApiError::Internal(e.to_string())
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A store I/O failure on `path` with the OS error `errno`.
    fn io_failure(path: &str, errno: i32) -> image_format::Error {
        image_format::Error::Io {
            path: path.into(),
            source: std::io::Error::from_raw_os_error(errno),
        }
    }

    fn enospc(path: &str) -> image_format::Error {
        io_failure(path, nix::libc::ENOSPC)
    }

    #[test]
    fn a_full_disk_is_507_naming_the_file_wherever_it_is_wrapped() {
        let e = ApiError::from(enospc("/store/ab/cd.tmp"));
        assert_eq!(e.status(), StatusCode::INSUFFICIENT_STORAGE);
        assert!(e.message().contains("/store/ab/cd.tmp"));
        let wrapped = ApiError::from(crate::Error::Image(enospc("/store/x")));
        assert_eq!(wrapped.status(), StatusCode::INSUFFICIENT_STORAGE);
        let quota = io_failure("/store/q", nix::libc::EDQUOT);
        assert_eq!(
            ApiError::from(quota).status(),
            StatusCode::INSUFFICIENT_STORAGE
        );
    }

    #[test]
    fn other_io_failures_stay_500() {
        let e = io_failure("/store/x", nix::libc::EIO);
        assert_eq!(
            ApiError::from(e).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}

/// The error body, as the OpenAPI document describes it (the wire type is
/// `marrow_protocol::api::ApiError`, of the same shape).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorBody {
    /// What was wrong, naming the thing.
    error: String,
}
