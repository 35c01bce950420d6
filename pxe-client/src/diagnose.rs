//! A failure that explains itself: when no NIC comes up, or no disk is
//! there to image, the console (and, where the network works, the task)
//! says which devices the machine has, their IDs, whether a driver bound,
//! which module of this initramfs would claim them, and what firmware is
//! missing, in words a technician at the machine can act on.
//!
//! The judgement is pure ([`findings`], [`render`]); [`Devices::read`]
//! gathers what it needs from sysfs, the kernel log and the initramfs.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::modload::ModuleIndex;

/// The two device kinds a task needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Network,
    Storage,
}

impl Need {
    fn noun(self) -> &'static str {
        match self {
            Need::Network => "network",
            Need::Storage => "storage",
        }
    }
}

/// One PCI device or USB interface, as sysfs shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// `pci 0000:00:03.0` or `usb 1-1:1.0`.
    pub place: String,
    /// `8086:100e`, with the subsystem for PCI: `8086:100e 1af4:1100`.
    pub ids: String,
    /// PCI class (`020000`) or USB interface class (`0a`), hex.
    pub class: String,
    pub bus: Bus,
    pub driver: Option<String>,
    pub modalias: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bus {
    Pci,
    Usb,
}

impl Device {
    /// Whether the device is of the kind `need` is about: PCI class 02
    /// (network) or 01 (mass storage); USB interface class 02/0a
    /// (communications, CDC data) or 08 (mass storage), and vendor-specific
    /// (ff) interfaces, which many USB NICs are.
    fn is(&self, need: Need) -> bool {
        let class = self.class.as_str();
        match (self.bus, need) {
            (Bus::Pci, Need::Network) => class.starts_with("02"),
            (Bus::Pci, Need::Storage) => class.starts_with("01"),
            (Bus::Usb, Need::Network) => matches!(class, "02" | "0a" | "ff"),
            (Bus::Usb, Need::Storage) => class == "08",
        }
    }
}

/// What the client knows of one device of the needed kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub device: Device,
    /// Modules of this initramfs whose aliases claim the device.
    pub modules: Vec<String>,
    /// Firmware those modules asked for that the initramfs lacks.
    pub missing_firmware: Vec<String>,
}

/// The devices of the needed kind, each with the modules that would claim
/// it and the firmware they miss. `missing` pairs modules with firmware
/// files this initramfs lacks; `requested` are the firmware files the
/// kernel log shows a failed load of.
pub fn findings(
    devices: &[Device],
    need: Need,
    claimers: &dyn Fn(&str) -> Vec<String>,
    missing: &[(String, String)],
    requested: &BTreeSet<String>,
) -> Vec<Finding> {
    devices
        .iter()
        .filter(|d| d.is(need))
        .map(|d| {
            let modules = d.modalias.as_deref().map(claimers).unwrap_or_default();
            let mut missing_firmware: Vec<String> = missing
                .iter()
                .filter(|(m, f)| {
                    modules.iter().any(|x| x == m)
                        && (requested.is_empty() || requested.contains(f))
                })
                .map(|(_, f)| f.clone())
                .collect();
            missing_firmware.dedup();
            Finding {
                device: d.clone(),
                modules,
                missing_firmware,
            }
        })
        .collect()
}

/// [`render`]'s text on one line, for a task's error: the lines joined by
/// "; ", a heading ending in ':' by a space.
pub fn one_line(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out += if out.ends_with(':') { " " } else { "; " };
        }
        out += line;
    }
    out
}

/// The console text for `findings`: a line per device saying what holds
/// it back, then what to do.
pub fn render(need: Need, findings: &[Finding]) -> String {
    let noun = need.noun();
    let mut s = String::new();
    if findings.is_empty() {
        s += &format!("no {noun} device was found on the PCI or USB buses\n");
        return s;
    }
    s += &format!("the machine's {noun} devices:\n");
    for f in findings {
        let d = &f.device;
        let state = match (&d.driver, f.modules.as_slice()) {
            (Some(driver), _) if f.missing_firmware.is_empty() => {
                format!("driver {driver} bound")
            }
            (Some(driver), _) => format!(
                "driver {driver} bound, but its firmware {} is missing",
                f.missing_firmware.join(", ")
            ),
            (None, []) => "no driver: no module in this initramfs claims it".to_string(),
            (None, mods) if !f.missing_firmware.is_empty() => format!(
                "no driver: module {} claims it but its firmware {} is missing",
                mods.join("/"),
                f.missing_firmware.join(", ")
            ),
            (None, mods) => format!(
                "no driver: module {} claims it but did not bind (see the kernel log above)",
                mods.join("/")
            ),
        };
        s += &format!("  {} {} (class {}): {state}\n", d.place, d.ids, d.class);
    }
    if findings.iter().any(|f| !f.missing_firmware.is_empty()) {
        s += "  add the firmware with `marrow initramfs build --firmware DIR` on the server\n";
    } else if findings.iter().all(|f| f.device.driver.is_none()) {
        s += "  no module of this initramfs drives them: the machine needs a kernel with their driver\n";
    }
    s
}

