//! Marrow in `proxy` mode beside dnsmasq, which hands out addresses only
//! (no boot options). dnsmasq runs in its own namespace, like a corporate
//! DHCP server on another machine. BIOS (iPXE ROM) and UEFI (OVMF's own
//! PXE) VMs still boot to the serial marker.

use std::time::Duration;

use marrow_tests::kernel::install_marker_payload;
use marrow_tests::lab::{vm_slot, Lab};
use marrow_tests::qemu::{qemu_available, Firmware, Vm, VmSpec};
use marrow_tests::{have, missing_root};

fn boot_beside_dnsmasq(net: &str, mac: &str, firmware: Firmware, nic: &str, romfile: Option<&str>) {
    let _slot = vm_slot();
    let mut lab = Lab::new(net);
    let (_dns_ns, dnsmasq) = marrow_tests::dnsmasq::start(&lab, net);
    let marker = format!("MARROW-PROXY-BOOT-{}-{}", std::process::id(), &mac[15..]);
    install_marker_payload(&lab.data_dir, &marker);
    lab.start_marrow(&[
        "--dhcp",
        "proxy",
        "--boot-default",
        "marrow",
        "--kernel-args",
        "console=ttyS0,115200 panic=-1",
    ]);
    // A task for the machine: its boot script must carry the task's token,
    // which Marrow hands out only to the address the machine took from
    // dnsmasq (the option 50 of its DHCPREQUEST, seen in proxy mode).
    lab.marrow_cli(&["task", "capture", "--host", mac, "--image", "proxy"]);
    let tap = lab.tap();
    let mut spec = VmSpec::new(firmware, &tap, mac);
    spec.nic = nic.into();
    spec.romfile = romfile.map(str::to_string);
    spec.memory_mb = 512;
    let mut vm = Vm::start(&lab.ns, &spec, lab.dir.path());
    vm.wait_for_serial(&marker, Duration::from_secs(300));

    let dns_log = dnsmasq.log_text();
    assert!(
        dns_log.contains(&format!("DHCPACK(d0) {net}.")),
        "dnsmasq leased the address:\n{dns_log}"
    );
    let log = lab.marrow_log();
    assert!(
        log.contains("DHCP offer") && log.contains("yiaddr=0.0.0.0"),
        "Marrow offered boot data only:\n{log}"
    );
    assert!(
        log.contains("boot script") && log.contains("action=marrow task 1"),
        "the booting machine got its task's token:\n{log}"
    );
}

fn can_run() -> bool {
    if let Some(why) = missing_root().or(qemu_available().err()) {
        eprintln!("skipping: {why}");
        return false;
    }
    if !have("dnsmasq") {
        eprintln!(
            "skipping: dnsmasq is not installed (scripts/install-deps installs dnsmasq-base)"
        );
        return false;
    }
    true
}

#[test]
fn bios_vm_boots_with_marrow_proxy_beside_dnsmasq() {
    if can_run() {
        boot_beside_dnsmasq(
            "10.83.0",
            "52:54:00:83:00:01",
            Firmware::Bios,
            "e1000",
            None,
        );
    }
}

#[test]
fn uefi_edk2_vm_boots_with_marrow_proxy_beside_dnsmasq() {
    if can_run() {
        boot_beside_dnsmasq(
            "10.84.0",
            "52:54:00:84:00:01",
            Firmware::Uefi,
            "virtio-net-pci",
            Some(""),
        );
    }
}
