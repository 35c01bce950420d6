//! The driver store: packages kept content-addressed on disk and indexed by
//! hardware ID in SQLite.
//!
//! Layout under the store root (`<data-dir>/drivers/`), format version 1:
//! - `packages/<id>/...`: the package's files as imported, where `<id>` is
//!   the BLAKE3 hash of the package manifest (every file's relative path,
//!   size and BLAKE3 hash, sorted by path). The same package imported twice
//!   has the same id and is stored once. A package is written under
//!   `packages/.tmp-*` and renamed into place, so a crash never leaves a
//!   half-written package under its id.
//! - `index.sqlite`: packages, the target OS each was imported for, their
//!   INFs and every hardware/compatible ID the INFs declare.
//!
//! A package is a directory holding at least one `.inf`, with every file
//! below it except the subtrees of deeper package directories.

use crate::error::{io, Error, Result};
use crate::hwid::DeviceIds;
use crate::inf::Inf;
use crate::rank::{DriverIndex, ExcludedEntry, Signature};
use crate::target::{Arch, TargetOs};
use marrow_ids::PackageId;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The on-disk format version, kept in SQLite's `user_version`.
pub const FORMAT_VERSION: i64 = 1;

/// What the index knows about one INF of a package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InfInfo {
    /// Path inside the package, `/`-separated.
    pub path: String,
    pub class: Option<String>,
    pub provider: Option<String>,
    pub driver_ver: Option<String>,
    pub catalog: Option<String>,
    pub signature: Signature,
    /// How many model lines (hardware/compatible ID sets) it declares.
    pub models: usize,
    /// Why the INF cannot be installed (missing files, unparsable). Any
    /// problem makes the package broken: it is never matched or injected.
    pub problems: Vec<String>,
    /// Things worth knowing that do not break it, such as an `--os` it
    /// has no models section for.
    pub notes: Vec<String>,
}

/// A stored package.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PackageInfo {
    pub id: PackageId,
    pub name: String,
    /// Where it was imported from.
    pub source: String,
    /// Target OS names it was imported for (`win11-x64`).
    pub os: Vec<String>,
    pub files: u64,
    pub bytes: u64,
    pub infs: Vec<InfInfo>,
}

impl PackageInfo {
    pub fn broken(&self) -> bool {
        self.infs.iter().any(|i| !i.problems.is_empty())
    }

    pub fn problems(&self) -> Vec<String> {
        self.infs
            .iter()
            .flat_map(|i| i.problems.iter().map(move |p| format!("{}: {p}", i.path)))
            .collect()
    }
}

/// The result of importing one package.
#[derive(Debug, Clone)]
pub struct Imported {
    pub package: PackageInfo,
    /// False when the same content was already in the store.
    pub newly_stored: bool,
}

/// Progress of long imports; the CLI draws it on a terminal.
pub trait ImportProgress {
    fn file(&self, _path: &Path, _bytes: u64) {}
}

/// No progress reporting.
pub struct Quiet;
impl ImportProgress for Quiet {}

/// The index loaded for matching, and the packages left out of it.
pub struct Loaded {
    pub index: DriverIndex,
    /// Broken packages that declare some of the wanted IDs, never matched.
    pub skipped: Vec<SkippedPackage>,
}

/// A broken package left out of matching.
#[derive(Debug, Clone)]
pub struct SkippedPackage {
    pub package: PackageInfo,
    pub reason: String,
    /// The wanted device IDs (upper case) its INFs declare.
    pub ids: BTreeSet<String>,
}

pub struct Store {
    root: PathBuf,
    db_path: PathBuf,
    db: Connection,
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store> {
        fs::create_dir_all(root.join("packages")).map_err(io(root.join("packages")))?;
        let db_path = root.join("index.sqlite");
        let db = Connection::open(&db_path).map_err(|source| Error::Db {
            path: db_path.clone(),
            source,
        })?;
        let store = Store {
            root: root.to_path_buf(),
            db_path,
            db,
        };
        store.migrate()?;
        Ok(store)
    }

