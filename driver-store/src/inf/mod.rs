//! INF files: what a driver package declares. `[Version]`, the
//! `[Manufacturer]` entries and their decorated models sections, every model
//! line's hardware and compatible IDs, `[SourceDisksNames]` and
//! `[SourceDisksFiles]`, and `[Strings]` with its localized variants.
//!
//! Parsing is pure: [`Inf::parse`] takes the file name (for errors) and its
//! bytes.

mod text;

pub use text::{RawLine, RawSection, TextEncoding};

use crate::error::{Error, Result};
use crate::target::{Arch, Decoration, TargetOs};
use std::collections::{BTreeMap, BTreeSet};

/// The US English language id. Marrow resolves `%strkey%` tokens the way an
/// en-US Windows does: `[Strings.0409]` first, then `[Strings]`
/// (INF Strings section, "Creating International INF Files").
const LANGUAGE: &str = "0409";

/// A parsed INF file.
#[derive(Debug, Clone)]
pub struct Inf {
    /// The file name, as errors and reasons print it.
    pub file: String,
    pub encoding: TextEncoding,
    /// True for stampinf `.inx` templates (`$ARCH$`, `$KMDFVERSION$`, ...):
    /// they parse, with `NT$ARCH$` standing for every architecture, but they
    /// are sources, not installable packages.
    pub template: bool,
    pub version: Version,
    pub manufacturers: Vec<Manufacturer>,
    /// `%token%`s that no `[Strings]` section defines, outside `[Strings]`
    /// and the registry/copy sections Windows resolves at install time.
    pub unresolved_tokens: BTreeSet<String>,
    sections: Vec<RawSection>,
    strings: BTreeMap<String, String>,
}

/// The `[Version]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Version {
    pub signature: String,
    pub class: Option<String>,
    pub class_guid: Option<String>,
    pub provider: Option<String>,
    /// `None` when absent or empty (templates leave it to stampinf).
    pub driver_ver: Option<DriverVer>,
    /// `CatalogFile` and its platform-decorated forms, by decoration
    /// (`""` for the undecorated one, else e.g. `"ntamd64"`).
    pub catalog_files: BTreeMap<String, String>,
}

/// `DriverVer = mm/dd/yyyy[,w.x.y.z]` (INF DriverVer directive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct DriverVer {
    /// (year, month, day): ordered so newer compares greater.
    pub date: (u16, u8, u8),
    /// Missing parts are zero, as Windows reads them.
    pub version: [u16; 4],
}

impl std::fmt::Display for DriverVer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = self.date;
        let [a, b, c, e] = self.version;
        write!(f, "{m:02}/{d:02}/{y:04},{a}.{b}.{c}.{e}")
    }
}

impl DriverVer {
    fn parse(fields: &[String]) -> Result<Option<DriverVer>, String> {
        let date = fields.first().map(|s| s.trim()).unwrap_or("");
        if date.is_empty() {
            return Ok(None);
        }
        let parts: Vec<&str> = date.split(['/', '-']).collect();
        let [m, d, y] = parts[..] else {
            return Err(format!("DriverVer date {date:?} is not mm/dd/yyyy"));
        };
        let num = |s: &str, what: &str| {
            s.trim()
                .parse::<u16>()
                .map_err(|_| format!("DriverVer {what} {s:?} in {date:?} is not a number"))
        };
        let (m, d, y) = (num(m, "month")?, num(d, "day")?, num(y, "year")?);
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) || y < 1980 {
            return Err(format!("DriverVer date {date:?} is out of range"));
        }
        let mut version = [0u16; 4];
        if let Some(v) = fields.get(1).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            let parts: Vec<&str> = v.split('.').collect();
            if parts.len() > 4 {
                return Err(format!("DriverVer version {v:?} has more than four parts"));
            }
            for (slot, part) in version.iter_mut().zip(parts) {
                *slot = part
                    .trim()
                    .parse()
                    .map_err(|_| format!("DriverVer version {v:?} is not w.x.y.z"))?;
            }
        }
        Ok(Some(DriverVer {
            date: (y, m as u8, d as u8),
            version,
        }))
    }
}

/// One `[Manufacturer]` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Manufacturer {
    /// The manufacturer name, `%strkey%` resolved.
    pub name: String,
    /// The undecorated models section name.
    pub models_section: String,
    pub decorations: Vec<Decoration>,
    pub line: usize,
}

/// One device line of a models section:
/// `device-description = install-section-name[, hw-id][, compatible-id...]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Model {
    pub manufacturer: String,
    /// The models section the line is in (decorated name).
    pub section: String,
    pub description: String,
    pub install_section: String,
    /// The INF's hardware ID for the device; `None` when the line leaves it
    /// empty and lists only compatible IDs.
    pub hardware_id: Option<String>,
    pub compatible_ids: Vec<String>,
    pub line: usize,
}

