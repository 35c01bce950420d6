//! Post-deploy actions: what the client does to a restored system before
//! the machine reboots into it, and what it reports back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An admin's script to run after the restore (`marrow script add`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostScript {
    pub name: String,
    /// The script's text, run by `/bin/sh` in the client.
    pub body: String,
}

/// The post-deploy half of a claimed restore task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostDeploy {
    /// The name to give the restored system, already expanded from the
    /// task's pattern and checked as an RFC 1123 host label.
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub script: Option<PostScript>,
    /// The task's variables (`MARROW_TASK_ID`, `MARROW_HOST_MAC`, …),
    /// which the script gets in its environment.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

impl PostDeploy {
    pub fn is_empty(&self) -> bool {
        self.hostname.is_none() && self.script.is_none()
    }
}

/// One file the hostname went into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedFile {
    /// The partition number on the restored disk.
    pub partition: u32,
    /// `linux` (`/etc/hostname`, `/etc/hosts`) or `windows` (unattend.xml).
    pub os: String,
    /// The path inside the partition.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostnameReport {
    pub name: String,
    pub files: Vec<NamedFile>,
}

/// The filesystem in a partition the restore grew: grown to fill it, or
/// why not (the restore stands either way).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrowReport {
    pub partition: u32,
    pub fs: String,
    /// The filesystem's size before and after, in bytes.
    pub from: u64,
    pub to: u64,
    pub grown: bool,
    pub detail: String,
}

/// How the post-deploy script went; a non-zero exit fails the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptReport {
    pub name: String,
    /// The exit status, or `None` when it was killed (signal or timeout).
    pub exit_code: Option<i32>,
    /// `exited 0`, `killed by signal 9`, `killed after 1800 s`.
    pub status: String,
    /// Its standard output and error, interleaved; the last
    /// [`MAX_SCRIPT_OUTPUT`] bytes when it said more.
    pub output: String,
    pub output_truncated: bool,
    pub seconds: f64,
}

impl ScriptReport {
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }
}

/// Most bytes of a script's output kept in the report.
pub const MAX_SCRIPT_OUTPUT: usize = 64 * 1024;