/// What the machine has, read from sysfs, the kernel log and the
/// initramfs's own list of missing firmware.
pub struct Devices {
    pub devices: Vec<Device>,
    pub missing: Vec<(String, String)>,
    pub requested: BTreeSet<String>,
}

fn attr(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let t = text.trim().trim_start_matches("0x").to_ascii_lowercase();
    (!t.is_empty()).then_some(t)
}

fn driver_of(path: &Path) -> Option<String> {
    fs::read_link(path.join("driver"))
        .ok()?
        .file_name()?
        .to_str()
        .map(str::to_owned)
}

fn entries(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

impl Devices {
    pub fn read(sys: &Path, missing_list: &Path, kmsg: &Path) -> Devices {
        let mut devices = Vec::new();
        for p in entries(&sys.join("bus/pci/devices")) {
            let (Some(v), Some(d)) = (attr(&p.join("vendor")), attr(&p.join("device"))) else {
                continue;
            };
            let sub = match (
                attr(&p.join("subsystem_vendor")),
                attr(&p.join("subsystem_device")),
            ) {
                (Some(sv), Some(sd)) => format!(" {sv}:{sd}"),
                _ => String::new(),
            };
            devices.push(Device {
                place: format!(
                    "pci {}",
                    p.file_name().unwrap_or_default().to_string_lossy()
                ),
                ids: format!("{v}:{d}{sub}"),
                class: attr(&p.join("class")).unwrap_or_default(),
                bus: Bus::Pci,
                driver: driver_of(&p),
                modalias: fs::read_to_string(p.join("modalias"))
                    .ok()
                    .map(|m| m.trim().to_string()),
            });
        }
        // USB interfaces (`1-1:1.0`): their class says what they are, and
        // their parent device holds the IDs.
        for p in entries(&sys.join("bus/usb/devices")) {
            let name = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if !name.contains(':') {
                continue;
            }
            let Some(class) = attr(&p.join("bInterfaceClass")) else {
                continue;
            };
            let parent = fs::canonicalize(&p)
                .ok()
                .and_then(|real| real.parent().map(Path::to_path_buf));
            let ids = parent
                .as_deref()
                .and_then(|d| {
                    Some(format!(
                        "{}:{}",
                        attr(&d.join("idVendor"))?,
                        attr(&d.join("idProduct"))?
                    ))
                })
                .unwrap_or_else(|| "?:?".into());
            devices.push(Device {
                place: format!("usb {name}"),
                ids,
                class,
                bus: Bus::Usb,
                driver: driver_of(&p),
                modalias: fs::read_to_string(p.join("modalias"))
                    .ok()
                    .map(|m| m.trim().to_string()),
            });
        }
        let missing = fs::read_to_string(missing_list)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(m, f)| (m.to_string(), f.to_string()))
            .collect();
        Devices {
            devices,
            missing,
            requested: failed_firmware(&read_kmsg(kmsg)),
        }
    }

    /// The findings for `need`, with this initramfs's module index.
    pub fn explain(&self, need: Need, index: &ModuleIndex) -> String {
        let claim = |alias: &str| index.claimers(alias);
        render(
            need,
            &findings(&self.devices, need, &claim, &self.missing, &self.requested),
        )
    }
}

/// The kernel's complaint, if it could not unpack the whole initramfs
/// (init/initramfs.c logs "Initramfs unpacking failed: write error" when
/// rootfs, a tmpfs of half the RAM, fills up): the files after that point,
/// modules among them, are missing.
pub fn unpack_failure(kmsg: &Path) -> Option<String> {
    unpack_failure_in(&read_kmsg(kmsg))
}

fn unpack_failure_in(log: &str) -> Option<String> {
    log.lines().find_map(|l| {
        l.find("Initramfs unpacking failed")
            .map(|i| l[i..].trim().to_owned())
    })
}

