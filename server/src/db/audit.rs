//! The `audit` table: who did what to which object, when, from where, and
//! how it ended. Rows are only ever added.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::Conn;
use crate::error::Result;

/// One action to record.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub at: i64,
    /// `local`, `user NAME`, `token NAME (#ID)`, `scheduler NAME`, or
    /// `anonymous` for a refused request.
    pub actor: &'a str,
    pub address: Option<&'a str>,
    /// `task.create`, `user.add`, `login`, …
    pub action: &'a str,
    pub object: Option<&'a str>,
    /// The arguments, as JSON.
    pub args: Option<&'a serde_json::Value>,
    /// `ok`, or `refused: …` / `failed: …`.
    pub outcome: &'a str,
}

/// One row of `marrow audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    pub actor: String,
    pub address: Option<String>,
    pub action: String,
    pub object: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub args: Option<serde_json::Value>,
    pub outcome: String,
}

/// Which rows `marrow audit` lists.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditFilter {
    /// Unix seconds; rows at or after it.
    pub since: Option<i64>,
    /// Rows whose actor is this user (`user NAME`) or token name.
    pub user: Option<String>,
}

pub struct AuditRows<'a>(pub(super) Conn<'a>);

impl AuditRows<'_> {
    pub fn insert(&self, a: &NewAudit<'_>) -> Result<()> {
        let args = a.args.map(|v| v.to_string());
        self.0
            .conn
            .execute(
                "INSERT INTO audit (at, actor, address, action, object, args, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![a.at, a.actor, a.address, a.action, a.object, args, a.outcome],
            )
            .map_err(self.0.err())?;
        Ok(())
    }

    /// Matching rows, oldest first.
    pub fn list(&self, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let user_actor = f.user.as_ref().map(|u| format!("user {u}"));
        let token_actor = f.user.as_ref().map(|u| format!("token {u} (#%"));
        let mut stmt = self
            .0
            .conn
            .prepare(
                "SELECT id, at, actor, address, action, object, args, outcome FROM audit
                 WHERE (?1 IS NULL OR at >= ?1)
                   AND (?2 IS NULL OR actor = ?2 COLLATE NOCASE OR actor LIKE ?3)
                 ORDER BY id",
            )
            .map_err(self.0.err())?;
        let rows = stmt
            .query_map(params![f.since, user_actor, token_actor], |r| {
                let args: Option<String> = r.get(6)?;
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    address: r.get(3)?,
                    action: r.get(4)?,
                    object: r.get(5)?,
                    args: args.and_then(|a| serde_json::from_str(&a).ok()),
                    outcome: r.get(7)?,
                })
            })
            .map_err(self.0.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.0.err())
    }
}
