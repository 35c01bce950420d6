//! Kernel module metadata as `depmod` writes it: `modules.dep`,
//! `modules.alias`, `modules.softdep`, `modules.builtin`. Pure parsing and
//! resolution; reading the files is the caller's business, so the boot
//! client (which reads the same files from its initramfs) shares this code.
//!
//! Formats are those of kmod's depmod (`depmod.d(5)`, `modules.dep(5)`):
//! `modules.dep` has one line per module, `path: dep-path dep-path …`, paths
//! relative to `/lib/modules/KVER`, each line already the full transitive
//! closure.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::ModulesError;

/// A module's name as the kernel knows it: the file stem with `-` turned
/// into `_` (`usb-storage.ko` is module `usb_storage`), which is how kmod
/// compares names too.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModuleName(String);

impl ModuleName {
    pub fn new(name: &str) -> Self {
        ModuleName(name.replace('-', "_"))
    }

    /// The module name of a `modules.dep` path such as
    /// `kernel/drivers/usb/storage/usb-storage.ko` (or `.ko.xz`).
    pub fn from_path(path: &str) -> Self {
        let file = path.rsplit('/').next().unwrap_or(path);
        let stem = file.split(".ko").next().unwrap_or(file);
        Self::new(stem)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ModuleName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `modules.dep`: each module's file and the files it needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModDep {
    modules: BTreeMap<ModuleName, DepLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct DepLine {
    path: String,
    deps: Vec<String>,
}

impl ModDep {
    pub fn parse(text: &str) -> Result<Self, ModulesError> {
        let mut modules = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (path, deps) = line
                .split_once(':')
                .ok_or_else(|| ModulesError::DepNoColon {
                    line: i + 1,
                    text: raw.to_owned(),
                })?;
            let deps: Vec<String> = deps.split_whitespace().map(str::to_owned).collect();
            for p in std::iter::once(path).chain(deps.iter().map(String::as_str)) {
                if !p.contains(".ko") || p.ends_with('/') {
                    return Err(ModulesError::DepNotModule {
                        line: i + 1,
                        path: p.to_owned(),
                    });
                }
            }
            modules.insert(
                ModuleName::from_path(path),
                DepLine {
                    path: path.to_owned(),
                    deps,
                },
            );
        }
        Ok(ModDep { modules })
    }

    /// The file of `name`, relative to `/lib/modules/KVER`.
    pub fn path(&self, name: &ModuleName) -> Option<&str> {
        self.modules.get(name).map(|l| l.path.as_str())
    }

    /// Every module and its path (relative to `/lib/modules/KVER`), by name.
    pub fn modules(&self) -> impl Iterator<Item = (&ModuleName, &str)> {
        self.modules.iter().map(|(n, l)| (n, l.path.as_str()))
    }

    pub fn contains(&self, name: &ModuleName) -> bool {
        self.modules.contains_key(name)
    }

    pub fn len(&self) -> usize {
        self.modules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// `name` and everything it needs, each dependency before the modules
    /// that need it: the order to insert them in.
    pub fn load_order(&self, name: &ModuleName) -> Result<Vec<ModuleName>, ModulesError> {
        let mut order = Vec::new();
        let mut done = BTreeSet::new();
        self.visit(name, &mut done, &mut order)?;
        Ok(order)
    }

    fn visit(
        &self,
        name: &ModuleName,
        done: &mut BTreeSet<ModuleName>,
        order: &mut Vec<ModuleName>,
    ) -> Result<(), ModulesError> {
        if !done.insert(name.clone()) {
            return Ok(());
        }
        let line = self
            .modules
            .get(name)
            .ok_or_else(|| ModulesError::Unknown {
                name: name.to_string(),
            })?;
        for dep in &line.deps {
            let dep_name = ModuleName::from_path(dep);
            if !self.modules.contains_key(&dep_name) {
                return Err(ModulesError::MissingDep {
                    name: name.to_string(),
                    dep: dep.clone(),
                });
            }
            self.visit(&dep_name, done, order)?;
        }
        order.push(name.clone());
        Ok(())
    }

    /// The `modules.dep` text for only `keep` (whose dependencies must be in
    /// `keep` too), in this file's order, so the image describes exactly the
    /// modules it carries.
    pub fn render_subset(&self, keep: &BTreeSet<ModuleName>) -> String {
        let mut out = String::new();
        for (name, line) in &self.modules {
            if keep.contains(name) {
                out.push_str(&line.path);
                out.push(':');
                for d in &line.deps {
                    out.push(' ');
                    out.push_str(d);
                }
                out.push('\n');
            }
        }
        out
    }
}

/// The lines of `modules.alias` (`alias PATTERN MODULE`), kept as text
/// pairs; matching device modaliases against the patterns is the driver
/// store's job. Here they are only looked up exactly (for softdeps such as
/// `crypto-crc32c`) and filtered down to the modules an image carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aliases {
    lines: Vec<(String, ModuleName)>,
}

impl Aliases {
    /// Lines that are not `alias PATTERN MODULE` are skipped, as kmod does.
    pub fn parse(text: &str) -> Self {
        let lines = text
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                match (w.next(), w.next(), w.next(), w.next()) {
                    (Some("alias"), Some(pattern), Some(module), None) => {
                        Some((pattern.to_owned(), ModuleName::new(module)))
                    }
                    _ => None,
                }
            })
            .collect();
        Aliases { lines }
    }

    /// Modules whose alias is exactly `alias`, in file order.
    pub fn exact(&self, alias: &str) -> Vec<&ModuleName> {
        self.lines
            .iter()
            .filter(|(p, _)| p == alias)
            .map(|(_, m)| m)
            .collect()
    }

    pub fn render_subset(&self, keep: &BTreeSet<ModuleName>) -> String {
        let mut out = String::new();
        for (pattern, module) in &self.lines {
            if keep.contains(module) {
                out.push_str(&format!("alias {pattern} {module}\n"));
            }
        }
        out
    }
}

