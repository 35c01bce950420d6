//! The machine's inventory, read from `/sys` and `/proc` under a root that
//! tests point at a fake tree: DMI identity, CPU, memory, disks, NICs, and
//! every PCI and USB device with the ids driver injection matches on.
//!
//! Sources are the kernel's sysfs ABI (Documentation/ABI/testing/
//! sysfs-bus-pci, sysfs-bus-usb, sysfs-block, sysfs-class-net,
//! sysfs-firmware-dmi-tables). A file that is absent (no DMI in a VM, no
//! serial on a virtio disk) becomes `None`, not an error: machines differ.

use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub dmi: Dmi,
    pub cpu: Cpu,
    pub memory_bytes: u64,
    pub disks: Vec<Disk>,
    pub nics: Vec<Nic>,
    pub pci: Vec<PciDevice>,
    pub usb: Vec<UsbDevice>,
    /// How the machine booted; absent in reports of older clients.
    #[serde(default)]
    pub firmware: Firmware,
}

/// The firmware's boot mode and Secure Boot state, and the kernel's
/// lockdown, which Secure Boot turns on in Debian's kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firmware {
    /// Booted through UEFI (`/sys/firmware/efi` exists).
    pub uefi: bool,
    /// The `SecureBoot` EFI variable, read through efivarfs; `None` when
    /// it cannot be read (BIOS, or efivarfs not mounted).
    pub secure_boot: Option<bool>,
    /// The kernel's lockdown mode (`none`, `integrity`,
    /// `confidentiality`) from securityfs.
    pub lockdown: Option<String>,
}

/// The `SecureBoot` variable of the EFI global variable GUID (UEFI 2.x
/// §3.3), as efivarfs names it.
pub const SECURE_BOOT_VAR: &str =
    "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// efivarfs gives 4 bytes of attributes, then the value: one byte, 1 when
/// Secure Boot is on.
pub fn parse_secure_boot(bytes: &[u8]) -> Option<bool> {
    match bytes {
        [_, _, _, _, v] => Some(*v == 1),
        _ => None,
    }
}

/// `/sys/kernel/security/lockdown` lists the modes with the active one in
/// brackets: `none [integrity] confidentiality`.
pub fn parse_lockdown(text: &str) -> Option<String> {
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    let mode = &text[start..end];
    (!mode.is_empty()).then(|| mode.to_string())
}

fn firmware(root: &Path) -> Firmware {
    Firmware {
        uefi: root.join("sys/firmware/efi").is_dir(),
        secure_boot: fs::read(root.join(SECURE_BOOT_VAR))
            .ok()
            .and_then(|b| parse_secure_boot(&b)),
        lockdown: fs::read_to_string(root.join("sys/kernel/security/lockdown"))
            .ok()
            .and_then(|t| parse_lockdown(&t)),
    }
}

/// `/sys/class/dmi/id`. Serial numbers and the UUID are readable by root
/// only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dmi {
    pub sys_vendor: Option<String>,
    pub product_name: Option<String>,
    pub product_version: Option<String>,
    pub product_serial: Option<String>,
    pub product_uuid: Option<String>,
    pub board_vendor: Option<String>,
    pub board_name: Option<String>,
    pub board_serial: Option<String>,
    pub bios_vendor: Option<String>,
    pub bios_version: Option<String>,
    pub chassis_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    pub vendor: Option<String>,
    pub model: Option<String>,
    /// Logical CPUs (`processor` entries in /proc/cpuinfo).
    pub logical_cpus: u32,
    /// Distinct `physical id` values; 1 when the field is absent.
    pub sockets: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    /// Kernel name, `sda`, `nvme0n1`, `vda`.
    pub name: String,
    pub size_bytes: u64,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub wwn: Option<String>,
    pub rotational: bool,
    pub removable: bool,
    /// Attached through USB (a stick or a USB enclosure): never chosen
    /// implicitly as an imaging target.
    pub usb: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    pub name: String,
    pub mac: String,
    pub driver: Option<String>,
    /// Link speed in Mbit/s; `None` when the link is down or unknown.
    pub speed_mbps: Option<u32>,
    /// PCI slot of the NIC, when it is a PCI device.
    pub pci_slot: Option<String>,
}

