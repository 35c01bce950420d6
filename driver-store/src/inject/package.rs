//! Driver packages on the way into a Windows volume: checking that a
//! package has every file its INFs name for the architecture, safe folder
//! names, and an all-or-nothing copy.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{io, Result};
use crate::inf::Inf;
use crate::target::Arch;

pub(super) fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split(['\\', '/'])
        .filter(|p| !p.is_empty() && *p != ".")
}

/// A folder name Windows and NTFS accept: no separators, reserved
/// characters or trailing dots and spaces.
pub(super) fn sanitize(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim_end_matches(['.', ' ']).trim_start_matches('.');
    if trimmed.is_empty() {
        "package".into()
    } else {
        trimmed.to_string()
    }
}

/// Resolves a Windows-style relative path under `root`, matching each
/// existing component case-insensitively (NTFS through ntfs-3g is
/// case-sensitive, Windows is not); components that do not exist yet are
/// taken as written.
pub(super) fn resolve_ci(root: &Path, rel: &str) -> PathBuf {
    let mut path = root.to_path_buf();
    for part in split(rel) {
        let found = fs::read_dir(&path).ok().and_then(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .find(|n| n.to_string_lossy().eq_ignore_ascii_case(part))
        });
        path.push(found.unwrap_or_else(|| part.into()));
    }
    path
}

/// Checks a package before copying: it has an INF, every INF parses, and
/// every file its INFs name for `arch` (and its catalog) is present.
pub(super) fn check_package(dir: &Path, arch: Arch) -> std::result::Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let entries = fs::read_dir(&abs).map_err(|e| format!("{}: {e}", abs.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", abs.display()))?;
            let kind = entry
                .file_type()
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
            let child = rel.join(entry.file_name());
            if kind.is_dir() {
                stack.push(child);
            } else if kind.is_file() {
                files.push(child);
            } else {
                return Err(format!("{} is not a regular file", entry.path().display()));
            }
        }
    }
    let lower: Vec<String> = files
        .iter()
        .map(|f| f.to_string_lossy().replace('\\', "/").to_ascii_lowercase())
        .collect();
    let infs: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e.eq_ignore_ascii_case("inf")))
        .collect();
    if infs.is_empty() {
        return Err("no .inf file in the package".into());
    }
    for rel in infs {
        let shown = rel.to_string_lossy();
        let bytes = fs::read(dir.join(rel)).map_err(|e| format!("{shown}: {e}"))?;
        let inf = Inf::parse(&shown, &bytes).map_err(|e| format!("unparsable INF: {e}"))?;
        inf.all_models()
            .map_err(|e| format!("unparsable INF: {e}"))?;
        let base = rel
            .parent()
            .map(|p| p.to_string_lossy().to_string())
            .unwrap_or_default();
        let has = |name: &str| {
            let full = if base.is_empty() {
                name.to_string()
            } else {
                format!("{base}/{name}")
            };
            lower.contains(&full.to_ascii_lowercase())
        };
        let mut missing: Vec<String> = inf
            .source_files(arch)
            .into_iter()
            .filter(|f| !has(&f.path))
            .map(|f| f.path)
            .collect();
        if let Some(cat) = inf.catalog_file(arch) {
            if !has(cat) {
                missing.push(cat.to_string());
            }
        }
        if !missing.is_empty() {
            return Err(format!(
                "{shown} names missing files: {}",
                missing.join(", ")
            ));
        }
    }
    Ok(files)
}

/// Copies `files` from `from` into a temporary sibling of `to`, then renames
/// it into place (replacing an older copy the same way).
pub(super) fn copy_package(from: &Path, files: &[PathBuf], to: &Path) -> Result<()> {
    let parent = to.parent().expect("package folder has a parent");
    let name = to.file_name().unwrap().to_string_lossy();
    let tmp = parent.join(format!(".marrow-tmp-{name}"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    for rel in files {
        let dest = tmp.join(rel);
        if let Some(p) = dest.parent() {
            fs::create_dir_all(p).map_err(io(p))?;
        }
        fs::copy(from.join(rel), &dest).map_err(io(&dest))?;
    }
    if to.exists() {
        let old = parent.join(format!(".marrow-old-{name}"));
        if old.exists() {
            fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        fs::rename(to, &old).map_err(io(to))?;
        fs::rename(&tmp, to).map_err(io(to))?;
        fs::remove_dir_all(&old).map_err(io(&old))?;
    } else {
        fs::rename(&tmp, to).map_err(io(to))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_become_safe_folder_names() {
        assert_eq!(sanitize("virtio net/amd64"), "virtio_net_amd64");
        assert_eq!(sanitize(".."), "package");
        assert_eq!(sanitize("e1000."), "e1000");
    }
}
