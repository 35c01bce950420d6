//! Roles and what each may do: the one policy every admin route asks.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything.
    Admin,
    /// Creates, cancels and schedules tasks and sessions; wakes hosts.
    Operator,
    /// Reads.
    Viewer,
    /// Site sync only (a token scope): the sync API, no admin route.
    Sync,
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Listings and details.
    Read,
    /// Tasks, sessions, schedules, wake.
    Operate,
    /// Hosts, images, drivers, users, tokens, the audit log.
    Admin,
    /// An upstream's sync API: its images, manifests and chunks.
    Sync,
}

impl Role {
    pub const USER_ROLES: [Role; 3] = [Role::Admin, Role::Operator, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
            Role::Sync => "sync",
        }
    }

    pub fn allows(self, need: Need) -> bool {
        matches!(
            (self, need),
            (Role::Admin, _)
                | (Role::Operator, Need::Read | Need::Operate)
                | (Role::Viewer, Need::Read)
                | (Role::Sync, Need::Sync)
        )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Role, Error> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "viewer" => Ok(Role::Viewer),
            "sync" => Ok(Role::Sync),
            other => Err(Error::Usage(format!(
                "role {other:?}: use admin, operator or viewer (or sync for a site's token)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_allows_what_the_issue_says_and_no_more() {
        use Need::*;
        let table = [
            (Role::Admin, [true, true, true, true]),
            (Role::Operator, [true, true, false, false]),
            (Role::Viewer, [true, false, false, false]),
            (Role::Sync, [false, false, false, true]),
        ];
        for (role, want) in table {
            let got = [
                role.allows(Read),
                role.allows(Operate),
                role.allows(Admin),
                role.allows(Sync),
            ];
            assert_eq!(got, want, "{role}");
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
