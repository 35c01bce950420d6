//! `marrow-client`: the imaging client. As `/init` of the Marrow initramfs
//! it mounts the kernel filesystems, loads drivers by modalias, brings up
//! the boot NIC from the kernel command line and reports the machine's
//! inventory ([`boot`]). From a shell, `marrow-client inventory` prints the
//! inventory of the machine it runs on.
//!
//! Without a static `ip=` it gets a lease with its own DHCP client
//! ([`dhcp`], sans-I/O).
//!
//! With a task on the command line (`marrow.server`, `marrow.token`) it
//! claims the task from the server's client API ([`api`]), picks the disk
//! by the task's rule, and captures or restores it through the server's
//! store ([`remote_store`], [`job`]); after a restore it can inject Windows
//! drivers ([`inject`]). From a shell, `marrow-client capture|restore
//! --server URL --token TOKEN --disk PATH` does the same on a given disk.

#![forbid(unsafe_code)]

use std::path::PathBuf;

pub mod api;
pub mod boot;
pub mod cmdline;
pub mod dhcp;
pub mod diagnose;
pub mod inject;
pub mod inventory;
pub mod job;
pub mod modload;
pub mod mount;
pub mod net;
pub mod netlink;
pub mod post;
pub mod remote_store;
pub mod rescue;
pub mod session;

pub use cmdline::{BootConfig, CmdlineError, IpSetting, StaticIp};
pub use inventory::Inventory;

/// Everything the client can fail with, naming the file, interface or
/// value at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error(transparent)]
    Cmdline(#[from] CmdlineError),
    #[error("kernel modules in {dir}: {detail}")]
    Modules { dir: PathBuf, detail: String },
    #[error("network: {detail}")]
    Network { detail: String },
    #[error("mounting {target}: {source}")]
    Mount { target: String, source: nix::Error },
    #[error("{request}: server said {status}: {message}")]
    Server {
        request: String,
        status: u16,
        message: String,
    },
    #[error("{request}: {detail}")]
    Http { request: String, detail: String },
    #[error(transparent)]
    Image(#[from] image_format::Error),
    #[error(transparent)]
    Drivers(#[from] driver_store::Error),
    #[error(transparent)]
    Disk(#[from] marrow_protocol::disk_rule::DiskRuleError),
    #[error("{0}")]
    Usage(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
