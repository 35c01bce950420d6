//! The whole loop on real firmware under TCG: VMs PXE-boot from `marrow
//! serve` (full DHCP) into the Marrow initramfs, whose client claims its
//! task, picks the disk and captures or restores it through the client API.
//!
//! One scenario in phases, since each phase needs the one before and VM
//! boots are the expensive part:
//! 1. a BIOS VM (SeaBIOS, e1000 iPXE ROM) captures its GPT disk (ESP, ext4,
//!    NTFS with a Windows folder) and powers off; `marrow store check` is
//!    clean;
//! 2. a UEFI VM (OVMF, virtio-net iPXE ROM) with a blank, larger disk is
//!    tasked with a restore that grows the last partition and injects
//!    Windows drivers; it is killed mid-restore, the task stays active, and
//!    its next boot resumes: the report shows less fetched than the image
//!    holds. The disk passes sgdisk -v and the fsck tools, every file
//!    matches, partition 3 is grown, and the netkvm package chosen by the
//!    VM's real virtio-net PCI IDs is on the NTFS volume and named in its
//!    answer file (and nothing else is);
//! 3. a BIOS VM with two identical blank disks and no disk rule refuses to
//!    restore, and the task says why.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use marrow_tests::disks::{
    assert_windows_like_disk, blank, partition_range, sh, tools_missing, windows_like_disk,
};
use marrow_tests::lab::{vm_slot, Lab};
use marrow_tests::qemu::{qemu_available, Firmware, Vm, VmSpec};
use serde_json::Value;

use crate::initramfs_boot::built;

const CAPTURE_MAC: &str = "52:54:00:85:00:01";
const RESTORE_MAC: &str = "52:54:00:85:00:02";
const TWO_DISKS_MAC: &str = "52:54:00:85:00:03";
/// MiB of file data on the ext4 partition: enough for the restore to take
/// a few seconds under TCG, so it can be interrupted.
const DATA_MIB: u64 = 112;
/// A hang guard for one VM run (boot, task, power off), not a timing
/// assertion.
const VM_LIMIT: Duration = Duration::from_secs(600);

fn task(lab: &Lab, args: &[&str]) -> i64 {
    let mut all = vec!["task"];
    all.extend_from_slice(args);
    all.push("--json");
    let v: Value = serde_json::from_str(&lab.marrow_cli(&all)).expect("task JSON");
    v["id"].as_i64().expect("task id")
}

fn task_json(lab: &Lab, id: i64) -> Value {
    serde_json::from_str(&lab.marrow_cli(&["task", "show", &id.to_string(), "--json"])).unwrap()
}

fn disk_arg(path: &Path, serial: &str) -> Vec<String> {
    vec![
        "-drive".into(),
        format!(
            "file={},format=raw,if=none,id={serial},cache=writeback",
            path.display()
        ),
        "-device".into(),
        format!("virtio-blk-pci,drive={serial},serial={serial}"),
    ]
}

fn start_vm(lab: &Lab, firmware: Firmware, nic: &str, mac: &str, disks: &[(&Path, &str)]) -> Vm {
    let tap = lab.tap();
    let mut spec = VmSpec::new(firmware, &tap, mac);
    spec.nic = nic.into();
    spec.memory_mb = 1024;
    for (path, serial) in disks {
        spec.extra.extend(disk_arg(path, serial));
    }
    spec.extra.extend(["-smp".into(), "2".into()]);
    Vm::start(&lab.ns, &spec, lab.dir.path())
}

fn wait_exit(vm: &mut Vm, lab: &Lab) -> String {
    lab.wait_vm_exit(vm, VM_LIMIT)
}

/// Seconds from QEMU start to the client's first line, from the console.
fn client_start(serial: &str, started: Instant, seen: Instant) -> Option<f64> {
    serial
        .contains("marrow-client: ")
        .then(|| seen.duration_since(started).as_secs_f64())
}

fn packages() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../driver-store/tests/data/packages")
}

