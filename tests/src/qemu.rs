//! QEMU runner for PXE scenarios: BIOS (`pc`, SeaBIOS) or UEFI (`q35`,
//! OVMF), a NIC on a tap, the serial console in a log file, killed on drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::netns::Netns;
use crate::process::{wait_for_text, Guarded};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    /// `-machine pc` with SeaBIOS; serial carries SeaBIOS and iPXE output.
    Bios,
    /// `-machine q35` with OVMF (a fresh copy of the variable store).
    Uefi,
    /// OVMF's Secure Boot build with Microsoft's keys enrolled and Secure
    /// Boot on (`OVMF_CODE_4M.secboot.fd`, `OVMF_VARS_4M.ms.fd`), which
    /// needs SMM and a secure pflash (peers notes).
    UefiSecureBoot,
}

/// The Secure Boot firmware pair, when the `ovmf` package ships it.
pub fn secure_boot_firmware() -> Result<(), String> {
    for f in [
        "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.ms.fd",
    ] {
        if !Path::new(f).is_file() {
            return Err(format!("{f} missing (package ovmf)"));
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct VmSpec {
    pub firmware: Firmware,
    /// QEMU NIC model: `e1000`, `e1000e`, `virtio-net-pci,disable-legacy=on`.
    pub nic: String,
    /// Option ROM; `Some("")` disables it (OVMF then uses its own PXE).
    pub romfile: Option<String>,
    pub mac: String,
    pub tap: String,
    pub memory_mb: u32,
    /// Extra arguments (disks, `-uuid`, …).
    pub extra: Vec<String>,
}

impl VmSpec {
    pub fn new(firmware: Firmware, tap: &str, mac: &str) -> Self {
        VmSpec {
            firmware,
            nic: "e1000".into(),
            romfile: None,
            mac: mac.into(),
            tap: tap.into(),
            memory_mb: 384,
            extra: Vec::new(),
        }
    }
}

pub fn qemu_available() -> Result<(), String> {
    if !Path::new("/usr/bin/qemu-system-x86_64").exists() {
        return Err(
            "qemu-system-x86_64 is not installed (scripts/install-deps installs it)".into(),
        );
    }
    Ok(())
}

/// Console lines after which a network boot will not succeed: iPXE has
/// tried every NIC, SeaBIOS has no device left, or the kernel died.
const FIRMWARE_GAVE_UP: &[&str] = &[
    "No more network devices",
    "No bootable device",
    "Kernel panic",
];

pub struct Vm {
    pub process: Guarded,
    pub serial: PathBuf,
}

impl Vm {
    /// Starts the VM inside `ns`; `dir` holds its serial log and firmware vars.
    pub fn start(ns: &Netns, spec: &VmSpec, dir: &Path) -> Vm {
        let serial = dir.join(format!("serial-{}.log", spec.tap));
        let mut cmd: Command = ns.command("qemu-system-x86_64");
        // TCG: KVM guests do not run on these machines (pxe-lab notes).
        cmd.args([
            "-accel",
            "tcg,thread=multi",
            "-cpu",
            "max",
            "-m",
            &spec.memory_mb.to_string(),
        ]);
        cmd.args([
            "-nodefaults",
            "-vga",
            "none",
            "-display",
            "none",
            "-no-reboot",
        ]);
        cmd.arg("-serial").arg(format!("file:{}", serial.display()));
        match spec.firmware {
            Firmware::Bios => {
                cmd.args(["-machine", "pc,graphics=off"]);
            }
            Firmware::Uefi | Firmware::UefiSecureBoot => {
                let secure = spec.firmware == Firmware::UefiSecureBoot;
                let (code, vars_file) = if secure {
                    ("OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd")
                } else {
                    ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd")
                };
                let vars = dir.join(format!("OVMF_VARS-{}.fd", spec.tap));
                std::fs::copy(format!("/usr/share/OVMF/{vars_file}"), &vars)
                    .unwrap_or_else(|e| panic!("copy {vars_file}: {e}"));
                if secure {
                    cmd.args(["-machine", "q35,smm=on"]);
                    cmd.args(["-global", "driver=cfi.pflash01,property=secure,value=on"]);
                } else {
                    cmd.args(["-machine", "q35"]);
                }
                cmd.arg("-drive").arg(format!(
                    "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/{code}"
                ));
                cmd.arg("-drive").arg(format!(
                    "if=pflash,format=raw,unit=1,file={}",
                    vars.display()
                ));
            }
        }
        cmd.arg("-netdev").arg(format!(
            "tap,id=n0,ifname={},script=no,downscript=no",
            spec.tap
        ));
        let mut dev = format!("{},netdev=n0,mac={},bootindex=1", spec.nic, spec.mac);
        if let Some(rom) = &spec.romfile {
            dev.push_str(&format!(",romfile={rom}"));
        }
        cmd.arg("-device").arg(dev);
        cmd.args(&spec.extra);
        let log = dir.join(format!("qemu-{}.log", spec.tap));
        Vm {
            process: Guarded::spawn("qemu", cmd, &log),
            serial,
        }
    }

    /// Waits for `marker` on the serial console; panics with the console
    /// and QEMU's own output when QEMU exits first or `limit` passes.
    pub fn wait_for_serial(&mut self, marker: &str, limit: Duration) -> String {
        let process = &mut self.process;
        let serial = self.serial.clone();
        let result = wait_for_text(&self.serial, marker, limit, || {
            if let Ok(Some(status)) = process.child.try_wait() {
                return Some(format!("qemu exited with {status}"));
            }
            // Firmware that has given up will not boot later: fail now
            // rather than at the limit.
            let text = crate::process::read_lossy(&serial);
            FIRMWARE_GAVE_UP
                .iter()
                .find(|s| text.contains(**s))
                .map(|s| format!("the firmware gave up ({s:?})"))
        });
        match result {
            Ok(text) => text,
            Err(why) => panic!(
                "{why}\n--- serial ---\n{}\n--- qemu ---\n{}",
                crate::process::read_lossy(&self.serial),
                self.process.log_text()
            ),
        }
    }
}
