//! `/api/v1/admin/audit`: the audit log.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::caller::Caller;
use super::page::{self, Page, PageQuery};
use crate::access::Need;
use crate::admin;
use crate::db::{AuditEntry, AuditFilter};
use crate::serve::api_error::{ApiResult, ErrorBody};
use crate::serve::state::Shared;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Unix seconds: entries at or after it.
    since: Option<i64>,
    /// Entries of this user or token name.
    user: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// Audit entries, oldest first.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Page<AuditEntry>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Page<AuditEntry>>> {
    caller.require(Need::Admin)?;
    let q: AuditQuery = page::query(q.as_deref())?;
    let filter = AuditFilter {
        since: q.since,
        user: q.user,
    };
    let all = shared
        .db
        .call(move |db| admin::list_audit(db, &filter))
        .await?;
    let pq = PageQuery {
        offset: q.offset,
        limit: q.limit,
    };
    Ok(Json(Page::of(all, &pq)?))
}
