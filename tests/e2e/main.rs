//! End-to-end scenarios, one test binary.
mod boot_bios;
mod initramfs_boot;
mod boot_uefi;
mod boot_tftp;
mod boot_dhcp;
mod boot_proxy;
mod boot_interfaces;
mod boot_http;
