//! What the admin operations return, as the CLI prints it (`--json` is
//! these types serialised) and as the admin API sends it: one shape both
//! ways, so `marrow --server URL …` prints what the local command prints.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::{Host, Task};

/// A registered host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HostView {
    /// `aa:bb:cc:dd:ee:ff`
    pub mac: String,
    pub name: Option<String>,
    /// `bios`, `uefi-x64`, … from its last PXE boot.
    pub arch: Option<String>,
    pub client_uuid: Option<String>,
    /// Unix seconds of its last PXE boot.
    pub last_boot: Option<i64>,
    pub ip: Option<String>,
    /// The room it stands in.
    pub group: Option<String>,
    /// Its own UEFI x64 boot chain (`signed` or `ipxe`); absent: the
    /// configuration's `boot.uefi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uefi_boot: Option<String>,
}

impl From<&Host> for HostView {
    fn from(h: &Host) -> Self {
        HostView {
            mac: h.mac.to_string(),
            name: h.name.clone(),
            arch: h.arch.clone(),
            client_uuid: h.client_uuid.clone(),
            last_boot: h.last_boot,
            ip: h.ip.clone(),
            group: h.group.clone(),
            uefi_boot: h.uefi_boot.map(|c| c.name().to_string()),
        }
    }
}

/// A group (room) and its hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupView {
    pub name: String,
    pub hosts: Vec<HostView>,
}

/// A capture or restore task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    pub id: i64,
    /// `capture` or `restore`.
    pub kind: String,
    pub host: String,
    /// `NAME` or `NAME@ID`.
    pub image: String,
    /// The disk rule, when not the only internal disk.
    pub disk: Option<String>,
    pub grow_last_partition: bool,
    pub inject_drivers: Option<String>,
    /// `reboot` or `poweroff`.
    pub after: String,
    /// The manifest a restore resolved to when claimed.
    pub manifest: Option<String>,
    /// `pending`, `running`, `done`, `failed` or `cancelled`.
    pub state: String,
    pub error: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub progress: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
    /// Unix seconds.
    pub created: i64,
    pub updated: i64,
    /// The multicast session it belongs to.
    pub session: Option<i64>,
    /// The hostname a restore writes (its pattern expanded for the host).
    #[serde(default)]
    pub hostname: Option<String>,
    /// The post-deploy script a restore runs.
    #[serde(default)]
    pub post_script: Option<String>,
}

impl From<&Task> for TaskView {
    fn from(t: &Task) -> Self {
        TaskView {
            id: t.id.0,
            kind: t.kind.as_str().into(),
            host: t.host.to_string(),
            image: t.image.clone(),
            disk: t.disk_rule.clone(),
            grow_last_partition: t.grow_last_partition,
            inject_drivers: t.inject_drivers.clone(),
            after: t.after.as_str().into(),
            manifest: t.manifest.as_ref().map(|m| m.to_hex()),
            state: t.state.as_str().into(),
            error: t.error.clone(),
            progress: t.progress.clone(),
            report: t.report.clone(),
            created: t.created,
            updated: t.updated,
            session: t.session,
            hostname: t.hostname.clone(),
            post_script: t.post_script.clone(),
        }
    }
}

/// A post-deploy script, without its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScriptView {
    pub name: String,
    pub bytes: usize,
    /// BLAKE3 of its text, hex.
    pub blake3: String,
    pub created: i64,
    pub updated: i64,
}

/// A new task. Its one-time token is in the answer only when asked for:
/// it is not stored and cannot be shown again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedTask {
    pub id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// With `--wake`: where the magic packet went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub woke: Option<WakeReport>,
}

/// A host a magic packet went to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WokenHost {
    pub mac: String,
    pub name: Option<String>,
}

/// Where the magic packets went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WakeReport {
    pub interface: String,
    /// `ADDRESS:PORT` of the broadcast.
    pub broadcast: String,
    pub hosts: Vec<WokenHost>,
}

/// The latest version of one image name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImageRow {
    pub name: String,
    /// The latest version's id (its manifest's BLAKE3).
    pub id: String,
    pub versions: usize,
    /// Unix seconds the latest version was made.
    pub created: i64,
    /// The disk's size.
    pub logical_bytes: u64,
    /// Bytes in use on the disk (the image's payload).
    pub used_bytes: u64,
    /// Bytes of chunk data the image references.
    pub data_bytes: u64,
    pub chunks: u64,
    /// `gpt`, `mbr` or `none`.
    pub table: String,
    /// The key whose signature of the latest version checks.
    pub signed_by: Option<String>,
}

