//! The client API between `marrow-client` and `marrow serve`: paths and
//! JSON bodies. Both sides use these types, so the wire shape has one
//! definition.
//!
//! Every call carries the task's one-time token as `Authorization: Bearer
//! TOKEN`. A token reaches only its own task and its task's image: the
//! image name is part of each image path, and the server refuses any other.
//!
//! The routes are defined once, in [`crate::routes`]: the server mounts
//! the patterns and the client fills them in.
//!
//! | method | route | for |
//! |---|---|---|
//! | POST | [`crate::routes::CLAIM`] | the task ([`TaskInfo`]); marks it running |
//! | PUT | [`crate::routes::INVENTORY`] | the machine's inventory |
//! | POST | [`crate::routes::PROGRESS`] | [`Progress`], about once a second |
//! | POST | [`crate::routes::REPORT`] | [`Report`]; ends the task |
//! | POST | [`crate::routes::CHUNKS_HAS`] | [`HasRequest`] → [`HasResponse`] (capture) |
//! | PUT | [`crate::routes::CHUNK`] | a zstd chunk (capture) |
//! | GET | [`crate::routes::CHUNK`] | a zstd chunk of the image (restore) |
//! | GET | [`crate::routes::MANIFEST`] | the task's manifest (restore) |
//! | POST | [`crate::routes::MANIFEST`] | commit a manifest (capture) → [`Committed`] |
//! | GET | [`crate::routes::DRIVERS`] | [`DriverPlan`] for the reported inventory (restore) |
//! | GET | [`crate::routes::DRIVER_FILE`] | one file of a planned package |
//! | POST | [`crate::routes::SESSION_JOIN`] | [`session::Join`]: the task's multicast session |
//! | POST | [`crate::routes::SESSION_REPORT`] | [`session::ReceiverReport`] → [`session::ReportReply`] |

mod drivers;
pub mod post;
pub mod session;

pub use drivers::{
    DriverFile, DriverPackage, DriverPlan, DriverReport, InjectReport, Injected, Skipped,
};

use marrow_ids::{ChunkId, ImageId, TaskId};
use serde::{Deserialize, Serialize};

/// Most chunk ids one `has` call may ask about.
pub const MAX_HAS_BATCH: usize = 1024;

/// What happens to the machine when its task ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum After {
    #[default]
    Reboot,
    Poweroff,
}

impl After {
    pub fn as_str(self) -> &'static str {
        match self {
            After::Reboot => "reboot",
            After::Poweroff => "poweroff",
        }
    }

    pub fn parse(s: &str) -> Option<After> {
        match s {
            "reboot" => Some(After::Reboot),
            "poweroff" => Some(After::Poweroff),
            _ => None,
        }
    }
}

/// What a task does with its host's disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    Capture,
    Restore,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Capture => "capture",
            TaskKind::Restore => "restore",
        }
    }

    pub fn parse(s: &str) -> Option<TaskKind> {
        match s {
            "capture" => Some(TaskKind::Capture),
            "restore" => Some(TaskKind::Restore),
            _ => None,
        }
    }
}

/// The answer to a claim: what the client is to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub id: TaskId,
    pub kind: TaskKind,
    /// The image name (no version): the `NAME` of the image paths.
    pub image: String,
    /// For a restore: the manifest id the task's `NAME[@ID]` resolved to.
    pub manifest: Option<ImageId>,
    /// The disk rule (see [`crate::disk_rule`]); `None`: the only internal disk.
    pub disk: Option<String>,
    pub grow_last_partition: bool,
    pub after: After,
    /// For a restore: the Windows target (`win11-x64`) whose drivers to
    /// inject, or `None` for no injection.
    pub inject_drivers: Option<String>,
    /// The multicast session the restore belongs to: the client joins it
    /// ([`crate::routes::SESSION_JOIN`]) instead of fetching every chunk.
    #[serde(default)]
    pub session: Option<i64>,
    /// For a restore: the hostname to set and the script to run after it.
    #[serde(default)]
    pub post: post::PostDeploy,
}

/// One progress report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// `inventory`, `capture`, `restore`, `sync`, `drivers`, …
    pub phase: String,
    pub done_bytes: u64,
    pub total_bytes: u64,
    /// Bytes per second over the last interval.
    pub rate: u64,
    /// Seconds left at that rate; `None` when unknown.
    pub eta_secs: Option<u64>,
}

/// The client's final report; `error` set means the task failed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub error: Option<String>,
    /// The disk the task used (`/dev/vda`), once chosen.
    pub disk: Option<String>,
    /// The manifest id captured or restored.
    pub image_id: Option<ImageId>,
    /// Bytes read from the disk (capture: used blocks; restore: the
    /// comparison reads of the delta pass).
    pub read_bytes: u64,
    /// Bytes written to the disk (restore).
    pub written_bytes: u64,
    /// Bytes already correct on the disk and not written (restore).
    pub skipped_bytes: u64,
    /// Compressed bytes fetched from the server (restore), over HTTP and
    /// from a session's group together.
    pub fetched_bytes: u64,
    pub fetched_chunks: u64,
    /// Of a session's restore: the compressed bytes that came from the
    /// group, and those fetched over HTTP.
    #[serde(default)]
    pub multicast_bytes: u64,
    #[serde(default)]
    pub unicast_bytes: u64,
    /// Compressed bytes and chunks sent to the server (capture).
    pub uploaded_bytes: u64,
    pub uploaded_chunks: u64,
    /// Chunks the server already had (capture).
    pub known_chunks: u64,
    pub seconds: f64,
    /// Driver injection, when the task asked for it: what was injected and
    /// why, and what was skipped.
    pub drivers: Option<DriverReport>,
    /// The hostname written into the restored system, when the task set one.
    #[serde(default)]
    pub hostname: Option<post::HostnameReport>,
    /// The post-deploy script's outcome, when the task ran one.
    #[serde(default)]
    pub post_script: Option<post::ScriptReport>,
    /// The grown last partition's filesystem, when the task grew one.
    #[serde(default)]
    pub filesystem_grow: Option<post::GrowReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HasRequest {
    pub ids: Vec<ChunkId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HasResponse {
    /// One answer per asked id, in order.
    pub have: Vec<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    pub id: ImageId,
    pub image: String,
}

/// An error body: every 4xx and 5xx answer of the API carries one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}