/// The kernel log so far: `/dev/kmsg` read without blocking, one record
/// per read, until it has no more.
fn read_kmsg(path: &Path) -> String {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(mut f) = fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
    else {
        return String::new();
    };
    let mut out = String::new();
    let mut buf = vec![0u8; 8192];
    // A bound, in case a chatty kernel keeps adding records.
    for _ in 0..20_000 {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.push_str(&String::from_utf8_lossy(&buf[..n]));
                out.push('\n');
            }
        }
    }
    out
}

/// Firmware files the kernel failed to load, from its log lines
/// (`firmware_class`: "Direct firmware load for X failed with error -2").
pub fn failed_firmware(log: &str) -> BTreeSet<String> {
    log.lines()
        .filter_map(|l| {
            let rest = l.split("Direct firmware load for ").nth(1)?;
            Some(rest.split(" failed").next()?.trim().to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unpack_failure_is_found_in_the_kernel_log() {
        let log = "6,100,1567654,-;Trying to unpack rootfs image as initramfs...\n\
                   3,101,4344475,-;Initramfs unpacking failed: write error\n";
        assert_eq!(
            unpack_failure_in(log).as_deref(),
            Some("Initramfs unpacking failed: write error")
        );
        assert_eq!(
            unpack_failure_in("6,1,1,-;Run /init as init process\n"),
            None
        );
    }

    #[test]
    fn one_line_joins_a_heading_with_a_space_and_the_rest_with_semicolons() {
        let text =
            "the machine's storage devices:\n  pci a: driver ahci bound\n  pci b: no driver\n";
        assert_eq!(
            one_line(text),
            "the machine's storage devices: pci a: driver ahci bound; pci b: no driver"
        );
        assert_eq!(one_line(""), "");
    }

    use super::*;

    fn pci(slot: &str, ids: &str, class: &str, driver: Option<&str>, alias: &str) -> Device {
        Device {
            place: format!("pci {slot}"),
            ids: ids.into(),
            class: class.into(),
            bus: Bus::Pci,
            driver: driver.map(str::to_string),
            modalias: Some(alias.into()),
        }
    }

    #[test]
    fn each_network_device_says_what_holds_it_back() {
        let devices = vec![
            pci(
                "0000:00:03.0",
                "8086:100e 1af4:1100",
                "020000",
                None,
                "pci:e1000",
            ),
            pci("0000:00:04.0", "10ec:8168", "020000", None, "pci:r8169"),
            pci(
                "0000:00:05.0",
                "14e4:1657",
                "020000",
                Some("tg3"),
                "pci:tg3",
            ),
            pci(
                "0000:00:1f.2",
                "8086:2922",
                "010601",
                Some("ahci"),
                "pci:ahci",
            ),
        ];
        let claim = |alias: &str| match alias {
            "pci:r8169" => vec!["r8169".to_string()],
            "pci:tg3" => vec!["tg3".to_string()],
            _ => vec![],
        };
        let missing = vec![("r8169".into(), "rtl_nic/rtl8168h-2.fw".into())];
        let found = findings(&devices, Need::Network, &claim, &missing, &BTreeSet::new());
        assert_eq!(found.len(), 3, "only network devices: {found:?}");
        let text = render(Need::Network, &found);
        assert!(
            text.contains("8086:100e 1af4:1100 (class 020000): no driver: no module"),
            "{text}"
        );
        assert!(
            text.contains(
                "module r8169 claims it but its firmware rtl_nic/rtl8168h-2.fw is missing"
            ),
            "{text}"
        );
        assert!(text.contains("driver tg3 bound"), "{text}");
        assert!(text.contains("--firmware DIR"), "{text}");
        let storage = findings(&devices, Need::Storage, &claim, &missing, &BTreeSet::new());
        assert!(render(Need::Storage, &storage).contains("pci 0000:00:1f.2 8086:2922"));
    }

    #[test]
    fn the_kernel_log_names_the_firmware_that_failed_to_load() {
        let log = "6,512,100,-;r8169 0000:00:04.0: Direct firmware load for rtl_nic/rtl8168h-2.fw failed with error -2\n\
                   6,513,101,-;something else\n";
        let got = failed_firmware(log);
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            vec!["rtl_nic/rtl8168h-2.fw"]
        );
    }

    #[test]
    fn a_machine_without_such_devices_says_so() {
        assert!(render(Need::Network, &[]).contains("no network device"));
    }
}
