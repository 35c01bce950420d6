//! The inventory against a fake sysfs tree shaped like a QEMU VM's, and the
//! `marrow-client inventory` command on the machine running the tests.

use marrow_client::inventory::{self, Inventory};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

/// A QEMU `pc` machine with a virtio-net NIC, a virtio-blk disk with a
/// serial, a loop device, a USB stick and the QEMU tablet.
fn fake_vm(root: &Path) {
    write(
        root,
        "proc/cpuinfo",
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: QEMU TCG CPU version 2.5+\n\n",
    );
    write(
        root,
        "proc/meminfo",
        "MemTotal:         494436 kB\nMemFree:          400000 kB\n",
    );
    write(root, "sys/class/dmi/id/sys_vendor", "QEMU\n");
    write(
        root,
        "sys/class/dmi/id/product_name",
        "Standard PC (i440FX + PIIX, 1996)\n",
    );
    write(
        root,
        "sys/class/dmi/id/product_uuid",
        "5b3c1f2e-0000-4000-8000-000000000001\n",
    );

    let net_pci = "sys/devices/pci0000:00/0000:00:03.0";
    for (f, v) in [
        ("vendor", "0x1af4"),
        ("device", "0x1000"),
        ("subsystem_vendor", "0x1af4"),
        ("subsystem_device", "0x0001"),
        ("revision", "0x00"),
        ("class", "0x020000"),
        (
            "modalias",
            "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00",
        ),
    ] {
        write(root, &format!("{net_pci}/{f}"), &format!("{v}\n"));
    }
    fs::create_dir_all(root.join("sys/bus/pci/drivers/virtio-pci")).unwrap();
    symlink(
        "../../../bus/pci/drivers/virtio-pci",
        root.join(net_pci).join("driver"),
    )
    .unwrap();
    fs::create_dir_all(root.join("sys/bus/pci/devices")).unwrap();
    symlink(
        root.join(net_pci),
        root.join("sys/bus/pci/devices/0000:00:03.0"),
    )
    .unwrap();

    let virtio0 = format!("{net_pci}/virtio0");
    fs::create_dir_all(root.join(&virtio0)).unwrap();
    fs::create_dir_all(root.join("sys/bus/virtio/drivers/virtio_net")).unwrap();
    symlink(
        root.join("sys/bus/virtio/drivers/virtio_net"),
        root.join(&virtio0).join("driver"),
    )
    .unwrap();
    write(
        root,
        &format!("{virtio0}/net/eth0/address"),
        "52:54:00:12:34:56\n",
    );
    write(root, &format!("{virtio0}/net/eth0/speed"), "-1\n");
    write(root, &format!("{virtio0}/net/eth0/carrier"), "1\n");
    symlink(
        root.join(&virtio0),
        root.join(&virtio0).join("net/eth0/device"),
    )
    .unwrap();
    fs::create_dir_all(root.join("sys/class/net")).unwrap();
    symlink(
        root.join(&virtio0).join("net/eth0"),
        root.join("sys/class/net/eth0"),
    )
    .unwrap();
    write(
        root,
        "sys/devices/virtual/net/lo/address",
        "00:00:00:00:00:00\n",
    );
    symlink(
        root.join("sys/devices/virtual/net/lo"),
        root.join("sys/class/net/lo"),
    )
    .unwrap();

    let vda = "sys/devices/pci0000:00/0000:00:04.0/virtio1/block/vda";
    write(root, &format!("{vda}/size"), "2097152\n");
    write(root, &format!("{vda}/serial"), "MARROW-TEST-1\n");
    write(root, &format!("{vda}/removable"), "0\n");
    write(root, &format!("{vda}/queue/rotational"), "1\n");
    fs::create_dir_all(root.join("sys/block")).unwrap();
    symlink(
        root.join("sys/devices/pci0000:00/0000:00:04.0/virtio1"),
        root.join(vda).join("device"),
    )
    .unwrap();
    symlink(root.join(vda), root.join("sys/block/vda")).unwrap();
    let sda =
        "sys/devices/pci0000:00/0000:00:05.0/usb1/1-1/1-1:1.0/host2/target2:0:0/2:0:0:0/block/sda";
    write(root, &format!("{sda}/size"), "60000\n");
    write(root, &format!("{sda}/removable"), "1\n");
    write(root, &format!("{sda}/queue/rotational"), "0\n");
    write(
        root,
        "sys/devices/pci0000:00/0000:00:05.0/usb1/1-1/1-1:1.0/host2/target2:0:0/2:0:0:0/model",
        "Flash Disk      \n",
    );
    write(
        root,
        "sys/devices/pci0000:00/0000:00:05.0/usb1/1-1/1-1:1.0/host2/target2:0:0/2:0:0:0/wwid",
        "t10.Generic Flash\n",
    );
    symlink(
        root.join("sys/devices/pci0000:00/0000:00:05.0/usb1/1-1/1-1:1.0/host2/target2:0:0/2:0:0:0"),
        root.join(sda).join("device"),
    )
    .unwrap();
    symlink(root.join(sda), root.join("sys/block/sda")).unwrap();
    write(root, "sys/devices/virtual/block/loop0/size", "100\n");
    symlink(
        root.join("sys/devices/virtual/block/loop0"),
        root.join("sys/block/loop0"),
    )
    .unwrap();

    let usb = "sys/devices/pci0000:00/0000:00:05.0/usb1/1-1";
    for (f, v) in [
        ("idVendor", "0627"),
        ("idProduct", "0001"),
        ("bcdDevice", "0000"),
        ("manufacturer", "QEMU"),
        ("product", "QEMU USB Tablet"),
    ] {
        write(root, &format!("{usb}/{f}"), &format!("{v}\n"));
    }
    fs::create_dir_all(root.join("sys/bus/usb/devices")).unwrap();
    symlink(root.join(usb), root.join("sys/bus/usb/devices/1-1")).unwrap();
    symlink(
        root.join(usb).join("1-1:1.0"),
        root.join("sys/bus/usb/devices/1-1:1.0"),
    )
    .unwrap();
}

