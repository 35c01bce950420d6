//! The client on hardware QEMU offers beyond virtio, each machine PXE-booting
//! from `marrow serve` (full DHCP) and restoring one image onto the disk its
//! task's rule names:
//! 1. UEFI (q35) with an e1000e NIC and a SATA disk on AHCI;
//! 2. BIOS with an e1000 NIC and an NVMe disk;
//! 3. BIOS with a USB disk on an xHCI controller (usb-storage);
//!
//! and a machine whose NIC no module of its initramfs drives (one built
//! with e1000 left out): the console names the device's IDs and "no
//! driver", and the machine reboots after its rescue timeout.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use marrow_tests::disks::{assert_windows_like_disk, blank, tools_missing, windows_like_disk};
use marrow_tests::lab::{vm_slot, Lab};
use marrow_tests::process::Guarded;
use marrow_tests::qemu::{qemu_available, Firmware, Vm, VmSpec};
use serde_json::Value;

use crate::initramfs_boot::built;

/// MiB of files on the image's ext4 partition.
const DATA_MIB: u64 = 8;
/// A hang guard for one VM run, not a timing assertion.
const VM_LIMIT: Duration = Duration::from_secs(600);

/// How a machine's disk is attached.
struct Machine {
    name: &'static str,
    firmware: Firmware,
    nic: &'static str,
    mac: &'static str,
    /// QEMU arguments for the disk; `{file}` is its image.
    disk: &'static [&'static str],
    /// The task's disk rule.
    rule: &'static str,
}

const MACHINES: &[Machine] = &[
    Machine {
        name: "uefi-e1000e-ahci",
        firmware: Firmware::Uefi,
        nic: "e1000e",
        mac: "52:54:00:96:00:01",
        disk: &[
            "-device",
            "ahci,id=ahci0",
            "-drive",
            "file={file},format=raw,if=none,id=sata0",
            "-device",
            "ide-hd,drive=sata0,bus=ahci0.0,serial=SATA-A",
        ],
        rule: "serial=SATA-A",
    },
    Machine {
        name: "bios-nvme",
        firmware: Firmware::Bios,
        nic: "e1000",
        mac: "52:54:00:96:00:02",
        disk: &[
            "-drive",
            "file={file},format=raw,if=none,id=nvm0",
            "-device",
            "nvme,drive=nvm0,serial=NVME-B",
        ],
        rule: "serial=NVME-B",
    },
    Machine {
        name: "bios-usb-disk",
        firmware: Firmware::Bios,
        nic: "e1000",
        mac: "52:54:00:96:00:03",
        disk: &[
            "-device",
            "qemu-xhci,id=xhci0",
            "-drive",
            "file={file},format=raw,if=none,id=usb0",
            "-device",
            "usb-storage,bus=xhci0.0,drive=usb0",
        ],
        // A USB disk is taken only when the rule names it.
        rule: "name=sda",
    },
];

fn wait_exit(vm: &mut Vm, lab: &Lab) -> String {
    lab.wait_vm_exit(vm, VM_LIMIT)
}

