//! SQLite's own consistency check of the database, read-only.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::error::{Error, Result};

/// What `PRAGMA integrity_check` reports: empty when the file is sound. The
/// file is opened read-only, so checking changes nothing.
pub fn integrity_check(path: &Path) -> Result<Vec<String>> {
    let err = |source| Error::Db {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
    let mut stmt = match conn.prepare("PRAGMA integrity_check") {
        Ok(s) => s,
        // A file that is not a database at all is the worst damage.
        Err(e) => return Ok(vec![e.to_string()]),
    };
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<std::result::Result<Vec<_>, _>>());
    match rows {
        Ok(rows) => Ok(rows.into_iter().filter(|r| r != "ok").collect()),
        Err(e) => Ok(vec![e.to_string()]),
    }
}
