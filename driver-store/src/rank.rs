//! Driver ranking as Windows Plug and Play does it ("How Windows ranks
//! driver packages", learn.microsoft.com, windows-hardware/drivers/install).
//!
//! A rank is `0xSSGGTHHH`, lower is better:
//! - `SS` signature score. Marrow does not verify Authenticode or WHQL
//!   signatures, so a package whose INF names a catalog that is present
//!   gets the worst signed score, `SIGNERSCORE_AUTHENTICODE` (0x0F), and a
//!   package without one `SIGNERSCORE_UNSIGNED` (0x80) (setupapi.h).
//! - `GG` feature score: the DDInstall section's `FeatureScore`, else 0xFF.
//! - `THHH` identifier score ("Identifier Score" and "Driver Package Rank
//!   Example"): with the device's hardware IDs `HwID_i` and compatible IDs
//!   `CID_k` (0-based), and an INF line `desc = install, INF_HwID, INF_CID_0, INF_CID_1...`:
//!   - `HwID_i` = `INF_HwID`: `0x0000 + i`
//!   - `HwID_i` = `INF_CID_j`: `0x1000 + i`
//!   - `CID_k` = `INF_HwID`: `0x2000 + k`
//!   - `CID_k` = `INF_CID_j`: `0x3000 + k + 0x100 * j`
//!
//! Among equal ranks Windows takes the newest DriverVer date, then the
//! highest DriverVer version. Models sections for another architecture or a
//! newer Windows never enter the index (see [`crate::Inf::models_for`]).

use crate::hwid::DeviceIds;
use crate::inf::{DriverVer, Inf, Model};
use crate::target::TargetOs;

/// How a package is signed, as far as Marrow can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signature {
    /// The INF names a catalog (`CatalogFile`) and the package carries it.
    /// Not verified: ranked as the worst signed score.
    CatalogPresent,
    /// No catalog: an unsigned package.
    Unsigned,
}

impl Signature {
    /// The `SS` byte of the rank.
    pub fn score(self) -> u8 {
        match self {
            Signature::CatalogPresent => 0x0F,
            Signature::Unsigned => 0x80,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Signature::CatalogPresent => "catalog present, signature not verified",
            Signature::Unsigned => "unsigned",
        }
    }
}

/// The feature score Windows assumes when an INF sets none.
pub const DEFAULT_FEATURE_SCORE: u8 = 0xFF;

/// One model line that applies to the index's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The package's id in the store.
    pub package: String,
    /// The INF's path inside the package, `/`-separated.
    pub inf: String,
    pub model: Model,
    pub driver_ver: Option<DriverVer>,
    pub signature: Signature,
    pub feature_score: u8,
}

/// A model line left out for the target, kept so a report can say why a
/// package that names the device was not chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExcludedEntry {
    pub package: String,
    pub inf: String,
    pub model: Model,
    pub reason: String,
}

/// The model lines of many packages, selected for one target OS.
#[derive(Debug, Clone)]
pub struct DriverIndex {
    pub target: TargetOs,
    pub entries: Vec<IndexEntry>,
    pub excluded: Vec<ExcludedEntry>,
}

impl DriverIndex {
    pub fn new(target: TargetOs) -> DriverIndex {
        DriverIndex {
            target,
            entries: Vec::new(),
            excluded: Vec::new(),
        }
    }

    /// Adds the model lines of `inf` that Windows would consider on the
    /// target, and records the others with the reason they were left out.
    pub fn add_inf(
        &mut self,
        package: &str,
        inf_path: &str,
        inf: &Inf,
        signature: Signature,
    ) -> crate::Result<()> {
        let (models, _) = inf.models_for(&self.target)?;
        for model in inf.all_models()? {
            if models.contains(&model) {
                continue;
            }
            let reason = inf
                .manufacturers
                .iter()
                .find(|m| m.name == model.manufacturer)
                .map(|m| match inf.select(m, &self.target) {
                    crate::inf::Selection::Excluded(why) => why,
                    crate::inf::Selection::Section(s) => format!(
                        "[{}] is not the models section chosen for {} ([{s}] is)",
                        model.section, self.target
                    ),
                })
                .unwrap_or_default();
            self.excluded.push(ExcludedEntry {
                package: package.to_string(),
                inf: inf_path.to_string(),
                model,
                reason,
            });
        }
        for model in models {
            let feature_score = inf
                .feature_score(&model.install_section, &self.target)
                .unwrap_or(DEFAULT_FEATURE_SCORE);
            self.entries.push(IndexEntry {
                package: package.to_string(),
                inf: inf_path.to_string(),
                model,
                driver_ver: inf.version.driver_ver,
                signature,
                feature_score,
            });
        }
        Ok(())
    }
}

/// A package that can drive the device, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub package: String,
    pub inf: String,
    /// Line of the model entry in the INF.
    pub line: usize,
    /// The ID as the INF writes it.
    pub matched_id: String,
    /// The device's ID it matched.
    pub device_id: String,
    pub rank: u32,
    pub driver_ver: Option<DriverVer>,
    /// "hardware ID #2 `PCI\VEN_8086&DEV_100E` matched ... (rank 0x...)".
    pub reason: String,
}

/// A package that names the device but was left out for the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excluded {
    pub package: String,
    pub inf: String,
    pub matched_id: String,
    pub reason: String,
}

