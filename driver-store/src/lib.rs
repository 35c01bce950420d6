//! Driver packages indexed by the hardware IDs their INF files declare.
//!
//! - `inf`: Windows INF parsing: version, manufacturers, decorated models
//!   sections, hardware and compatible IDs, source files, strings.
//! - `target`: the Windows version and architecture a driver is chosen
//!   for, and the TargetOSVersion decorations that select models for it.
//!
//! - `hwid`: devices by raw PCI/USB IDs and the hardware- and
//!   compatible-ID lists Windows builds from them.
//! - `rank`: Windows' driver rank over an index of model lines, with the
//!   reason for every candidate.
//!
//! - `store`: packages stored content-addressed and indexed in SQLite.
//! - `inject`: copying matched packages into a mounted Windows volume and
//!   naming them in its sysprep answer file.
//!
//! Modules stay private; everything public is re-exported here.
//!
//! The parsers and the ranking are pure: they take text and IDs and return
//! values. Only the store (files and SQLite) and injection (copying into a
//! mounted Windows volume) do I/O.

#![forbid(unsafe_code)]

mod error;
mod hwid;
mod inf;
mod inject;
mod rank;
#[cfg(feature = "store")]
mod store;
mod target;

pub use error::{Error, Result};
pub use hwid::{devices_from_inventory, Device, DeviceIds, PciDevice, UsbClass, UsbDevice};
pub use inf::{
    DriverVer, Inf, Manufacturer, Model, RawLine, RawSection, Selection, SourceFile, TextEncoding,
    Version,
};
pub use inject::{
    add_driver_path, inject, name_computer, new_answer_file, refuse_computer_name,
    set_computer_name, setup_complete_script, InjectOptions, InjectPackage, InjectReport, Injected,
    Skipped, PASSES, SETUP_COMPLETE,
};
pub use marrow_ids::PackageId;
pub use rank::{
    choose, excluded_matches, rank, Candidate, Chosen, DriverIndex, Excluded, ExcludedEntry,
    IndexEntry, Signature, DEFAULT_FEATURE_SCORE,
};
#[cfg(feature = "store")]
pub use store::{
    os_tag, ImportProgress, Imported, InfInfo, Loaded, PackageInfo, Quiet, SkippedPackage, Store,
    FORMAT_VERSION,
};
pub use target::{Arch, Decoration, DecorationArch, TargetOs, PRODUCT_SERVER, PRODUCT_WORKSTATION};
