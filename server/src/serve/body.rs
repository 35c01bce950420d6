//! Request bodies read whole with a cap per route, refused with a JSON 413
//! before more than the cap is read; and the memory chunk uploads may hold
//! at once, so that no number of uploads grows the server without bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap};
use marrow_protocol::TaskId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::api_error::{ApiError, ApiResult};

/// Every API body but a chunk's: progress, reports, `has` batches (1024
/// ids are about 70 KB), inventories and manifests are far smaller.
pub const JSON_LIMIT: usize = 1 << 20;

/// A compressed chunk: at most 8 MiB plain (`MAX_CHUNK_LEN`), which zstd
/// never grows by more than a few KiB.
pub const CHUNK_LIMIT: usize = 9 << 20;

/// The declared length of a body, when the request declares one.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn too_large(limit: usize) -> ApiError {
    ApiError::TooLarge(format!("request body is over the {limit}-byte limit"))
}

/// Reads `body` whole, refusing it at `limit` bytes.
pub async fn read(headers: &HeaderMap, body: Body, limit: usize) -> ApiResult<Bytes> {
    if content_length(headers).is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let over = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if over {
            too_large(limit)
        } else {
            ApiError::BadRequest(format!("request body: {e}"))
        }
    })
}

/// A JSON body of type `T`, or a JSON 400 naming `what` did not parse.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(what: &str, body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("{what}: {e}")))
}

/// A JSON-sized body, as an extractor: the last argument of a handler, so
/// the token is checked before any of it is read.
pub(crate) struct Small(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Small {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> ApiResult<Self> {
        let (parts, body) = req.into_parts();
        Ok(Small(read(&parts.headers, body, JSON_LIMIT).await?))
    }
}

/// The bytes chunk uploads may hold in memory at once: all of them
/// together, and those of one task.
pub(crate) struct UploadBudget {
    total: Arc<Semaphore>,
    size: usize,
    /// A trim of the heap is scheduled.
    trim: Arc<AtomicBool>,
    per_task: usize,
    tasks: Mutex<HashMap<TaskId, Arc<Semaphore>>>,
}

/// Memory reserved for one upload; given back when dropped.
pub(crate) struct Reserved {
    total: Option<OwnedSemaphorePermit>,
    _task: OwnedSemaphorePermit,
    budget: Arc<Semaphore>,
    size: usize,
    trim: Arc<AtomicBool>,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        drop(self.total.take());
        if self.budget.available_permits() == self.size {
            trim_when_idle(self.budget.clone(), self.size, self.trim.clone());
        }
    }
}

/// How long the budget must stay unused before its memory is handed back:
/// a capture's uploads pause between chunks all the time, and trimming
/// the heap at each pause would cost more than it saves.
const IDLE: Duration = Duration::from_secs(1);

/// Once no upload has held memory for [`IDLE`], hands the heap's free
/// pages back to the system (glibc keeps a burst's high-water mark for
/// good). One trim is scheduled at a time.
fn trim_when_idle(budget: Arc<Semaphore>, size: usize, scheduled: Arc<AtomicBool>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if scheduled.swap(true, Ordering::AcqRel) {
        return;
    }
    rt.spawn(async move {
        loop {
            tokio::time::sleep(IDLE).await;
            if budget.available_permits() == size {
                break;
            }
        }
        scheduled.store(false, Ordering::Release);
        let _ = tokio::task::spawn_blocking(crate::sys::release_free_memory).await;
    });
}

/// How long an upload waits for memory before it is told to come back.
const WAIT: Duration = Duration::from_secs(30);

impl UploadBudget {
    pub fn new(total: usize, per_task: usize) -> Self {
        UploadBudget {
            total: Arc::new(Semaphore::new(total)),
            size: total,
            trim: Arc::new(AtomicBool::new(false)),
            per_task,
            tasks: Mutex::default(),
        }
    }

    /// Reserves `bytes` (the declared length, or the cap) for `task`'s
    /// upload, waiting while others use the budget; after [`WAIT`] the
    /// upload gets a 503, which the client retries.
    pub async fn reserve(&self, task: TaskId, bytes: usize) -> ApiResult<Reserved> {
        let mine = {
            let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
            // Tasks whose uploads are all done hold no permits; drop them.
            tasks.retain(|_, s| Arc::strong_count(s) > 1);
            tasks
                .entry(task)
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_task)))
                .clone()
        };
        let n = bytes.min(self.per_task) as u32;
        let busy = || {
            ApiError::Unavailable(format!(
                "the server is receiving as many chunks as it holds in memory; retry (task {task})"
            ))
        };
        let task_permit = tokio::time::timeout(WAIT, mine.acquire_many_owned(n))
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let total_permit = tokio::time::timeout(WAIT, self.total.clone().acquire_many_owned(n))
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        Ok(Reserved {
            total: Some(total_permit),
            _task: task_permit,
            budget: self.total.clone(),
            size: self.size,
            trim: self.trim.clone(),
        })
    }
}

/// What an upload reserves: its declared length, or the cap.
pub fn upload_size(headers: &HeaderMap) -> usize {
    content_length(headers).map_or(CHUNK_LIMIT, |n| (n as usize).min(CHUNK_LIMIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_holds_at_most_its_share_and_gets_it_back() {
        let budget = UploadBudget::new(100, 40);
        let t = TaskId(1);
        let a = budget.reserve(t, 30).await.unwrap();
        assert_eq!(budget.total.available_permits(), 70);
        let waiting = tokio::time::timeout(Duration::from_millis(50), budget.reserve(t, 30)).await;
        assert!(waiting.is_err(), "a second 30 would pass the task's 40");
        let other = budget.reserve(TaskId(2), 40).await.unwrap();
        drop(a);
        let b = budget.reserve(t, 30).await.unwrap();
        assert_eq!(budget.total.available_permits(), 30);
        drop((b, other));
        assert_eq!(budget.total.available_permits(), 100);
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_unread() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, "2000".parse().unwrap());
        let err = read(&headers, Body::from(vec![0u8; 10]), 1000)
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ApiError::TooLarge(_)), "{err:?}");
        let err = read(&HeaderMap::new(), Body::from(vec![0u8; 1001]), 1000)
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, ApiError::TooLarge(_)),
            "an undeclared body is cut at the cap"
        );
        let ok = read(&HeaderMap::new(), Body::from(vec![1u8; 1000]), 1000)
            .await
            .unwrap();
        assert_eq!(ok.len(), 1000);
    }
}
