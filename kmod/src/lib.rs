//! Kernel module metadata as `depmod` writes it, and matching devices to
//! modules, shared by the initramfs builder (which picks the modules an
//! image carries) and the boot client (which loads the ones the machine's
//! devices ask for).
//!
//! - [`ModDep`], [`parse_builtin`], [`parse_softdep_pre`], [`Aliases`]:
//!   `modules.dep`, `modules.builtin`, `modules.softdep` and the exact
//!   lookups of `modules.alias`;
//! - [`AliasTable`]: `modules.alias` with kmod's `fnmatch` matching of a
//!   device's modalias.
//!
//! Pure parsing and matching: reading the files and `/sys` is the
//! caller's business. This crate is small on purpose, so the static
//! client carries no more than it runs.

#![forbid(unsafe_code)]

mod alias;
mod dep;
mod error;

pub use alias::{Alias, AliasTable};
pub use dep::{parse_builtin, parse_softdep_pre, Aliases, ModDep, ModuleName};
pub use error::ModulesError;