    fn db_err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        move |source| Error::Db {
            path: self.db_path.clone(),
            source,
        }
    }

    fn migrate(&self) -> Result<()> {
        let version: i64 = self
            .db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(self.db_err())?;
        if version > FORMAT_VERSION {
            return Err(Error::Package {
                path: self.db_path.clone(),
                reason: format!(
                    "driver index format {version} is newer than this marrow ({FORMAT_VERSION})"
                ),
            });
        }
        self.db
            .execute_batch(
                "PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = 5000;
                 CREATE TABLE IF NOT EXISTS packages (
                     id TEXT PRIMARY KEY, name TEXT NOT NULL, source TEXT NOT NULL,
                     files INTEGER NOT NULL, bytes INTEGER NOT NULL);
                 CREATE TABLE IF NOT EXISTS package_os (
                     package TEXT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
                     os TEXT NOT NULL, PRIMARY KEY (package, os));
                 CREATE TABLE IF NOT EXISTS infs (
                     package TEXT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
                     path TEXT NOT NULL, info TEXT NOT NULL, PRIMARY KEY (package, path));
                 CREATE TABLE IF NOT EXISTS device_ids (
                     package TEXT NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
                     inf TEXT NOT NULL, line INTEGER NOT NULL, id TEXT NOT NULL,
                     kind TEXT NOT NULL);
                 CREATE INDEX IF NOT EXISTS device_ids_by_id ON device_ids(id);
                 PRAGMA user_version = 1;",
            )
            .map_err(self.db_err())
    }

    /// Where a package's files are.
    pub fn package_dir(&self, id: &PackageId) -> PathBuf {
        self.root.join("packages").join(id.to_hex())
    }

    /// Imports every package found in `source` (a directory or a ZIP file)
    /// for the given targets.
    pub fn add(
        &mut self,
        source: &Path,
        targets: &[TargetOs],
        progress: &dyn ImportProgress,
    ) -> Result<Vec<Imported>> {
        let meta = fs::metadata(source).map_err(io(source))?;
        if meta.is_dir() {
            return self.add_dir(source, source, targets, progress);
        }
        let tmp = tempfile::Builder::new()
            .prefix(".unzip-")
            .tempdir_in(self.root.join("packages"))
            .map_err(io(self.root.join("packages")))?;
        unzip(source, tmp.path())?;
        self.add_dir(tmp.path(), source, targets, progress)
    }

    fn add_dir(
        &mut self,
        dir: &Path,
        shown_as: &Path,
        targets: &[TargetOs],
        progress: &dyn ImportProgress,
    ) -> Result<Vec<Imported>> {
        let files = walk(dir)?;
        let roots: BTreeSet<PathBuf> = files
            .iter()
            .filter(|f| has_ext(f, "inf"))
            .map(|f| f.parent().unwrap_or(Path::new("")).to_path_buf())
            .collect();
        if roots.is_empty() {
            return Err(Error::Package {
                path: shown_as.to_path_buf(),
                reason: "no .inf file in it".into(),
            });
        }
        let mut imported = Vec::new();
        for root in &roots {
            // Files under this root but not under a deeper package root.
            let mine: Vec<PathBuf> = files
                .iter()
                .filter(|f| f.starts_with(root))
                .filter(|f| {
                    !roots
                        .iter()
                        .any(|r| r != root && r.starts_with(root) && f.starts_with(r))
                })
                .map(|f| f.strip_prefix(root).unwrap().to_path_buf())
                .collect();
            let name = if root.as_os_str().is_empty() {
                shown_as
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_else(|| "package".into())
            } else {
                root.file_name().unwrap().to_string_lossy().to_string()
            };
            let source = shown_as.join(root).display().to_string();
            imported.push(self.add_package(
                &dir.join(root),
                &mine,
                &name,
                &source,
                targets,
                progress,
            )?);
        }
        Ok(imported)
    }

    fn add_package(
        &mut self,
        dir: &Path,
        files: &[PathBuf],
        name: &str,
        source: &str,
        targets: &[TargetOs],
        progress: &dyn ImportProgress,
    ) -> Result<Imported> {
        let packages = self.root.join("packages");
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempdir_in(&packages)
            .map_err(io(&packages))?;
        let mut manifest: Vec<(String, u64, String)> = Vec::new();
        for rel in files {
            let from = dir.join(rel);
            let to = tmp.path().join(rel);
            if let Some(parent) = to.parent() {
                fs::create_dir_all(parent).map_err(io(parent))?;
            }
            let (len, hash) = copy_hashing(&from, &to)?;
            progress.file(rel, len);
            manifest.push((slash(rel), len, hash));
        }
        manifest.sort();
        let mut hasher = blake3::Hasher::new();
        for (path, len, hash) in &manifest {
            hasher.update(format!("{path}\0{len}\0{hash}\n").as_bytes());
        }
        let id = PackageId(*hasher.finalize().as_bytes());
        let dest = self.package_dir(&id);
        let mut newly_stored = !dest.exists();
        if newly_stored {
            let kept = tmp.keep();
            if let Err(e) = fs::rename(&kept, &dest) {
                // Another import of the same content won the race: same id,
                // same bytes, so theirs is as good as ours.
                let _ = fs::remove_dir_all(&kept);
                if !dest.is_dir() {
                    return Err(Error::Io {
                        path: dest,
                        source: e,
                    });
                }
                newly_stored = false;
            }
        }
        let infs = describe_infs(&dest, &manifest, targets)?;
        let bytes: u64 = manifest.iter().map(|m| m.1).sum();
        let os: Vec<String> = targets.iter().map(os_tag).collect();

        let tx = self
            .db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|source| Error::Db {
                path: self.db_path.clone(),
                source,
            })?;
        let db_err = |source| Error::Db {
            path: self.db_path.clone(),
            source,
        };
        tx.execute(
            "INSERT OR IGNORE INTO packages (id, name, source, files, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id.to_hex(), name, source, manifest.len() as i64, bytes as i64],
        )
        .map_err(db_err)?;
        for tag in &os {
            tx.execute(
                "INSERT OR IGNORE INTO package_os (package, os) VALUES (?1, ?2)",
                params![id.to_hex(), tag],
            )
            .map_err(db_err)?;
        }
        // Re-describe the INFs: the problems depend on the targets.
        tx.execute("DELETE FROM infs WHERE package = ?1", params![id.to_hex()])
            .map_err(db_err)?;
        tx.execute(
            "DELETE FROM device_ids WHERE package = ?1",
            params![id.to_hex()],
        )
        .map_err(db_err)?;
        for (info, models) in &infs {
            tx.execute(
                "INSERT INTO infs (package, path, info) VALUES (?1, ?2, ?3)",
                params![id.to_hex(), info.path, serde_json::to_string(info).unwrap()],
            )
            .map_err(db_err)?;
            for m in models {
                let ids = m
                    .hardware_id
                    .iter()
                    .map(|h| (h, "hardware"))
                    .chain(m.compatible_ids.iter().map(|c| (c, "compatible")));
                for (dev_id, kind) in ids {
                    tx.execute(
                        "INSERT INTO device_ids (package, inf, line, id, kind) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![id.to_hex(), info.path, m.line as i64, dev_id.to_ascii_uppercase(), kind],
                    )
                    .map_err(db_err)?;
                }
            }
        }
        tx.commit().map_err(db_err)?;
        Ok(Imported {
            package: self.get(&id)?,
            newly_stored,
        })
    }

    fn get(&self, id: &PackageId) -> Result<PackageInfo> {
        let hex_id = id.to_hex();
        let row = self
            .db
            .query_row(
                "SELECT name, source, files, bytes FROM packages WHERE id = ?1",
                params![hex_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                },
            )
            .optional()
            .map_err(self.db_err())?;
        let Some((name, source, files, bytes)) = row else {
            return Err(Error::UnknownPackage {
                id: id.to_hex(),
                store: self.root.clone(),
            });
        };
        let mut stmt = self
            .db
            .prepare("SELECT os FROM package_os WHERE package = ?1 ORDER BY os")
            .map_err(self.db_err())?;
        let os = stmt
            .query_map(params![hex_id], |r| r.get::<_, String>(0))
            .and_then(Iterator::collect)
            .map_err(self.db_err())?;
        let mut stmt = self
            .db
            .prepare("SELECT info FROM infs WHERE package = ?1 ORDER BY path")
            .map_err(self.db_err())?;
        let infos: Vec<String> = stmt
            .query_map(params![hex_id], |r| r.get::<_, String>(0))
            .and_then(Iterator::collect)
            .map_err(self.db_err())?;
        let infs = infos
            .iter()
            .map(|j| serde_json::from_str::<InfInfoRow>(j).map(InfInfo::from))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Package {
                path: self.db_path.clone(),
                reason: format!("package {hex_id}: unreadable INF record: {e}"),
            })?;
        Ok(PackageInfo {
            id: *id,
            name,
            source,
            os,
            files: files as u64,
            bytes: bytes as u64,
            infs,
        })
    }

    /// Every stored package, by name then id.
    pub fn list(&self) -> Result<Vec<PackageInfo>> {
        let mut stmt = self
            .db
            .prepare("SELECT id FROM packages ORDER BY name, id")
            .map_err(self.db_err())?;
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(Iterator::collect)
            .map_err(self.db_err())?;
        ids.iter()
            .filter_map(|h| PackageId::from_hex(h))
            .map(|id| self.get(&id))
            .collect()
    }

    /// Finds a package by id (full, or a unique prefix of at least 4 digits)
    /// or by its unique name.
    pub fn find(&self, key: &str) -> Result<PackageInfo> {
        let all = self.list()?;
        let key_lower = key.to_ascii_lowercase();
        let by_id: Vec<&PackageInfo> =
            if key.len() >= 4 && key.chars().all(|c| c.is_ascii_hexdigit()) {
                all.iter()
                    .filter(|p| p.id.to_hex().starts_with(&key_lower))
                    .collect()
            } else {
                Vec::new()
            };
        let hits = if by_id.is_empty() {
            all.iter().filter(|p| p.name == key).collect()
        } else {
            by_id
        };
        match hits[..] {
            [one] => Ok(one.clone()),
            [] => Err(Error::UnknownPackage {
                id: key.to_string(),
                store: self.root.clone(),
            }),
            _ => Err(Error::Package {
                path: self.root.clone(),
                reason: format!(
                    "{key:?} names {} packages ({}); give more of the id",
                    hits.len(),
                    hits.iter()
                        .map(|p| p.id.short())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    /// Removes a package from the index and from disk.
    pub fn remove(&mut self, key: &str) -> Result<PackageInfo> {
        let package = self.find(key)?;
        self.db
            .execute(
                "DELETE FROM packages WHERE id = ?1",
                params![package.id.to_hex()],
            )
            .map_err(self.db_err())?;
        let dir = self.package_dir(&package.id);
        // Rename first, so the id never points at a half-deleted package.
        let doomed = self
            .root
            .join("packages")
            .join(format!(".rm-{}", package.id.to_hex()));
        if dir.exists() {
            fs::rename(&dir, &doomed).map_err(io(&dir))?;
            fs::remove_dir_all(&doomed).map_err(io(&doomed))?;
        }
        Ok(package)
    }

    /// The index of model lines for `target`, over the packages that
    /// declare any of `ids` (all packages when `ids` is `None`).
    pub fn load(&self, target: &TargetOs, ids: Option<&[DeviceIds]>) -> Result<Loaded> {
        let wanted: Option<BTreeSet<String>> = ids.map(|list| {
            list.iter()
                .flat_map(|d| d.hardware_ids.iter().chain(&d.compatible_ids))
                .map(|s| s.to_ascii_uppercase())
                .collect()
        });
        let mut declared: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let packages: Vec<PackageInfo> = match &wanted {
            None => self.list()?,
            Some(wanted) => {
                let mut found = BTreeSet::new();
                let mut stmt = self
                    .db
                    .prepare("SELECT DISTINCT package FROM device_ids WHERE id = ?1")
                    .map_err(self.db_err())?;
                for id in wanted {
                    let rows: Vec<String> = stmt
                        .query_map(params![id], |r| r.get::<_, String>(0))
                        .and_then(Iterator::collect)
                        .map_err(self.db_err())?;
                    for package in rows {
                        declared
                            .entry(package.clone())
                            .or_default()
                            .insert(id.clone());
                        found.insert(package);
                    }
                }
                found
                    .iter()
                    .filter_map(|h| PackageId::from_hex(h))
                    .map(|id| self.get(&id))
                    .collect::<Result<_>>()?
            }
        };
        let mut index = DriverIndex::new(*target);
        let mut skipped = Vec::new();
        let tag = os_tag(target);
        for package in packages {
            if package.broken() {
                let reason = format!("broken: {}", package.problems().join("; "));
                let ids = declared.remove(&package.id.to_hex()).unwrap_or_default();
                skipped.push(SkippedPackage {
                    package,
                    reason,
                    ids,
                });
                continue;
            }
            let dir = self.package_dir(&package.id);
            let mut own = DriverIndex::new(*target);
            for info in &package.infs {
                let path = dir.join(&info.path);
                let bytes = fs::read(&path).map_err(io(&path))?;
                let inf = Inf::parse(&info.path, &bytes)?;
                own.add_inf(&package.id.short(), &info.path, &inf, info.signature)?;
            }
            if package.os.contains(&tag) {
                index.entries.extend(own.entries);
                index.excluded.extend(own.excluded);
            } else {
                let why = format!(
                    "package {} ({}) was imported for {}, not {tag}",
                    package.id.short(),
                    package.name,
                    package.os.join(", ")
                );
                index
                    .excluded
                    .extend(own.entries.into_iter().map(|e| ExcludedEntry {
                        package: e.package,
                        inf: e.inf,
                        model: e.model,
                        reason: why.clone(),
                    }));
                index.excluded.extend(own.excluded);
            }
        }
        Ok(Loaded { index, skipped })
    }
}

/// The tag a target is recorded under: its name and architecture, no build.
pub fn os_tag(target: &TargetOs) -> String {
    let text = target.to_string();
    text.split('@').next().unwrap_or(&text).to_string()
}

/// [`InfInfo`] as stored (JSON in the `infs` table).
#[derive(serde::Deserialize)]
struct InfInfoRow {
    path: String,
    class: Option<String>,
    provider: Option<String>,
    driver_ver: Option<String>,
    catalog: Option<String>,
    signature: String,
    models: usize,
    problems: Vec<String>,
    #[serde(default)]
    notes: Vec<String>,
}

impl From<InfInfoRow> for InfInfo {
    fn from(r: InfInfoRow) -> InfInfo {
        InfInfo {
            path: r.path,
            class: r.class,
            provider: r.provider,
            driver_ver: r.driver_ver,
            catalog: r.catalog,
            signature: if r.signature == "catalog-present" {
                Signature::CatalogPresent
            } else {
                Signature::Unsigned
            },
            models: r.models,
            problems: r.problems,
            notes: r.notes,
        }
    }
}

/// Parses every INF of a stored package and checks the files it names
/// against the package, for each target's architecture.
fn describe_infs(
    dir: &Path,
    manifest: &[(String, u64, String)],
    targets: &[TargetOs],
) -> Result<Vec<(InfInfo, Vec<crate::inf::Model>)>> {
    // Windows file names are case-insensitive.
    let present: BTreeMap<String, &str> = manifest
        .iter()
        .map(|(p, _, _)| (p.to_ascii_lowercase(), p.as_str()))
        .collect();
    let arches: BTreeSet<Arch> = targets.iter().map(|t| t.arch).collect();
    let mut out = Vec::new();
    for (path, _, _) in manifest.iter().filter(|m| has_ext(Path::new(&m.0), "inf")) {
        let bytes = fs::read(dir.join(path)).map_err(io(dir.join(path)))?;
        let inf_dir = Path::new(path).parent().map(slash).unwrap_or_default();
        let in_package = |rel: &str| {
            let full = if inf_dir.is_empty() {
                rel.to_string()
            } else {
                format!("{inf_dir}/{rel}")
            };
            present.contains_key(&full.to_ascii_lowercase())
        };
        let mut info = InfInfo {
            path: path.clone(),
            class: None,
            provider: None,
            driver_ver: None,
            catalog: None,
            signature: Signature::Unsigned,
            models: 0,
            problems: Vec::new(),
            notes: Vec::new(),
        };
        let inf = match Inf::parse(path, &bytes) {
            Ok(inf) => inf,
            Err(e) => {
                info.problems.push(format!("unparsable: {e}"));
                out.push((info, Vec::new()));
                continue;
            }
        };
        info.class = inf.version.class.clone();
        info.provider = inf.version.provider.clone();
        info.driver_ver = inf.version.driver_ver.map(|d| d.to_string());
        let models = match inf.all_models() {
            Ok(m) => m,
            Err(e) => {
                info.problems.push(format!("unparsable: {e}"));
                out.push((info, Vec::new()));
                continue;
            }
        };
        info.models = models.len();
        for target in targets {
            if let Ok((selected, excluded)) = inf.models_for(target) {
                if selected.is_empty() && !models.is_empty() {
                    info.notes.push(format!(
                        "no models for {}: {}",
                        os_tag(target),
                        excluded.join("; ")
                    ));
                }
            }
        }
        if inf.template {
            info.problems
                .push("a stampinf template ($ARCH$ placeholders), not a built INF".into());
        }
        let mut missing = BTreeSet::new();
        let mut catalog_missing = BTreeSet::new();
        for arch in &arches {
            if let Some(cat) = inf.catalog_file(*arch) {
                info.catalog = Some(cat.to_string());
                if in_package(cat) {
                    info.signature = Signature::CatalogPresent;
                } else {
                    catalog_missing.insert(cat.to_string());
                }
            }
            for file in inf.source_files(*arch) {
                if !in_package(&file.path) {
                    missing.insert(format!("{} (line {})", file.path, file.line));
                }
            }
        }
        if !missing.is_empty() {
            info.problems.push(format!(
                "files named in [SourceDisksFiles] are missing: {}",
                missing.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        if !catalog_missing.is_empty() {
            info.signature = Signature::Unsigned;
            info.problems.push(format!(
                "catalog file named by CatalogFile is missing: {}",
                catalog_missing.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        out.push((info, models));
    }
    Ok(out)
}

fn has_ext(path: &Path, ext: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

fn slash(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Every regular file under `dir`, relative to it, sorted. Symbolic links
/// are refused: a package must be self-contained.
fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        for entry in fs::read_dir(&abs).map_err(io(&abs))? {
            let entry = entry.map_err(io(&abs))?;
            let kind = entry.file_type().map_err(io(entry.path()))?;
            let child = rel.join(entry.file_name());
            if kind.is_dir() {
                stack.push(child);
            } else if kind.is_file() {
                out.push(child);
            } else {
                return Err(Error::Package {
                    path: entry.path(),
                    reason: "not a regular file or directory (symbolic links are not imported)"
                        .into(),
                });
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Copies a file and returns its length and BLAKE3 hash.
fn copy_hashing(from: &Path, to: &Path) -> Result<(u64, String)> {
    let mut input = fs::File::open(from).map_err(io(from))?;
    let mut output = fs::File::create(to).map_err(io(to))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0u64;
    loop {
        let n = input.read(&mut buf).map_err(io(from))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output.write_all(&buf[..n]).map_err(io(to))?;
        len += n as u64;
    }
    output.sync_all().map_err(io(to))?;
    Ok((len, hasher.finalize().to_hex().to_string()))
}

/// Extracts a ZIP archive, refusing entries that would land outside `to`.
fn unzip(archive: &Path, to: &Path) -> Result<()> {
    let zerr = |reason: String| Error::Zip {
        path: archive.to_path_buf(),
        reason,
    };
    let file = fs::File::open(archive).map_err(io(archive))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| zerr(e.to_string()))?;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| zerr(e.to_string()))?;
        let Some(rel) = entry.enclosed_name() else {
            return Err(zerr(format!(
                "entry {:?} points outside the archive",
                entry.name()
            )));
        };
        let dest = to.join(rel);
        if entry.is_dir() {
            fs::create_dir_all(&dest).map_err(io(&dest))?;
            continue;
        }
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut out = fs::File::create(&dest).map_err(io(&dest))?;
        std::io::copy(&mut entry, &mut out)
            .map_err(|e| zerr(format!("entry {:?}: {e}", entry.name())))?;
    }
    Ok(())
}
