//! Paginated listings: `?offset=N&limit=M` (default 100, at most 1000),
//! answered with the slice and the total.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::serve::api_error::{ApiError, ApiResult};

pub(crate) const DEFAULT_LIMIT: usize = 100;
pub(crate) const MAX_LIMIT: usize = 1000;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Rows to skip.
    pub offset: Option<usize>,
    /// Rows to return (default 100, at most 1000).
    pub limit: Option<usize>,
}

/// One page of a listing.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    /// Rows in the whole listing.
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
}

/// Parses a query string into `T`, as a JSON 400 naming the bad field.
pub(crate) fn query<T: serde::de::DeserializeOwned + Default>(raw: Option<&str>) -> ApiResult<T> {
    match raw {
        None | Some("") => Ok(T::default()),
        Some(q) => serde_urlencoded::from_str(q)
            .map_err(|e| ApiError::BadRequest(format!("query string: {e}"))),
    }
}

impl<T> Page<T> {
    pub fn of(all: Vec<T>, q: &PageQuery) -> ApiResult<Page<T>> {
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ApiError::BadRequest(format!(
                "limit {limit}: give 1 to {MAX_LIMIT}"
            )));
        }
        let offset = q.offset.unwrap_or(0);
        let total = all.len();
        let items = all.into_iter().skip(offset).take(limit).collect();
        Ok(Page {
            items,
            total,
            offset,
            limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_the_slice_and_the_total_and_bad_limits_are_refused() {
        let q: PageQuery = query(Some("offset=2&limit=2")).unwrap();
        let p = Page::of((0..5).collect::<Vec<_>>(), &q).unwrap();
        assert_eq!((p.items, p.total), (vec![2, 3], 5));
        let q: PageQuery = query(None).unwrap();
        assert_eq!(Page::of(vec![1], &q).unwrap().limit, DEFAULT_LIMIT);
        for bad in ["limit=0", "limit=1001", "offset=-1", "limit=x"] {
            let r = query::<PageQuery>(Some(bad)).and_then(|q| Page::of(vec![1], &q));
            assert!(r.is_err(), "{bad}");
        }
    }
}