#[test]
fn machines_with_sata_nvme_and_usb_disks_and_other_nics_restore_by_their_rule() {
    if let Some(why) = marrow_tests::missing_root()
        .or(qemu_available().err())
        .or_else(tools_missing)
    {
        eprintln!("skipping: {why}");
        return;
    }
    let b = built();
    let _slot = vm_slot();
    let mut lab = Lab::new("10.96.0");
    let boot = lab.data_dir.join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    for f in ["vmlinuz", "initrd.img"] {
        std::fs::copy(b.boot.join(f), boot.join(f)).unwrap();
    }
    lab.start_marrow(&[
        "--dhcp",
        "full",
        "--dhcp-range",
        "10.96.0.100-10.96.0.150",
        "--kernel-args",
        "console=ttyS0,115200 panic=-1",
    ]);
    let dir = lab.dir.path().to_path_buf();
    let source = windows_like_disk(&dir, "source.img", "hw", 96, DATA_MIB);
    lab.marrow_cli(&["image", "capture", source.to_str().unwrap(), "--name", "hw"]);

    for m in MACHINES {
        let target = blank(&dir, &format!("{}.img", m.name), 96);
        let out = lab.marrow_cli(&[
            "task", "restore", "--host", m.mac, "--image", "hw", "--disk", m.rule, "--after",
            "poweroff", "--json",
        ]);
        let id = serde_json::from_str::<Value>(&out).unwrap()["id"]
            .as_i64()
            .unwrap();
        let tap = lab.tap();
        let mut spec = VmSpec::new(m.firmware, &tap, m.mac);
        spec.nic = m.nic.into();
        spec.memory_mb = 768;
        let file = target.display().to_string();
        spec.extra
            .extend(m.disk.iter().map(|a| a.replace("{file}", &file)));
        let started = Instant::now();
        let mut vm = Vm::start(&lab.ns, &spec, &dir);
        let serial = wait_exit(&mut vm, &lab);
        let t: Value =
            serde_json::from_str(&lab.marrow_cli(&["task", "show", &id.to_string(), "--json"]))
                .unwrap();
        assert_eq!(
            t["state"], "done",
            "{}: {t}\n--- serial ---\n{serial}",
            m.name
        );
        eprintln!(
            "{}: power-on to power-off {:.0} s; {}",
            m.name,
            started.elapsed().as_secs_f64(),
            serial
                .lines()
                .find(|l| l.contains("using disk"))
                .unwrap_or("?")
        );
        assert_windows_like_disk(&target, "hw", DATA_MIB);
    }
}

/// An initramfs built with e1000 and nvme left out, shared by the two
/// no-driver scenarios: its directory (kept for the run) and its boot
/// files. It is also built with an admin's firmware directory holding one
/// of r8169's files, which Debian ships only in non-free-firmware.
struct Stripped {
    _dir: tempfile::TempDir,
    boot: PathBuf,
}

/// A firmware file r8169 asks for (`modinfo -F firmware r8169`).
const R8169_FIRMWARE: &str = "rtl_nic/rtl8168h-2.fw";