/// The best identifier match of one model line: (identifier score, the
/// INF's ID, the device's ID, words for the reason).
fn identifier_score(ids: &DeviceIds, model: &Model) -> Option<(u32, String, String, String)> {
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let mut best: Option<(u32, String, String, String)> = None;
    let mut consider = |score: u32, inf_id: &str, dev_id: &str, words: String| {
        if best.as_ref().is_none_or(|b| score < b.0) {
            best = Some((score, inf_id.to_string(), dev_id.to_string(), words));
        }
    };
    let pos = |n: usize| (n as u32).min(0xFF);
    for (i, dev) in ids.hardware_ids.iter().enumerate() {
        if let Some(hw) = model.hardware_id.as_deref().filter(|hw| eq(hw, dev)) {
            consider(
                pos(i),
                hw,
                dev,
                format!("hardware ID #{} `{dev}` matched the INF hardware ID", i + 1),
            );
        }
        for (j, cid) in model.compatible_ids.iter().enumerate() {
            if eq(cid, dev) {
                consider(
                    0x1000 + pos(i),
                    cid,
                    dev,
                    format!(
                        "hardware ID #{} `{dev}` matched INF compatible ID #{}",
                        i + 1,
                        j + 1
                    ),
                );
            }
        }
    }
    for (k, dev) in ids.compatible_ids.iter().enumerate() {
        if let Some(hw) = model.hardware_id.as_deref().filter(|hw| eq(hw, dev)) {
            consider(
                0x2000 + pos(k),
                hw,
                dev,
                format!(
                    "compatible ID #{} `{dev}` matched the INF hardware ID",
                    k + 1
                ),
            );
        }
        for (j, cid) in model.compatible_ids.iter().enumerate() {
            if eq(cid, dev) {
                consider(
                    0x3000 + pos(k) + 0x100 * pos(j).min(0xF),
                    cid,
                    dev,
                    format!(
                        "compatible ID #{} `{dev}` matched INF compatible ID #{}",
                        k + 1,
                        j + 1
                    ),
                );
            }
        }
    }
    best
}

/// The packages in `index` that can drive a device with these IDs, best
/// first: one candidate per INF (its best model line).
pub fn rank(ids: &DeviceIds, index: &DriverIndex) -> Vec<Candidate> {
    let mut best: Vec<Candidate> = Vec::new();
    for entry in &index.entries {
        let Some((id_score, inf_id, dev_id, words)) = identifier_score(ids, &entry.model) else {
            continue;
        };
        let rank = (u32::from(entry.signature.score()) << 24)
            | (u32::from(entry.feature_score) << 16)
            | id_score;
        let reason = format!(
            "{words} `{inf_id}` of {} line {} (rank 0x{rank:08X}: {}, feature score 0x{:02X}, identifier score 0x{id_score:04X})",
            entry.inf,
            entry.model.line,
            entry.signature.describe(),
            entry.feature_score,
        );
        let candidate = Candidate {
            package: entry.package.clone(),
            inf: entry.inf.clone(),
            line: entry.model.line,
            matched_id: inf_id,
            device_id: dev_id,
            rank,
            driver_ver: entry.driver_ver,
            reason,
        };
        match best
            .iter_mut()
            .find(|c| c.package == candidate.package && c.inf == candidate.inf)
        {
            Some(existing) if candidate.rank < existing.rank => *existing = candidate,
            Some(_) => {}
            None => best.push(candidate),
        }
    }
    // Lowest rank first; then the newest DriverVer date, then the highest
    // version (a missing DriverVer loses); then by name, for a stable report.
    best.sort_by(|a, b| {
        a.rank
            .cmp(&b.rank)
            .then_with(|| {
                b.driver_ver
                    .map(|d| d.date)
                    .cmp(&a.driver_ver.map(|d| d.date))
            })
            .then_with(|| {
                b.driver_ver
                    .map(|d| d.version)
                    .cmp(&a.driver_ver.map(|d| d.version))
            })
            .then_with(|| a.package.cmp(&b.package))
            .then_with(|| a.inf.cmp(&b.inf))
    });
    best
}

/// Packages whose INF names the device but not for the index's target
/// (another architecture, a newer Windows), each with the reason.
pub fn excluded_matches(ids: &DeviceIds, index: &DriverIndex) -> Vec<Excluded> {
    let mut out: Vec<Excluded> = Vec::new();
    for entry in &index.excluded {
        if let Some((_, inf_id, _, _)) = identifier_score(ids, &entry.model) {
            if out
                .iter()
                .any(|e| e.package == entry.package && e.inf == entry.inf)
            {
                continue;
            }
            out.push(Excluded {
                package: entry.package.clone(),
                inf: entry.inf.clone(),
                matched_id: inf_id,
                reason: format!("{} line {}: {}", entry.inf, entry.model.line, entry.reason),
            });
        }
    }
    out
}

/// A package chosen for injection, and the devices it was chosen for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub package: String,
    /// One line per device it is the best candidate for.
    pub reasons: Vec<String>,
}

/// What to inject for a machine: for each device the best candidate only
/// (what Windows would install), each package once, in device order.
/// Devices nothing matches contribute nothing.
pub fn choose(devices: &[DeviceIds], index: &DriverIndex) -> Vec<Chosen> {
    let mut chosen: Vec<Chosen> = Vec::new();
    for ids in devices {
        let Some(best) = rank(ids, index).into_iter().next() else {
            continue;
        };
        let device = ids
            .hardware_ids
            .first()
            .or(ids.compatible_ids.first())
            .cloned()
            .unwrap_or_default();
        let line = format!("{device}: {}", best.reason);
        match chosen.iter_mut().find(|c| c.package == best.package) {
            Some(c) => c.reasons.push(line),
            None => chosen.push(Chosen {
                package: best.package,
                reasons: vec![line],
            }),
        }
    }
    chosen
}
