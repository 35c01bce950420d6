//! Client architecture from option 93 (RFC 4578 §2.1 and the IANA
//! "Processor Architecture Types" registry), cross-checked with the
//! architecture field of option 60 (`PXEClient:Arch:xxxxx:...`, PXE 2.1 §2.2).

use std::fmt;

/// What a booting client can run, which decides the file it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// IANA 0: x86 BIOS (PXE ROM) — gets `undionly.kpxe`.
    Bios,
    /// IANA 6: x86 UEFI (32-bit).
    UefiIa32,
    /// IANA 7: x64 UEFI. Also IANA 9 (EBC): RFC 4578 swapped 7 and 9 and
    /// some firmware still sends 9 for x64 (seen in older HP/VMware UEFI).
    UefiX64,
    /// IANA 10: ARM 32-bit UEFI.
    UefiArm32,
    /// IANA 11: ARM 64-bit UEFI.
    UefiArm64,
    /// IANA 15: x86 UEFI HTTP boot.
    HttpIa32,
    /// IANA 16: x64 UEFI HTTP boot.
    HttpX64,
    /// IANA 19: ARM 64-bit UEFI HTTP boot.
    HttpArm64,
    /// Any other registered or unregistered type.
    Other(u16),
}

impl Arch {
    pub fn from_code(code: u16) -> Self {
        match code {
            0 => Arch::Bios,
            6 => Arch::UefiIa32,
            7 | 9 => Arch::UefiX64,
            10 => Arch::UefiArm32,
            11 => Arch::UefiArm64,
            15 => Arch::HttpIa32,
            16 => Arch::HttpX64,
            19 => Arch::HttpArm64,
            n => Arch::Other(n),
        }
    }

    /// The name used in the host registry and metrics.
    pub fn name(&self) -> String {
        match self {
            Arch::Bios => "bios".into(),
            Arch::UefiIa32 => "uefi-ia32".into(),
            Arch::UefiX64 => "uefi-x64".into(),
            Arch::UefiArm32 => "uefi-arm32".into(),
            Arch::UefiArm64 => "uefi-arm64".into(),
            Arch::HttpIa32 => "http-ia32".into(),
            Arch::HttpX64 => "http-x64".into(),
            Arch::HttpArm64 => "http-arm64".into(),
            Arch::Other(n) => format!("arch-{n}"),
        }
    }

    /// UEFI HTTP boot clients take an `http://` URL as their boot file.
    pub fn is_http_boot(&self) -> bool {
        matches!(self, Arch::HttpIa32 | Arch::HttpX64 | Arch::HttpArm64)
    }

    /// True for UEFI firmware (PXE or HTTP), false for BIOS.
    pub fn is_uefi(&self) -> bool {
        !matches!(self, Arch::Bios | Arch::Other(_))
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The architecture number in a vendor class such as
/// `PXEClient:Arch:00007:UNDI:003000` or `HTTPClient:Arch:00016:...`.
pub fn arch_from_vendor_class(class: &str) -> Option<u16> {
    let rest = class.split(':').skip_while(|p| *p != "Arch").nth(1)?;
    rest.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_architecture_field_of_option_60() {
        assert_eq!(
            arch_from_vendor_class("PXEClient:Arch:00007:UNDI:003000"),
            Some(7)
        );
        assert_eq!(
            arch_from_vendor_class("HTTPClient:Arch:00016:UNDI:003001"),
            Some(16)
        );
        assert_eq!(arch_from_vendor_class("PXEClient"), None);
        assert_eq!(arch_from_vendor_class("PXEClient:Arch:x"), None);
    }

    #[test]
    fn maps_both_x64_numbers_to_uefi_x64() {
        assert_eq!(Arch::from_code(7), Arch::UefiX64);
        assert_eq!(Arch::from_code(9), Arch::UefiX64);
        assert_eq!(Arch::from_code(0).name(), "bios");
        assert_eq!(Arch::from_code(42).name(), "arch-42");
    }
}