fn stripped() -> &'static Stripped {
    static STRIPPED: OnceLock<Stripped> = OnceLock::new();
    STRIPPED.get_or_init(|| {
        let b = built();
        let dir = tempfile::tempdir().unwrap();
        let firmware = dir.path().join("firmware");
        std::fs::create_dir_all(firmware.join("rtl_nic")).unwrap();
        std::fs::write(firmware.join(R8169_FIRMWARE), b"admin's copy").unwrap();
        let out = Command::new(&b.marrow)
            .arg("--data-dir")
            .arg(dir.path())
            .args(["initramfs", "build", "--json"])
            .args(["--exclude-module", "e1000", "--exclude-module", "nvme"])
            .arg("--firmware")
            .arg(&firmware)
            .arg("--client")
            .arg(&b.client)
            .arg("--cache-dir")
            .arg(crate::initramfs_boot::kernel_cache())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let modules = report["modules"].as_array().unwrap();
        for left_out in ["e1000", "nvme"] {
            assert!(
                !modules.iter().any(|m| m == left_out),
                "{left_out} was left out"
            );
        }
        let included = report["firmware_included"].as_array().unwrap();
        assert!(included.iter().any(|f| f == R8169_FIRMWARE), "{included:?}");
        // inspect lists what is still missing, and not the admin's file.
        let out = Command::new(&b.marrow)
            .arg("--data-dir")
            .arg(dir.path())
            .args(["initramfs", "inspect", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let inspected: Value = serde_json::from_slice(&out.stdout).unwrap();
        let missing = inspected["firmware_missing"].as_array().unwrap();
        assert!(
            missing.iter().any(|m| m["module"] == "r8169"),
            "r8169's other files are still missing: {missing:?}"
        );
        assert!(
            !missing.iter().any(|m| m["file"] == R8169_FIRMWARE),
            "{missing:?}"
        );
        Stripped {
            boot: dir.path().join("boot"),
            _dir: dir,
        }
    })
}

#[test]
fn a_nic_without_a_driver_is_named_on_the_console_and_the_machine_reboots() {
    if let Some(why) = marrow_tests::missing_root().or(qemu_available().err()) {
        eprintln!("skipping: {why}");
        return;
    }
    let boot = &stripped().boot;
    let _slot = vm_slot();
    let dir = tempfile::tempdir().unwrap();
    let serial = dir.path().join("serial.log");
    let started = Instant::now();
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args(["-accel", "tcg,thread=multi", "-cpu", "max", "-m", "512"])
        .args([
            "-nodefaults",
            "-display",
            "none",
            "-vga",
            "none",
            "-no-reboot",
        ])
        .args(["-machine", "pc"])
        .arg("-kernel")
        .arg(boot.join("vmlinuz"))
        .arg("-initrd")
        .arg(boot.join("initrd.img"))
        .args([
            "-append",
            "console=ttyS0,115200 panic=-1 marrow.rescue_timeout=3",
        ])
        .args(["-netdev", "user,id=n0,restrict=on"])
        .args(["-device", "e1000,netdev=n0,mac=52:54:00:96:00:09"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()));
    // Killed on drop, should an assertion fail first.
    let mut qemu = Guarded::spawn("qemu", qemu, &dir.path().join("qemu.log"));
    // The client explains itself, then reboots, which `-no-reboot` turns
    // into QEMU's exit.
    let exited = loop {
        if let Ok(Some(status)) = qemu.child.try_wait() {
            break Some(status);
        }
        if started.elapsed() > VM_LIMIT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let console = marrow_tests::process::read_lossy(&serial);
    assert!(exited.is_some(), "the machine sat at its shell:\n{console}");
    assert!(
        console.contains("8086:100e") && console.contains("no driver"),
        "the console names the NIC and says it has no driver:\n{console}"
    );
    assert!(console.contains("rescue timeout: rebooting"), "{console}");
    eprintln!(
        "no-driver NIC: explained and rebooted {:.0} s after power-on",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_disk_controller_without_a_driver_fails_the_task_naming_it() {
    if let Some(why) = marrow_tests::missing_root()
        .or(qemu_available().err())
        .or_else(tools_missing)
    {
        eprintln!("skipping: {why}");
        return;
    }
    let boot_files = &stripped().boot;
    let _slot = vm_slot();
    let mut lab = Lab::new("10.97.0");
    let boot = lab.data_dir.join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    for f in ["vmlinuz", "initrd.img"] {
        std::fs::copy(boot_files.join(f), boot.join(f)).unwrap();
    }
    lab.start_marrow(&[
        "--dhcp",
        "full",
        "--dhcp-range",
        "10.97.0.100-10.97.0.150",
        "--kernel-args",
        "console=ttyS0,115200 panic=-1",
    ]);
    let dir = lab.dir.path().to_path_buf();
    let source = windows_like_disk(&dir, "source.img", "nd", 96, DATA_MIB);
    lab.marrow_cli(&["image", "capture", source.to_str().unwrap(), "--name", "nd"]);
    let mac = "52:54:00:97:00:01";
    let out = lab.marrow_cli(&[
        "task", "restore", "--host", mac, "--image", "nd", "--after", "poweroff", "--json",
    ]);
    let id = serde_json::from_str::<Value>(&out).unwrap()["id"]
        .as_i64()
        .unwrap();
    let target = blank(&dir, "nvme.img", 96);
    let tap = lab.tap();
    // e1000e is in the initramfs; the NVMe controller's driver is not.
    let mut spec = VmSpec::new(Firmware::Bios, &tap, mac);
    spec.nic = "e1000e".into();
    spec.memory_mb = 768;
    spec.extra.extend([
        "-drive".to_string(),
        format!("file={},format=raw,if=none,id=nvm0", target.display()),
        "-device".to_string(),
        "nvme,drive=nvm0,serial=NVME-X".to_string(),
    ]);
    let mut vm = Vm::start(&lab.ns, &spec, &dir);
    let serial = wait_exit(&mut vm, &lab);
    let t: Value =
        serde_json::from_str(&lab.marrow_cli(&["task", "show", &id.to_string(), "--json"]))
            .unwrap();
    assert_eq!(t["state"], "failed", "{t}\n--- serial ---\n{serial}");
    let error = t["error"].as_str().unwrap();
    // QEMU's NVMe controller is PCI 1b36:0010, class 010802.
    assert!(
        error.contains("1b36:0010") && error.contains("no driver"),
        "the task's error names the controller: {error}"
    );
    assert!(serial.contains("1b36:0010"), "{serial}");
    eprintln!("no-driver disk controller: task failed with: {error}");
}
