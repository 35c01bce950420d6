//! Files served from a root directory over HTTP: confinement to the root
//! (shared with TFTP), single byte ranges (RFC 9110 §14), from memory
//! (`file_cache`) or streamed when too large to hold.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::file_cache::{FileCache, Version};
use super::metrics::Metrics;

/// Why a path is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Confinement {
    /// Nothing is there (or the root itself is missing).
    NotFound,
    /// A symlink inside the root points out of it.
    Outside,
}

/// The real path of `rel` under the canonical `root`, refusing anything a
/// symlink leads out of the root to. `rel` has passed the lexical check
/// (`marrow_protocol::tftp::check_path`) already.
pub(crate) fn confine(root: &Path, rel: &Path) -> Result<PathBuf, Confinement> {
    let real = root
        .join(rel)
        .canonicalize()
        .map_err(|_| Confinement::NotFound)?;
    if !real.starts_with(root) {
        return Err(Confinement::Outside);
    }
    Ok(real)
}

pub(crate) fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A single byte range from a `Range` header (RFC 9110 §14.1.2), inclusive.
/// `Ok(None)`: no usable range, send everything: a unit other than bytes,
/// several ranges (RFC 9110 lets a server ignore Range), or one that does
/// not parse (§14.2: a server that does not understand it ignores it).
/// `Err(())`: a valid range that misses the file: answer 416. A last
/// position past the end means the end (§14.1.2), however large.
pub(crate) fn parse_range(value: &str, len: u64) -> std::result::Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let number = |t: &str| -> Option<u64> {
        (!t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()))
            .then(|| t.parse().unwrap_or(u64::MAX))
    };
    let (start, end) = match (number(a), number(b)) {
        // bytes=-N: the last N bytes.
        (None, Some(suffix)) if a.is_empty() => {
            if suffix == 0 || len == 0 {
                return Err(());
            }
            (len.saturating_sub(suffix), len - 1)
        }
        // bytes=N-
        (Some(start), None) if b.is_empty() => (start, len.saturating_sub(1)),
        (Some(start), Some(last)) if last >= start => (start, last.min(len.saturating_sub(1))),
        _ => return Ok(None),
    };
    if start >= len {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// Bytes read from a served file at a time.
const READ_CHUNK: usize = 128 << 10;

pub(crate) async fn serve_file(
    metrics: &Metrics,
    cache: &FileCache,
    dir: PathBuf,
    rel: PathBuf,
    headers: &HeaderMap,
) -> Response {
    let shown = rel.display().to_string();
    let Ok(root) = dir.canonicalize() else {
        return text(
            StatusCode::NOT_FOUND,
            format!("{shown}: {} does not exist\n", dir.display()),
        );
    };
    let real = match confine(&root, &rel) {
        Ok(real) => real,
        Err(Confinement::NotFound) => {
            return text(StatusCode::NOT_FOUND, format!("{shown}: no such file\n"))
        }
        Err(Confinement::Outside) => {
            return text(
                StatusCode::FORBIDDEN,
                format!("{shown}: outside {}\n", root.display()),
            )
        }
    };
    // A FIFO or device would block the open or never end: only regular
    // files are opened, and without blocking.
    match tokio::fs::metadata(&real).await {
        Ok(m) if m.is_file() => {}
        _ => return text(StatusCode::NOT_FOUND, format!("{shown}: not a file\n")),
    }
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(&real);
    let mut file = match opened {
        Ok(f) => tokio::fs::File::from_std(f),
        Err(e) => return text(StatusCode::NOT_FOUND, format!("{shown}: {e}\n")),
    };
    let meta = match file.metadata().await {
        Ok(m) if m.is_file() => m,
        _ => return text(StatusCode::NOT_FOUND, format!("{shown}: not a file\n")),
    };
    let len = meta.len();
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = match range.map(|r| parse_range(r, len)) {
        None | Some(Ok(None)) => None,
        Some(Ok(Some(r))) => Some(r),
        Some(Err(())) => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{len}"))],
                format!("{shown}: range not satisfiable for {len} bytes\n"),
            )
                .into_response()
        }
    };
    let (status, start, count) = match range {
        Some((s, e)) => (StatusCode::PARTIAL_CONTENT, s, e - s + 1),
        None => (StatusCode::OK, 0, len),
    };
    metrics.http_file_bytes(count);
    let body = match cache.get(&real, Version::of(&meta)).await {
        Some(all) => Body::from(all.slice(start as usize..(start + count) as usize)),
        None => {
            if start > 0 {
                if let Err(e) = file.seek(std::io::SeekFrom::Start(start)).await {
                    return text(StatusCode::INTERNAL_SERVER_ERROR, format!("{shown}: {e}\n"));
                }
            }
            // Each read of a tokio file is a trip to the blocking pool: at
            // the stream's default 4 KiB, a large file spends its time on
            // those trips, not on the data.
            Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
                file.take(count),
                READ_CHUNK,
            ))
        }
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if status == StatusCode::PARTIAL_CONTENT {
        if let Ok(v) =
            HeaderValue::from_str(&format!("bytes {}-{}/{len}", start, start + count - 1))
        {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_single_range_forms() {
        assert_eq!(parse_range("bytes=0-99", 1000), Ok(Some((0, 99))));
        assert_eq!(parse_range("bytes=900-", 1000), Ok(Some((900, 999))));
        assert_eq!(parse_range("bytes=-100", 1000), Ok(Some((900, 999))));
        assert_eq!(parse_range("bytes=990-5000", 1000), Ok(Some((990, 999))));
    }

    #[test]
    fn refuses_unsatisfiable_ranges_and_ignores_malformed_and_multipart_ones() {
        assert_eq!(parse_range("bytes=1000-", 1000), Err(()));
        assert_eq!(parse_range("bytes=-0", 1000), Err(()));
        assert_eq!(parse_range("bytes=0-", 0), Err(()));
        for ignored in [
            "bytes=5-2",
            "bytes=x-2",
            "bytes=-",
            "bytes=1",
            "bytes=0-1,5-6",
            "items=0-1",
        ] {
            assert_eq!(parse_range(ignored, 1000), Ok(None), "{ignored}");
        }
    }

    #[test]
    fn a_last_position_past_the_end_or_past_u64_means_the_end() {
        assert_eq!(
            parse_range("bytes=10-99999999999999999999999", 1000),
            Ok(Some((10, 999)))
        );
        assert_eq!(
            parse_range("bytes=-99999999999999999999999", 1000),
            Ok(Some((0, 999)))
        );
    }
}
