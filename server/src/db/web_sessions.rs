//! The `web_sessions` table: signed-in browsers. The cookie is stored
//! hashed; the CSRF token is stored as is, since the page must be given it.

use rusqlite::{params, OptionalExtension};

use super::Conn;
use crate::error::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    pub user: String,
    pub csrf: String,
    pub expires: i64,
}

pub struct WebSessions<'a>(pub(super) Conn<'a>);

impl WebSessions<'_> {
    pub fn insert(&self, hash: &str, user: &str, csrf: &str, now: i64, expires: i64) -> Result<()> {
        self.0
            .conn
            .execute(
                "INSERT INTO web_sessions (hash, user_name, csrf, created, expires)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hash, user, csrf, now, expires],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    /// The live session whose cookie hashes to `hash`; expired ones are
    /// deleted on the way.
    pub fn get(&self, hash: &str, now: i64) -> Result<Option<WebSession>> {
        self.0
            .conn
            .execute("DELETE FROM web_sessions WHERE expires <= ?1", params![now])
            .map_err(self.0.err())?;
        self.0
            .conn
            .query_row(
                "SELECT user_name, csrf, expires FROM web_sessions WHERE hash = ?1",
                params![hash],
                |r| {
                    Ok(WebSession {
                        user: r.get(0)?,
                        csrf: r.get(1)?,
                        expires: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(self.0.err())
    }

    pub fn remove(&self, hash: &str) -> Result<()> {
        self.0
            .conn
            .execute("DELETE FROM web_sessions WHERE hash = ?1", params![hash])
            .map_err(self.0.err())?;
        Ok(())
    }

    /// Signs a user out everywhere (removed, or a new password).
    pub fn remove_user(&self, user: &str) -> Result<()> {
        self.0
            .conn
            .execute(
                "DELETE FROM web_sessions WHERE user_name = ?1",
                params![user],
            )
            .map_err(self.0.err())?;
        Ok(())
    }
}
