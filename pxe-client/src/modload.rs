//! Coldplug, the way udev does it at boot: read the `modalias` of every
//! device the kernel has found (`/sys/bus/*/devices/*/modalias`), match
//! them against `modules.alias`, and insert each matching module after its
//! `modules.dep` dependencies with `finit_module(2)`. Loading a bus driver
//! (virtio_pci, xhci_pci) makes new devices appear, so this runs in rounds
//! until a round finds nothing new.
//!
//! Deciding what to load ([`ModuleIndex::plan`]) is pure; [`coldplug`] does
//! the reading and the syscalls.

use marrow_kmod::{parse_builtin, AliasTable, ModDep, ModuleName};
use nix::kmod::{finit_module, ModuleInitFlags};
use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// The modules of one kernel: where they are and what they match.
#[derive(Debug)]
pub struct ModuleIndex {
    dir: PathBuf,
    dep: ModDep,
    aliases: AliasTable,
    builtin: BTreeSet<ModuleName>,
}

/// A module to load and the device modalias that asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub module: ModuleName,
    pub modalias: String,
}

/// What happened to one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadEvent {
    Loaded {
        module: ModuleName,
        reason: String,
    },
    Failed {
        module: ModuleName,
        reason: String,
        error: String,
    },
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

impl ModuleIndex {
    /// Reads `modules.dep`, `modules.alias` and `modules.builtin` from `dir`
    /// (`/lib/modules/$(uname -r)`).
    pub fn open(dir: &Path) -> Result<Self> {
        let builtin_path = dir.join("modules.builtin");
        let builtin = if builtin_path.exists() {
            read(&builtin_path)?
        } else {
            String::new()
        };
        Self::from_texts(
            dir,
            &read(&dir.join("modules.dep"))?,
            &read(&dir.join("modules.alias"))?,
            &builtin,
        )
    }

    pub fn from_texts(dir: &Path, dep: &str, alias: &str, builtin: &str) -> Result<Self> {
        Ok(ModuleIndex {
            dir: dir.to_owned(),
            dep: ModDep::parse(dep).map_err(|e| Error::Modules {
                dir: dir.to_owned(),
                detail: e.to_string(),
            })?,
            aliases: AliasTable::parse(alias).map_err(|e| Error::Modules {
                dir: dir.to_owned(),
                detail: e.to_string(),
            })?,
            builtin: parse_builtin(builtin),
        })
    }

    /// The modules to load for `modaliases`, each once, skipping those in
    /// `done` (loaded or already tried), built into the kernel, or not
    /// carried in this module tree.
    pub fn plan(&self, modaliases: &[String], done: &BTreeSet<ModuleName>) -> Vec<Wanted> {
        let mut out: Vec<Wanted> = Vec::new();
        for alias in modaliases {
            for m in self.aliases.matching_modules(alias) {
                let module = ModuleName::new(m);
                if done.contains(&module)
                    || self.builtin.contains(&module)
                    || !self.dep.contains(&module)
                    || out.iter().any(|w| w.module == module)
                {
                    continue;
                }
                out.push(Wanted {
                    module,
                    modalias: alias.clone(),
                });
            }
        }
        out
    }

