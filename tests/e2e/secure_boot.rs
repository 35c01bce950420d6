//! Secure Boot on real firmware under TCG: OVMF's Secure Boot build with
//! Microsoft's keys enrolled PXE-boots from `marrow serve` (full DHCP)
//! through Debian's signed chain (shim → network GRUB, its configuration
//! rendered per host over TFTP → Debian's signed kernel) into the Marrow
//! client, which reports Secure Boot on and the kernel in lockdown, loads
//! its (signed) modules, writes the disk and mounts NTFS through FUSE to
//! name the machine. Then the negative control: the same VM, set to iPXE,
//! is given Debian's unsigned `ipxe.efi`, and the firmware refuses it.

use std::time::{Duration, Instant};

use marrow_tests::disks::{assert_windows_like_disk, blank, sh, tools_missing, windows_like_disk};
use marrow_tests::lab::{vm_slot, Lab};
use marrow_tests::qemu::{qemu_available, secure_boot_firmware, Firmware, Vm, VmSpec};
use serde_json::Value;

use crate::initramfs_boot::built;

const MAC: &str = "52:54:00:87:00:01";
const DATA_MIB: u64 = 8;
/// A hang guard for one VM run, not a timing assertion.
const VM_LIMIT: Duration = Duration::from_secs(900);

/// The Secure Boot VM: no option ROM, so the firmware's own PXE runs, as
/// on a real PC. `ipxe_rom`: plain OVMF with QEMU's iPXE ROM instead, for
/// the boot time beside it.
fn start_vm(lab: &Lab, target: &std::path::Path, ipxe_rom: bool) -> Vm {
    let tap = lab.tap();
    let firmware = if ipxe_rom {
        Firmware::Uefi
    } else {
        Firmware::UefiSecureBoot
    };
    let mut spec = VmSpec::new(firmware, &tap, MAC);
    spec.nic = "virtio-net-pci".into();
    if !ipxe_rom {
        spec.romfile = Some(String::new());
    }
    spec.memory_mb = 768;
    spec.extra.extend([
        "-drive".into(),
        format!(
            "file={},format=raw,if=none,id=DST0,cache=writeback",
            target.display()
        ),
        "-device".into(),
        "virtio-blk-pci,drive=DST0,serial=DST0".into(),
    ]);
    Vm::start(&lab.ns, &spec, lab.dir.path())
}

fn wait_exit(vm: &mut Vm, lab: &Lab) -> String {
    lab.wait_vm_exit(vm, VM_LIMIT)
}

fn task_id(json: &str) -> i64 {
    serde_json::from_str::<Value>(json).unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// The inventory the client printed between its markers.
fn printed_inventory(serial: &str) -> Value {
    let begin = "--- marrow inventory begin ---";
    let at = serial
        .find(begin)
        .expect("the client printed its inventory")
        + begin.len();
    let line = serial[at..]
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with('{'))
        .expect("inventory JSON");
    serde_json::from_str(line).expect("inventory is JSON")
}

