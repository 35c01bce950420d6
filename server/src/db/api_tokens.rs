//! The `api_tokens` table: bearer tokens for scripts and the remote CLI.
//! Only each token's BLAKE3 hash is stored.

use rusqlite::{params, OptionalExtension};

use super::Conn;
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub name: Option<String>,
    /// `admin`, `operator`, `viewer`, or the `sync` scope.
    pub role: String,
    pub created: i64,
    pub expires: Option<i64>,
    pub revoked: Option<i64>,
    pub last_used: Option<i64>,
}

const COLUMNS: &str = "SELECT id, name, role, created, expires, revoked, last_used FROM api_tokens";

fn row_to_token(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        created: r.get(3)?,
        expires: r.get(4)?,
        revoked: r.get(5)?,
        last_used: r.get(6)?,
    })
}

pub struct ApiTokens<'a>(pub(super) Conn<'a>);

impl ApiTokens<'_> {
    pub fn insert(
        &self,
        name: Option<&str>,
        role: &str,
        hash: &str,
        expires: Option<i64>,
        now: i64,
    ) -> Result<i64> {
        self.0
            .conn
            .execute(
                "INSERT INTO api_tokens (name, role, hash, created, expires)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, role, hash, now, expires],
            )
            .map_err(self.0.err())?;
        Ok(self.0.conn.last_insert_rowid())
    }

    pub fn all(&self) -> Result<Vec<ApiToken>> {
        let mut stmt = self
            .0
            .conn
            .prepare(&format!("{COLUMNS} ORDER BY id"))
            .map_err(self.0.err())?;
        let rows = stmt.query_map([], row_to_token).map_err(self.0.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.0.err())
    }

    /// The live token whose hash is `hash` (not revoked, not expired), and
    /// marks it used.
    pub fn authorize(&self, hash: &str, now: i64) -> Result<Option<ApiToken>> {
        let token = self
            .0
            .conn
            .query_row(
                &format!(
                    "{COLUMNS} WHERE hash = ?1 AND revoked IS NULL
                     AND (expires IS NULL OR expires > ?2)"
                ),
                params![hash, now],
                row_to_token,
            )
            .optional()
            .map_err(self.0.err())?;
        if let Some(t) = &token {
            self.0
                .conn
                .execute(
                    "UPDATE api_tokens SET last_used = ?2 WHERE id = ?1",
                    params![t.id, now],
                )
                .map_err(self.0.err())?;
        }
        Ok(token)
    }

    /// Revokes the token with this id, or the live ones with this name;
    /// returns how many were revoked.
    pub fn revoke(&self, id_or_name: &str, now: i64) -> Result<usize> {
        self.0
            .conn
            .execute(
                "UPDATE api_tokens SET revoked = ?2
                 WHERE revoked IS NULL AND (CAST(id AS TEXT) = ?1 OR name = ?1)",
                params![id_or_name, now],
            )
            .map_err(self.0.err())
    }
}
