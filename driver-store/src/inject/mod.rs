//! Offline driver injection into a restored Windows volume.
//!
//! After a restore the client mounts the Windows partition read-write and
//! calls [`inject`] with the packages that matched the machine. Each package
//! is copied to `<folder>\<package>\` (default `Drivers\marrow`) at the
//! volume root, first under a temporary name and then renamed, so a package
//! is either all there or not there. Then the sysprep answer file
//! `Windows\Panther\unattend.xml` gets a
//! `Microsoft-Windows-PnpCustomizationsNonWinPE` / `DriverPaths` /
//! `PathAndCredentials` entry naming the folder, in the two configuration
//! passes Microsoft documents for it, `offlineServicing` and `auditSystem`
//! ("DriverPaths", unattend reference, learn.microsoft.com: "Valid
//! Configuration Passes: auditSystem, offlineServicing"; the drivers found
//! there are copied to the driver store during that pass). The answer file
//! is edited in place: every byte outside the inserted elements stays as it
//! was, and the result is checked to be well-formed before it replaces the
//! original. `docs/drivers.md` says when Windows reads those passes.

mod computer_name;
mod package;
mod setup_complete;
mod unattend;

use std::fs;
use std::path::{Path, PathBuf};

pub use computer_name::{refuse as refuse_computer_name, set_computer_name};
pub use marrow_protocol::api::{InjectReport, Injected, Skipped};
pub use setup_complete::{setup_complete_script, SETUP_COMPLETE};
pub use unattend::{add_driver_path, new_answer_file, PASSES};

use crate::error::{io, Error, Result};
use crate::target::Arch;
use package::{check_package, copy_package, resolve_ci, sanitize, split};
use unattend::decode_answer;

/// A package to inject.
#[derive(Debug, Clone)]
pub struct InjectPackage {
    /// The folder name it gets under the drivers folder (sanitised).
    pub name: String,
    /// Its files (a store package directory).
    pub source: PathBuf,
    /// Why it was chosen; carried into the report.
    pub reason: String,
}

/// Where and how to inject.
#[derive(Debug, Clone)]
pub struct InjectOptions {
    /// The drivers folder relative to the volume root, `\` or `/` separated.
    pub folder: String,
    /// The answer file relative to the volume root.
    pub answer_file: String,
    /// The drive letter Windows will give the volume (`C:`), for the path
    /// written into the answer file.
    pub system_drive: String,
    /// The Windows architecture: the component's `processorArchitecture`
    /// and the platform whose `[SourceDisksFiles]` are checked.
    pub arch: Arch,
    /// Also add a `pnputil /add-driver` line to
    /// `Windows\Setup\Scripts\SetupComplete.cmd`, which Windows Setup runs
    /// as Local System after setup and before the logon screen ("Add a
    /// custom script to Windows Setup", learn.microsoft.com). That reaches
    /// images sealed to OOBE, which read neither answer-file pass; Windows
    /// skips the script on OEM product keys except Enterprise and Server.
    /// `pnputil /add-driver ... /subdirs /install` needs Windows 10 1607 or later.
    pub setup_complete: bool,
}

impl InjectOptions {
    pub fn new(arch: Arch) -> InjectOptions {
        InjectOptions {
            folder: r"Drivers\marrow".into(),
            answer_file: r"Windows\Panther\unattend.xml".into(),
            system_drive: "C:".into(),
            arch,
            setup_complete: true,
        }
    }

    /// The folder as Windows will see it: `C:\Drivers\marrow`.
    pub fn windows_path(&self) -> String {
        let parts: Vec<&str> = split(&self.folder).collect();
        format!("{}\\{}", self.system_drive, parts.join("\\"))
    }
}

/// Copies the packages into the mounted Windows volume at `root` and makes
/// the answer file name the drivers folder. Broken packages are skipped with
/// a warning; nothing is written when no package is left.
pub fn inject(
    root: &Path,
    packages: &[InjectPackage],
    options: &InjectOptions,
) -> Result<InjectReport> {
    let mut report = InjectReport::default();
    let folder = resolve_ci(root, &options.folder);
    let mut taken: Vec<String> = Vec::new();
    for package in packages {
        let mut name = sanitize(&package.name);
        let mut n = 2;
        while taken.iter().any(|t| t.eq_ignore_ascii_case(&name)) {
            name = format!("{}-{n}", sanitize(&package.name));
            n += 1;
        }
        let files = match check_package(&package.source, options.arch) {
            Ok(files) => files,
            Err(warning) => {
                report.skipped.push(Skipped {
                    name: package.name.clone(),
                    warning,
                });
                continue;
            }
        };
        fs::create_dir_all(&folder).map_err(io(&folder))?;
        copy_package(&package.source, &files, &folder.join(&name))?;
        report.injected.push(Injected {
            windows_path: format!("{}\\{name}", options.windows_path()),
            name: name.clone(),
            files: files.len(),
            reason: package.reason.clone(),
        });
        taken.push(name);
    }
    if report.injected.is_empty() {
        return Ok(report);
    }
    let answer = resolve_ci(root, &options.answer_file);
    let driver_path = options.windows_path();
    let (text, created) = match read_answer(&answer)? {
        Some(text) => (text, false),
        None => (String::new(), true),
    };
    let (edited, added) = if created {
        (
            new_answer_file(&driver_path, options.arch),
            PASSES.iter().map(|p| p.to_string()).collect(),
        )
    } else {
        add_driver_path(&text, &driver_path, options.arch).map_err(|reason| Error::AnswerFile {
            path: answer.clone(),
            reason,
        })?
    };
    if !added.is_empty() {
        replace_file(&answer, edited.as_bytes())?;
    }
    report.answer_file = Some(relative(root, &answer));
    report.answer_file_created = created;
    report.passes_added = added;
    if options.setup_complete {
        let script = resolve_ci(root, SETUP_COMPLETE);
        let old = match fs::read(&script) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(Error::Io {
                    path: script,
                    source: e,
                })
            }
        };
        if let Some(new) = setup_complete_script(old.as_deref(), &options.folder) {
            replace_file(&script, &new)?;
            report.setup_complete = Some(relative(root, &script));
        }
    }
    Ok(report)
}

/// Names the machine `name` in the answer file `answer_file` (relative to
/// the mounted Windows volume at `root`, found case-insensitively),
/// creating the file when there is none. Returns the file's path inside
/// the volume.
pub fn name_computer(root: &Path, answer_file: &str, name: &str, arch: Arch) -> Result<String> {
    let answer = resolve_ci(root, answer_file);
    let text = read_answer(&answer)?.unwrap_or_else(|| {
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
         <unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n</unattend>\n"
            .to_string()
    });
    let edited = set_computer_name(&text, name, arch).map_err(|reason| Error::AnswerFile {
        path: answer.clone(),
        reason,
    })?;
    if edited != text || !answer.exists() {
        replace_file(&answer, edited.as_bytes())?;
    }
    Ok(relative(root, &answer))
}

/// The answer file's text, or `None` when there is none.
fn read_answer(answer: &Path) -> Result<Option<String>> {
    match fs::read(answer) {
        Ok(bytes) => Ok(Some(decode_answer(answer, bytes)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io {
            path: answer.to_path_buf(),
            source: e,
        }),
    }
}

/// Writes `bytes` beside `path` and renames it over: the file is the old
/// one or the new one, never half of each.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).map_err(io(p))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".marrow-tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .to_string()
}
