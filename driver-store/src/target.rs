//! The Windows a driver is chosen for: architecture and version, and the
//! `[Manufacturer]` TargetOSVersion decorations that select models sections
//! for it.

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// A processor architecture as INF platform extensions name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X86,
    Amd64,
    Ia64,
    Arm,
    Arm64,
}

impl Arch {
    /// The INF platform-extension spelling (`NTamd64`, `SourceDisksFiles.amd64`).
    pub fn inf_name(self) -> &'static str {
        match self {
            Arch::X86 => "x86",
            Arch::Amd64 => "amd64",
            Arch::Ia64 => "ia64",
            Arch::Arm => "arm",
            Arch::Arm64 => "arm64",
        }
    }

    /// Parses an INF platform name, case-insensitively.
    pub fn from_inf_name(name: &str) -> Option<Arch> {
        [Arch::X86, Arch::Amd64, Arch::Ia64, Arch::Arm, Arch::Arm64]
            .into_iter()
            .find(|a| a.inf_name().eq_ignore_ascii_case(name))
    }
}

/// `VER_NT_WORKSTATION` (winnt.h): client editions of Windows.
pub const PRODUCT_WORKSTATION: u32 = 1;
/// `VER_NT_SERVER` (winnt.h).
pub const PRODUCT_SERVER: u32 = 3;

/// The Windows installation a driver is being chosen for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TargetOs {
    /// The name it was given by (`win11`), if it came from one.
    pub name: Option<&'static str>,
    pub arch: Arch,
    pub major: u32,
    pub minor: u32,
    pub build: u32,
    /// `VER_NT_*` product type: 1 workstation, 3 server.
    pub product_type: u32,
}

/// Named targets: (name, major, minor, build, product type). The build of a
/// name is its newest release, so a decoration for a later feature update
/// of the same name applies (Windows 10 22H2 is build 19045, Windows 11 24H2
/// is 26100, Server 2022 is 20348, Server 2019 is 17763). A different build
/// can be pinned with `@BUILD`, for example `win11-x64@22000`.
const NAMES: &[(&str, u32, u32, u32, u32)] = &[
    ("win7", 6, 1, 7601, PRODUCT_WORKSTATION),
    ("win8", 6, 2, 9200, PRODUCT_WORKSTATION),
    ("win81", 6, 3, 9600, PRODUCT_WORKSTATION),
    ("win10", 10, 0, 19045, PRODUCT_WORKSTATION),
    ("win11", 10, 0, 26100, PRODUCT_WORKSTATION),
    ("ws2016", 10, 0, 14393, PRODUCT_SERVER),
    ("ws2019", 10, 0, 17763, PRODUCT_SERVER),
    ("ws2022", 10, 0, 20348, PRODUCT_SERVER),
    ("ws2025", 10, 0, 26100, PRODUCT_SERVER),
];

impl TargetOs {
    /// Whether the TargetOSVersion decoration `d` applies to this target,
    /// and if not, why (for the reason a package was excluded).
    pub fn accepts(&self, d: &Decoration) -> Result<(), String> {
        match d.arch {
            DecorationArch::Any | DecorationArch::Template => {}
            DecorationArch::Known(a) if a == self.arch => {}
            DecorationArch::Known(a) => {
                return Err(format!(
                    "{} is for {}, not {}",
                    d.raw,
                    a.inf_name(),
                    self.arch.inf_name()
                ))
            }
            DecorationArch::Unknown => {
                return Err(format!("{} names an unknown architecture", d.raw))
            }
        }
        // INF Manufacturer section: the decoration's version is the lowest
        // OS version the models section is for.
        let want = (d.major.unwrap_or(0), d.minor.unwrap_or(0));
        if want > (self.major, self.minor) {
            return Err(format!(
                "{} needs Windows {}.{}, target is {}.{}",
                d.raw, want.0, want.1, self.major, self.minor
            ));
        }
        if let Some(build) = d.build {
            if build > self.build {
                return Err(format!(
                    "{} needs build {build}, target is build {}",
                    d.raw, self.build
                ));
            }
        }
        if let Some(pt) = d.product_type {
            if pt != self.product_type {
                return Err(format!(
                    "{} is for product type {pt}, target is {}",
                    d.raw, self.product_type
                ));
            }
        }
        if d.suite_mask.is_some_and(|m| m != 0) {
            // Client and plain server editions have no suite bits Marrow
            // models; a suite-specific section is for someone else.
            return Err(format!("{} needs a product suite", d.raw));
        }
        Ok(())
    }
}

