//! What Marrow keeps: the chunk store (its format and free space) and the
//! database (SQLite's own integrity check).

use std::path::Path;

use super::Finding;
use crate::paths::DataDir;
use crate::serve::config::Config;
use crate::store::{Store, StoreSpec};

const GIB: u64 = 1 << 30;

pub fn check(config: &Config, dirs: &DataDir) -> Vec<Finding> {
    vec![store(&config.store), database(&dirs.db())]
}

fn store(spec: &StoreSpec) -> Finding {
    let format = match spec.open_if_there() {
        Ok(Some(Store::Local(s))) => format!("format {}", s.version()),
        Ok(Some(Store::S3(_))) => "S3, format 1".to_string(),
        Ok(None) => "none yet (the first capture makes one)".to_string(),
        Err(e) => {
            return Finding::fail(
                "store",
                e.to_string(),
                "fix the store, or point --store elsewhere",
            )
        }
    };
    let StoreSpec::Local(path) = spec else {
        return Finding::ok("store", format!("{format}; space is the object store's"));
    };
    match free_space(path) {
        Ok((free, total)) => judge_space(path, &format, free, total),
        Err(e) => Finding::fail(
            "store",
            format!("{}: {e}", path.display()),
            "check the store's filesystem",
        ),
    }
}

/// Free and total bytes of the filesystem holding `path` (or the nearest
/// folder above it that exists).
fn free_space(path: &Path) -> std::io::Result<(u64, u64)> {
    let existing = path
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or_else(|| Path::new("/"));
    crate::sys::filesystem_space(existing)
}

/// A capture needs room: under 1 GiB free fails, under a tenth warns.
pub fn judge_space(path: &Path, format: &str, free: u64, total: u64) -> Finding {
    let detail = format!(
        "{}: {format}; {:.1} GiB free of {:.1} GiB",
        path.display(),
        free as f64 / GIB as f64,
        total as f64 / GIB as f64
    );
    if free < GIB {
        Finding::fail("store", detail, "free space, or run marrow store gc")
    } else if free < total / 10 {
        Finding::warn(
            "store",
            detail,
            "less than a tenth is free; run marrow store gc or add space",
        )
    } else {
        Finding::ok("store", detail)
    }
}

fn database(path: &Path) -> Finding {
    if !path.exists() {
        return Finding::warn(
            "database",
            format!("{}: none yet", path.display()),
            "marrow serve makes it at first start",
        );
    }
    match crate::db::integrity_check(path) {
        Ok(problems) if problems.is_empty() => {
            Finding::ok("database", format!("{}: integrity ok", path.display()))
        }
        Ok(problems) => Finding::fail(
            "database",
            format!("{}: {}", path.display(), problems.join("; ")),
            "stop marrow, keep a copy, and restore the database from a backup",
        ),
        Err(e) => Finding::fail(
            "database",
            e.to_string(),
            "check the file's permissions and disk",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn space_is_judged_in_absolute_and_relative_terms() {
        let p = Path::new("/srv/store");
        assert_eq!(
            judge_space(p, "format 2", GIB / 2, 100 * GIB).status,
            Status::Fail
        );
        assert_eq!(
            judge_space(p, "format 2", 5 * GIB, 100 * GIB).status,
            Status::Warn
        );
        let ok = judge_space(p, "format 2", 50 * GIB, 100 * GIB);
        assert_eq!(
            ok.line(),
            "ok   store: /srv/store: format 2; 50.0 GiB free of 100.0 GiB"
        );
    }

    #[test]
    fn a_damaged_database_fails_its_integrity_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("marrow.db");
        assert_eq!(database(&path).status, Status::Warn, "none yet");
        drop(crate::db::Db::open(&path).unwrap());
        assert_eq!(database(&path).status, Status::Ok);
        std::fs::write(&path, b"SQLite format 3\0 and then nonsense").unwrap();
        let f = database(&path);
        assert_eq!(f.status, Status::Fail, "{}", f.line());
    }
}
