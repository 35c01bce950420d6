//! API tokens: create (the secret is shown once), list, revoke.

use serde_json::json;

use super::requests::NewToken;
use super::views::{CreatedToken, TokenView};
use super::{audited, Ctx};
use crate::access::Role;
use crate::db::{ApiToken, Db};
use crate::error::{Error, Result};
use crate::tasks::{new_token, token_hash, Rng};

/// Marks an API token at sight (task tokens are bare hex), in logs and in
/// a user's password manager.
pub const PREFIX: &str = "mrw_";

impl From<&ApiToken> for TokenView {
    fn from(t: &ApiToken) -> Self {
        TokenView {
            id: t.id,
            name: t.name.clone(),
            role: t.role.clone(),
            created: t.created,
            expires: t.expires,
            revoked: t.revoked,
            last_used: t.last_used,
        }
    }
}

pub fn list_tokens(db: &Db) -> Result<Vec<TokenView>> {
    Ok(db.api_tokens().all()?.iter().map(TokenView::from).collect())
}

pub fn create_token(
    db: &mut Db,
    ctx: &Ctx,
    req: &NewToken,
    rng: &mut dyn Rng,
) -> Result<CreatedToken> {
    let args = json!({ "role": req.role, "name": req.name, "expires": req.expires });
    audited(db, ctx, "token.create", req.name.as_deref(), args, |db| {
        let role: Role = req.role.parse()?;
        let expires = match &req.expires {
            None => None,
            Some(e) => {
                let secs = crate::when::parse_duration(e).map_err(Error::Usage)?;
                if secs <= 0 {
                    return Err(Error::Usage(format!(
                        "expires {e:?}: give a positive duration"
                    )));
                }
                Some(ctx.now + secs)
            }
        };
        let token = format!("{PREFIX}{}", new_token(rng)?);
        let id = db.api_tokens().insert(
            req.name.as_deref(),
            role.as_str(),
            &token_hash(&token),
            expires,
            ctx.now,
        )?;
        Ok(CreatedToken {
            id,
            name: req.name.clone(),
            role: role.as_str().into(),
            expires,
            token,
        })
    })
}

/// Revokes a token by id or name.
pub fn revoke_token(db: &mut Db, ctx: &Ctx, id_or_name: &str) -> Result<usize> {
    audited(
        db,
        ctx,
        "token.revoke",
        Some(id_or_name),
        json!({}),
        |db| match db.api_tokens().revoke(id_or_name, ctx.now)? {
            0 => Err(Error::NotFound(format!(
                "no live token with id or name {id_or_name:?}"
            ))),
            n => Ok(n),
        },
    )
}