impl fmt::Display for TargetOs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arch = match self.arch {
            Arch::Amd64 => "x64",
            other => other.inf_name(),
        };
        match self.name {
            Some(name) => {
                write!(f, "{name}-{arch}")?;
                let default = NAMES.iter().find(|n| n.0 == name).map(|n| n.3);
                if default != Some(self.build) {
                    write!(f, "@{}", self.build)?;
                }
                Ok(())
            }
            None => write!(f, "nt{}.{}.{}-{arch}", self.major, self.minor, self.build),
        }
    }
}

impl FromStr for TargetOs {
    type Err = Error;

    /// `win10-x64`, `win11-arm64`, `ws2022-x64`, optionally `@BUILD`.
    fn from_str(text: &str) -> Result<TargetOs> {
        let err = |reason: String| Error::TargetOs {
            text: text.to_string(),
            reason,
        };
        let (name_arch, build) = match text.split_once('@') {
            Some((head, b)) => (
                head,
                Some(
                    b.parse::<u32>()
                        .map_err(|_| err(format!("build {b:?} is not a number")))?,
                ),
            ),
            None => (text, None),
        };
        let (name, arch) = name_arch
            .split_once('-')
            .ok_or_else(|| err("expected NAME-ARCH, for example win11-x64".into()))?;
        let arch = match arch.to_ascii_lowercase().as_str() {
            "x64" | "amd64" => Arch::Amd64,
            "x86" | "i386" => Arch::X86,
            "arm64" | "aarch64" => Arch::Arm64,
            other => {
                return Err(err(format!(
                    "unknown architecture {other:?} (x64, x86, arm64)"
                )))
            }
        };
        let known: Vec<&str> = NAMES.iter().map(|n| n.0).collect();
        let &(name, major, minor, default_build, product_type) = NAMES
            .iter()
            .find(|n| n.0.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                err(format!(
                    "unknown Windows {name:?} (one of {})",
                    known.join(", ")
                ))
            })?;
        Ok(TargetOs {
            name: Some(name),
            arch,
            major,
            minor,
            build: build.unwrap_or(default_build),
            product_type,
        })
    }
}

/// The architecture part of a decoration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "arch")]
pub enum DecorationArch {
    /// Plain `NT`: every architecture.
    Any,
    Known(Arch),
    /// `NT$ARCH$` in an `.inx` template: stampinf writes the architecture
    /// being built, so the template stands for every one.
    Template,
    /// An architecture name Windows does not know; never applies.
    Unknown,
}

/// A TargetOSVersion decoration:
/// `nt[Architecture][.[OSMajorVersion][.[OSMinorVersion][.[ProductType][.[SuiteMask][.[BuildNumber]]]]]]`
/// ("Combining platform extensions with operating system versions",
/// learn.microsoft.com). Empty fields are unspecified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Decoration {
    /// As written, for reasons and for naming the models section.
    pub raw: String,
    pub arch: DecorationArch,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub product_type: Option<u32>,
    pub suite_mask: Option<u32>,
    pub build: Option<u32>,
}