/// Which models sections of one manufacturer apply to a target, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// This models section (by name) applies.
    Section(String),
    /// Nothing applies; the reason names the decorations that were tried.
    Excluded(String),
}

/// A file the package must carry (`[SourceDisksFiles]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SourceFile {
    pub name: String,
    /// Path relative to the INF's directory, `/`-separated.
    pub path: String,
    pub line: usize,
}

impl Inf {
    /// Parses an INF file. `file` names it in errors (`nete1000.inf line 57: ...`).
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Inf> {
        let (text, encoding) = text::decode(file, bytes)?;
        let sections = text::sections(file, &text)?;
        let err = |line: usize, reason: String| Error::Inf {
            file: file.to_string(),
            line,
            reason,
        };
        let lower = text.to_ascii_lowercase();
        let template = [
            "$arch$",
            "$kmdfversion$",
            "$umdfversion$",
            "$kmdfcoinstallerversion$",
        ]
        .iter()
        .any(|p| lower.contains(p));

        let mut strings = BTreeMap::new();
        for wanted in ["strings".to_string(), format!("strings.{LANGUAGE}")] {
            if let Some(s) = sections
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(&wanted))
            {
                for line in &s.lines {
                    if let Some(key) = &line.key {
                        strings.insert(
                            key.to_ascii_lowercase(),
                            text::unquote(&line.fields.join(",")),
                        );
                    }
                }
            }
        }

        let mut inf = Inf {
            file: file.to_string(),
            encoding,
            template,
            version: Version::default(),
            manufacturers: Vec::new(),
            unresolved_tokens: BTreeSet::new(),
            sections,
            strings,
        };

        let Some(version) = inf.section("Version").cloned() else {
            return Err(err(1, "no [Version] section".into()));
        };
        let mut signature = None;
        for line in &version.lines {
            let Some(key) = &line.key else { continue };
            let values: Vec<String> = line.fields.iter().map(|f| inf.value(f)).collect();
            let first = values.first().cloned().unwrap_or_default();
            let key = key.to_ascii_lowercase();
            match key.as_str() {
                "signature" => signature = Some((first, line.line)),
                "class" => inf.version.class = Some(first),
                "classguid" => inf.version.class_guid = Some(first),
                "provider" => inf.version.provider = Some(first),
                "driverver" => {
                    inf.version.driver_ver =
                        DriverVer::parse(&values).map_err(|r| err(line.line, r))?
                }
                _ if key == "catalogfile" || key.starts_with("catalogfile.") => {
                    let decoration = key
                        .strip_prefix("catalogfile")
                        .unwrap()
                        .trim_start_matches('.');
                    inf.version
                        .catalog_files
                        .insert(decoration.to_string(), first);
                }
                _ => {}
            }
        }
        let Some((signature, sig_line)) = signature else {
            return Err(err(version.line, "[Version] has no Signature".into()));
        };
        // INF Version section: "$Windows NT$", "$Chicago$" or "$Windows 95$".
        if !["$windows nt$", "$chicago$", "$windows 95$"]
            .contains(&signature.to_ascii_lowercase().as_str())
        {
            return Err(err(sig_line, format!("unknown Signature {signature:?}")));
        }
        inf.version.signature = signature;

        if let Some(mfg) = inf.section("Manufacturer").cloned() {
            for line in &mfg.lines {
                let first = line
                    .fields
                    .first()
                    .map(|f| inf.value(f))
                    .unwrap_or_default();
                let (name, models_section, decorations) = match &line.key {
                    Some(key) => (inf.value(key), first, &line.fields[1..]),
                    // A bare `manufacturer-name`: the models section has its name.
                    None => (first.clone(), first, &line.fields[1..]),
                };
                if models_section.is_empty() {
                    return Err(err(
                        line.line,
                        format!("manufacturer {name:?} names no models section"),
                    ));
                }
                let mut decs = Vec::new();
                for d in decorations {
                    let raw = inf.value(d);
                    if raw.is_empty() {
                        continue;
                    }
                    let dec = Decoration::parse(&raw).ok_or_else(|| {
                        err(
                            line.line,
                            format!("decoration {raw:?} does not start with NT"),
                        )
                    })?;
                    decs.push(dec);
                }
                inf.manufacturers.push(Manufacturer {
                    name,
                    models_section,
                    decorations: decs,
                    line: line.line,
                });
            }
        }

