//! `marrow-client`: the imaging client. As `/init` of the Marrow initramfs
//! it mounts the kernel filesystems, loads drivers by modalias, brings up
//! the boot NIC from the kernel command line and reports the machine's
//! inventory ([`boot`]). From a shell, `marrow-client inventory` prints the
//! inventory of the machine it runs on.
//!
//! Without a static `ip=` it gets a lease with its own DHCP client
//! ([`dhcp`], sans-I/O).
//!
//! Not here yet: capture and restore (they need the image format's network
//! store and the server's client API).

#![forbid(unsafe_code)]

use std::path::PathBuf;

pub mod boot;
pub mod cmdline;
pub mod dhcp;
pub mod inventory;
pub mod modload;
pub mod net;
pub mod netlink;

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
    #[error("{what} is not built yet in this version of marrow-client")]
    NotBuilt { what: &'static str },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
