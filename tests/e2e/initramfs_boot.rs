//! The initramfs, built by `marrow initramfs build` from Debian's kernel
//! package, boots under QEMU (TCG, no firmware PXE: `-kernel`/`-initrd`)
//! with the static `marrow-client` as PID 1, which loads the virtio, e1000,
//! xHCI and usb-storage drivers by modalias, configures the boot NIC from
//! `ip=` and `BOOTIF=` (or by DHCP without them), prints its inventory and
//! powers off; when it fails it offers the rescue shell (in which ntfs-3g
//! and vfat mount and write), then reboots. A second build from the same
//! inputs gives the same bytes.
//!
//! The VM's NICs use QEMU's user network with `restrict=on`: nothing the
//! guest sends leaves the QEMU process.

use marrow_tests::lab::vm_slot;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The static client is built for this triple, as scripts/build-initramfs does.
const CLIENT_TARGET: &str = "x86_64-unknown-linux-gnu";
/// Generous: TCG on two shared cores. The boot takes about 10 s alone.
const BOOT_LIMIT: Duration = Duration::from_secs(300);
const BOOT_MAC: &str = "52:54:00:12:34:56";
const OTHER_MAC: &str = "52:54:00:65:43:21";

/// target/<profile>/deps/e2e-<hash> → target
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .nth(3)
        .expect("target dir above the test binary")
        .to_owned()
}

fn cargo(args: &[&str], envs: &[(&str, &str)]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(args)
        .envs(envs.iter().copied())
        .env("CARGO_TARGET_DIR", target_dir())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap_or_else(|e| panic!("{cargo} {args:?}: {e}"));
    assert!(status.success(), "{cargo} {args:?} failed");
}

/// `marrow` (debug, as the test suite builds it) and the static release
/// `marrow-client`, built or brought up to date once per run: cargo does
/// nothing when they are current, and a stale client would test old code.
pub(crate) fn binaries() -> (PathBuf, PathBuf) {
    static BINARIES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BINARIES
        .get_or_init(|| {
            cargo(&["build", "-p", "marrow-server", "--bin", "marrow"], &[]);
            cargo(
                &[
                    "build",
                    "--release",
                    "-p",
                    "marrow-client",
                    "--target",
                    CLIENT_TARGET,
                ],
                &[("RUSTFLAGS", "-C target-feature=+crt-static")],
            );
            let target = target_dir();
            (
                target.join("debug/marrow"),
                target.join(CLIENT_TARGET).join("release/marrow-client"),
            )
        })
        .clone()
}

/// Downloaded kernel packages outlive the test run (and the checkout), so
/// a rerun does not fetch 70 MB again.
pub(crate) fn kernel_cache() -> PathBuf {
    std::env::var_os("MARROW_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/marrow-test"))
        .join("initramfs-kernel")
}

fn build(
    marrow: &Path,
    client: &Path,
    data_dir: &Path,
    extra: &[&std::ffi::OsStr],
) -> serde_json::Value {
    let out = Command::new(marrow)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["initramfs", "build", "--json", "--client"])
        .arg(client)
        .arg("--cache-dir")
        .arg(kernel_cache())
        .args(extra)
        .output()
        .expect("run marrow initramfs build");
    assert!(
        out.status.success(),
        "marrow initramfs build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "quiet in a pipe, yet wrote: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("build report is JSON")
}

/// One build shared by the scenarios of this file, made once per run.
pub(crate) struct Built {
    pub(crate) marrow: PathBuf,
    pub(crate) client: PathBuf,
    pub(crate) boot: PathBuf,
    report: serde_json::Value,
}

pub(crate) fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let (marrow, client) = binaries();
        let data = target_dir().join("marrow-e2e-initramfs");
        let _ = std::fs::remove_dir_all(&data);
        let report = build(&marrow, &client, &data, &[]);
        Built {
            marrow,
            client,
            boot: data.join("boot"),
            report,
        }
    })
}

/// QEMU booting the built kernel and initramfs directly (no firmware PXE)
/// with `append` as the command line and a virtio NIC with `BOOT_MAC` on a
/// restricted user network; callers add the console and the rest.
fn direct_boot(b: &Built, append: &str) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-accel", "tcg,thread=multi", "-cpu", "max", "-m", "512"])
        .args([
            "-nodefaults",
            "-display",
            "none",
            "-vga",
            "none",
            "-no-reboot",
        ])
        .arg("-kernel")
        .arg(b.boot.join("vmlinuz"))
        .arg("-initrd")
        .arg(b.boot.join("initrd.img"))
        .args(["-append", append])
        .args(["-netdev", "user,id=n0,restrict=on"])
        .args([
            "-device",
            &format!("virtio-net-pci,netdev=n0,mac={BOOT_MAC}"),
        ]);
    cmd
}