        // Surface tokens [Strings] does not define where they matter: the
        // version, manufacturer and models lines.
        let mut unresolved = BTreeSet::new();
        let mut check = |field: &str| {
            text::resolve(field, &|t| inf.lookup(t), &mut |t| {
                unresolved.insert(t.to_string());
            });
        };
        for line in &version.lines {
            line.fields.iter().for_each(|f| check(f));
        }
        for m in &inf.manufacturers {
            for section in inf.models_section_names(m) {
                if let Some(s) = inf.section(&section) {
                    for line in &s.lines {
                        line.key.iter().for_each(|k| check(k));
                        line.fields.iter().for_each(|f| check(f));
                    }
                }
            }
        }
        inf.unresolved_tokens = unresolved;
        Ok(inf)
    }

    /// The section of that name (case-insensitive), if present.
    pub fn section(&self, name: &str) -> Option<&RawSection> {
        self.sections
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// Section names, in file order.
    pub fn section_names(&self) -> impl Iterator<Item = &str> {
        self.sections.iter().map(|s| s.name.as_str())
    }

    /// A `%strkey%` value, en-US first.
    pub fn string(&self, key: &str) -> Option<&str> {
        self.strings
            .get(&key.to_ascii_lowercase())
            .map(String::as_str)
    }

    fn lookup(&self, token: &str) -> Option<String> {
        self.string(token).map(str::to_string)
    }

    /// A field with quotes removed and `%strkey%` tokens resolved.
    fn value(&self, field: &str) -> String {
        text::resolve(field, &|t| self.lookup(t), &mut |_| {})
    }

    /// Every models section name a manufacturer entry names: the undecorated
    /// one and one per decoration.
    fn models_section_names(&self, m: &Manufacturer) -> Vec<String> {
        std::iter::once(m.models_section.clone())
            .chain(
                m.decorations
                    .iter()
                    .map(|d| format!("{}.{}", m.models_section, d.raw)),
            )
            .collect()
    }

    /// The model lines of one models section.
    fn models_in(&self, manufacturer: &str, section: &str) -> Result<Vec<Model>> {
        let Some(s) = self.section(section) else {
            return Ok(Vec::new());
        };
        let mut models = Vec::new();
        for line in &s.lines {
            let fields: Vec<String> = line.fields.iter().map(|f| self.value(f)).collect();
            let description = line
                .key
                .as_deref()
                .map(|k| self.value(k))
                .unwrap_or_default();
            let install = fields.first().cloned().unwrap_or_default();
            let err = |reason: &str| Error::Inf {
                file: self.file.clone(),
                line: line.line,
                reason: format!("models section [{}]: {reason}", s.name),
            };
            if line.key.is_none() {
                return Err(err("device line without `description =`"));
            }
            if install.is_empty() {
                return Err(err("device line without an install section"));
            }
            let hardware_id = fields.get(1).filter(|id| !id.is_empty()).cloned();
            let compatible_ids: Vec<String> = fields
                .iter()
                .skip(2)
                .filter(|id| !id.is_empty())
                .cloned()
                .collect();
            if hardware_id.is_none() && compatible_ids.is_empty() {
                // INF Models section: at least one device ID per entry.
                return Err(err("device line without a hardware or compatible ID"));
            }
            models.push(Model {
                manufacturer: manufacturer.to_string(),
                section: s.name.clone(),
                description,
                install_section: install,
                hardware_id,
                compatible_ids,
                line: line.line,
            });
        }
        Ok(models)
    }

    /// Every model line of every models section the manufacturers name,
    /// whatever the target: what the INF declares.
    pub fn all_models(&self) -> Result<Vec<Model>> {
        let mut models = Vec::new();
        for m in &self.manufacturers {
            for section in self.models_section_names(m) {
                models.extend(self.models_in(&m.name, &section)?);
            }
        }
        Ok(models)
    }

    /// Which models section of `m` Windows uses on `target`.
    ///
    /// As the INF Manufacturer section documents: among the decorations
    /// that apply to the target (architecture, OS version, build, product
    /// type), the most specific one wins. If none applies, the undecorated
    /// section is used only on x86: since Windows Server 2003 SP1 every
    /// non-x86 platform needs a decorated models section.
    pub fn select(&self, m: &Manufacturer, target: &TargetOs) -> Selection {
        let mut best: Option<&Decoration> = None;
        let mut refused = Vec::new();
        for d in &m.decorations {
            match target.accepts(d) {
                Ok(()) => {
                    if best.is_none_or(|b| d.specificity() > b.specificity()) {
                        best = Some(d);
                    }
                }
                Err(why) => refused.push(why),
            }
        }
        if let Some(d) = best {
            return Selection::Section(format!("{}.{}", m.models_section, d.raw));
        }
        if target.arch == Arch::X86 {
            return Selection::Section(m.models_section.clone());
        }
        let mut reason = format!(
            "manufacturer {:?} has no models section for {target}",
            m.name
        );
        if !refused.is_empty() {
            reason.push_str(&format!(" ({})", refused.join("; ")));
        } else {
            reason.push_str(" (undecorated sections are x86 only)");
        }
        Selection::Excluded(reason)
    }

    /// The model lines Windows would consider on `target`, and the reasons
    /// the manufacturers left out were left out.
    pub fn models_for(&self, target: &TargetOs) -> Result<(Vec<Model>, Vec<String>)> {
        let mut models = Vec::new();
        let mut excluded = Vec::new();
        for m in &self.manufacturers {
            match self.select(m, target) {
                Selection::Section(s) => {
                    if self.section(&s).is_none() {
                        excluded.push(format!(
                            "manufacturer {:?} line {}: models section [{s}] is missing",
                            m.name, m.line
                        ));
                    }
                    models.extend(self.models_in(&m.name, &s)?);
                }
                Selection::Excluded(why) => excluded.push(why),
            }
        }
        Ok((models, excluded))
    }

    /// `FeatureScore` of an install section on `target` (INF DDInstall
    /// section): the platform-decorated section first (`.NTamd64`, then
    /// `.NT`), then the undecorated one. Written in hex, with or without `0x`.
    pub fn feature_score(&self, install_section: &str, target: &TargetOs) -> Option<u8> {
        let candidates = [
            format!("{install_section}.NT{}", target.arch.inf_name()),
            format!("{install_section}.NT"),
            install_section.to_string(),
        ];
        let section = candidates.iter().find_map(|name| self.section(name))?;
        section.lines.iter().find_map(|line| {
            let key = line.key.as_deref()?;
            if !key.eq_ignore_ascii_case("FeatureScore") {
                return None;
            }
            let value = self.value(line.fields.first()?);
            let hex = value.trim();
            let hex = hex
                .strip_prefix("0x")
                .or_else(|| hex.strip_prefix("0X"))
                .unwrap_or(hex);
            u8::from_str_radix(hex, 16).ok()
        })
    }

    /// The catalog file the package is signed by on `arch`:
    /// `CatalogFile.NTamd64` over `CatalogFile.NT` over `CatalogFile`.
    pub fn catalog_file(&self, arch: Arch) -> Option<&str> {
        let arch_key = format!("nt{}", arch.inf_name());
        [arch_key.as_str(), "nt", ""]
            .iter()
            .find_map(|k| self.version.catalog_files.get(*k))
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The files the package must carry on `arch`, from `[SourceDisksFiles]`
    /// and `[SourceDisksFiles.<arch>]` (the decorated entry wins), placed by
    /// the `path` field of their `[SourceDisksNames]` disk plus their own
    /// `subdir` field (INF SourceDisksNames and SourceDisksFiles sections).
    pub fn source_files(&self, arch: Arch) -> Vec<SourceFile> {
        let decorated = |base: &str| -> Vec<&RawLine> {
            let mut lines: Vec<&RawLine> = Vec::new();
            for name in [format!("{base}.{}", arch.inf_name()), base.to_string()] {
                if let Some(s) = self.section(&name) {
                    lines.extend(s.lines.iter());
                }
            }
            lines
        };
        let mut disks: BTreeMap<String, String> = BTreeMap::new();
        for line in decorated("SourceDisksNames") {
            if let Some(id) = &line.key {
                let path = line
                    .fields
                    .get(3)
                    .map(|f| self.value(f))
                    .unwrap_or_default();
                disks.entry(id.trim().to_string()).or_insert(path);
            }
        }
        let mut files: Vec<SourceFile> = Vec::new();
        for line in decorated("SourceDisksFiles") {
            let Some(name) = line.key.as_deref().map(|k| self.value(k)) else {
                continue;
            };
            if files.iter().any(|f| f.name.eq_ignore_ascii_case(&name)) {
                continue;
            }
            let disk = line
                .fields
                .first()
                .map(|f| self.value(f))
                .unwrap_or_default();
            let subdir = line
                .fields
                .get(1)
                .map(|f| self.value(f))
                .unwrap_or_default();
            let disk_path = disks.get(disk.trim()).cloned().unwrap_or_default();
            let path: Vec<&str> = [disk_path.as_str(), subdir.as_str(), name.as_str()]
                .iter()
                .flat_map(|p| p.split(['\\', '/']))
                .filter(|p| !p.is_empty() && *p != ".")
                .collect();
            files.push(SourceFile {
                name: name.clone(),
                path: path.join("/"),
                line: line.line,
            });
        }
        files
    }
}