#[test]
fn secure_boot_vm_boots_the_signed_chain_restores_and_refuses_unsigned_ipxe() {
    if let Some(why) = marrow_tests::missing_root()
        .or(qemu_available().err())
        .or(secure_boot_firmware().err())
        .or_else(tools_missing)
    {
        eprintln!("skipping: {why}");
        return;
    }
    let b = built();
    let _slot = vm_slot();
    let mut lab = Lab::new("10.87.0");
    let boot = lab.data_dir.join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    for f in ["vmlinuz", "initrd.img", "shimx64.efi", "grubx64.efi"] {
        std::fs::copy(b.boot.join(f), boot.join(f))
            .unwrap_or_else(|e| panic!("{f} from the initramfs build: {e}"));
    }
    lab.start_marrow(&[
        "--dhcp",
        "full",
        "--dhcp-range",
        "10.87.0.100-10.87.0.150",
        "--kernel-args",
        "console=ttyS0,115200 panic=-1",
    ]);
    assert!(
        lab.marrow_log().contains("the signed chain"),
        "{}",
        lab.marrow_log()
    );
    let dir = lab.dir.path().to_path_buf();
    let source = windows_like_disk(&dir, "source.img", "sb", 96, DATA_MIB);
    lab.marrow_cli(&["image", "capture", source.to_str().unwrap(), "--name", "sb"]);
    let target = blank(&dir, "target.img", 96);
    let out = lab.marrow_cli(&[
        "task",
        "restore",
        "--host",
        MAC,
        "--image",
        "sb",
        "--hostname",
        "sb-{mac}",
        "--after",
        "poweroff",
        "--json",
    ]);
    let id = task_id(&out);

    let started = Instant::now();
    let mut vm = start_vm(&lab, &target, false);
    let serial = vm.wait_for_serial("marrow-client: ", VM_LIMIT);
    let to_client = started.elapsed().as_secs_f64();
    let serial = serial + &wait_exit(&mut vm, &lab);
    let log = lab.marrow_log();
    let t: Value =
        serde_json::from_str(&lab.marrow_cli(&["task", "show", &id.to_string(), "--json"]))
            .unwrap();
    assert_eq!(
        t["state"], "done",
        "{t}\n--- serial ---\n{serial}\n--- marrow ---\n{log}"
    );
    eprintln!("signed chain: power-on to client start {to_client:.1} s");

    // The chain: shim over TFTP, then GRUB, its per-host configuration,
    // and the kernel and initramfs from the boot folder.
    for file in [
        "marrow/shimx64.efi",
        "marrow/grubx64.efi",
        "/grub/grub.cfg",
        &format!("/grub/marrow-{MAC}.cfg"),
        "/marrow/vmlinuz",
        "/marrow/initrd.img",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("TFTP complete") && l.contains(&format!("{file:?}"))),
            "{file} was not sent over TFTP:\n{log}"
        );
    }
    assert!(serial.contains("Welcome to GRUB"), "{serial}");
    assert!(log.contains("GRUB configuration"), "{log}");

    // Secure Boot was on, and the kernel ran locked down: from the
    // console, the client's printed inventory and the server's copy.
    assert!(
        serial.contains("Secure Boot on, lockdown integrity"),
        "{serial}"
    );
    let inv = printed_inventory(&serial);
    assert_eq!(inv["firmware"]["secure_boot"], true, "{inv}");
    assert_eq!(inv["firmware"]["lockdown"], "integrity", "{inv}");
    let stored = sh(&format!(
        "sqlite3 {} \"SELECT inventory FROM hosts WHERE mac = '{MAC}'\"",
        lab.data_dir.join("marrow.db").display()
    ));
    let stored: Value = serde_json::from_str(stored.trim()).expect("stored inventory");
    assert_eq!(stored["firmware"]["secure_boot"], true, "{stored}");
    // Lockdown refused nothing the client needed: its modules (signed by
    // Debian) loaded, the disk was written and NTFS mounted through FUSE
    // for the machine's name.
    for refused in ["Key was rejected", "module verification failed"] {
        assert!(!serial.contains(refused), "{refused}\n{serial}");
    }
    // The kernel says what lockdown refused; at boot it restricts
    // hibernation, and nothing the client did may be refused.
    let refusals: Vec<&str> = serial
        .lines()
        .filter(|l| l.contains("Lockdown:") && !l.contains("hibernation is restricted"))
        .collect();
    assert!(refusals.is_empty(), "{refusals:?}");
    assert_windows_like_disk(&target, "sb", DATA_MIB);
    let ntfs = marrow_tests::disks::partition(&target, 3);
    let xml = sh(&format!(
        "ntfscat {} Windows/Panther/unattend.xml",
        ntfs.display()
    ));
    let name = format!("sb-{}", MAC.replace(':', ""));
    assert!(
        xml.contains(&format!("<ComputerName>{name}</ComputerName>")),
        "{xml}"
    );

    // Negative control: the same machine set to iPXE gets Debian's
    // unsigned ipxe.efi, which the firmware refuses.
    lab.marrow_cli(&["host", "set", MAC, "--uefi-boot", "ipxe"]);
    let hosts: Value = serde_json::from_str(&lab.marrow_cli(&["host", "list", "--json"])).unwrap();
    let host = hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["mac"] == MAC)
        .unwrap();
    assert_eq!(host["uefi_boot"], "ipxe", "{host}");
    let before = lab.marrow_log().len();
    let mut vm = start_vm(&lab, &target, false);
    let serial = vm.wait_for_serial("Access Denied", VM_LIMIT);
    drop(vm);
    let log = lab.marrow_log()[before..].to_string();
    assert!(
        log.lines()
            .any(|l| l.contains("TFTP complete") && l.contains("\"ipxe.efi\"")),
        "ipxe.efi was offered and sent:\n{log}"
    );
    assert!(
        !log.contains("boot script") && !serial.contains("iPXE initialising"),
        "iPXE ran with Secure Boot on:\n{serial}\n{log}"
    );

    // For the boot time beside iPXE: the same restore on plain OVMF
    // through QEMU's iPXE ROM, which fetches its script, kernel and
    // initramfs over HTTP. Printed, not asserted.
    let out = lab.marrow_cli(&[
        "task", "restore", "--host", MAC, "--image", "sb", "--after", "poweroff", "--json",
    ]);
    let id = task_id(&out);
    let started = Instant::now();
    let mut vm = start_vm(&lab, &target, true);
    vm.wait_for_serial("marrow-client: ", VM_LIMIT);
    let ipxe_to_client = started.elapsed().as_secs_f64();
    wait_exit(&mut vm, &lab);
    let t: Value =
        serde_json::from_str(&lab.marrow_cli(&["task", "show", &id.to_string(), "--json"]))
            .unwrap();
    assert_eq!(t["state"], "done", "{t}");
    eprintln!(
        "power-on to client start: signed chain (Secure Boot on, TFTP) {to_client:.1} s, iPXE ROM (HTTP) {ipxe_to_client:.1} s"
    );
}