/// Kills QEMU if the test fails before it powers off.
struct Vm(Child);

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serial(log: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(log) {
        let mut bytes = Vec::new();
        let _ = f.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

fn machine_ready() -> Result<(), String> {
    if Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_err()
    {
        return Err(
            "qemu-system-x86_64 is not installed (scripts/install-deps installs it)".into(),
        );
    }
    for tool in ["apt-get", "dpkg", "depmod", "modinfo", "ldd"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map_or(true, |o| !o.status.success())
        {
            return Err(format!("{tool} is not installed (scripts/install-deps installs kmod; dpkg and apt come with Debian)"));
        }
    }
    Ok(())
}

#[test]
fn initramfs_build_fits_the_budget_carries_the_modules_and_is_reproducible() {
    if let Err(why) = machine_ready() {
        eprintln!("skipped: {why}");
        return;
    }
    let b = built();
    let report = &b.report;
    let initrd = b.boot.join("initrd.img");
    let size = std::fs::metadata(&initrd).unwrap().len();
    assert_eq!(report["initrd_bytes"].as_u64(), Some(size));
    assert!(
        size <= 40 * 1024 * 1024,
        "initramfs is {size} bytes, over 40 MB"
    );
    let kver = report["kernel_version"].as_str().unwrap();
    assert!(kver.starts_with("6.1."), "{kver}");
    let modules: Vec<&str> = report["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    // The named examples of the fleet's hardware are carried.
    for m in [
        // NICs: the first list, then Intel igc/i40e/ice, the USB dongles,
        // the other vendors and the hypervisors'.
        "e1000",
        "e1000e",
        "igb",
        "ixgbe",
        "r8169",
        "tg3",
        "bnxt_en",
        "virtio_net",
        "igc",
        "i40e",
        "ice",
        "r8152",
        "asix",
        "ax88179_178a",
        "cdc_ether",
        "cdc_ncm",
        "atlantic",
        "alx",
        "atl1c",
        "bnx2",
        "bnx2x",
        "mlx4_en",
        "mlx5_core",
        "sky2",
        "hv_netvsc",
        "vmxnet3",
        "xen_netfront",
        // Storage: the first list, then RAID/HBA, eMMC, UAS, the hypervisors'.
        "ahci",
        "nvme",
        "virtio_blk",
        "virtio_scsi",
        "sd_mod",
        "usb_storage",
        "mpt3sas",
        "megaraid_sas",
        "smartpqi",
        "hpsa",
        "sdhci_pci",
        "mmc_block",
        "uas",
        "hv_storvsc",
        "vmw_pvscsi",
        // The rescue shell's keyboard, filesystems, buses.
        "usbhid",
        "hid_generic",
        "xhci_pci",
        "ext4",
        "vfat",
        "fuse",
        "virtio_pci",
    ] {
        assert!(modules.contains(&m), "{m} missing");
    }
    // Selection is by tree: every module of the kernel under a listed tree
    // is carried, but for the deny list.
    let deb = std::path::Path::new(report["kernel_deb"].as_str().unwrap());
    let stem = deb.file_stem().unwrap().to_string_lossy().into_owned();
    let dep_file = kernel_cache()
        .join("unpacked")
        .join(stem)
        .join(format!("lib/modules/{kver}/modules.dep"));
    let dep = std::fs::read_to_string(&dep_file)
        .unwrap_or_else(|e| panic!("{}: {e}", dep_file.display()));
    let mut under_trees = 0;
    for line in dep.lines() {
        let path = line.split(':').next().unwrap();
        let rel = path.trim_start_matches("kernel/");
        let listed = marrow_initramfs::MODULE_TREES.iter().any(|t| {
            if t.ends_with(".ko") {
                rel.split(".ko").next() == t.split(".ko").next()
            } else {
                rel.starts_with(&format!("{t}/"))
            }
        });
        let file = rel.rsplit('/').next().unwrap();
        let name = file.split(".ko").next().unwrap().replace('-', "_");
        // A deny entry is a module name, or a tree when it has a '/'.
        let denied = marrow_initramfs::DENY_MODULES.iter().any(|d| {
            if d.contains('/') {
                rel.starts_with(&format!("{d}/"))
            } else {
                d.replace('-', "_") == name
            }
        });
        if listed && !denied {
            under_trees += 1;
            assert!(
                modules.contains(&name.as_str()),
                "{path} is under a listed tree but not carried"
            );
        }
    }
    assert!(
        under_trees > 500,
        "only {under_trees} modules under the trees?"
    );
    for denied in marrow_initramfs::DENY_MODULES {
        let denied = denied.replace('-', "_");
        assert!(!modules.contains(&denied.as_str()), "{denied} is carried");
    }
    // A denied tree is not selected, though a carried module may still
    // need part of it (lpfc needs nvmet_fc).
    for m in ["nvmet_tcp", "nvmet_rdma", "nvme_loop"] {
        assert!(
            !modules.contains(&m),
            "{m} of the denied NVMe target tree is carried"
        );
    }
    // The families carried are a golden: a change to them is deliberate.
    // UPDATE_GOLDEN=1 rewrites it after a reviewed change.
    let families: Vec<&str> = report["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    let golden =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/data/initramfs-families.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(
            &golden,
            families
                .iter()
                .map(|f| format!("{f}\n"))
                .collect::<String>(),
        )
        .unwrap();
    }
    let want = std::fs::read_to_string(&golden).unwrap();
    assert_eq!(
        families,
        want.lines().collect::<Vec<_>>(),
        "the families carried changed; review, then UPDATE_GOLDEN=1"
    );

    // What is inside, as `marrow initramfs inspect --json` lists it.
    let out = Command::new(&b.marrow)
        .args(["initramfs", "inspect", "--json", "--initrd"])
        .arg(&initrd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inspected: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = inspected["entries"].as_array().unwrap();
    // The firmware wanted but missing is listed by inspect as the build
    // reported it.
    assert_eq!(inspected["firmware_missing"], report["firmware_missing"]);
    let find = |path: &str| {
        entries
            .iter()
            .find(|e| e["path"] == path)
            .unwrap_or_else(|| panic!("{path} not in initramfs"))
    };
    assert_eq!(
        find("init")["size"],
        std::fs::metadata(&b.client).unwrap().len()
    );
    assert_eq!(find("dev/console")["target"], "5:1");
    assert_eq!(find("usr/bin/ntfs-3g")["kind"], "file");
    assert_eq!(find("lib64/ld-linux-x86-64.so.2")["kind"], "file");
    assert_eq!(
        find(&format!(
            "lib/modules/{kver}/kernel/drivers/virtio/virtio_pci.ko"
        ))["kind"],
        "file"
    );
    assert_eq!(
        find(&format!("lib/modules/{kver}/modules.alias"))["kind"],
        "file"
    );

    // Firmware the report says it carries is in the archive.
    for fw in report["firmware_included"].as_array().unwrap() {
        find(&format!("lib/firmware/{}", fw.as_str().unwrap()));
    }
    for missing in report["firmware_missing"].as_array().unwrap() {
        assert!(
            modules.contains(&missing["module"].as_str().unwrap()),
            "{missing}"
        );
    }

    // Reproducible: the same inputs, built again elsewhere from the .deb
    // the first build fetched (`--kernel-deb`), give the same bytes.
    let dir = tempfile::tempdir().unwrap();
    let deb = std::path::PathBuf::from(report["kernel_deb"].as_str().unwrap());
    let again = build(
        &b.marrow,
        &b.client,
        dir.path(),
        &["--kernel-deb".as_ref(), deb.as_os_str()],
    );
    assert_eq!(again["kernel_deb"], report["kernel_deb"]);
    assert_eq!(again["initrd_blake3"], report["initrd_blake3"]);
    assert!(
        std::fs::read(&initrd).unwrap()
            == std::fs::read(dir.path().join("boot/initrd.img")).unwrap()
    );
    assert!(
        std::fs::read(b.boot.join("vmlinuz")).unwrap()
            == std::fs::read(dir.path().join("boot/vmlinuz")).unwrap()
    );
    eprintln!(
        "measured: initramfs {size} bytes compressed ({} unpacked), {} modules in {} families, kernel {kver}",
        report["archive_bytes"],
        modules.len(),
        families.len()
    );
}

#[test]
fn initramfs_boots_the_client_as_pid_1_which_loads_drivers_configures_the_nic_and_reports_inventory(
) {
    if let Err(why) = machine_ready() {
        eprintln!("skipped: {why}");
        return;
    }
    let b = built();
    // TCG boots on two cores starve each other: one VM scenario at a time.
    let _slot = vm_slot();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serial.log");
    let disk = dir.path().join("disk.img");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let stick = dir.path().join("stick.img");
    std::fs::File::create(&stick)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let append = format!(
        "console=ttyS0 ip=10.0.2.15::10.0.2.1:255.255.255.0 BOOTIF=01-{} marrow.inventory-only=1",
        BOOT_MAC.replace(':', "-")
    );
    let started = Instant::now();
    let mut vm = Vm(direct_boot(b, &append)
        .arg("-serial")
        .arg(format!("file:{}", log.display()))
        .args(["-netdev", "user,id=n1,restrict=on"])
        .args(["-device", &format!("e1000,netdev=n1,mac={OTHER_MAC}")])
        .arg("-drive")
        .arg(format!("file={},format=raw,if=none,id=d0", disk.display()))
        .args(["-device", "virtio-blk-pci,drive=d0,serial=MARROW-E2E-DISK"])
        .args(["-device", "qemu-xhci,id=xhci"])
        .arg("-drive")
        .arg(format!("file={},format=raw,if=none,id=s0", stick.display()))
        .args([
            "-device",
            "usb-storage,bus=xhci.0,drive=s0,serial=MARROW-E2E-STICK,removable=on",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qemu"));

    let mut client_start = None;
    let status = loop {
        if client_start.is_none() && serial(&log).contains("started as PID 1") {
            client_start = Some(started.elapsed());
        }
        if let Some(status) = vm.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < BOOT_LIMIT,
            "VM still running after {BOOT_LIMIT:?}; serial log:\n{}",
            serial(&log)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let total = started.elapsed();
    let text = serial(&log);
    let mut qemu_err = String::new();
    vm.0.stderr
        .take()
        .unwrap()
        .read_to_string(&mut qemu_err)
        .unwrap();
    assert!(
        status.success(),
        "qemu exited with {status}: {qemu_err}\nserial log:\n{text}"
    );

    let client_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("marrow-client: "))
        .collect();
    let has = |needle: &str| client_lines.iter().any(|l| l.contains(needle));
    assert!(has("started as PID 1 at"), "no client start in:\n{text}");
    assert!(
        has("loaded module virtio_pci (modalias pci:v00001AF4d00001000"),
        "{text}"
    );
    assert!(
        has("loaded module virtio_net (modalias virtio:d00000001v00001AF4)"),
        "{text}"
    );
    assert!(
        has("loaded module virtio_blk (modalias virtio:d00000002v00001AF4)"),
        "{text}"
    );
    assert!(
        has("loaded module e1000 (modalias pci:v00008086d0000100E"),
        "{text}"
    );
    assert!(
        has("loaded module ext4 (listed in /etc/marrow/modules)"),
        "{text}"
    );
    assert!(
        has("loaded module xhci_pci (modalias pci:v00001B36d0000000D"),
        "{text}"
    );
    // uas claims bulk-only disks too (they may offer a UAS setting), and
    // needs usb_storage, so either may be the one the alias loads.
    assert!(
        has("loaded module usb_storage (modalias usb:v46F4p0001")
            || (has("loaded module uas (modalias usb:v46F4p0001")
                && has("loaded module usb_storage (needed by uas)")),
        "{text}"
    );
    assert!(has("loaded module sd_mod (modalias scsi:t-0x00)"), "{text}");
    assert!(
        has(&format!(
            "network: eth0 ({BOOT_MAC}) up with 10.0.2.15/24, default route via 10.0.2.1"
        )) || has(&format!(
            "network: eth1 ({BOOT_MAC}) up with 10.0.2.15/24, default route via 10.0.2.1"
        )),
        "the BOOTIF NIC was not configured:\n{text}"
    );
    assert!(
        has("inventory only (marrow.inventory-only): powering off"),
        "{text}"
    );
    assert!(!has("could not load module"), "{text}");

    let begin = text
        .find("--- marrow inventory begin ---")
        .expect("inventory start marker");
    let end = text
        .find("--- marrow inventory end ---")
        .expect("inventory end marker");
    let inventory: serde_json::Value = serde_json::from_str(
        text[begin..end]
            .lines()
            .nth(1)
            .expect("inventory line")
            .trim(),
    )
    .expect("inventory JSON");
    let pci_ids: Vec<String> = inventory["pci"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}:{}",
                p["vendor"].as_str().unwrap(),
                p["device"].as_str().unwrap()
            )
        })
        .collect();
    for id in ["1af4:1000", "1af4:1001", "8086:100e", "1b36:000d"] {
        assert!(
            pci_ids.contains(&id.to_string()),
            "{id} missing from {pci_ids:?}"
        );
    }
    let disks = inventory["disks"].as_array().unwrap();
    assert_eq!(disks.len(), 2, "{disks:?}");
    let vda = disks
        .iter()
        .find(|d| d["name"] == "vda")
        .expect("virtio disk");
    assert_eq!(vda["serial"], "MARROW-E2E-DISK");
    assert_eq!(vda["size_bytes"], 64u64 << 20);
    assert_eq!(vda["usb"], false);
    let sda = disks
        .iter()
        .find(|d| d["name"] == "sda")
        .expect("USB stick");
    assert_eq!(sda["size_bytes"], 16u64 << 20);
    assert_eq!(sda["usb"], true, "{sda}");
    assert_eq!(sda["removable"], true, "{sda}");
    let usb: Vec<String> = inventory["usb"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            format!(
                "{}:{}",
                u["vendor"].as_str().unwrap(),
                u["product"].as_str().unwrap()
            )
        })
        .collect();
    assert!(usb.contains(&"46f4:0001".to_string()), "{usb:?}");
    let nics = inventory["nics"].as_array().unwrap();
    let drivers: Vec<&str> = nics.iter().map(|n| n["driver"].as_str().unwrap()).collect();
    assert_eq!(nics.len(), 2, "{nics:?}");
    assert!(
        drivers.contains(&"virtio_net") && drivers.contains(&"e1000"),
        "{drivers:?}"
    );
    assert_eq!(inventory["dmi"]["sys_vendor"], "QEMU");

    // Figures for the report, not assertions: TCG speed varies with load.
    eprintln!(
        "measured: QEMU start to client start {:.1} s, to power-off {:.1} s (TCG)",
        client_start.expect("client start seen").as_secs_f64(),
        total.as_secs_f64()
    );
}

#[test]
fn client_without_ip_uses_dhcp_and_on_failure_gives_a_rescue_shell_that_mounts_ntfs_and_fat() {
    if let Err(why) = machine_ready() {
        eprintln!("skipped: {why}");
        return;
    }
    let b = built();
    // TCG boots on two cores starve each other: one VM scenario at a time.
    let _slot = vm_slot();
    // Two small disks for the shell to mount: NTFS through ntfs-3g and fuse
    // (Debian 12's kernel has no ntfs3), FAT through vfat and its NLS tables.
    let dir = tempfile::tempdir().unwrap();
    let ntfs = dir.path().join("ntfs.img");
    let fat = dir.path().join("fat.img");
    for (img, mkfs) in [
        (&ntfs, &["mkntfs", "-F", "-Q", "-q"][..]),
        (&fat, &["mkfs.vfat"][..]),
    ] {
        std::fs::File::create(img)
            .unwrap()
            .set_len(16 << 20)
            .unwrap();
        let out = Command::new(mkfs[0])
            .args(&mkfs[1..])
            .arg(img)
            .output()
            .expect("mkfs");
        assert!(
            out.status.success(),
            "{mkfs:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // No marrow.inventory-only and no task on the command line: after the
    // inventory the client has nothing to do, and must fail over to the
    // shell instead of exiting (which would panic the kernel). No ip=: the
    // client asks QEMU's built-in DHCP server (10.0.2.2).
    let mut vm = Vm(direct_boot(b, "console=ttyS0")
        .args(["-serial", "stdio"])
        .arg("-drive")
        .arg(format!("file={},format=raw,if=virtio", ntfs.display()))
        .arg("-drive")
        .arg(format!("file={},format=raw,if=virtio", fat.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start qemu"));
    let console = Arc::new(Mutex::new(String::new()));
    let mut stdout = vm.0.stdout.take().unwrap();
    let sink = Arc::clone(&console);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let started = Instant::now();
    let wait_for = |needle: &str| {
        while !console.lock().unwrap().contains(needle) {
            assert!(
                started.elapsed() < BOOT_LIMIT,
                "no {needle:?} on the console:\n{}",
                console.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for("press Enter within 300 s for a rescue shell");
    vm.0.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    wait_for("starting a rescue shell on the console");
    let text = console.lock().unwrap().clone();
    assert!(
        text.contains("network: DHCP server 10.0.2.2 leased 10.0.2.15/24"),
        "no DHCP lease:\n{text}"
    );
    // QEMU's DHCP server sends no router option under restrict=on, so
    // the lease has no default route.
    assert!(
        text.contains(&format!("network: eth0 ({BOOT_MAC}) up with 10.0.2.15/24")),
        "leased address not configured:\n{text}"
    );
    assert!(
        text.contains("boot failed: no task on the kernel command line"),
        "the failure is named on the console:\n{text}"
    );
    // The shell answers on the serial console; exiting it reboots, which
    // QEMU (-no-reboot) turns into a clean exit.
    // The console echoes what is typed, so the markers to wait for are
    // computed by the shell ($((…))), never typed literally.
    let script = "mkdir -p /mnt/n /mnt/f; \
        ntfs-3g /dev/vda /mnt/n && echo NTFS-$((40+2)) > /mnt/n/hello.txt && cat /mnt/n/hello.txt; umount /mnt/n; \
        mount -t vfat /dev/vdb /mnt/f && echo FAT-$((40+2)) > /mnt/f/hello.txt && cat /mnt/f/hello.txt; umount /mnt/f; \
        echo RESCUE-$((6*7)); exit\n";
    vm.0.stdin
        .as_mut()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    wait_for("RESCUE-42");
    let text = console.lock().unwrap().clone();
    assert!(
        text.contains("NTFS-42"),
        "ntfs-3g did not mount and write:\n{text}"
    );
    assert!(
        text.contains("FAT-42"),
        "vfat did not mount and write:\n{text}"
    );
    let status = loop {
        if let Some(status) = vm.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < BOOT_LIMIT,
            "no reboot after the shell exited:\n{}",
            console.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "qemu exited with {status}");

    // What the guest wrote is on the disks, read back with the host's tools.
    let ntfscat = Command::new("ntfscat")
        .arg(&ntfs)
        .arg("hello.txt")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&ntfscat.stdout), "NTFS-42\n");
    let mtype = Command::new("mtype")
        .arg("-i")
        .arg(&fat)
        .arg("::hello.txt")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&mtype.stdout).replace('\r', ""),
        "FAT-42\n"
    );
}

#[test]
fn build_without_a_static_client_or_busybox_says_what_to_do() {
    let (marrow, client) = binaries();
    let dir = tempfile::tempdir().unwrap();
    // A copy of marrow with no client beside it or in a target tree above.
    let lonely = dir.path().join("bin/marrow");
    std::fs::create_dir_all(lonely.parent().unwrap()).unwrap();
    std::fs::copy(&marrow, &lonely).unwrap();
    let out = Command::new(&lonely)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["initramfs", "build"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no static marrow-client found") && err.contains("scripts/build-initramfs"),
        "{err}"
    );

    // The dev build of the client is dynamically linked: refused by name.
    let dynamic = dir.path().join("bin/marrow-client");
    std::fs::copy(&marrow, &dynamic).unwrap();
    let out = Command::new(&lonely)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["initramfs", "build", "--client"])
        .arg(&dynamic)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{} is dynamically linked", dynamic.display())),
        "{err}"
    );

    // A missing input is named with what to do about it.
    let out = Command::new(&lonely)
        .arg("--data-dir")
        .arg(dir.path())
        .args([
            "initramfs",
            "build",
            "--busybox",
            "/nonexistent/busybox",
            "--client",
        ])
        .arg(&client)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("busybox not found at /nonexistent/busybox: install busybox-static"),
        "{err}"
    );
    assert!(
        !dir.path().join("boot/initrd.img").exists(),
        "nothing is written on failure"
    );
}

#[test]
fn an_exclusion_that_matches_no_carried_module_is_refused_by_name() {
    if let Err(why) = machine_ready() {
        eprintln!("skipped: {why}");
        return;
    }
    let b = built();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(&b.marrow)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["initramfs", "build", "--exclude-module", "e100O"])
        .args(["--exclude-module", "drivers/net/ethernet/intel"])
        .arg("--client")
        .arg(&b.client)
        .arg("--cache-dir")
        .arg(kernel_cache())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // The typo is named; the tree, which matches, is not.
    assert!(
        err.contains("carries no module e100O that could be left out"),
        "{err}"
    );
    assert!(
        !dir.path().join("boot/initrd.img").exists(),
        "nothing is written on failure"
    );
}