/// One PCI function. Ids are lowercase hex without `0x`, as in
/// `lspci -n` and Windows hardware ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PciDevice {
    pub slot: String,
    pub vendor: String,
    pub device: String,
    pub subsystem_vendor: String,
    pub subsystem_device: String,
    pub revision: String,
    /// Class, subclass and programming interface, six hex digits.
    pub class: String,
    pub driver: Option<String>,
    pub modalias: Option<String>,
}

/// One USB device (not its interfaces).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsbDevice {
    /// Bus and port path, `1-1.2`.
    pub path: String,
    pub vendor: String,
    pub product: String,
    pub bcd_device: Option<String>,
    pub class: Option<String>,
    pub manufacturer: Option<String>,
    pub product_name: Option<String>,
    pub serial: Option<String>,
}

/// Reads a sysfs attribute, trimmed; `None` if absent, unreadable or empty.
fn attr(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn hex_attr(path: &Path) -> Option<String> {
    attr(path).map(|v| v.trim_start_matches("0x").to_ascii_lowercase())
}

/// The last component of a symlink's target (`.../drivers/e1000` → `e1000`).
fn link_name(path: &Path) -> Option<String> {
    fs::read_link(path)
        .ok()?
        .file_name()?
        .to_str()
        .map(str::to_owned)
}

/// Entries of a directory, sorted by name; empty if it does not exist.
fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Collects the inventory of the machine whose `/sys` and `/proc` are under
/// `root` (`/` on a real machine).
pub fn collect(root: &Path) -> Result<Inventory> {
    let cpuinfo_path = root.join("proc/cpuinfo");
    let cpuinfo = fs::read_to_string(&cpuinfo_path).map_err(|source| Error::Io {
        path: cpuinfo_path,
        source,
    })?;
    let meminfo_path = root.join("proc/meminfo");
    let meminfo = fs::read_to_string(&meminfo_path).map_err(|source| Error::Io {
        path: meminfo_path.clone(),
        source,
    })?;
    let memory_bytes = parse_meminfo_total(&meminfo).ok_or_else(|| Error::Parse {
        path: meminfo_path,
        detail: "no MemTotal line".into(),
    })?;
    Ok(Inventory {
        dmi: dmi(&root.join("sys/class/dmi/id")),
        cpu: parse_cpuinfo(&cpuinfo),
        memory_bytes,
        disks: disks(&root.join("sys/block")),
        nics: nics(&root.join("sys/class/net")),
        pci: pci(&root.join("sys/bus/pci/devices")),
        usb: usb(&root.join("sys/bus/usb/devices")),
        firmware: firmware(root),
    })
}

fn dmi(dir: &Path) -> Dmi {
    let a = |n: &str| attr(&dir.join(n));
    Dmi {
        sys_vendor: a("sys_vendor"),
        product_name: a("product_name"),
        product_version: a("product_version"),
        product_serial: a("product_serial"),
        product_uuid: a("product_uuid"),
        board_vendor: a("board_vendor"),
        board_name: a("board_name"),
        board_serial: a("board_serial"),
        bios_vendor: a("bios_vendor"),
        bios_version: a("bios_version"),
        chassis_type: a("chassis_type"),
    }
}

/// `/proc/cpuinfo` as x86 Linux writes it (`key\t: value` lines, a blank
/// line between processors).
pub fn parse_cpuinfo(text: &str) -> Cpu {
    let mut cpu = Cpu::default();
    let mut sockets = std::collections::BTreeSet::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" => cpu.logical_cpus += 1,
            "vendor_id" if cpu.vendor.is_none() => cpu.vendor = Some(value.to_owned()),
            "model name" if cpu.model.is_none() => cpu.model = Some(value.to_owned()),
            "physical id" => {
                sockets.insert(value.to_owned());
            }
            _ => {}
        }
    }
    cpu.sockets = sockets.len().max(1) as u32;
    cpu
}