#[test]
fn inventory_of_a_qemu_shaped_tree_lists_its_devices() {
    let dir = tempfile::tempdir().unwrap();
    fake_vm(dir.path());
    let inv = inventory::collect(dir.path()).unwrap();

    assert_eq!(inv.dmi.sys_vendor.as_deref(), Some("QEMU"));
    assert_eq!(
        inv.dmi.product_uuid.as_deref(),
        Some("5b3c1f2e-0000-4000-8000-000000000001")
    );
    assert_eq!(inv.cpu.logical_cpus, 1);
    assert_eq!(inv.memory_bytes, 494_436 * 1024);

    let names: Vec<_> = inv.disks.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["sda", "vda"], "loop0 has no device and is left out");
    let sda = &inv.disks[0];
    assert!(sda.usb && sda.removable && !sda.rotational);
    assert_eq!(sda.model.as_deref(), Some("Flash Disk"));
    assert_eq!(sda.wwn.as_deref(), Some("t10.Generic Flash"));
    let vda = &inv.disks[1];
    assert_eq!(vda.size_bytes, 1 << 30);
    assert_eq!(vda.serial.as_deref(), Some("MARROW-TEST-1"));
    assert!(!vda.usb && vda.rotational);

    assert_eq!(inv.nics.len(), 1, "lo is virtual and left out");
    assert_eq!(inv.nics[0].mac, "52:54:00:12:34:56");
    assert_eq!(inv.nics[0].driver.as_deref(), Some("virtio_net"));
    assert_eq!(inv.nics[0].speed_mbps, None);
    assert_eq!(
        inv.nics[0].pci_slot.as_deref(),
        Some("0000:00:03.0"),
        "found above virtio0"
    );

    assert_eq!(inv.pci.len(), 1);
    let p = &inv.pci[0];
    assert_eq!(
        (
            p.vendor.as_str(),
            p.device.as_str(),
            p.subsystem_vendor.as_str(),
            p.subsystem_device.as_str()
        ),
        ("1af4", "1000", "1af4", "0001")
    );
    assert_eq!((p.class.as_str(), p.revision.as_str()), ("020000", "00"));
    assert_eq!(p.driver.as_deref(), Some("virtio-pci"));

    assert_eq!(inv.usb.len(), 1, "the interface 1-1:1.0 is not a device");
    assert_eq!(
        (inv.usb[0].vendor.as_str(), inv.usb[0].product.as_str()),
        ("0627", "0001")
    );

    let links = inventory::collect_links(&dir.path().join("sys/class/net"));
    assert_eq!(links.len(), 1);
    assert!(links[0].carrier);

    // No /sys/firmware/efi: a BIOS boot, nothing known of Secure Boot.
    assert_eq!(inv.firmware, inventory::Firmware::default());
}

