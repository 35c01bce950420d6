//! Devices by their raw bus IDs, and the hardware-ID and compatible-ID lists
//! Windows builds from them.
//!
//! PCI: "Identifiers for PCI Devices" (learn.microsoft.com,
//! windows-hardware/drivers/install/identifiers-for-pci-devices) lists the
//! forms, most specific first, and notes that since Windows 10 some that
//! used to be hardware IDs are reported as compatible IDs. What Windows 10
//! and 11 report (Device Manager, `pnputil /enum-devices /deviceids`) is:
//!
//! - hardware IDs: `VEN&DEV&SUBSYS&REV`, `VEN&DEV&SUBSYS`, `VEN&DEV&CC_ccsspp`, `VEN&DEV&CC_ccss`;
//! - compatible IDs: `VEN&DEV&REV`, `VEN&DEV`, `VEN&CC_ccsspp`, `VEN&CC_ccss`, `VEN`, `CC_ccsspp`, `CC_ccss`.
//!
//! That is why a driver whose INF names only `PCI\VEN_v&DEV_d` ranks as a
//! compatible-ID match (identifier score 0x2001) on Windows 10.
//!
//! USB: "Identifiers for USB Devices": hardware IDs `USB\VID_v&PID_p&REV_r`
//! and `USB\VID_v&PID_p`; compatible IDs `USB\Class_cc&SubClass_ss&Prot_pp`,
//! `USB\Class_cc&SubClass_ss`, `USB\Class_cc`.
//!
//! A part the caller does not know (no subsystem, revision or class given)
//! leaves out the IDs that need it rather than inventing zeros.

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// A PCI function by its configuration-space IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PciDevice {
    pub vendor: u16,
    pub device: u16,
    /// (subsystem vendor, subsystem id).
    pub subsystem: Option<(u16, u16)>,
    pub revision: Option<u8>,
    /// (base class, subclass, programming interface).
    pub class: Option<(u8, u8, u8)>,
}

/// A USB device (or single-interface function) by its descriptor IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UsbDevice {
    pub vendor: u16,
    pub product: u16,
    /// `bcdDevice`.
    pub revision: Option<u16>,
    pub class: Option<UsbClass>,
}

/// What is known of a USB device's class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UsbClass {
    /// (class, subclass, protocol).
    Full(u8, u8, u8),
    /// Only `bDeviceClass`, as the client's inventory reports it.
    ClassOnly(u8),
}

/// A device Marrow can find drivers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    Pci(PciDevice),
    Usb(UsbDevice),
}

/// The two ordered ID lists Windows matches INF models against.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct DeviceIds {
    pub hardware_ids: Vec<String>,
    pub compatible_ids: Vec<String>,
}

impl PciDevice {
    /// The Windows 10/11 ID lists (see the module comment).
    pub fn ids(&self) -> DeviceIds {
        let base = format!("PCI\\VEN_{:04X}&DEV_{:04X}", self.vendor, self.device);
        let ven = format!("PCI\\VEN_{:04X}", self.vendor);
        let subsys = self
            .subsystem
            .map(|(sv, sd)| format!("&SUBSYS_{sd:04X}{sv:04X}"));
        let rev = self.revision.map(|r| format!("&REV_{r:02X}"));
        let (cc6, cc4) = match self.class {
            Some((c, s, p)) => (
                Some(format!("CC_{c:02X}{s:02X}{p:02X}")),
                Some(format!("CC_{c:02X}{s:02X}")),
            ),
            None => (None, None),
        };
        let mut hw = Vec::new();
        if let Some(subsys) = &subsys {
            if let Some(rev) = &rev {
                hw.push(format!("{base}{subsys}{rev}"));
            }
            hw.push(format!("{base}{subsys}"));
        }
        for cc in [&cc6, &cc4].into_iter().flatten() {
            hw.push(format!("{base}&{cc}"));
        }
        let mut compat = Vec::new();
        if let Some(rev) = &rev {
            compat.push(format!("{base}{rev}"));
        }
        compat.push(base.clone());
        for cc in [&cc6, &cc4].into_iter().flatten() {
            compat.push(format!("{ven}&{cc}"));
        }
        compat.push(ven);
        for cc in [&cc6, &cc4].into_iter().flatten() {
            compat.push(format!("PCI\\{cc}"));
        }
        DeviceIds {
            hardware_ids: hw,
            compatible_ids: compat,
        }
    }