/// `MemTotal:  16314412 kB` → bytes (the kernel's "kB" is KiB).
pub fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Block devices backed by hardware (a `device` link): not loop, ram, zram
/// or device-mapper, which have none.
fn disks(dir: &Path) -> Vec<Disk> {
    let mut out = Vec::new();
    for path in sorted_entries(dir) {
        let device = path.join("device");
        if !device.exists() {
            continue;
        }
        let name = name_of(&path);
        let sectors: u64 = attr(&path.join("size"))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let resolved = fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        out.push(Disk {
            // The size file counts 512-byte sectors whatever the logical
            // block size (Documentation/ABI/stable/sysfs-block).
            size_bytes: sectors * 512,
            model: attr(&device.join("model")),
            // virtio-blk exposes `serial` on the disk, SCSI/ATA and NVMe on
            // the device.
            serial: attr(&path.join("serial"))
                .or_else(|| attr(&device.join("serial")))
                .or_else(|| {
                    fs::read(device.join("vpd_pg80"))
                        .ok()
                        .and_then(|p| unit_serial(&p))
                }),
            wwn: attr(&path.join("wwid"))
                .or_else(|| attr(&device.join("wwid")))
                .or_else(|| attr(&device.join("wwn"))),
            rotational: attr(&path.join("queue/rotational")).as_deref() == Some("1"),
            removable: attr(&path.join("removable")).as_deref() == Some("1"),
            usb: resolved
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with("usb")),
            name,
        });
    }
    out
}

/// The unit serial number of a SCSI (or libata-translated ATA) disk: VPD
/// page 0x80 (SPC-4 §7.8.16), a 4-byte header whose byte 3 is the length,
/// then the serial, space padded.
fn unit_serial(page: &[u8]) -> Option<String> {
    if page.len() < 4 || page[1] != 0x80 {
        return None;
    }
    let len = usize::from(page[3]).min(page.len() - 4);
    let text = String::from_utf8_lossy(&page[4..4 + len])
        .trim()
        .to_string();
    (!text.is_empty()).then_some(text)
}

/// Network interfaces backed by hardware (a `device` link): not lo,
/// bridges, veths or tunnels.
fn nics(dir: &Path) -> Vec<Nic> {
    let mut out = Vec::new();
    for path in sorted_entries(dir) {
        let device = path.join("device");
        if !device.exists() {
            continue;
        }
        // The device link points at the PCI function itself (e1000) or at a
        // child of it (virtio0 under the virtio-pci function).
        let slot = fs::canonicalize(&device)
            .ok()
            .and_then(|p| p.ancestors().map(name_of).find(|n| is_pci_slot(n)));
        out.push(Nic {
            name: name_of(&path),
            mac: attr(&path.join("address")).unwrap_or_default(),
            driver: link_name(&device.join("driver")),
            // Reading `speed` fails with EINVAL on a down link; -1 means unknown.
            speed_mbps: attr(&path.join("speed"))
                .and_then(|s| s.parse::<i64>().ok())
                .and_then(|s| u32::try_from(s).ok()),
            pci_slot: slot,
        });
    }
    out
}

/// The NICs under `/sys/class/net` (hardware ones only), as the network
/// chooser needs them: name, MAC, whether the link has a carrier.
pub fn collect_links(dir: &Path) -> Vec<crate::net::Link> {
    sorted_entries(dir)
        .into_iter()
        .filter(|p| p.join("device").exists())
        .map(|p| crate::net::Link {
            name: name_of(&p),
            mac: attr(&p.join("address")).and_then(|m| m.parse().ok()),
            // `carrier` reads as EINVAL while the interface is down.
            carrier: attr(&p.join("carrier")).as_deref() == Some("1"),
        })
        .collect()
}

/// `0000:00:03.0`.
fn is_pci_slot(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 12 && b[4] == b':' && b[7] == b':' && b[10] == b'.'
}

fn pci(dir: &Path) -> Vec<PciDevice> {
    sorted_entries(dir)
        .into_iter()
        .filter_map(|p| {
            Some(PciDevice {
                slot: name_of(&p),
                vendor: hex_attr(&p.join("vendor"))?,
                device: hex_attr(&p.join("device"))?,
                subsystem_vendor: hex_attr(&p.join("subsystem_vendor")).unwrap_or_default(),
                subsystem_device: hex_attr(&p.join("subsystem_device")).unwrap_or_default(),
                revision: hex_attr(&p.join("revision")).unwrap_or_default(),
                class: hex_attr(&p.join("class")).unwrap_or_default(),
                driver: link_name(&p.join("driver")),
                modalias: attr(&p.join("modalias")),
            })
        })
        .collect()
}

/// USB devices are the entries with `idVendor`; interfaces (`1-1:1.0`) and
/// the bus roots' interfaces are skipped.
fn usb(dir: &Path) -> Vec<UsbDevice> {
    sorted_entries(dir)
        .into_iter()
        .filter_map(|p| {
            Some(UsbDevice {
                path: name_of(&p),
                vendor: hex_attr(&p.join("idVendor"))?,
                product: hex_attr(&p.join("idProduct"))?,
                bcd_device: attr(&p.join("bcdDevice")),
                class: attr(&p.join("bDeviceClass")),
                manufacturer: attr(&p.join("manufacturer")),
                product_name: attr(&p.join("product")),
                serial: attr(&p.join("serial")),
            })
        })
        .collect()
}

