//! End-to-end scenarios, one test binary.
mod boot_bios;
mod initramfs_boot;