/// The `pre:` soft dependencies of `modules.softdep` (`softdep MOD pre: A B
/// post: C`): modules to load before `MOD` that it does not link against,
/// such as ext4's crc32c implementation.
pub fn parse_softdep_pre(text: &str) -> BTreeMap<ModuleName, Vec<String>> {
    let mut out: BTreeMap<ModuleName, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("softdep") {
            continue;
        }
        let Some(module) = words.next() else { continue };
        let mut in_pre = false;
        for w in words {
            match w {
                "pre:" => in_pre = true,
                "post:" => in_pre = false,
                dep if in_pre => out
                    .entry(ModuleName::new(module))
                    .or_default()
                    .push(dep.to_owned()),
                _ => {}
            }
        }
    }
    out
}

/// `modules.builtin`: the modules compiled into the kernel, one path a line.
pub fn parse_builtin(text: &str) -> BTreeSet<ModuleName> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(ModuleName::from_path)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/usb/storage/usb-storage.ko.xz: kernel/drivers/usb/core/usbcore.ko.xz
kernel/drivers/usb/core/usbcore.ko.xz:
";

    #[test]
    fn names_come_from_file_stems_with_dashes_as_underscores() {
        assert_eq!(
            ModuleName::from_path("kernel/drivers/usb/storage/usb-storage.ko.xz").as_str(),
            "usb_storage"
        );
        assert_eq!(
            ModuleName::new("usb-storage"),
            ModuleName::new("usb_storage")
        );
    }

    #[test]
    fn dependencies_load_before_the_modules_that_need_them() {
        let dep = ModDep::parse(DEP).unwrap();
        let order = dep.load_order(&ModuleName::new("virtio_net")).unwrap();
        let names: Vec<_> = order.iter().map(ModuleName::as_str).collect();
        let pos = |n| names.iter().position(|x| *x == n).unwrap();
        assert!(pos("failover") < pos("net_failover"));
        assert!(pos("net_failover") < pos("virtio_net"));
        assert!(pos("virtio_ring") < pos("virtio_net"));
        assert_eq!(names.last(), Some(&"virtio_net"));
        assert_eq!(names.len(), 5);
    }

    #[test]
    fn an_unknown_module_is_named_in_the_error() {
        let dep = ModDep::parse(DEP).unwrap();
        assert_eq!(
            dep.load_order(&ModuleName::new("ntfs3")),
            Err(ModulesError::Unknown {
                name: "ntfs3".into()
            })
        );
    }

    #[test]
    fn a_dependency_without_its_own_line_is_refused() {
        let dep = ModDep::parse("kernel/a.ko: kernel/b.ko\n").unwrap();
        assert_eq!(
            dep.load_order(&ModuleName::new("a")),
            Err(ModulesError::MissingDep {
                name: "a".into(),
                dep: "kernel/b.ko".into()
            })
        );
    }

    #[test]
    fn malformed_dep_lines_are_refused_with_their_line_number() {
        assert_eq!(
            ModDep::parse("kernel/a.ko:\nkernel/b.ko kernel/c.ko\n"),
            Err(ModulesError::DepNoColon {
                line: 2,
                text: "kernel/b.ko kernel/c.ko".into()
            })
        );
        assert_eq!(
            ModDep::parse("kernel/a.ko: kernel/README\n"),
            Err(ModulesError::DepNotModule {
                line: 1,
                path: "kernel/README".into()
            })
        );
    }

    #[test]
    fn subset_renders_only_kept_modules_and_parses_back() {
        let dep = ModDep::parse(DEP).unwrap();
        let keep: BTreeSet<_> = dep
            .load_order(&ModuleName::new("usb-storage"))
            .unwrap()
            .into_iter()
            .collect();
        let text = dep.render_subset(&keep);
        let back = ModDep::parse(&text).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(
            back.path(&ModuleName::new("usb_storage")),
            Some("kernel/drivers/usb/storage/usb-storage.ko.xz")
        );
    }

    #[test]
    fn exact_alias_lookup_finds_every_provider() {
        let aliases = Aliases::parse(
            "# Aliases extracted from modules themselves.\n\
             alias crypto-crc32c crc32c_intel\n\
             alias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_pci\n\
             alias crypto-crc32c crc32c_generic\n",
        );
        let found: Vec<_> = aliases
            .exact("crypto-crc32c")
            .into_iter()
            .map(ModuleName::as_str)
            .collect();
        assert_eq!(found, ["crc32c_intel", "crc32c_generic"]);
        let keep = [ModuleName::new("virtio_pci")].into_iter().collect();
        assert_eq!(
            aliases.render_subset(&keep),
            "alias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_pci\n"
        );
    }

    #[test]
    fn softdep_keeps_only_pre_dependencies() {
        let soft = parse_softdep_pre("# comment\nsoftdep ext4 pre: crypto-crc32c\nsoftdep cifs gcm\nsoftdep x pre: a b post: c\n");
        assert_eq!(soft[&ModuleName::new("ext4")], ["crypto-crc32c"]);
        assert_eq!(soft[&ModuleName::new("x")], ["a", "b"]);
        assert!(!soft.contains_key(&ModuleName::new("cifs")));
    }

    #[test]
    fn mutated_metadata_never_panics_the_parsers() {
        let seeds = [
            DEP,
            "alias crypto-crc32c crc32c_generic\nsoftdep ext4 pre: crypto-crc32c post: x\n",
        ];
        let alphabet = b"k/o.:- \nabc_";
        let mut next = marrow_test_support::xorshift(0x9e37_79b9_7f4a_7c15u64);
        for round in 0..20_000 {
            let mut bytes = seeds[round % seeds.len()].as_bytes().to_vec();
            for _ in 0..(next() % 6 + 1) {
                let at = (next() as usize) % bytes.len();
                match next() % 3 {
                    0 => bytes[at] = alphabet[(next() as usize) % alphabet.len()],
                    1 => bytes.truncate(at.max(1)),
                    _ => bytes.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(dep) = ModDep::parse(&text) {
                let _ = dep.load_order(&ModuleName::new("virtio_net"));
            }
            let _ = Aliases::parse(&text).exact("crypto-crc32c");
            let _ = parse_softdep_pre(&text);
            let _ = parse_builtin(&text);
        }
    }
}
