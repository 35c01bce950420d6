//! The `users` table: people who sign in to the admin API and web UI.

use rusqlite::{params, OptionalExtension};

use super::Conn;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// `admin`, `operator` or `viewer`.
    pub role: String,
    /// The argon2id PHC string; `None` until the setup link is used.
    pub password: Option<String>,
    /// When the one-time password-setting link stops working.
    pub setup_expires: Option<i64>,
    pub created: i64,
}

const COLUMNS: &str = "SELECT name, role, password, setup_expires, created FROM users";

fn row_to_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        name: r.get(0)?,
        role: r.get(1)?,
        password: r.get(2)?,
        setup_expires: r.get(3)?,
        created: r.get(4)?,
    })
}

pub struct Users<'a>(pub(super) Conn<'a>);

impl Users<'_> {
    pub fn all(&self) -> Result<Vec<User>> {
        let mut stmt = self
            .0
            .conn
            .prepare(&format!("{COLUMNS} ORDER BY name"))
            .map_err(self.0.err())?;
        let rows = stmt.query_map([], row_to_user).map_err(self.0.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.0.err())
    }

    pub fn get(&self, name: &str) -> Result<Option<User>> {
        self.0
            .conn
            .query_row(
                &format!("{COLUMNS} WHERE name = ?1"),
                params![name],
                row_to_user,
            )
            .optional()
            .map_err(self.0.err())
    }

    pub fn count(&self) -> Result<i64> {
        self.0
            .conn
            .query_row("SELECT count(*) FROM users", [], |r| r.get(0))
            .map_err(self.0.err())
    }

    /// Adds a user with no password yet and a setup link; refuses a name
    /// that is taken.
    pub fn insert(
        &self,
        name: &str,
        role: &str,
        setup_hash: &str,
        setup_expires: i64,
        now: i64,
    ) -> Result<()> {
        if self.get(name)?.is_some() {
            return Err(Error::Conflict(format!("user {name:?} already exists")));
        }
        self.0
            .conn
            .execute(
                "INSERT INTO users (name, role, setup_hash, setup_expires, created)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, role, setup_hash, setup_expires, now],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    /// Gives `name` a new setup link (a password reset); its password
    /// stays until the link is used.
    pub fn set_setup(&self, name: &str, setup_hash: &str, setup_expires: i64) -> Result<bool> {
        let n = self
            .0
            .conn
            .execute(
                "UPDATE users SET setup_hash = ?2, setup_expires = ?3 WHERE name = ?1",
                params![name, setup_hash, setup_expires],
            )
            .map_err(self.0.err())?;
        Ok(n == 1)
    }

    /// The user whose setup link hashes to `setup_hash`, while it is valid.
    pub fn by_setup(&self, setup_hash: &str, now: i64) -> Result<Option<User>> {
        self.0
            .conn
            .query_row(
                &format!("{COLUMNS} WHERE setup_hash = ?1 AND setup_expires > ?2"),
                params![setup_hash, now],
                row_to_user,
            )
            .optional()
            .map_err(self.0.err())
    }

    /// Stores a password hash and spends the setup link.
    pub fn set_password(&self, name: &str, phc: &str) -> Result<bool> {
        let n = self
            .0
            .conn
            .execute(
                "UPDATE users SET password = ?2, setup_hash = NULL, setup_expires = NULL
                 WHERE name = ?1",
                params![name, phc],
            )
            .map_err(self.0.err())?;
        Ok(n == 1)
    }

    pub fn remove(&self, name: &str) -> Result<bool> {
        let n = self
            .0
            .conn
            .execute("DELETE FROM users WHERE name = ?1", params![name])
            .map_err(self.0.err())?;
        Ok(n == 1)
    }
}
