//! End-to-end scenarios, one test binary.
mod admin_api;
mod boot_bios;
mod boot_dhcp;
mod boot_http;
mod boot_interfaces;
mod boot_proxy;
mod boot_tftp;
mod boot_uefi;
mod hardware_vm;
mod hostile_lan;
mod imaging_shell;
mod imaging_vm;
mod initramfs_boot;
mod multicast_room;
mod multicast_vm;
mod remote_cli;
mod wake_on_lan;