impl Decoration {
    /// Parses a decoration; `None` if it does not start with `NT`.
    pub fn parse(raw: &str) -> Option<Decoration> {
        let mut parts = raw.split('.');
        let head = parts.next()?;
        let prefix = head.get(..2)?;
        if !prefix.eq_ignore_ascii_case("nt") {
            return None;
        }
        let arch_name = &head[2..];
        let arch = if arch_name.is_empty() {
            DecorationArch::Any
        } else if arch_name.eq_ignore_ascii_case("$ARCH$") {
            DecorationArch::Template
        } else {
            Arch::from_inf_name(arch_name).map_or(DecorationArch::Unknown, DecorationArch::Known)
        };
        let mut field = || parts.next().and_then(parse_number);
        let major = field();
        let minor = field();
        let product_type = field();
        let suite_mask = field();
        let build = field();
        Some(Decoration {
            raw: raw.to_string(),
            arch,
            major,
            minor,
            product_type,
            suite_mask,
            build,
        })
    }

    /// How closely it fits, for choosing among the decorations that apply:
    /// the highest OS version wins, then the highest build, then a named
    /// architecture over plain `NT`, then a product type over none.
    pub fn specificity(&self) -> (u32, u32, u32, bool, bool) {
        (
            self.major.unwrap_or(0),
            self.minor.unwrap_or(0),
            self.build.unwrap_or(0),
            !matches!(self.arch, DecorationArch::Any),
            self.product_type.is_some(),
        )
    }
}

/// A decimal or `0x` hexadecimal number, as INF numeric fields are written.
fn parse_number(text: &str) -> Option<u32> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(text: &str) -> TargetOs {
        text.parse().unwrap()
    }

    #[test]
    fn target_names_parse_to_versions_and_print_back() {
        let t = win("win11-x64");
        assert_eq!(
            (t.arch, t.major, t.minor, t.build),
            (Arch::Amd64, 10, 0, 26100)
        );
        assert_eq!(t.to_string(), "win11-x64");
        assert_eq!(win("win10-x86").to_string(), "win10-x86");
        assert_eq!(win("win11-x64@22000").to_string(), "win11-x64@22000");
        assert_eq!(win("win11-x64@22000").build, 22000);
        assert!("win12-x64".parse::<TargetOs>().is_err());
        assert!("win11-sparc".parse::<TargetOs>().is_err());
        assert!("win11".parse::<TargetOs>().is_err());
    }

    #[test]
    fn decorations_parse_every_field() {
        let d = Decoration::parse("NTamd64.10.0...22000").unwrap();
        assert_eq!(d.arch, DecorationArch::Known(Arch::Amd64));
        assert_eq!(
            (d.major, d.minor, d.product_type, d.suite_mask, d.build),
            (Some(10), Some(0), None, None, Some(22000))
        );
        let d = Decoration::parse("NT$ARCH$.10.0.1..16299").unwrap();
        assert_eq!(d.arch, DecorationArch::Template);
        assert_eq!((d.product_type, d.build), (Some(1), Some(16299)));
        assert_eq!(Decoration::parse("NT").unwrap().arch, DecorationArch::Any);
        assert!(Decoration::parse("Models").is_none());
    }

    #[test]
    fn a_decoration_for_a_newer_build_or_other_arch_does_not_apply() {
        let win10 = win("win10-x64");
        assert!(win10
            .accepts(&Decoration::parse("NTamd64.10.0...22000").unwrap())
            .is_err());
        assert!(win10
            .accepts(&Decoration::parse("NTamd64.10.0...17763").unwrap())
            .is_ok());
        assert!(win10.accepts(&Decoration::parse("NTx86").unwrap()).is_err());
        assert!(win10
            .accepts(&Decoration::parse("NTamd64.10.0.3").unwrap())
            .is_err());
        assert!(win("ws2022-x64")
            .accepts(&Decoration::parse("NTamd64.10.0.3").unwrap())
            .is_ok());
        assert!(win("win7-x64")
            .accepts(&Decoration::parse("NTamd64.10.0").unwrap())
            .is_err());
    }
}