    /// Reads a Linux PCI modalias
    /// (`pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00`), as the
    /// client finds it in `/sys/bus/pci/devices/*/modalias`. The modalias
    /// has no revision: the client reads `revision` from sysfs beside it.
    pub fn from_modalias(text: &str) -> Result<PciDevice> {
        let err = |reason: &str| Error::DeviceId {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let rest = text
            .trim()
            .strip_prefix("pci:")
            .ok_or_else(|| err("not a pci: modalias"))?;
        let mut fields = Vec::new();
        let mut rest = rest;
        for (tag, width) in [
            ("v", 8),
            ("d", 8),
            ("sv", 8),
            ("sd", 8),
            ("bc", 2),
            ("sc", 2),
            ("i", 2),
        ] {
            rest = rest
                .strip_prefix(tag)
                .ok_or_else(|| err("fields out of the v/d/sv/sd/bc/sc/i order"))?;
            let value = rest
                .get(..width)
                .ok_or_else(|| err("a field is too short"))?;
            fields.push(u32::from_str_radix(value, 16).map_err(|_| err("a field is not hex"))?);
            rest = &rest[width..];
        }
        if !rest.is_empty() {
            return Err(err("text after the i field"));
        }
        let word = |v: u32| u16::try_from(v).map_err(|_| err("an ID is wider than 16 bits"));
        Ok(PciDevice {
            vendor: word(fields[0])?,
            device: word(fields[1])?,
            subsystem: Some((word(fields[2])?, word(fields[3])?)),
            revision: None,
            class: Some((fields[4] as u8, fields[5] as u8, fields[6] as u8)),
        })
    }
}

impl UsbDevice {
    pub fn ids(&self) -> DeviceIds {
        let base = format!("USB\\VID_{:04X}&PID_{:04X}", self.vendor, self.product);
        let mut hw = Vec::new();
        if let Some(rev) = self.revision {
            hw.push(format!("{base}&REV_{rev:04X}"));
        }
        hw.push(base);
        let mut compat = Vec::new();
        match self.class {
            Some(UsbClass::Full(c, s, p)) => {
                compat.push(format!("USB\\Class_{c:02X}&SubClass_{s:02X}&Prot_{p:02X}"));
                compat.push(format!("USB\\Class_{c:02X}&SubClass_{s:02X}"));
                compat.push(format!("USB\\Class_{c:02X}"));
            }
            Some(UsbClass::ClassOnly(c)) => compat.push(format!("USB\\Class_{c:02X}")),
            None => {}
        }
        DeviceIds {
            hardware_ids: hw,
            compatible_ids: compat,
        }
    }
}

impl Device {
    pub fn ids(&self) -> DeviceIds {
        match self {
            Device::Pci(d) => d.ids(),
            Device::Usb(d) => d.ids(),
        }
    }
}

/// The devices of a machine inventory as `marrow-client inventory --json`
/// prints it: its `pci` entries (`vendor`, `device`, `subsystem_vendor`,
/// `subsystem_device`, `revision`, `class`, lowercase hex) and `usb` entries
/// (`vendor`, `product`, `bcd_device`, `class` = `bDeviceClass`). Other
/// fields are ignored. A USB device whose class is 00 (defined per
/// interface) or absent gets no class IDs.
pub fn devices_from_inventory(json: &str) -> Result<Vec<Device>> {
    #[derive(serde::Deserialize)]
    struct Inventory {
        #[serde(default)]
        pci: Vec<Pci>,
        #[serde(default)]
        usb: Vec<Usb>,
    }
    #[derive(serde::Deserialize)]
    struct Pci {
        vendor: String,
        device: String,
        subsystem_vendor: String,
        subsystem_device: String,
        revision: String,
        class: String,
    }
    #[derive(serde::Deserialize)]
    struct Usb {
        vendor: String,
        product: String,
        bcd_device: Option<String>,
        class: Option<String>,
    }
    let inventory: Inventory = serde_json::from_str(json).map_err(|e| Error::DeviceId {
        text: "inventory".into(),
        reason: format!("not a machine inventory: {e}"),
    })?;
    let mut devices = Vec::new();
    for p in inventory.pci {
        let spec = format!(
            "{}:{}:{}:{}@{}/{}",
            p.vendor, p.device, p.subsystem_vendor, p.subsystem_device, p.revision, p.class
        );
        devices.push(Device::Pci(spec.parse()?));
    }
    for u in inventory.usb {
        let mut spec = format!("{}:{}", u.vendor, u.product);
        if let Some(rev) = u.bcd_device.filter(|r| !r.is_empty()) {
            spec.push('@');
            spec.push_str(&rev);
        }
        if let Some(class) = u.class.filter(|c| !c.is_empty() && c != "00") {
            spec.push('/');
            spec.push_str(&class);
        }
        devices.push(Device::Usb(spec.parse()?));
    }
    Ok(devices)
}

fn hex16(text: &str, part: &str, whole: &str) -> Result<u16> {
    if text.len() != 4 {
        return Err(Error::DeviceId {
            text: whole.to_string(),
            reason: format!("{part} {text:?} is not four hex digits"),
        });
    }
    u16::from_str_radix(text, 16).map_err(|_| Error::DeviceId {
        text: whole.to_string(),
        reason: format!("{part} {text:?} is not hex"),
    })
}

fn class_code(text: &str, whole: &str) -> Result<(u8, u8, u8)> {
    let bad = || Error::DeviceId {
        text: whole.to_string(),
        reason: format!("class code {text:?} is not six hex digits (CCSSPP)"),
    };
    if text.len() != 6 {
        return Err(bad());
    }
    let v = u32::from_str_radix(text, 16).map_err(|_| bad())?;
    Ok(((v >> 16) as u8, (v >> 8) as u8, v as u8))
}

impl FromStr for PciDevice {
    type Err = Error;

