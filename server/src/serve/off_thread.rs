//! Store and file work (listing images, inspecting one, reading driver
//! packages) run off the async threads, with its error as the API's.

use super::api_error::{ApiError, ApiResult};

/// Runs `f` on the blocking pool; a worker that panicked is a 500.
pub(crate) async fn off_thread<T: Send + 'static>(
    f: impl FnOnce() -> crate::error::Result<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("worker: {e}")))?
        .map_err(Into::into)
}