#[test]
fn vms_capture_then_restore_elsewhere_resume_after_a_kill_and_refuse_two_disks() {
    if let Some(why) = marrow_tests::missing_root()
        .or(qemu_available().err())
        .or_else(tools_missing)
    {
        eprintln!("skipping: {why}");
        return;
    }
    let b = built();
    let _slot = vm_slot();
    let mut lab = Lab::new("10.85.0");
    let boot = lab.data_dir.join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    for f in ["vmlinuz", "initrd.img"] {
        std::fs::copy(b.boot.join(f), boot.join(f)).unwrap();
    }
    lab.start_marrow(&[
        "--dhcp",
        "full",
        "--dhcp-range",
        "10.85.0.100-10.85.0.150",
        "--kernel-args",
        "console=ttyS0,115200 panic=-1",
    ]);
    let dir = lab.dir.path().to_path_buf();

    // 1. Capture on a BIOS machine.
    let source = windows_like_disk(&dir, "source.img", "vm", 320, DATA_MIB);
    let cap = task(
        &lab,
        &[
            "capture",
            "--host",
            CAPTURE_MAC,
            "--image",
            "lab",
            "--after",
            "poweroff",
        ],
    );
    let started = Instant::now();
    let mut vm = start_vm(
        &lab,
        Firmware::Bios,
        "e1000",
        CAPTURE_MAC,
        &[(&source, "SRC0")],
    );
    let serial = wait_exit(&mut vm, &lab);
    let capture_secs = started.elapsed().as_secs_f64();
    let t = task_json(&lab, cap);
    assert_eq!(t["state"], "done", "{t}\n--- serial ---\n{serial}");
    assert!(serial.contains("using disk /dev/vda"), "{serial}");
    // The client took the NIC and lease iPXE passed (BOOTIF=, ip=).
    assert!(
        serial.contains(&format!("({CAPTURE_MAC}) up with 10.85.0."))
            && !serial.contains("asking DHCP"),
        "{serial}"
    );
    let report = &t["report"];
    assert!(report["uploaded_chunks"].as_u64().unwrap() > 0, "{report}");
    lab.marrow_cli(&["store", "check"]);
    let image_bytes = report["uploaded_bytes"].as_u64().unwrap();
    let capture_rate =
        report["read_bytes"].as_f64().unwrap() / report["seconds"].as_f64().unwrap() / 1048576.0;
    // The host's next boot goes to its disk: no task, default local.
    let script = lab.http_get(8080, "/boot.ipxe?mac=52-54-00-85-00-01");
    assert!(
        script.contains("sanboot") && !script.contains("vmlinuz"),
        "{script}"
    );

    // 2. Restore on a UEFI machine with a larger blank disk, with drivers.
    lab.marrow_cli(&[
        "drivers",
        "add",
        packages().to_str().unwrap(),
        "--os",
        "win11-x64",
    ]);
    // After it, the machine is named from its MAC and a script checks,
    // in the client's own shell, what the restore left mounted.
    let script = dir.join("check.sh");
    std::fs::write(
        &script,
        "set -e\necho \"hostname $(cat \"$MARROW_LINUX_ROOT/etc/hostname\")\"\n\
         ls \"$MARROW_WINDOWS/Drivers/marrow\"\necho \"disk $MARROW_DISK\"\n",
    )
    .unwrap();
    lab.marrow_cli(&["script", "add", "vm-check", script.to_str().unwrap()]);
    let target = blank(&dir, "target.img", 400);
    let rest = task(
        &lab,
        &[
            "restore",
            "--host",
            RESTORE_MAC,
            "--image",
            "lab",
            "--grow-last-partition",
            "--inject-drivers",
            "win11-x64",
            "--hostname",
            // 15 characters: the most a Windows computer name takes.
            "vm-{mac}",
            "--post-script",
            "vm-check",
            "--after",
            "poweroff",
        ],
    );
    let restore_vm = |lab: &Lab| {
        start_vm(
            lab,
            Firmware::Uefi,
            "virtio-net-pci",
            RESTORE_MAC,
            &[(&target, "DST0")],
        )
    };
    let started = Instant::now();
    let mut vm = restore_vm(&lab);
    // Kill it once half the image is written: the client flushes its
    // writes every second, so most of that half is on the disk.
    let mut boot_to_client = None;
    loop {
        let t = task_json(&lab, rest);
        assert!(
            matches!(t["state"].as_str(), Some("pending" | "running")),
            "the restore ended before it could be interrupted: {t}"
        );
        if boot_to_client.is_none() {
            let text = marrow_tests::process::read_lossy(&vm.serial);
            boot_to_client = client_start(&text, started, Instant::now());
        }
        let p = &t["progress"];
        if p["phase"] == "restore"
            && p["done_bytes"].as_u64().unwrap_or(0) * 2
                > p["total_bytes"].as_u64().unwrap_or(u64::MAX)
        {
            break;
        }
        assert!(started.elapsed() < VM_LIMIT, "restore never got going: {t}");
        if let Ok(Some(status)) = vm.process.child.try_wait() {
            panic!(
                "VM exited ({status}) before the restore got going\n{}",
                marrow_tests::process::read_lossy(&vm.serial)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(vm);
    assert_eq!(task_json(&lab, rest)["state"], "running");
    let resumed_at = Instant::now();
    let mut vm = restore_vm(&lab);
    let serial = wait_exit(&mut vm, &lab);
    let resume_secs = resumed_at.elapsed().as_secs_f64();
    let t = task_json(&lab, rest);
    assert_eq!(t["state"], "done", "{t}\n--- serial ---\n{serial}");
    let report = &t["report"];
    let fetched = report["fetched_bytes"].as_u64().unwrap();
    let restore_rate =
        report["written_bytes"].as_f64().unwrap() / report["seconds"].as_f64().unwrap() / 1048576.0;
    assert!(
        fetched < image_bytes,
        "the resumed restore fetched {fetched} bytes of an image of {image_bytes}: {report}"
    );
    assert!(report["skipped_bytes"].as_u64().unwrap() > 0, "{report}");
    // The client grew the NTFS volume with the partition, with the
    // initramfs's own ntfsresize and busybox's losetup.
    let grow = &report["filesystem_grow"];
    assert!(grow["fs"] == "ntfs" && grow["grown"] == true, "{report}");
    let ntfs = assert_windows_like_disk(&target, "vm", DATA_MIB);
    let (_, last) = partition_range(&target, 3);
    assert!(
        last > (320u64 << 20) / 512,
        "partition 3 ends at sector {last}"
    );

    // Drivers: exactly the virtio-net package, chosen by the VM's own IDs.
    let drivers = &report["drivers"];
    let injected: Vec<&str> = drivers["injected"]
        .as_array()
        .unwrap_or_else(|| panic!("no driver report: {report}"))
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(injected, ["netkvm-amd64"], "{drivers}");
    let reason = drivers["injected"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("VEN_1AF4&DEV_1000"), "{reason}");
    let listing = sh(&format!(
        "ntfsls --force -p /Drivers/marrow {}",
        ntfs.display()
    ));
    let folders: Vec<&str> = listing
        .lines()
        .map(str::trim)
        .filter(|l| !matches!(*l, "" | "." | ".."))
        .collect();
    assert_eq!(folders, ["netkvm-amd64"], "{listing}");
    let sys = sh(&format!(
        "ntfsls --force -p /Drivers/marrow/netkvm-amd64 {}",
        ntfs.display()
    ));
    assert!(
        sys.contains("netkvm.sys") && sys.contains("netkvm.inf"),
        "{sys}"
    );
    let answer = dir.join("unattend.xml");
    sh(&format!(
        "ntfscat --force {} Windows/Panther/unattend.xml > {}",
        ntfs.display(),
        answer.display()
    ));
    sh(&format!("xmllint --noout {}", answer.display()));
    let xml = std::fs::read_to_string(&answer).unwrap();
    assert!(xml.contains(r"C:\Drivers\marrow"), "{xml}");
    assert!(xml.contains("<SystemLocale>en-US</SystemLocale>"), "{xml}");

    // Post-deploy: the name in both systems, and the script's report.
    let name = format!("vm-{}", RESTORE_MAC.replace(':', ""));
    assert!(
        xml.contains(&format!("<ComputerName>{name}</ComputerName>")),
        "{xml}"
    );
    let root = marrow_tests::disks::partition(&target, 2);
    let etc = sh(&format!(
        "debugfs -R 'cat /etc/hostname' {} 2>/dev/null",
        root.display()
    ));
    assert_eq!(etc, format!("{name}\n"));
    let post = &report["post_script"];
    assert_eq!(post["exit_code"], 0, "{report}\n--- serial ---\n{serial}");
    let output = post["output"].as_str().unwrap();
    assert!(
        output.contains(&format!("hostname {name}\n"))
            && output.contains("netkvm-amd64")
            && output.contains("disk /dev/"),
        "{output}"
    );
    // The inventory the client reported drives `drivers match --host`.
    let matched: Value = serde_json::from_str(&lab.marrow_cli(&[
        "drivers",
        "match",
        "--host",
        RESTORE_MAC,
        "--os",
        "win11-x64",
        "--json",
    ]))
    .unwrap();
    let with_candidates: Vec<&Value> = matched["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d["candidates"].as_array().unwrap().is_empty())
        .collect();
    assert_eq!(with_candidates.len(), 1, "{matched}");
    assert!(with_candidates[0]["hardware_ids"][0]
        .as_str()
        .unwrap()
        .starts_with(r"PCI\VEN_1AF4&DEV_1000"));

    // 3. Two identical disks and no rule: refused, and the task says why.
    let d1 = blank(&dir, "twin1.img", 64);
    let d2 = blank(&dir, "twin2.img", 64);
    let twin = task(
        &lab,
        &[
            "restore",
            "--host",
            TWO_DISKS_MAC,
            "--image",
            "lab",
            "--after",
            "poweroff",
        ],
    );
    let mut vm = start_vm(
        &lab,
        Firmware::Bios,
        "e1000",
        TWO_DISKS_MAC,
        &[(&d1, "TWIN1"), (&d2, "TWIN2")],
    );
    let serial = wait_exit(&mut vm, &lab);
    let t = task_json(&lab, twin);
    assert_eq!(t["state"], "failed", "{t}\n{serial}");
    let error = t["error"].as_str().unwrap();
    assert!(
        error.contains("2 disks match the only internal disk"),
        "{error}"
    );
    assert!(error.contains("vda") && error.contains("vdb"), "{error}");
    let follow = std::process::Command::new(marrow_tests::workspace_bin("marrow"))
        .arg("--data-dir")
        .arg(&lab.data_dir)
        .args(["task", "show", &twin.to_string(), "--follow"])
        .output()
        .unwrap();
    assert!(
        !follow.status.success(),
        "following a failed task exits non-zero"
    );
    assert!(
        String::from_utf8_lossy(&follow.stderr).contains("ended failed: 2 disks match"),
        "{}",
        String::from_utf8_lossy(&follow.stderr)
    );
    for d in [&d1, &d2] {
        assert!(
            sh(&format!("cmp -n 1048576 {} /dev/zero || true", d.display())).is_empty(),
            "{} was written to",
            d.display()
        );
    }

    eprintln!(
        "measured: BIOS capture VM {capture_secs:.0} s start to power-off, client capture {capture_rate:.1} MiB/s of used blocks; UEFI resumed restore VM {resume_secs:.0} s, client restore {restore_rate:.1} MiB/s written; QEMU start to client {}; image {image_bytes} bytes stored, resumed restore fetched {fetched}",
        boot_to_client.map_or("?".into(), |s| format!("{s:.1} s"))
    );
}