/// One user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub name: String,
    pub role: String,
    /// Whether a password is set (else the setup link is still open).
    pub password_set: bool,
    /// When the open setup link expires (Unix seconds).
    pub setup_expires: Option<i64>,
    pub created: i64,
}

/// A user made or reset: the one-time link that sets the password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SetupLink {
    pub name: String,
    pub role: String,
    pub link: String,
    /// Unix seconds.
    pub expires: i64,
}

/// One API token, without its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub name: Option<String>,
    /// `admin`, `operator`, `viewer` or `sync`.
    pub role: String,
    pub created: i64,
    pub expires: Option<i64>,
    pub revoked: Option<i64>,
    pub last_used: Option<i64>,
}

/// A new API token: the secret is shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    pub id: i64,
    pub name: Option<String>,
    pub role: String,
    pub expires: Option<i64>,
    pub token: String,
}

/// A member of a session: its host and restore task (and, when asked
/// for, the task's one-time token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub host: String,
    pub task: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A new multicast session and its members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedSession {
    pub id: i64,
    pub members: Vec<MemberView>,
}

/// `image inspect`: one version's layout and regions, and what it shares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImageInspect {
    /// The version's id (its manifest's BLAKE3).
    pub image: String,
    /// The disk's layout: size, sector size, table and partitions.
    #[schema(value_type = Object)]
    pub layout: image_format::layout::DiskLayout,
    pub regions: Vec<RegionView>,
    pub used_bytes: u64,
    pub data_bytes: u64,
    /// Compressed bytes of the chunks it references.
    pub stored_bytes: u64,
    pub unique_chunks: u64,
    /// Other versions it shares chunks with.
    pub shared: Vec<SharedView>,
    /// `valid`, `none`, or `does not check: …` (site sync's signature).
    pub signature: String,
    /// The key whose signature checks, `ed25519:<hex>`.
    pub signed_by: Option<String>,
    /// Every version of the image's name, oldest first.
    pub versions: Vec<VersionView>,
}

/// One version of an image name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VersionView {
    pub id: String,
    /// Unix seconds it was made.
    pub created: i64,
    /// The key whose signature checks.
    pub signed_by: Option<String>,
}

/// One region of an image: a partition, the boot area or a gap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RegionView {
    #[schema(value_type = String)]
    pub role: image_format::manifest::RegionRole,
    pub partition: Option<u32>,
    pub start: u64,
    pub length: u64,
    #[schema(value_type = String)]
    pub fs: image_format::fs::FsKind,
    pub data_bytes: u64,
    pub zero_bytes: u64,
    pub chunks: u64,
    /// Files kept as zeros (Windows' page, swap and hibernation files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedView>,
}

/// An image version exported over NBD: its URL, whose last part is the
/// secret that grants it, until `expires` (Unix seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExportView {
    /// `NAME@SHORTID`.
    pub image: String,
    /// `nbd://HOST:PORT/SECRET`, for qemu-img, qemu-system's
    /// `-drive file=…,snapshot=on` or nbd-client.
    pub url: String,
    pub size: u64,
    pub expires: i64,
}

/// A file whose content a capture left out; it restores as zeros.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SkippedView {
    pub path: String,
    pub bytes: u64,
}

/// Chunks shared with another image version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SharedView {
    /// `NAME@SHORTID`.
    pub image: String,
    pub chunks: u64,
    pub stored_bytes: u64,
}

/// An upstream site, without its token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SiteView {
    pub name: String,
    pub url: String,
    /// The only key whose images are published from it.
    pub key: String,
    /// The pinned certificate, `sha256:<hex>`; `None`: public CAs.
    pub fingerprint: Option<String>,
    /// Restores fetch what they lack from it on demand.
    pub read_through: bool,
    pub created: i64,
    /// Its newest pull.
    pub last_run: Option<SyncRunView>,
}

/// One pull from a site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SyncRunView {
    pub id: i64,
    pub site: String,
    pub started: i64,
    pub ended: Option<i64>,
    /// `running`, `paused` (outside its window), `done`, `failed` (a
    /// version was refused, or the link or store failed), `interrupted`
    /// (its process ended without saying how).
    pub state: String,
    /// Versions published.
    pub published: i64,
    /// Versions refused.
    pub failed: i64,
    /// Chunks fetched, and their stored bytes.
    pub chunks: i64,
    pub bytes: i64,
    pub error: Option<String>,
    /// The pull's full report (`marrow sync pull --json`), once it ended.
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
}
