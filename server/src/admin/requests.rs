//! What the admin operations take, from CLI flags or an API body.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `marrow host add`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddHost {
    pub mac: String,
    pub name: String,
    /// Give a host that has a name this one instead.
    #[serde(default)]
    pub rename: bool,
    /// The group (room); `""` takes it out of its group.
    #[serde(default)]
    pub group: Option<String>,
}

/// `marrow task capture|restore`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewTaskRequest {
    /// `capture` or `restore`.
    pub kind: String,
    /// A MAC (registered now if new) or a registered host's name.
    pub host: String,
    /// `NAME`, or `NAME@ID` for a restore.
    pub image: String,
    /// serial=S, wwn=W, name=sda or size=MIN-MAX.
    #[serde(default)]
    pub disk: Option<String>,
    #[serde(default)]
    pub grow_last_partition: bool,
    /// For a restore: the Windows target whose drivers to inject.
    #[serde(default)]
    pub inject_drivers: Option<String>,
    /// `reboot` (default) or `poweroff`.
    #[serde(default)]
    pub after: Option<String>,
    /// Return the one-time token in the answer.
    #[serde(default)]
    pub show_token: bool,
    /// Wake the host now, so that it PXE-boots into the task.
    #[serde(default)]
    pub wake: bool,
}

/// `marrow host wake`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct WakeRequest {
    /// MACs or registered names.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Every host of this group (room).
    #[serde(default)]
    pub group: Option<String>,
}

/// `marrow user add`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddUser {
    pub name: String,
    /// `admin`, `operator` or `viewer`.
    pub role: String,
}

/// `marrow token create`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewToken {
    /// `admin`, `operator`, `viewer`, or `sync`.
    pub role: String,
    #[serde(default)]
    pub name: Option<String>,
    /// How long it lives: `30d`, `12h`, `90m`; default: until revoked.
    #[serde(default)]
    pub expires: Option<String>,
}
