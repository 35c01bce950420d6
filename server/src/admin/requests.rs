//! What the admin operations take, from CLI flags or an API body.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `marrow host add`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddHost {
    pub mac: String,
    /// Its name; `None` (`host set`) leaves the name as it is.
    #[serde(default)]
    pub name: Option<String>,
    /// Give a host that has a name this one instead.
    #[serde(default)]
    pub rename: bool,
    /// The group (room); `""` takes it out of its group.
    #[serde(default)]
    pub group: Option<String>,
    /// Its UEFI x64 boot chain: `signed`, `ipxe`, or `default` (the
    /// configuration's `boot.uefi`).
    #[serde(default)]
    pub uefi_boot: Option<String>,
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
    /// For a restore: the hostname to write, or a pattern of `{host}`,
    /// `{mac}`, `{group}` and `{n}` (`lab-{mac}`).
    #[serde(default)]
    pub hostname: Option<String>,
    /// For a restore: the post-deploy script to run after it.
    #[serde(default)]
    pub post_script: Option<String>,
}

/// `marrow script add`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AddScript {
    pub name: String,
    /// The script's text, run by `/bin/sh` in the client.
    pub body: String,
    /// Replace a script of that name.
    #[serde(default)]
    pub replace: bool,
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

/// `marrow session create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct NewSessionRequest {
    /// `NAME` (the latest version, fixed now) or `NAME@ID`.
    pub image: String,
    /// Every host of this group (room).
    #[serde(default)]
    pub group: Option<String>,
    /// Member hosts by MAC or name.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Start once this many receivers have joined.
    #[serde(default)]
    pub min_receivers: Option<u32>,
    /// Start this many seconds after the first receiver joined.
    #[serde(default)]
    pub max_wait_secs: Option<i64>,
    /// Start at this time (Unix seconds).
    #[serde(default)]
    pub start_at: Option<i64>,
    /// The most the sender sends, in bits per second; default 800 Mbit/s.
    #[serde(default)]
    pub rate_cap: Option<u64>,
    /// The disk rule each member's restore uses.
    #[serde(default)]
    pub disk: Option<String>,
    #[serde(default)]
    pub grow_last_partition: bool,
    /// `reboot` (default) or `poweroff`.
    #[serde(default)]
    pub after: Option<String>,
    /// Wake every member when the session is due.
    #[serde(default)]
    pub wake: bool,
    /// The hostname pattern each member's restore writes.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The post-deploy script each member runs.
    #[serde(default)]
    pub post_script: Option<String>,
    /// Return each member task's one-time token in the answer.
    #[serde(default)]
    pub show_tokens: bool,
}

/// `marrow session add`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct AddMembers {
    /// Hosts by MAC or name.
    pub hosts: Vec<String>,
    /// Return each new member task's one-time token in the answer.
    #[serde(default)]
    pub show_tokens: bool,
}

/// `marrow site add`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewSite {
    pub name: String,
    /// `https://HOST:PORT` of the upstream's TLS port.
    pub url: String,
    /// A token the upstream made with `marrow token create --scope sync`.
    pub token: String,
    /// The upstream's identity key, `ed25519:<hex>` (`marrow key show`).
    pub key: String,
    /// Its TLS certificate's `sha256:<hex>`; without it the certificate
    /// must chain to a public CA.
    #[serde(default)]
    pub fingerprint: Option<String>,
}
