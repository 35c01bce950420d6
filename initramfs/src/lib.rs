//! Builds the Marrow boot kernel and initramfs.

#![forbid(unsafe_code)]
