//! Driver packages indexed by the hardware IDs their INF files declare.
//!
//! - [`modalias`]: Linux `modules.alias` parsing and `fnmatch` matching, for
//!   coldplugging kernel modules in the initramfs.
//! - [`inf`]: Windows INF parsing: version, manufacturers, decorated models
//!   sections, hardware and compatible IDs, source files, strings.
//! - [`target`]: the Windows version and architecture a driver is chosen
//!   for, and the TargetOSVersion decorations that select models for it.
//!
//! - [`hwid`]: devices by raw PCI/USB IDs and the hardware- and
//!   compatible-ID lists Windows builds from them.
//! - [`rank`]: Windows' driver rank over an index of model lines, with the
//!   reason for every candidate.
//!
//! - [`store`]: packages stored content-addressed and indexed in SQLite.
//! - [`inject`]: copying matched packages into a mounted Windows volume and
//!   naming them in its sysprep answer file.
//!
//! The parsers and the ranking are pure: they take text and IDs and return
//! values. Only the store (files and SQLite) and injection (copying into a
//! mounted Windows volume) do I/O.

#![forbid(unsafe_code)]

mod error;
pub mod hwid;
pub mod inf;
pub mod inject;
pub mod modalias;
pub mod rank;
pub mod store;
pub mod target;

pub use error::{Error, Result};
pub use hwid::{devices_from_inventory, Device, DeviceIds, PciDevice, UsbClass, UsbDevice};
pub use inf::{DriverVer, Inf, Manufacturer, Model, SourceFile, TextEncoding, Version};
pub use inject::{inject, InjectOptions, InjectPackage, InjectReport};
pub use modalias::{Alias, AliasTable};
pub use rank::{rank, Candidate, DriverIndex, Signature};
pub use store::{PackageId, PackageInfo, Store};
pub use target::{Arch, Decoration, DecorationArch, TargetOs};