    /// `VVVV:DDDD[:SSSS:ssss][@RR][/CCSSPP]`: vendor, device, subsystem
    /// vendor and subsystem id as `lspci -nv` prints them, revision, class.
    fn from_str(text: &str) -> Result<PciDevice> {
        let (rest, class) = match text.split_once('/') {
            Some((head, cc)) => (head, Some(class_code(cc, text)?)),
            None => (text, None),
        };
        let (ids, revision) = match rest.split_once('@') {
            Some((head, rev)) => {
                if rev.len() != 2 {
                    return Err(Error::DeviceId {
                        text: text.to_string(),
                        reason: format!("revision {rev:?} is not two hex digits"),
                    });
                }
                let r = u8::from_str_radix(rev, 16).map_err(|_| Error::DeviceId {
                    text: text.to_string(),
                    reason: format!("revision {rev:?} is not hex"),
                })?;
                (head, Some(r))
            }
            None => (rest, None),
        };
        let parts: Vec<&str> = ids.split(':').collect();
        let (vendor, device, subsystem) = match parts[..] {
            [v, d] => (hex16(v, "vendor", text)?, hex16(d, "device", text)?, None),
            [v, d, sv, sd] => (
                hex16(v, "vendor", text)?,
                hex16(d, "device", text)?,
                Some((
                    hex16(sv, "subsystem vendor", text)?,
                    hex16(sd, "subsystem", text)?,
                )),
            ),
            _ => {
                return Err(Error::DeviceId {
                    text: text.to_string(),
                    reason: "expected VVVV:DDDD[:SSSS:ssss][@RR][/CCSSPP]".into(),
                })
            }
        };
        Ok(PciDevice {
            vendor,
            device,
            subsystem,
            revision,
            class,
        })
    }
}

impl FromStr for UsbDevice {
    type Err = Error;

