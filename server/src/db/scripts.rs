//! The `scripts` table: the admins' post-deploy scripts.

use rusqlite::{params, OptionalExtension};

use super::Conn;
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptRow {
    pub name: String,
    pub body: String,
    /// BLAKE3 of the body, hex: what `script list` shows to tell versions apart.
    pub blake3: String,
    pub created: i64,
    pub updated: i64,
}

const COLUMNS: &str = "SELECT name, body, blake3, created, updated FROM scripts";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScriptRow> {
    Ok(ScriptRow {
        name: r.get(0)?,
        body: r.get(1)?,
        blake3: r.get(2)?,
        created: r.get(3)?,
        updated: r.get(4)?,
    })
}

pub struct ScriptRows<'a>(pub(super) Conn<'a>);

impl ScriptRows<'_> {
    /// Stores the script, replacing the body of one of that name (its
    /// `created` stays).
    pub fn put(&self, name: &str, body: &str, blake3: &str, now: i64) -> Result<()> {
        self.0
            .conn
            .execute(
                "INSERT INTO scripts (name, body, blake3, created, updated)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT(name) DO UPDATE SET body = ?2, blake3 = ?3, updated = ?4",
                params![name, body, blake3, now],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    pub fn get(&self, name: &str) -> Result<Option<ScriptRow>> {
        self.0
            .conn
            .query_row(&format!("{COLUMNS} WHERE name = ?1"), params![name], row)
            .optional()
            .map_err(self.0.err())
    }

    pub fn all(&self) -> Result<Vec<ScriptRow>> {
        let mut stmt = self
            .0
            .conn
            .prepare(&format!("{COLUMNS} ORDER BY name"))
            .map_err(self.0.err())?;
        let rows = stmt.query_map([], row).map_err(self.0.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.0.err())
    }

    /// Removes it; false when there was none.
    pub fn remove(&self, name: &str) -> Result<bool> {
        let n = self
            .0
            .conn
            .execute("DELETE FROM scripts WHERE name = ?1", params![name])
            .map_err(self.0.err())?;
        Ok(n > 0)
    }
}