#[test]
fn secure_boot_and_lockdown_come_from_efivarfs_and_securityfs() {
    let dir = tempfile::tempdir().unwrap();
    fake_vm(dir.path());
    let var = dir.path().join(inventory::SECURE_BOOT_VAR);
    fs::create_dir_all(var.parent().unwrap()).unwrap();
    // Attributes 0x06 (boot service and runtime access), then the value.
    fs::write(&var, [6, 0, 0, 0, 1]).unwrap();
    write(
        dir.path(),
        "sys/kernel/security/lockdown",
        "none [integrity] confidentiality\n",
    );
    let fw = inventory::collect(dir.path()).unwrap().firmware;
    assert!(fw.uefi);
    assert_eq!(fw.secure_boot, Some(true));
    assert_eq!(fw.lockdown.as_deref(), Some("integrity"));
    fs::write(&var, [6, 0, 0, 0, 0]).unwrap();
    write(
        dir.path(),
        "sys/kernel/security/lockdown",
        "[none] integrity confidentiality\n",
    );
    let fw = inventory::collect(dir.path()).unwrap().firmware;
    assert_eq!(fw.secure_boot, Some(false));
    assert_eq!(fw.lockdown.as_deref(), Some("none"));
}

#[test]
fn named_bad_firmware_values_read_as_unknown() {
    assert_eq!(inventory::parse_secure_boot(&[]), None, "empty");
    assert_eq!(
        inventory::parse_secure_boot(&[6, 0, 0, 0]),
        None,
        "no value"
    );
    assert_eq!(
        inventory::parse_secure_boot(&[6, 0, 0, 0, 1, 0]),
        None,
        "too long"
    );
    assert_eq!(
        inventory::parse_lockdown("none integrity"),
        None,
        "no brackets"
    );
    assert_eq!(inventory::parse_lockdown("[]"), None, "empty mode");
    assert_eq!(inventory::parse_lockdown("[none"), None, "unclosed");
}

#[test]
fn an_inventory_without_firmware_from_an_older_client_still_reads() {
    let dir = tempfile::tempdir().unwrap();
    fake_vm(dir.path());
    let inv = inventory::collect(dir.path()).unwrap();
    let mut json = serde_json::to_value(&inv).unwrap();
    json.as_object_mut().unwrap().remove("firmware");
    let back: Inventory = serde_json::from_value(json).unwrap();
    assert_eq!(back.firmware, inventory::Firmware::default());
}

#[test]
fn inventory_json_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    fake_vm(dir.path());
    let inv = inventory::collect(dir.path()).unwrap();
    let back: Inventory = serde_json::from_str(&serde_json::to_string(&inv).unwrap()).unwrap();
    assert_eq!(back, inv);
}

#[test]
fn a_tree_without_proc_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = inventory::collect(dir.path()).unwrap_err().to_string();
    assert!(err.contains("proc/cpuinfo"), "{err}");
}

/// `marrow-client inventory --json` on the machine running the tests agrees
/// with what /proc and /sys say directly.
#[test]
fn inventory_command_describes_this_machine() {
    let out = Command::new(env!("CARGO_BIN_EXE_marrow-client"))
        .args(["inventory", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inv: Inventory = serde_json::from_slice(&out.stdout).unwrap();

    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap();
    let processors = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count() as u32;
    assert_eq!(inv.cpu.logical_cpus, processors);
    assert!(inv.memory_bytes > 0);

    let mut slots: Vec<String> = fs::read_dir("/sys/bus/pci/devices")
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    slots.sort();
    assert_eq!(
        inv.pci.iter().map(|p| p.slot.clone()).collect::<Vec<_>>(),
        slots
    );
    for p in &inv.pci {
        let vendor = fs::read_to_string(format!("/sys/bus/pci/devices/{}/vendor", p.slot)).unwrap();
        assert_eq!(format!("0x{}", p.vendor), vendor.trim());
    }
    let text = Command::new(env!("CARGO_BIN_EXE_marrow-client"))
        .arg("inventory")
        .output()
        .unwrap();
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("memory"));
}

#[test]
fn capture_and_restore_name_what_is_wrong_with_their_arguments() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_marrow-client"))
            .args(args)
            .env_remove("MARROW_TOKEN")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for cmd in ["capture", "restore"] {
        let err = run(&[cmd, "--server", "http://127.0.0.1:9", "--disk", "/dev/null"]);
        assert!(err.contains("--token"), "{err}");
        let err = run(&[
            cmd,
            "--server",
            "ftp://x",
            "--token",
            "t",
            "--disk",
            "/dev/null",
        ]);
        assert!(
            err.contains("server \"ftp://x\": give an http:// URL"),
            "{err}"
        );
        // Nothing listens on port 9: the error names the request, after retries.
        let err = run(&[
            cmd,
            "--server",
            "http://127.0.0.1:9",
            "--token",
            "t",
            "--disk",
            "/dev/null",
        ]);
        assert!(
            err.contains("POST http://127.0.0.1:9/api/v1/task/claim")
                && err.contains("after 5 attempts"),
            "{err}"
        );
    }
}