impl Inventory {
    /// The human form of `marrow-client inventory`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let d = &self.dmi;
        let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        s += &format!(
            "system   {} {} (serial {}, uuid {})\n",
            o(&d.sys_vendor),
            o(&d.product_name),
            o(&d.product_serial),
            o(&d.product_uuid)
        );
        s += &format!(
            "board    {} {}, bios {} {}\n",
            o(&d.board_vendor),
            o(&d.board_name),
            o(&d.bios_vendor),
            o(&d.bios_version)
        );
        s += &format!(
            "cpu      {} ({} logical, {} socket(s))\n",
            o(&self.cpu.model),
            self.cpu.logical_cpus,
            self.cpu.sockets
        );
        s += &format!("memory   {} MiB\n", self.memory_bytes / (1024 * 1024));
        let f = &self.firmware;
        s += &format!(
            "firmware {}, Secure Boot {}, lockdown {}\n",
            if f.uefi { "UEFI" } else { "BIOS" },
            match f.secure_boot {
                Some(true) => "on",
                Some(false) => "off",
                None => "unknown",
            },
            f.lockdown.as_deref().unwrap_or("unknown")
        );
        for k in &self.disks {
            s += &format!(
                "disk     {} {} bytes model {} serial {} wwn {}{}{}{}\n",
                k.name,
                k.size_bytes,
                o(&k.model),
                o(&k.serial),
                o(&k.wwn),
                if k.rotational { " rotational" } else { "" },
                if k.removable { " removable" } else { "" },
                if k.usb { " usb" } else { "" }
            );
        }
        for n in &self.nics {
            let speed = n.speed_mbps.map_or("-".into(), |v| format!("{v} Mbit/s"));
            s += &format!(
                "nic      {} {} driver {} speed {}\n",
                n.name,
                n.mac,
                o(&n.driver),
                speed
            );
        }
        for p in &self.pci {
            s += &format!(
                "pci      {} {}:{} ({}:{}) rev {} class {} driver {}\n",
                p.slot,
                p.vendor,
                p.device,
                p.subsystem_vendor,
                p.subsystem_device,
                p.revision,
                p.class,
                o(&p.driver)
            );
        }
        for u in &self.usb {
            s += &format!(
                "usb      {} {}:{} {} {}\n",
                u.path,
                u.vendor,
                u.product,
                o(&u.manufacturer),
                o(&u.product_name)
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nphysical id\t: 0\n\n\
                           processor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nphysical id\t: 0\n\n";

    #[test]
    fn cpuinfo_counts_processors_and_sockets() {
        let cpu = parse_cpuinfo(CPUINFO);
        assert_eq!(cpu.logical_cpus, 2);
        assert_eq!(cpu.sockets, 1);
        assert_eq!(cpu.vendor.as_deref(), Some("GenuineIntel"));
        assert_eq!(cpu.model.as_deref(), Some("Intel(R) Xeon(R) CPU @ 2.20GHz"));
    }

    #[test]
    fn a_scsi_unit_serial_page_gives_the_disk_serial() {
        let mut page = vec![0x00, 0x80, 0x00, 0x14];
        page.extend_from_slice(b"      QM00001SATA-A ");
        page.truncate(4 + 0x14);
        assert_eq!(unit_serial(&page).as_deref(), Some("QM00001SATA-A"));
        assert_eq!(unit_serial(&[0, 0x83, 0, 0]), None, "not page 0x80");
        assert_eq!(unit_serial(&[0, 0x80, 0, 9, b' ']), None, "blank");
    }

    #[test]
    fn meminfo_total_is_converted_from_kib() {
        assert_eq!(
            parse_meminfo_total("MemTotal:        502092 kB\nMemFree: 1 kB\n"),
            Some(502_092 * 1024)
        );
        assert_eq!(parse_meminfo_total("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn pci_slot_names_are_recognised() {
        assert!(is_pci_slot("0000:00:03.0"));
        assert!(!is_pci_slot("virtio0"));
        assert!(!is_pci_slot("usb1"));
    }
}
