//! Driver packages indexed by the hardware IDs their INF files declare.
//!
//! - [`modalias`]: Linux `modules.alias` parsing and `fnmatch` matching, for
//!   coldplugging kernel modules in the initramfs.
//!
//! The parsers and the ranking are pure: they take text and IDs and return
//! values. Only the store (files and SQLite) and injection (copying into a
//! mounted Windows volume) do I/O.

#![forbid(unsafe_code)]

mod error;
pub mod modalias;

pub use error::{Error, Result};
pub use modalias::{Alias, AliasTable};
