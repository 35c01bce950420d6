//! Image names: `win11-lab` means the newest version of that name,
//! `win11-lab@<id or id prefix>` one version from its history.

use crate::error::{Error, Result};
use crate::id::ImageId;
use crate::manifest::Manifest;
use crate::store::{ManifestStore, RefEntry};

/// Names are file names in the store, so keep them to a safe alphabet.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::BadName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 128 {
        return bad("it must be 1 to 128 characters long");
    }
    if name.starts_with('.') || name.starts_with('-') {
        return bad("it must not start with '.' or '-'");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return bad("only letters, digits, '-', '_' and '.' are allowed");
    }
    Ok(())
}

/// A parsed `NAME[@ID]` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub name: String,
    pub version: Option<String>,
}

impl ImageRef {
    pub fn parse(s: &str) -> Result<ImageRef> {
        let (name, version) = match s.split_once('@') {
            Some((n, v)) => (n, Some(v.to_ascii_lowercase())),
            None => (s, None),
        };
        validate_name(name)?;
        if let Some(v) = &version {
            if v.is_empty() || v.len() > 64 || !v.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(Error::BadId {
                    kind: "an image manifest",
                    value: v.clone(),
                });
            }
        }
        Ok(ImageRef {
            name: name.to_string(),
            version,
        })
    }
}

/// Resolves a reference to one entry of the name's history.
pub fn resolve(store: &dyn ManifestStore, r: &ImageRef, store_name: &str) -> Result<RefEntry> {
    let history = store.history(&r.name)?;
    if history.is_empty() {
        return Err(Error::ImageNotFound {
            name: r.name.clone(),
            store: store_name.to_string(),
        });
    }
    match &r.version {
        None => Ok(history.last().cloned().expect("non-empty")),
        Some(prefix) => {
            let mut matches = history
                .iter()
                .rev()
                .filter(|e| e.id.to_hex().starts_with(prefix.as_str()));
            let first = matches.next().ok_or_else(|| Error::VersionNotFound {
                name: r.name.clone(),
                id: prefix.clone(),
                store: store_name.to_string(),
            })?;
            if let Some(second) = matches.find(|e| e.id != first.id) {
                return Err(Error::AmbiguousVersion {
                    reference: format!("{}@{prefix}", r.name),
                    first: first.id,
                    second: second.id,
                });
            }
            Ok(first.clone())
        }
    }
}

/// Reads and parses a manifest, verified against its id.
pub fn load(store: &dyn ManifestStore, id: &ImageId, store_name: &str) -> Result<Manifest> {
    let bytes = store.get_manifest(id)?;
    Manifest::parse(&bytes, &id.to_hex(), store_name)
}

/// Stores a manifest and records it as the newest version of `name`.
pub fn commit(
    store: &dyn ManifestStore,
    name: &str,
    manifest: &Manifest,
    now: u64,
) -> Result<ImageId> {
    commit_signed(store, name, manifest, now, &|_| None)
}

/// As [`commit`], with the detached signature `sign` makes for the id
/// stored before the name points at it, so no listing shows the version
/// unsigned.
pub fn commit_signed(
    store: &dyn ManifestStore,
    name: &str,
    manifest: &Manifest,
    now: u64,
    sign: &dyn Fn(&ImageId) -> Option<Vec<u8>>,
) -> Result<ImageId> {
    validate_name(name)?;
    let id = store.put_manifest(&manifest.to_canonical())?;
    if let Some(sig) = sign(&id) {
        store.put_signature(&id, &sig)?;
    }
    store.push_ref(name, RefEntry { id, created: now })?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_with_version_prefix() {
        let r = ImageRef::parse("win11-lab@3F2A").unwrap();
        assert_eq!(r.name, "win11-lab");
        assert_eq!(r.version.as_deref(), Some("3f2a"));
    }

    #[test]
    fn refuses_names_that_could_escape_the_store() {
        for bad in ["../x", "a/b", ".hidden", "", "-flag"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }
}
