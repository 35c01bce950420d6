//! A local store keeps part of its filesystem free: an upload that would
//! eat into that reserve is refused with 507 before a byte is written, so
//! SQLite's log, manifests and the failed task's report still fit, and the
//! store never ends on a half-written file.

use std::path::Path;

use super::api_error::{ApiError, ApiResult};
use crate::store::Store;

const MIB: u64 = 1 << 20;

/// Whether `incoming` bytes fit in `free` while leaving `reserve`; the
/// refusal names the store and says what to do.
pub(crate) fn judge(store: &Path, free: u64, incoming: u64, reserve: u64) -> Result<(), String> {
    if free
        .checked_sub(incoming)
        .is_some_and(|left| left >= reserve)
    {
        return Ok(());
    }
    Err(format!(
        "store {} is full: {} MiB free, and {} MiB is kept free for the database; \
         free space (marrow store gc, or remove images) or grow the disk, then run the task again",
        store.display(),
        free / MIB,
        reserve / MIB,
    ))
}

/// Refuses an upload of `incoming` bytes into a local store whose
/// filesystem would fall below `reserve` free bytes. An S3 store has no
/// free space to ask about; a full bucket answers for itself.
pub(crate) fn check(store: &Store, incoming: u64, reserve: u64) -> ApiResult<()> {
    let Store::Local(local) = store else {
        return Ok(());
    };
    let root = local.root();
    let (free, _) = crate::sys::filesystem_space(root)
        .map_err(|e| ApiError::Internal(format!("free space of store {}: {e}", root.display())))?;
    judge(root, free, incoming, reserve).map_err(ApiError::InsufficientStorage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_fit_until_the_reserve() {
        let p = Path::new("/srv/store");
        assert!(judge(p, 300 * MIB, MIB, 256 * MIB).is_ok());
        assert!(judge(p, 257 * MIB, MIB, 256 * MIB).is_ok());
        let refused = judge(p, 256 * MIB, MIB, 256 * MIB).unwrap_err();
        assert!(refused.contains("store /srv/store is full"), "{refused}");
        assert!(
            refused.contains("255 MiB free") || refused.contains("256 MiB free"),
            "{refused}"
        );
        assert!(refused.contains("256 MiB is kept free"), "{refused}");
        // Less free than the upload itself.
        assert!(judge(p, 10, MIB, 0).is_err());
        // No reserve: anything that fits.
        assert!(judge(p, MIB, MIB, 0).is_ok());
    }
}
