//! UEFI VMs (q35 + OVMF) PXE-boot from `marrow serve` in full mode to the
//! serial marker: once through OVMF's own EDK2 PXE (which fetches ipxe.efi
//! over TFTP with its tsize probe and windowsize), once through iPXE's EFI
//! NIC ROM (which goes straight to the HTTP script).

use std::time::Duration;

use marrow_tests::kernel::install_marker_payload;
use marrow_tests::lab::{vm_slot, Lab};
use marrow_tests::qemu::{qemu_available, Firmware, Vm, VmSpec};

fn boot_uefi(net: &str, mac: &str, nic: &str, romfile: Option<&str>) -> Lab {
    let mut lab = Lab::new(net);
    let marker = format!("MARROW-UEFI-BOOT-{}-{}", std::process::id(), &mac[15..]);
    install_marker_payload(&lab.data_dir, &marker);
    let range = format!("{net}.100-{net}.150");
    lab.start_marrow(&[
        "--dhcp",
        "full",
        "--dhcp-range",
        &range,
        "--boot-default",
        "marrow",
        "--kernel-args",
        "console=ttyS0,115200 panic=-1",
    ]);
    let tap = lab.tap();
    let mut spec = VmSpec::new(Firmware::Uefi, &tap, mac);
    spec.nic = nic.into();
    spec.romfile = romfile.map(str::to_string);
    spec.memory_mb = 512;
    let mut vm = Vm::start(&lab.ns, &spec, lab.dir.path());
    vm.wait_for_serial(&marker, Duration::from_secs(300));
    lab
}

fn host_arch(lab: &Lab, mac: &str) -> String {
    let hosts: serde_json::Value =
        serde_json::from_str(&lab.marrow_cli(&["host", "list", "--json"])).unwrap();
    let host = hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["mac"] == mac)
        .expect("host registered");
    host["arch"].as_str().unwrap_or_default().to_string()
}

#[test]
fn uefi_edk2_pxe_fetches_ipxe_efi_over_tftp_then_boots_the_marrow_kernel() {
    if let Some(why) = marrow_tests::missing_root().or(qemu_available().err()) {
        eprintln!("skipping: {why}");
        return;
    }
    let _slot = vm_slot();
    let mac = "52:54:00:78:00:01";
    // An empty romfile on virtio makes OVMF use its own PXE (pxe-lab notes).
    let lab = boot_uefi("10.78.0", mac, "virtio-net-pci", Some(""));
    let log = lab.marrow_log();
    assert!(
        log.contains("file=\"ipxe.efi\"") || log.contains("file=ipxe.efi"),
        "EDK2 was offered ipxe.efi:\n{log}"
    );
    assert!(
        log.contains("TFTP complete"),
        "ipxe.efi went over TFTP:\n{log}"
    );
    assert!(
        log.contains("boot script"),
        "then iPXE fetched the script:\n{log}"
    );
    assert_eq!(host_arch(&lab, mac), "uefi-x64");
    let metrics = lab.http_get(8080, "/metrics");
    assert!(
        metrics.contains("marrow_tftp_transfers_total{outcome=\"complete\"}"),
        "{metrics}"
    );
}

#[test]
fn uefi_ipxe_nic_rom_boots_the_marrow_kernel() {
    if let Some(why) = marrow_tests::missing_root().or(qemu_available().err()) {
        eprintln!("skipping: {why}");
        return;
    }
    let _slot = vm_slot();
    let mac = "52:54:00:79:00:01";
    let lab = boot_uefi("10.79.0", mac, "e1000e", None);
    let log = lab.marrow_log();
    assert!(
        log.contains("boot.ipxe?mac=52-54-00-79-00-01"),
        "iPXE got the script URL:\n{log}"
    );
    assert_eq!(host_arch(&lab, mac), "uefi-x64");
}
