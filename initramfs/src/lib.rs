//! Builds the Marrow boot kernel and initramfs from Debian's kernel package.
//!
//! [`build`] fetches (or reuses) `linux-image-amd64` and the versioned
//! package it depends on, carries whole driver trees of it ([`Selection`])
//! resolved through `modules.dep`, adds the firmware those modules ask for
//! when a firmware directory holds it, `ntfs-3g` with its libraries, an
//! optional static busybox for the rescue shell, and the static
//! `marrow-client` as `/init`, and writes a deterministic zstd-compressed
//! newc cpio: the same inputs give the same bytes. With the signed chain
//! ([`signed`]) it also puts Debian's signed shim and GRUB beside them.
//!
//! This crate does not install anything on the host and does not build the
//! client: it takes an already-built static binary.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

mod build;
pub mod cpio;
mod host;
mod kernel;
mod select;
pub mod signed;

pub use build::{
    build, missing_firmware, plan_modules, BuildOptions, BuildReport, MissingFirmware, ModulePlan,
    BOOT_LOAD_LIST, FIRMWARE_MISSING, GROW_TOOLS, MAX_INITRD_BYTES,
};
pub use cpio::CpioError;
pub use host::{kernel_package_from_depends, parse_ldd, parse_print_uris, AptUri, Linkage};
pub use kernel::{KernelConfig, KernelSource, KernelTree, METAPACKAGE};
pub use marrow_kmod::{Aliases, ModDep, ModuleName, ModulesError};
pub use select::{Selection, DENY_MODULES, FS_MODULES, MODULE_TREES, SUPPORT_MODULES};

/// Everything a build can fail with; each names the file, package or
/// command at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed: {detail}")]
    Command { command: String, detail: String },
    #[error("kernel package {deb}: {detail}")]
    Package { deb: PathBuf, detail: String },
    #[error("{exe} needs {library}, which ldd cannot find on this host")]
    Library { exe: PathBuf, library: String },
    #[error("{what} not found at {path}: {hint}")]
    Missing {
        what: &'static str,
        path: PathBuf,
        hint: &'static str,
    },
    #[error("{path} is dynamically linked; /init must be static (build it with scripts/build-initramfs)")]
    ClientNotStatic { path: PathBuf },
    #[error("busybox at {path} is dynamically linked; the rescue shell needs busybox-static")]
    BusyboxNotStatic { path: PathBuf },
    #[error(
        "kernel {version} cannot unpack a zstd initramfs (CONFIG_RD_ZSTD is not y in {config})"
    )]
    NoZstd { version: String, config: PathBuf },
    #[error("module {module} is compressed ({path}) and kernel {version} has no CONFIG_MODULE_DECOMPRESS")]
    CompressedModule {
        module: String,
        path: String,
        version: String,
    },
    #[error("kernel {version} carries no module {entries} that could be left out (--exclude-module takes a module name or a tree under kernel/)", entries = .entries.join(", "))]
    NothingToExclude {
        entries: Vec<String>,
        version: String,
    },
    #[error("compressed initramfs is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: u64, limit: u64 },
    #[error(transparent)]
    Cpio(#[from] CpioError),
    #[error("initramfs {path}: {detail}")]
    Initrd { path: PathBuf, detail: String },
    #[error("kernel {version}: {source}")]
    Modules {
        version: String,
        #[source]
        source: ModulesError,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How `exe` is linked, from `ldd`: static, or the libraries it loads.
pub fn host_linkage(exe: &Path) -> Result<Linkage> {
    host::ldd(exe)
}

/// Reads a zstd-compressed newc initramfs (as [`build`] writes it) back
/// into its entries, for inspection and tests.
pub fn read_initrd(path: &Path) -> Result<Vec<cpio::Entry>> {
    let compressed = std::fs::read(path).map_err(io_err(path))?;
    let raw = zstd::stream::decode_all(compressed.as_slice()).map_err(|e| Error::Initrd {
        path: path.to_owned(),
        detail: format!("not zstd: {e}"),
    })?;
    cpio::parse(&raw).map_err(|e| Error::Initrd {
        path: path.to_owned(),
        detail: e.to_string(),
    })
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}
