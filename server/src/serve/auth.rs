//! Who is calling, as axum extractors: handlers name what they need in
//! their arguments, and the request is refused before its body is read.
//!
//! This is the imaging client with its task's token ([`TaskAuth`]); the
//! admin API's callers are resolved by `super::admin::caller`, from other
//! tables, with the same bearer parsing.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use image_format::catalog::ImageRef;
use marrow_protocol::api::TaskKind;

use super::api_error::{ApiError, ApiResult};
use super::state::Shared;
use crate::db::Task;
use crate::tasks;

/// The token of an `Authorization: Bearer TOKEN` header. The scheme is
/// case-insensitive (RFC 9110 §11.1), so `bearer` works too.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The active task whose current token the request carries.
pub(crate) struct TaskAuth {
    pub task: Task,
    pub token: String,
}

impl FromRequestParts<Arc<Shared>> for TaskAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, shared: &Arc<Shared>) -> ApiResult<Self> {
        let token = bearer(&parts.headers)
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "missing task token: send Authorization: Bearer TOKEN".into(),
                )
            })?
            .to_owned();
        let lookup = token.clone();
        let task = shared
            .db
            .call(move |db| tasks::authorize(db, &lookup))
            .await?
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "token is not the current token of any pending or running task".into(),
                )
            })?;
        Ok(TaskAuth { task, token })
    }
}

/// The image name (without version) of a task.
pub(crate) fn image_name(task: &Task) -> ApiResult<String> {
    Ok(ImageRef::parse(&task.image)?.name)
}

impl TaskAuth {
    /// The task, refused unless it is a `kind` task for image `name`.
    pub fn for_image(self, name: &str, kind: TaskKind) -> ApiResult<Task> {
        let task = self.task;
        let own = image_name(&task)?;
        if own != name {
            return Err(ApiError::Forbidden(format!(
                "the token of task {} reaches image {own:?} only, not {name:?}",
                task.id
            )));
        }
        if task.kind != kind {
            let (want, verb) = match kind {
                TaskKind::Capture => ("capture", "writing to"),
                TaskKind::Restore => ("restore", "reading from"),
            };
            return Err(ApiError::Forbidden(format!(
                "task {} is not a {want} task; {verb} image {name:?} needs one",
                task.id
            )));
        }
        Ok(task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_an_empty_token_is_none() {
        let mut h = HeaderMap::new();
        for (value, want) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER  abc ", Some("abc")),
            ("Bearer ", None),
            ("Basic abc", None),
            ("Bearerabc", None),
        ] {
            h.insert(header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(bearer(&h), want, "{value:?}");
        }
    }
}