    /// The modules of this tree whose aliases claim `modalias`.
    pub fn claimers(&self, modalias: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .aliases
            .matching_modules(modalias)
            .into_iter()
            .filter(|m| self.dep.contains(&ModuleName::new(m)))
            .map(str::to_string)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// `module` and its dependencies, dependencies first.
    pub fn load_order(&self, module: &ModuleName) -> Result<Vec<ModuleName>> {
        self.dep.load_order(module).map_err(|e| Error::Modules {
            dir: self.dir.clone(),
            detail: e.to_string(),
        })
    }

    fn file(&self, module: &ModuleName) -> Option<PathBuf> {
        self.dep.path(module).map(|p| self.dir.join(p))
    }
}

/// Module names in `/proc/modules` (first word of each line).
pub fn parse_proc_modules(text: &str) -> BTreeSet<ModuleName> {
    text.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(ModuleName::new)
        .collect()
}

/// Every device's modalias under `sys/bus/*/devices/*/modalias`, sorted.
pub fn read_modaliases(sys: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(buses) = fs::read_dir(sys.join("bus")) else {
        return out;
    };
    for bus in buses.filter_map(|b| b.ok()) {
        let Ok(devices) = fs::read_dir(bus.path().join("devices")) else {
            continue;
        };
        for dev in devices.filter_map(|d| d.ok()) {
            if let Ok(text) = fs::read_to_string(dev.path().join("modalias")) {
                let t = text.trim();
                if !t.is_empty() {
                    out.push(t.to_owned());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Inserts modules into the running kernel, remembering what is in.
pub struct Loader<'a> {
    index: &'a ModuleIndex,
    /// Loaded, or tried and failed (not retried).
    done: BTreeSet<ModuleName>,
}

impl<'a> Loader<'a> {
    pub fn new(index: &'a ModuleIndex, already_loaded: BTreeSet<ModuleName>) -> Self {
        Loader {
            index,
            done: already_loaded,
        }
    }

    /// Loads `module` after its dependencies. A module the kernel already
    /// has (`EEXIST`) counts as loaded.
    pub fn load(&mut self, module: &ModuleName, reason: &str, events: &mut Vec<LoadEvent>) {
        let order = match self.index.load_order(module) {
            Ok(o) => o,
            Err(e) => {
                self.done.insert(module.clone());
                events.push(LoadEvent::Failed {
                    module: module.clone(),
                    reason: reason.to_owned(),
                    error: e.to_string(),
                });
                return;
            }
        };
        for m in order {
            if !self.done.insert(m.clone()) {
                continue;
            }
            let why = if &m == module {
                reason.to_owned()
            } else {
                format!("needed by {module}")
            };
            match self.insert(&m) {
                Ok(()) => events.push(LoadEvent::Loaded {
                    module: m,
                    reason: why,
                }),
                Err(error) => events.push(LoadEvent::Failed {
                    module: m,
                    reason: why,
                    error,
                }),
            }
        }
    }

    fn insert(&self, module: &ModuleName) -> std::result::Result<(), String> {
        let path = self
            .index
            .file(module)
            .ok_or_else(|| "not in modules.dep".to_owned())?;
        let file = fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = path.to_string_lossy();
        // Kernels with CONFIG_MODULE_DECOMPRESS take compressed modules when
        // told so (MODULE_INIT_COMPRESSED_FILE, include/uapi/linux/module.h).
        let flags = if name.ends_with(".xz") || name.ends_with(".zst") || name.ends_with(".gz") {
            ModuleInitFlags::from_bits_retain(4)
        } else {
            ModuleInitFlags::empty()
        };
        match finit_module(&file, &CString::default(), flags) {
            Ok(()) | Err(nix::Error::EEXIST) => Ok(()),
            Err(e) => Err(format!("finit_module {}: {e}", path.display())),
        }
    }

    pub fn done(&self) -> &BTreeSet<ModuleName> {
        &self.done
    }
}

/// How long coldplug keeps looking after the last module it loaded. Devices
/// behind a new driver can appear late: usb-storage waits `delay_use` (1 s)
/// before scanning a stick, and SCSI scans run asynchronously, so the disk
/// and its `scsi:t-0x00` modalias (sd_mod) show up after the load returns.
pub const SETTLE: Duration = Duration::from_secs(2);
/// A cap on the whole coldplug, in case devices keep appearing.
pub const COLDPLUG_LIMIT: Duration = Duration::from_secs(30);

/// Loads what the devices under `sys` ask for, round after round, until
/// nothing new has turned up for [`SETTLE`].
pub fn coldplug(
    loader: &mut Loader<'_>,
    sys: &Path,
    mut on_event: impl FnMut(&LoadEvent),
) -> Vec<LoadEvent> {
    let mut all = Vec::new();
    let started = Instant::now();
    let mut last_load = Instant::now();
    while started.elapsed() < COLDPLUG_LIMIT {
        let wanted = loader.index.plan(&read_modaliases(sys), loader.done());
        if wanted.is_empty() {
            if last_load.elapsed() >= SETTLE {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        for w in wanted {
            let mut events = Vec::new();
            loader.load(&w.module, &format!("modalias {}", w.modalias), &mut events);
            events.iter().for_each(&mut on_event);
            all.extend(events);
        }
        last_load = Instant::now();
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/net/virtio_net.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/net/ethernet/intel/e1000/e1000.ko:
";
    const ALIAS: &str = "\
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias virtio:d00000001v* virtio_net
alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000
alias pci:v00008086d00007010sv*sd*bc*sc*i* ata_piix
alias acpi*:PNP0303:* atkbd
";

    fn index() -> ModuleIndex {
        ModuleIndex::from_texts(
            Path::new("/lib/modules/test"),
            DEP,
            ALIAS,
            "kernel/drivers/ata/ata_piix.ko\n",
        )
        .unwrap()
    }

    fn names(w: &[Wanted]) -> Vec<&str> {
        w.iter().map(|w| w.module.as_str()).collect()
    }

    #[test]
    fn pci_modaliases_pick_their_drivers_once() {
        let aliases = vec![
            "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00".to_owned(),
            "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00".to_owned(),
            "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00".to_owned(),
        ];
        let plan = index().plan(&aliases, &BTreeSet::new());
        assert_eq!(names(&plan), ["virtio_pci", "e1000"]);
        assert_eq!(plan[0].modalias, aliases[0]);
    }

    #[test]
    fn builtin_absent_and_done_modules_are_skipped() {
        let aliases = vec![
            "pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80".to_owned(),
            "acpi:PNP0303:".to_owned(),
            "virtio:d00000001v00001AF4".to_owned(),
        ];
        let done = [ModuleName::new("virtio_net")].into_iter().collect();
        assert!(index().plan(&aliases, &done).is_empty());
        assert_eq!(
            names(&index().plan(&aliases, &BTreeSet::new())),
            ["virtio_net"]
        );
    }

    #[test]
    fn proc_modules_lists_loaded_names() {
        let loaded = parse_proc_modules(
            "virtio_net 65536 0 - Live 0x0\nnet_failover 20480 1 virtio_net, Live 0x0\n",
        );
        assert!(loaded.contains(&ModuleName::new("net_failover")));
        assert_eq!(loaded.len(), 2);
    }

    #[test]
    fn modaliases_are_read_from_every_bus() {
        let dir = tempfile::tempdir().unwrap();
        for (bus, dev, alias) in [
            ("pci", "0000:00:03.0", "pci:v00001AF4d00001000sv*"),
            ("virtio", "virtio0", "virtio:d00000001v00001AF4"),
        ] {
            let d = dir.path().join("bus").join(bus).join("devices").join(dev);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("modalias"), format!("{alias}\n")).unwrap();
        }
        fs::create_dir_all(dir.path().join("bus/usb/devices/usb1")).unwrap();
        assert_eq!(
            read_modaliases(dir.path()),
            ["pci:v00001AF4d00001000sv*", "virtio:d00000001v00001AF4"]
        );
    }
}
