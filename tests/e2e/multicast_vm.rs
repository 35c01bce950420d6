//! One room on real firmware under TCG: three VMs (two SeaBIOS with
//! e1000, one OVMF with virtio-net) PXE-boot from `marrow serve` into one
//! multicast session and restore it; one of them is reset (killed and
//! booted again) halfway, and resumes from its disk in the running
//! session. Every disk must equal an offline restore of the image.

use std::path::Path;
use std::time::{Duration, Instant};

use marrow_tests::disks::{blank, tools_missing, windows_like_disk};
use marrow_tests::lab::{vm_slot, Lab};
use marrow_tests::qemu::{qemu_available, Firmware, Vm, VmSpec};
use marrow_tests::room::same_bytes;
use serde_json::Value;

use crate::initramfs_boot::built;

const MACS: [&str; 3] = [
    "52:54:00:8a:00:01",
    "52:54:00:8a:00:02",
    "52:54:00:8a:00:03",
];
/// A hang guard for the room, not a timing assertion.
const LIMIT: Duration = Duration::from_secs(900);

fn start_vm(lab: &Lab, i: usize, disk: &Path) -> Vm {
    let tap = lab.tap();
    let (firmware, nic) = match i {
        1 => (Firmware::Uefi, "virtio-net-pci"),
        _ => (Firmware::Bios, "e1000"),
    };
    let mut spec = VmSpec::new(firmware, &tap, MACS[i]);
    spec.nic = nic.into();
    spec.memory_mb = 512;
    spec.extra.extend([
        "-drive".into(),
        format!(
            "file={},format=raw,if=none,id=d{i},cache=writeback",
            disk.display()
        ),
        "-device".into(),
        format!("virtio-blk-pci,drive=d{i},serial=ROOM{i}"),
    ]);
    Vm::start(&lab.ns, &spec, lab.dir.path())
}

fn show(lab: &Lab, id: &str) -> Value {
    serde_json::from_str(&lab.marrow_cli(&["session", "show", id, "--json"])).unwrap()
}

#[test]
fn three_vms_restore_one_session_and_one_reset_halfway_resumes() {
    if let Some(why) = marrow_tests::missing_root()
        .or(qemu_available().err())
        .or_else(tools_missing)
    {
        eprintln!("skipping: {why}");
        return;
    }
    let b = built();
    let _slot = vm_slot();
    let mut lab = Lab::new("10.90.0");
    let boot = lab.data_dir.join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    for f in ["vmlinuz", "initrd.img"] {
        std::fs::copy(b.boot.join(f), boot.join(f)).unwrap();
    }
    lab.start_marrow(&[
        "--dhcp",
        "full",
        "--dhcp-range",
        "10.90.0.100-10.90.0.150",
        "--kernel-args",
        "console=ttyS0,115200 panic=-1",
    ]);
    let dir = lab.dir.path().to_path_buf();
    let source = windows_like_disk(&dir, "source.img", "vmroom", 160, 40);
    let store = lab.data_dir.join("store");
    lab.marrow_cli(&[
        "image",
        "capture",
        source.to_str().unwrap(),
        "--name",
        "room",
        "--store",
        store.to_str().unwrap(),
    ]);
    let reference = blank(&dir, "reference.img", 160);
    lab.marrow_cli(&[
        "image",
        "restore",
        "room",
        reference.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    for (i, mac) in MACS.iter().enumerate() {
        lab.marrow_cli(&[
            "host",
            "add",
            mac,
            "--name",
            &format!("pc-{i}"),
            "--group",
            "lab-b",
        ]);
    }
    // 16 Mbit/s: the 40 MiB image takes about 25 s, so halfway is seen.
    let out = lab.marrow_cli(&[
        "session",
        "create",
        "--image",
        "room",
        "--group",
        "lab-b",
        "--after",
        "poweroff",
        "--rate-cap",
        "16M",
    ]);
    let id = out.lines().next().unwrap().to_string();
    let disks: Vec<_> = (0..3)
        .map(|i| blank(&dir, &format!("pc-{i}.img"), 160))
        .collect();
    let started = Instant::now();
    let mut vms: Vec<Vm> = (0..3).map(|i| start_vm(&lab, i, &disks[i])).collect();
    // Reset pc-2 once it is halfway through.
    loop {
        let v = show(&lab, &id);
        let p = v["receivers"][2]["progress"].as_f64().unwrap_or(0.0);
        if p >= 0.5 {
            break;
        }
        assert!(
            started.elapsed() < LIMIT && v["receivers"][2]["state"] != "done",
            "pc-2 never got halfway: {v}\n{}",
            marrow_tests::process::read_lossy(&vms[2].serial)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let halfway = started.elapsed().as_secs_f64();
    // Power off first: the next boot must not share the disk with it.
    let mut old = vms.remove(2);
    let _ = old.process.child.kill();
    let _ = old.process.child.wait();
    vms.push(start_vm(&lab, 2, &disks[2]));
    for (i, vm) in vms.iter_mut().enumerate() {
        loop {
            if let Ok(Some(_)) = vm.process.child.try_wait() {
                break;
            }
            assert!(
                started.elapsed() < LIMIT,
                "pc-{i} still running: {}\n--- serial ---\n{}\n--- marrow ---\n{}",
                show(&lab, &id),
                marrow_tests::process::read_lossy(&vm.serial),
                lab.marrow_log()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    let room_secs = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(30);
    let v = loop {
        let v = show(&lab, &id);
        if v["state"] != "running" {
            break v;
        }
        assert!(Instant::now() < deadline, "still running: {v}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(v["state"], "done", "{v}\n{}", lab.marrow_log());
    for (i, disk) in disks.iter().enumerate() {
        assert_eq!(v["receivers"][i]["state"], "done", "{v}");
        assert!(
            same_bytes(disk, &reference),
            "pc-{i}'s disk differs from the image\n{}",
            marrow_tests::process::read_lossy(&vms[i].serial)
        );
    }
    // The reset machine's second boot took only what its disk lacked.
    let task: Value = serde_json::from_str(&lab.marrow_cli(&[
        "task",
        "show",
        &v["receivers"][2]["task"].to_string(),
        "--json",
    ]))
    .unwrap();
    let r = &task["report"];
    let second = r["multicast_bytes"].as_u64().unwrap() + r["unicast_bytes"].as_u64().unwrap();
    let whole = v["receivers"][0]["multicast_bytes"].as_u64().unwrap()
        + v["receivers"][0]["unicast_bytes"].as_u64().unwrap();
    assert!(second < whole, "second boot took {second} of {whole}: {r}");
    lab.marrow_cli(&["store", "check"]);
    let mcast: u64 = (0..3)
        .map(|i| v["receivers"][i]["multicast_bytes"].as_u64().unwrap())
        .sum();
    let ucast: u64 = (0..3)
        .map(|i| v["receivers"][i]["unicast_bytes"].as_u64().unwrap())
        .sum();
    eprintln!(
        "measured: 3-VM room {room_secs:.1} s from power-on (reset at {halfway:.1} s), {} MiB sent in {} cycles, multicast share {:.0} %",
        v["sent_bytes"].as_u64().unwrap() >> 20,
        v["cycles"],
        100.0 * mcast as f64 / (mcast + ucast).max(1) as f64
    );
}
