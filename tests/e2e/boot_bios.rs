//! A BIOS VM (SeaBIOS + QEMU's e1000 iPXE ROM) PXE-boots from `marrow serve`
//! in full mode: DHCP, the HTTP script, then the kernel and initramfs from
//! the data dir, which print a marker on the serial console.

use std::time::Duration;

use marrow_tests::kernel::install_marker_payload;
use marrow_tests::lab::{vm_slot, Lab};
use marrow_tests::qemu::{qemu_available, Firmware, Vm, VmSpec};

#[test]
fn bios_ipxe_rom_boots_the_marrow_kernel_from_full_mode() {
    if let Some(why) = marrow_tests::missing_root().or(qemu_available().err()) {
        eprintln!("skipping: {why}");
        return;
    }
    let _slot = vm_slot();
    let mut lab = Lab::new("10.77.0");
    let marker = format!("MARROW-BIOS-BOOT-{}", std::process::id());
    install_marker_payload(&lab.data_dir, &marker);
    lab.start_marrow(&[
        "--dhcp",
        "full",
        "--dhcp-range",
        "10.77.0.100-10.77.0.150",
        "--boot-default",
        "marrow",
        "--kernel-args",
        "console=ttyS0,115200 panic=-1",
    ]);
    let tap = lab.tap();
    let mac = "52:54:00:77:00:01";
    let spec = VmSpec::new(Firmware::Bios, &tap, mac);
    let mut vm = Vm::start(&lab.ns, &spec, lab.dir.path());
    let serial = vm.wait_for_serial(&marker, Duration::from_secs(240));
    assert!(serial.contains("iPXE"), "the NIC ROM is iPXE");

    let log = lab.marrow_log();
    assert!(
        log.contains("boot script"),
        "the script was fetched over HTTP:\n{log}"
    );
    assert!(
        log.contains("router solicitation; advertising"),
        "iPXE's IPv6 wait was cut short by Marrow's router advertisement:\n{log}"
    );
    assert!(
        log.contains("/boot.ipxe?mac=52-54-00-77-00-01"),
        "iPXE got the script URL, not the binary:\n{log}"
    );

    let hosts: serde_json::Value =
        serde_json::from_str(&lab.marrow_cli(&["host", "list", "--json"])).unwrap();
    let host = hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["mac"] == mac)
        .expect("host registered");
    assert_eq!(host["arch"], "bios");
    assert!(
        host["ip"].as_str().unwrap().starts_with("10.77.0."),
        "{host}"
    );
    assert!(host["last_boot"].as_i64().unwrap() > 0);

    let metrics = lab.http_get(8080, "/metrics");
    assert!(metrics.contains("marrow_http_boots_total 1"), "{metrics}");
    assert!(metrics.contains("arch=\"bios\",mode=\"full\""), "{metrics}");
}

#[test]
fn bios_ipxe_shows_the_boot_menu_and_takes_its_default_after_the_timeout() {
    if let Some(why) = marrow_tests::missing_root().or(qemu_available().err()) {
        eprintln!("skipping: {why}");
        return;
    }
    let _slot = vm_slot();
    let mut lab = Lab::new("10.87.0");
    let marker = format!("MARROW-MENU-BOOT-{}", std::process::id());
    install_marker_payload(&lab.data_dir, &marker);
    let config = lab.dir.path().join("marrow.toml");
    std::fs::write(
        &config,
        "[dhcp]\nmode = \"full\"\nrange = \"10.87.0.100-10.87.0.150\"\n\
         [boot]\ndefault = \"menu\"\nmenu_default = \"marrow\"\nmenu_timeout = 2\n\
         kernel_args = \"console=ttyS0,115200 panic=-1\"\n",
    )
    .unwrap();
    lab.start_marrow(&["--config", config.to_str().unwrap()]);
    let tap = lab.tap();
    let spec = VmSpec::new(Firmware::Bios, &tap, "52:54:00:87:00:01");
    let mut vm = Vm::start(&lab.ns, &spec, lab.dir.path());
    let serial = vm.wait_for_serial(&marker, Duration::from_secs(240));
    assert!(
        serial.contains("Boot the Marrow environment"),
        "the menu was drawn:\n{serial}"
    );
}
