//! Driver injection on the wire: the plan the server makes for a machine,
//! and what the client reports it did with it.

use marrow_ids::{FileHash, PackageId};
use serde::{Deserialize, Serialize};

/// The drivers the server chose for the reported machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverPlan {
    pub os: String,
    pub packages: Vec<DriverPackage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverPackage {
    /// The store's package id: the `PACKAGE` of the file paths.
    pub id: PackageId,
    /// The folder name it gets on the Windows volume.
    pub name: String,
    pub reason: String,
    pub files: Vec<DriverFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverFile {
    /// `/`-separated, relative to the package root.
    pub path: String,
    pub size: u64,
    /// BLAKE3 of the content.
    pub blake3: FileHash,
}

/// One package copied into the Windows volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injected {
    pub name: String,
    /// Where it is, as Windows will see it.
    pub windows_path: String,
    pub files: usize,
    pub reason: String,
}

/// One package left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub name: String,
    pub warning: String,
}

/// What an injection into one mounted Windows volume did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectReport {
    pub injected: Vec<Injected>,
    pub skipped: Vec<Skipped>,
    /// The answer file edited or created, relative to the volume root;
    /// `None` when nothing was injected.
    pub answer_file: Option<String>,
    pub answer_file_created: bool,
    /// The passes that got a new `DriverPaths` entry (a pass that already
    /// named the folder is left alone).
    pub passes_added: Vec<String>,
    /// `SetupComplete.cmd`, relative to the volume root, when it was
    /// created or given the `pnputil` line by this run.
    pub setup_complete: Option<String>,
}

/// The `drivers` field of a restore's [`super::Report`]: what was injected
/// into which partition, or a note saying why nothing was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DriverReport {
    /// Packages went into the Windows volume of `partition`.
    Injected {
        /// The Windows target (`win11-x64`).
        os: String,
        partition: u32,
        #[serde(flatten)]
        report: InjectReport,
    },
    /// Nothing was injected, for `note`'s reason; `injected` and `skipped`
    /// are empty.
    Nothing {
        os: String,
        note: String,
        injected: Vec<Injected>,
        skipped: Vec<Skipped>,
    },
}

/// Compact JSON with its keys in order, as consoles and logs show it.
impl std::fmt::Display for DriverReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match serde_json::to_value(self) {
            Ok(v) => v.fmt(f),
            Err(_) => f.write_str("(driver report)"),
        }
    }
}

impl DriverReport {
    /// Nothing injected, for `note`'s reason.
    pub fn nothing(os: &str, note: String) -> DriverReport {
        DriverReport::Nothing {
            os: os.to_owned(),
            note,
            injected: Vec::new(),
            skipped: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_back_what_it_wrote_in_both_forms() {
        let done = DriverReport::Injected {
            os: "win11-x64".into(),
            partition: 3,
            report: InjectReport {
                injected: vec![Injected {
                    name: "netkvm".into(),
                    windows_path: r"C:\Drivers\marrow\netkvm".into(),
                    files: 2,
                    reason: "pci 1af4:1000".into(),
                }],
                answer_file: Some(r"Windows\Panther\unattend.xml".into()),
                passes_added: vec!["offlineServicing".into()],
                ..InjectReport::default()
            },
        };
        let nothing = DriverReport::nothing("win11-x64", "no match".into());
        for r in [done, nothing] {
            let text = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<DriverReport>(&text).unwrap(), r);
        }
        let v = serde_json::to_value(DriverReport::nothing("w", "n".into())).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["injected", "note", "os", "skipped"], "{v}");
    }
}