    /// `VVVV:PPPP[@RRRR][/CCSSPP|/CC]`: vendor, product, bcdDevice, class.
    fn from_str(text: &str) -> Result<UsbDevice> {
        let (rest, class) = match text.split_once('/') {
            Some((head, cc)) if cc.len() == 2 => {
                let c = u8::from_str_radix(cc, 16).map_err(|_| Error::DeviceId {
                    text: text.to_string(),
                    reason: format!("class {cc:?} is not hex"),
                })?;
                (head, Some(UsbClass::ClassOnly(c)))
            }
            Some((head, cc)) => {
                let (c, s, p) = class_code(cc, text)?;
                (head, Some(UsbClass::Full(c, s, p)))
            }
            None => (text, None),
        };
        let (ids, revision) = match rest.split_once('@') {
            Some((head, rev)) => (head, Some(hex16(rev, "revision", text)?)),
            None => (rest, None),
        };
        let Some((v, p)) = ids.split_once(':') else {
            return Err(Error::DeviceId {
                text: text.to_string(),
                reason: "expected VVVV:PPPP[@RRRR][/CCSSPP]".into(),
            });
        };
        Ok(UsbDevice {
            vendor: hex16(v, "vendor", text)?,
            product: hex16(p, "product", text)?,
            revision,
            class,
        })
    }
}

impl fmt::Display for PciDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pci {:04x}:{:04x}", self.vendor, self.device)?;
        if let Some((sv, sd)) = self.subsystem {
            write!(f, ":{sv:04x}:{sd:04x}")?;
        }
        if let Some(r) = self.revision {
            write!(f, "@{r:02x}")?;
        }
        if let Some((c, s, p)) = self.class {
            write!(f, "/{c:02x}{s:02x}{p:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Display for UsbDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "usb {:04x}:{:04x}", self.vendor, self.product)?;
        if let Some(r) = self.revision {
            write!(f, "@{r:04x}")?;
        }
        match self.class {
            Some(UsbClass::Full(c, s, p)) => write!(f, "/{c:02x}{s:02x}{p:02x}")?,
            Some(UsbClass::ClassOnly(c)) => write!(f, "/{c:02x}")?,
            None => {}
        }
        Ok(())
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Pci(d) => d.fmt(f),
            Device::Usb(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU's e1000 on the pc machine as Windows 10 Device Manager lists it.
    #[test]
    fn pci_ids_are_the_lists_windows_10_reports() {
        let dev: PciDevice = "8086:100e:1af4:1100@03/020000".parse().unwrap();
        let ids = dev.ids();
        assert_eq!(
            ids.hardware_ids,
            [
                r"PCI\VEN_8086&DEV_100E&SUBSYS_11001AF4&REV_03",
                r"PCI\VEN_8086&DEV_100E&SUBSYS_11001AF4",
                r"PCI\VEN_8086&DEV_100E&CC_020000",
                r"PCI\VEN_8086&DEV_100E&CC_0200",
            ]
        );
        assert_eq!(
            ids.compatible_ids,
            [
                r"PCI\VEN_8086&DEV_100E&REV_03",
                r"PCI\VEN_8086&DEV_100E",
                r"PCI\VEN_8086&CC_020000",
                r"PCI\VEN_8086&CC_0200",
                r"PCI\VEN_8086",
                r"PCI\CC_020000",
                r"PCI\CC_0200",
            ]
        );
    }

    #[test]
    fn unknown_parts_leave_out_the_ids_that_need_them() {
        let ids = "1af4:1041".parse::<PciDevice>().unwrap().ids();
        assert!(ids.hardware_ids.is_empty());
        assert_eq!(
            ids.compatible_ids,
            [r"PCI\VEN_1AF4&DEV_1041", r"PCI\VEN_1AF4"]
        );
    }

    #[test]
    fn usb_ids_follow_the_usb_identifier_rules() {
        let ids = "0547:1002@0001/ff0000".parse::<UsbDevice>().unwrap().ids();
        assert_eq!(
            ids.hardware_ids,
            [r"USB\VID_0547&PID_1002&REV_0001", r"USB\VID_0547&PID_1002"]
        );
        assert_eq!(
            ids.compatible_ids,
            [
                r"USB\Class_FF&SubClass_00&Prot_00",
                r"USB\Class_FF&SubClass_00",
                r"USB\Class_FF"
            ]
        );
        // Only bDeviceClass known: only the class-wide ID.
        let ids = "0781:5583/08".parse::<UsbDevice>().unwrap().ids();
        assert_eq!(ids.compatible_ids, [r"USB\Class_08"]);
    }

    #[test]
    fn a_linux_modalias_gives_the_same_device() {
        let dev = PciDevice::from_modalias("pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00")
            .unwrap();
        assert_eq!(dev.to_string(), "pci 8086:100e:1af4:1100/020000");
        assert!(PciDevice::from_modalias("usb:v0547p1002").is_err());
        assert!(PciDevice::from_modalias("pci:v00008086d0000100E").is_err());
    }

    #[test]
    fn malformed_device_ids_name_the_part_at_fault() {
        for (text, part) in [
            ("8086", "expected"),
            ("808g:100e", "vendor"),
            ("8086:100e@3", "revision"),
            ("8086:100e/0200", "class code"),
            ("8086:100e:8086", "expected"),
        ] {
            let err = text.parse::<PciDevice>().unwrap_err().to_string();
            assert!(err.contains(part), "{text}: {err}");
        }
    }

    #[test]
    fn device_id_parsers_never_panic_on_arbitrary_text() {
        let alphabet = "0123456789abcdefABCDEFgz:@/pci_vdsbi-\u{e9}";
        let chars: Vec<char> = alphabet.chars().collect();
        let mut next = marrow_test_support::xorshift(0x2545_F491_4F6C_DD1Du64);
        for _ in 0..5000 {
            let len = (next() % 48) as usize;
            let text: String = (0..len)
                .map(|_| chars[next() as usize % chars.len()])
                .collect();
            if let Ok(d) = text.parse::<PciDevice>() {
                let _ = d.ids();
                assert_eq!(format!("pci {}", text.to_ascii_lowercase()), d.to_string());
            }
            if let Ok(d) = text.parse::<UsbDevice>() {
                let _ = d.ids();
            }
            let _ = PciDevice::from_modalias(&text);
            let _ = PciDevice::from_modalias(&format!("pci:v0000{text}"));
        }
    }

    #[test]
    fn printing_and_parsing_round_trips() {
        for text in ["8086:100e:8086:001e@02/020000", "1af4:1041", "1af4:1000@00"] {
            let dev: PciDevice = text.parse().unwrap();
            assert_eq!(dev.to_string(), format!("pci {text}"));
        }
    }
}
