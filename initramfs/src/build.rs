//! The build itself: plan the module set (pure), then gather files into a
//! cpio archive, compress it, and write `vmlinuz` and `initrd.img`.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cpio::{Archive, Entry, Kind};
use crate::host::{self, Linkage};
use crate::kernel::{self, KernelConfig, KernelSource};
use crate::select::{family, Selection};
use crate::{io_err, Error, Result};
use marrow_kmod::{parse_builtin, parse_softdep_pre, Aliases, ModDep, ModuleName};

/// Modules no device's modalias names, which the client loads at boot from
/// `etc/marrow/modules` (filesystems and their tables).
pub const BOOT_LOAD_LIST: &[&str] = &[
    "ext4",
    "vfat",
    "fuse",
    "loop",
    "nls_cp437",
    "nls_ascii",
    "nls_utf8",
    "nls_iso8859_1",
];

/// A compressed initramfs above this does not fit Marrow's boot budget
/// (issue 4: at most 40 MB).
pub const MAX_INITRD_BYTES: u64 = 40 * 1024 * 1024;

/// The firmware the carried modules may ask for that no firmware directory
/// held, one `MODULE FILE` line each: `marrow initramfs inspect` lists it,
/// and the client names it when a device stays without its driver.
pub const FIRMWARE_MISSING: &str = "etc/marrow/firmware-missing";

fn render_missing(missing: &[MissingFirmware]) -> String {
    missing
        .iter()
        .map(|m| format!("{} {}\n", m.module, m.file))
        .collect()
}

/// The firmware an initramfs lacks, from its [`FIRMWARE_MISSING`] list.
pub fn missing_firmware(entries: &[Entry]) -> Vec<MissingFirmware> {
    let Some(Kind::File(data)) = entries
        .iter()
        .find(|e| e.path == FIRMWARE_MISSING)
        .map(|e| &e.kind)
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(data)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(module, file)| MissingFirmware {
            module: module.to_string(),
            file: file.to_string(),
        })
        .collect()
}

/// Written into every entry so the archive does not depend on when or from
/// what files it was built.
const FIXED_MTIME: u32 = 0;

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub kernel: KernelSource,
    /// Downloaded .debs and unpacked kernel trees.
    pub cache_dir: PathBuf,
    /// The static `marrow-client`, installed as `/init`.
    pub client: PathBuf,
    pub ntfs3g: PathBuf,
    /// A static busybox for the rescue shell, or none.
    pub busybox: Option<PathBuf>,
    /// Searched in order for the firmware files modules ask for.
    pub firmware_dirs: Vec<PathBuf>,
    /// The trees and modules to carry (with their dependencies).
    pub selection: Selection,
    /// Where `vmlinuz` and `initrd.img` go.
    pub out_dir: PathBuf,
    /// Also fetch the Secure Boot chain (shim and GRUB) into `out_dir`.
    pub signed_chain: bool,
    pub zstd_level: i32,
    /// The tools that grow a grown partition's filesystem, carried with
    /// their libraries when present ([`GROW_TOOLS`]).
    pub grow_tools: Vec<PathBuf>,
}

/// What grows each filesystem after a restore (image-format's `grow`):
/// e2fsprogs, ntfs-3g, xfsprogs and btrfs-progs. Busybox gives `losetup`,
/// `mount` and `umount`.
pub const GROW_TOOLS: &[&str] = &[
    "/usr/sbin/e2fsck",
    "/usr/sbin/resize2fs",
    "/usr/sbin/ntfsresize",
    "/usr/sbin/xfs_growfs",
    "/usr/bin/btrfs",
];

/// A firmware file a module may request that no firmware directory holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingFirmware {
    pub module: String,
    pub file: String,
}

/// What a build produced, for `marrow initramfs build [--json]`.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub kernel_version: String,
    pub kernel_deb: PathBuf,
    pub vmlinuz: PathBuf,
    pub vmlinuz_bytes: u64,
    pub initrd: PathBuf,
    /// Compressed size, the number that counts against the 40 MB budget.
    pub initrd_bytes: u64,
    pub archive_bytes: u64,
    pub initrd_blake3: String,
    pub compression: String,
    pub entries: usize,
    /// Included modules, in an order that loads each after its dependencies.
    pub modules: Vec<String>,
    /// The module families carried (see `select::family`), sorted.
    pub families: Vec<String>,
    /// Requested modules that are built into this kernel (nothing to add).
    pub builtin: Vec<String>,
    pub firmware_included: Vec<String>,
    pub firmware_missing: Vec<MissingFirmware>,
    /// Files added for ntfs-3g: the binary, its libraries and the loader.
    pub ntfs3g_files: Vec<PathBuf>,
    /// Filesystem grow tools carried, and those not found on this machine
    /// (a restore then reports that filesystem as not grown).
    pub grow_tools: Vec<PathBuf>,
    pub grow_tools_missing: Vec<PathBuf>,
    pub busybox: bool,
    /// The kernel's Authenticode signature size; `None`: unsigned, which
    /// firmware with Secure Boot on (through shim) refuses.
    pub kernel_signature_bytes: Option<u32>,
    /// shim and GRUB, when fetched.
    pub signed_chain: Option<crate::signed::SignedChain>,
}

/// The modules an image carries, decided from the kernel's metadata alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModulePlan {
    /// Every module to include, dependencies before dependents, each once.
    pub load_order: Vec<ModuleName>,
    /// Requested (or soft-depended-on) modules built into the kernel.
    pub builtin: Vec<ModuleName>,
}

/// Resolves `requested` through `modules.dep`, adding each module's `pre:`
/// soft dependencies (every module providing the alias, e.g. both crc32c
/// implementations for ext4's `crypto-crc32c`, since which one loads depends
/// on the CPU) before it. A requested module that is neither loadable nor
/// built in is an error; a soft dependency with no provider is skipped, as
/// modprobe does.
pub fn plan_modules(
    dep: &ModDep,
    aliases: &Aliases,
    softdep: &BTreeMap<ModuleName, Vec<String>>,
    builtin: &BTreeSet<ModuleName>,
    requested: &[String],
) -> Result<ModulePlan, crate::ModulesError> {
    let mut plan = ModulePlan {
        load_order: Vec::new(),
        builtin: Vec::new(),
    };
    let mut seen = BTreeSet::new();
    for name in requested.iter().map(|n| ModuleName::new(n)) {
        add_module(
            dep, aliases, softdep, builtin, &name, true, &mut seen, &mut plan,
        )?;
    }
    Ok(plan)
}

#[allow(clippy::too_many_arguments)]
fn add_module(
    dep: &ModDep,
    aliases: &Aliases,
    softdep: &BTreeMap<ModuleName, Vec<String>>,
    builtin: &BTreeSet<ModuleName>,
    name: &ModuleName,
    required: bool,
    seen: &mut BTreeSet<ModuleName>,
    plan: &mut ModulePlan,
) -> Result<(), crate::ModulesError> {
    if seen.contains(name) {
        return Ok(());
    }
    if !dep.contains(name) {
        if builtin.contains(name) {
            seen.insert(name.clone());
            plan.builtin.push(name.clone());
            return Ok(());
        }
        if required {
            return Err(crate::ModulesError::Unknown {
                name: name.to_string(),
            });
        }
        return Ok(());
    }
    for m in dep.load_order(name)? {
        for soft in softdep.get(&m).into_iter().flatten() {
            let providers: Vec<ModuleName> = match aliases.exact(soft).as_slice() {
                [] => vec![ModuleName::new(soft)],
                found => found.iter().map(|&m| m.clone()).collect(),
            };
            for p in providers {
                add_module(dep, aliases, softdep, builtin, &p, false, seen, plan)?;
            }
        }
        if seen.insert(m.clone()) {
            plan.load_order.push(m);
        }
    }
    Ok(())
}

fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(io_err(path))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(io_err(path))
}

fn file(path: &str, perm: u32, data: Vec<u8>) -> Entry {
    Entry {
        path: path.to_owned(),
        perm,
        kind: Kind::File(data),
    }
}

/// Adds a host file at its own absolute path (minus the leading `/`), with
/// its parent directories.
fn add_host_file(archive: &mut Archive, host_path: &Path, perm: u32) -> Result<()> {
    let rel = host_path
        .to_string_lossy()
        .trim_start_matches('/')
        .to_owned();
    if archive.contains(&rel) {
        return Ok(());
    }
    if let Some((parent, _)) = rel.rsplit_once('/') {
        archive.add_dir_all(parent)?;
    }
    archive.add(file(&rel, perm, read(host_path)?))?;
    Ok(())
}

/// Runs the whole build. `progress` receives one line per step.
pub fn build(opts: &BuildOptions, progress: &mut dyn FnMut(&str)) -> Result<BuildReport> {
    // Check the local inputs before spending time on the kernel.
    let ntfs3g_libs = check_inputs(opts)?;
    let tree = kernel::prepare(&opts.kernel, &opts.cache_dir, progress)?;
    let config = KernelConfig::parse(&read_text(&tree.config())?);
    if !config.rd_zstd {
        return Err(Error::NoZstd {
            version: tree.version.clone(),
            config: tree.config(),
        });
    }

    progress(&format!("resolving modules for kernel {}", tree.version));
    let meta = Metadata::read(&tree)?;
    let unmatched = opts.selection.unmatched_excludes(&meta.dep);
    if !unmatched.is_empty() {
        return Err(Error::NothingToExclude {
            entries: unmatched,
            version: tree.version.clone(),
        });
    }
    let plan = meta.plan(&opts.selection.resolve(&meta.dep))?;
    let mut families: Vec<String> = plan
        .load_order
        .iter()
        .filter_map(|m| meta.dep.path(m))
        .filter_map(|p| family(p, &opts.selection.trees))
        .collect();
    families.sort();
    families.dedup();

    let mut archive = Archive::new();
    add_skeleton(&mut archive, &opts.client)?;
    let carried = add_modules(
        &mut archive,
        &tree,
        &config,
        &meta,
        &plan,
        &opts.firmware_dirs,
    )?;
    add_module_metadata(&mut archive, &tree, &meta, &carried.keep)?;
    archive.add(file(
        FIRMWARE_MISSING,
        0o644,
        render_missing(&carried.firmware_missing).into_bytes(),
    ))?;

    progress("adding ntfs-3g, its libraries and the rescue shell");
    let ntfs3g_files = add_tools(&mut archive, opts, &ntfs3g_libs)?;
    progress("adding the filesystem grow tools");
    let (grow_tools, grow_tools_missing) = add_grow_tools(&mut archive, &opts.grow_tools)?;

    progress(&format!(
        "writing {} entries and compressing with zstd level {}",
        archive.len(),
        opts.zstd_level
    ));
    let raw = archive.to_bytes(FIXED_MTIME);
    let compressed = compress(&raw, opts.zstd_level)?;
    let size = compressed.len() as u64;
    if size > MAX_INITRD_BYTES {
        return Err(Error::TooLarge {
            size,
            limit: MAX_INITRD_BYTES,
        });
    }

    fs::create_dir_all(&opts.out_dir).map_err(io_err(&opts.out_dir))?;
    let vmlinuz = opts.out_dir.join("vmlinuz");
    let initrd = opts.out_dir.join("initrd.img");
    let vmlinuz_data = read(&tree.vmlinuz())?;
    write_atomically(&vmlinuz, &vmlinuz_data)?;
    write_atomically(&initrd, &compressed)?;
    progress(&format!(
        "wrote {} and {}",
        vmlinuz.display(),
        initrd.display()
    ));
    let signed_chain = if opts.signed_chain {
        Some(crate::signed::install(
            &opts.cache_dir,
            &opts.out_dir,
            progress,
        )?)
    } else {
        None
    };

    Ok(BuildReport {
        kernel_version: tree.version.clone(),
        kernel_deb: tree.deb.clone(),
        vmlinuz,
        vmlinuz_bytes: vmlinuz_data.len() as u64,
        initrd,
        initrd_bytes: size,
        archive_bytes: raw.len() as u64,
        initrd_blake3: blake3::hash(&compressed).to_hex().to_string(),
        compression: format!("zstd level {}", opts.zstd_level),
        entries: archive.len(),
        modules: plan.load_order.iter().map(ToString::to_string).collect(),
        families,
        builtin: plan.builtin.iter().map(ToString::to_string).collect(),
        firmware_included: carried.firmware_included.into_iter().collect(),
        firmware_missing: carried.firmware_missing,
        ntfs3g_files,
        grow_tools,
        grow_tools_missing,
        busybox: opts.busybox.is_some(),
        kernel_signature_bytes: crate::signed::authenticode_bytes(&vmlinuz_data),
        signed_chain,
    })
}

/// The client, ntfs-3g and busybox are there and linked as they must be;
/// returns the libraries ntfs-3g loads.
fn check_inputs(opts: &BuildOptions) -> Result<Vec<PathBuf>> {
    let mut inputs = vec![
        (
            "marrow-client",
            &opts.client,
            "build it with scripts/build-initramfs",
        ),
        ("ntfs-3g", &opts.ntfs3g, "install the ntfs-3g package"),
    ];
    if let Some(bb) = &opts.busybox {
        inputs.push((
            "busybox",
            bb,
            "install busybox-static, or build with --no-busybox",
        ));
    }
    for (what, path, hint) in inputs {
        if !path.is_file() {
            return Err(Error::Missing {
                what,
                path: path.clone(),
                hint,
            });
        }
    }
    if host::ldd(&opts.client)? != Linkage::Static {
        return Err(Error::ClientNotStatic {
            path: opts.client.clone(),
        });
    }
    if let Some(bb) = &opts.busybox {
        if host::ldd(bb)? != Linkage::Static {
            return Err(Error::BusyboxNotStatic { path: bb.clone() });
        }
    }
    Ok(match host::ldd(&opts.ntfs3g)? {
        Linkage::Static => Vec::new(),
        Linkage::Dynamic(libs) => libs,
    })
}

/// The kernel's module metadata, as `depmod` wrote it.
struct Metadata {
    version: String,
    dep: ModDep,
    aliases: Aliases,
    softdep: BTreeMap<ModuleName, Vec<String>>,
    builtin_text: String,
    builtin: BTreeSet<ModuleName>,
}

impl Metadata {
    fn read(tree: &kernel::KernelTree) -> Result<Metadata> {
        let dir = tree.modules_dir();
        let builtin_text = read_text(&dir.join("modules.builtin"))?;
        Ok(Metadata {
            version: tree.version.clone(),
            dep: ModDep::parse(&read_text(&dir.join("modules.dep"))?).map_err(|source| {
                Error::Modules {
                    version: tree.version.clone(),
                    source,
                }
            })?,
            aliases: Aliases::parse(&read_text(&dir.join("modules.alias"))?),
            softdep: parse_softdep_pre(&read_text(&dir.join("modules.softdep"))?),
            builtin: parse_builtin(&builtin_text),
            builtin_text,
        })
    }

    fn plan(&self, requested: &[String]) -> Result<ModulePlan> {
        plan_modules(
            &self.dep,
            &self.aliases,
            &self.softdep,
            &self.builtin,
            requested,
        )
        .map_err(|source| Error::Modules {
            version: self.version.clone(),
            source,
        })
    }
}

/// The folders, `/dev/console` and the client as `/init`.
fn add_skeleton(archive: &mut Archive, client: &Path) -> Result<()> {
    for d in [
        "bin",
        "dev",
        "etc/marrow",
        "mnt",
        "proc",
        "root",
        "run",
        "sys",
    ] {
        archive.add_dir_all(d)?;
    }
    archive.add(Entry {
        path: "tmp".into(),
        perm: 0o1777,
        kind: Kind::Dir,
    })?;
    // The kernel opens /dev/console for /init's stdio before /init can mount
    // devtmpfs (Debian's config has no CONFIG_DEVTMPFS_MOUNT), so the node
    // must be in the archive or /init starts without output.
    archive.add(Entry {
        path: "dev/console".into(),
        perm: 0o600,
        kind: Kind::CharDevice { major: 5, minor: 1 },
    })?;
    archive.add(file("init", 0o755, read(client)?))?;
    Ok(())
}

/// The modules an archive carries and the firmware they asked for.
struct Carried {
    keep: BTreeSet<ModuleName>,
    firmware_included: BTreeSet<String>,
    firmware_missing: Vec<MissingFirmware>,
}

/// Adds every planned module file, and the firmware each asks for that a
/// firmware directory holds.
fn add_modules(
    archive: &mut Archive,
    tree: &kernel::KernelTree,
    config: &KernelConfig,
    meta: &Metadata,
    plan: &ModulePlan,
    firmware_dirs: &[PathBuf],
) -> Result<Carried> {
    let mods_dir = tree.modules_dir();
    let kmod_rel = format!("lib/modules/{}", tree.version);
    let mut carried = Carried {
        keep: BTreeSet::new(),
        firmware_included: BTreeSet::new(),
        firmware_missing: Vec::new(),
    };
    for m in &plan.load_order {
        let rel = meta
            .dep
            .path(m)
            .expect("planned modules come from modules.dep");
        if [".ko.xz", ".ko.zst", ".ko.gz"]
            .iter()
            .any(|ext| rel.ends_with(ext))
            && !config.module_decompress
        {
            return Err(Error::CompressedModule {
                module: m.to_string(),
                path: rel.to_owned(),
                version: tree.version.clone(),
            });
        }
        let host_file = mods_dir.join(rel);
        let target = format!("{kmod_rel}/{rel}");
        archive.add_dir_all(target.rsplit_once('/').map_or("", |(p, _)| p))?;
        archive.add(file(&target, 0o644, read(&host_file)?))?;
        carried.keep.insert(m.clone());
        for fw in host::module_firmware(&tree.root, &tree.version, &host_file)? {
            match find_firmware(firmware_dirs, &fw, config.firmware_xz) {
                Some((found, name)) => {
                    let target = format!("lib/firmware/{name}");
                    if !archive.contains(&target) {
                        archive.add_dir_all(target.rsplit_once('/').map_or("", |(p, _)| p))?;
                        archive.add(file(&target, 0o644, read(&found)?))?;
                    }
                    carried.firmware_included.insert(name);
                }
                None => carried.firmware_missing.push(MissingFirmware {
                    module: m.to_string(),
                    file: fw,
                }),
            }
        }
    }
    Ok(carried)
}

/// `modules.dep`, `modules.alias` and `modules.builtin` cut down to the
/// modules carried, and the client's boot load list.
fn add_module_metadata(
    archive: &mut Archive,
    tree: &kernel::KernelTree,
    meta: &Metadata,
    keep: &BTreeSet<ModuleName>,
) -> Result<()> {
    let kmod_rel = format!("lib/modules/{}", tree.version);
    archive.add(file(
        &format!("{kmod_rel}/modules.dep"),
        0o644,
        meta.dep.render_subset(keep).into_bytes(),
    ))?;
    archive.add(file(
        &format!("{kmod_rel}/modules.alias"),
        0o644,
        meta.aliases.render_subset(keep).into_bytes(),
    ))?;
    archive.add(file(
        &format!("{kmod_rel}/modules.builtin"),
        0o644,
        meta.builtin_text.clone().into_bytes(),
    ))?;
    // The client loads this list with modules.dep but not softdeps, so it
    // is written expanded: ext4's crc32c providers come before ext4 (the
    // kernel would ask /sbin/modprobe for them, and there is none).
    let boot_names: Vec<String> = BOOT_LOAD_LIST.iter().map(|n| n.to_string()).collect();
    let boot_list: String = meta
        .plan(&boot_names)?
        .load_order
        .iter()
        .filter(|n| keep.contains(n))
        .map(|n| format!("{n}\n"))
        .collect();
    archive.add(file("etc/marrow/modules", 0o644, boot_list.into_bytes()))?;
    Ok(())
}

/// ntfs-3g with its libraries and, when asked for, busybox as `/bin/sh`;
/// returns the ntfs-3g files added.
fn add_tools(
    archive: &mut Archive,
    opts: &BuildOptions,
    ntfs3g_libs: &[PathBuf],
) -> Result<Vec<PathBuf>> {
    let mut ntfs3g_files = vec![opts.ntfs3g.clone()];
    add_host_file(archive, &opts.ntfs3g, 0o755)?;
    for lib in ntfs3g_libs {
        add_host_file(archive, lib, 0o755)?;
        ntfs3g_files.push(lib.clone());
    }
    if let Some(bb) = &opts.busybox {
        archive.add(file("bin/busybox", 0o755, read(bb)?))?;
        archive.add(Entry {
            path: "bin/sh".into(),
            perm: 0o777,
            kind: Kind::Symlink("busybox".into()),
        })?;
    }
    Ok(ntfs3g_files)
}

/// The grow tools found on this machine, with their libraries; returns
/// (carried, missing).
fn add_grow_tools(
    archive: &mut Archive,
    tools: &[PathBuf],
) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (mut carried, mut missing) = (Vec::new(), Vec::new());
    for tool in tools {
        if !tool.is_file() {
            missing.push(tool.clone());
            continue;
        }
        add_host_file(archive, tool, 0o755)?;
        if let Linkage::Dynamic(libs) = host::ldd(tool)? {
            for lib in libs {
                add_host_file(archive, &lib, 0o755)?;
            }
        }
        carried.push(tool.clone());
    }
    Ok((carried, missing))
}

/// The first firmware directory holding `name` (or, when the kernel's loader
/// decompresses xz, `name.xz`, which is how Debian's firmware packages ship
/// some files), and the name to store it under.
/// Worker threads of the zstd compression: a fixed number, since zstd's
/// output may depend on it (facebook/zstd#2327) and the archive must come
/// out the same on every machine. Two halves the time of a build with all
/// the driver trees on a two-core machine.
const ZSTD_WORKERS: u32 = 2;

fn compress(raw: &[u8], level: i32) -> Result<Vec<u8>> {
    use std::io::Write as _;
    let failed = |e: std::io::Error| Error::Command {
        command: "zstd compression".into(),
        detail: e.to_string(),
    };
    let mut enc =
        zstd::stream::Encoder::new(Vec::with_capacity(raw.len() / 4), level).map_err(failed)?;
    enc.multithread(ZSTD_WORKERS).map_err(failed)?;
    enc.write_all(raw).map_err(failed)?;
    enc.finish().map_err(failed)
}

fn find_firmware(dirs: &[PathBuf], name: &str, xz: bool) -> Option<(PathBuf, String)> {
    dirs.iter().find_map(|d| {
        let plain = d.join(name);
        if plain.is_file() {
            return Some((plain, name.to_owned()));
        }
        let packed = d.join(format!("{name}.xz"));
        (xz && packed.is_file()).then(|| (packed, format!("{name}.xz")))
    })
}

/// Writes through a temporary file and a rename, so the boot service never
/// serves a half-written kernel or initramfs.
pub(crate) fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/lib/crc16.ko:
kernel/arch/x86/crypto/crc32c-intel.ko:
kernel/crypto/crc32c_generic.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio.ko:
";

    fn inputs() -> (
        ModDep,
        Aliases,
        BTreeMap<ModuleName, Vec<String>>,
        BTreeSet<ModuleName>,
    ) {
        (
            ModDep::parse(DEP).unwrap(),
            Aliases::parse(
                "alias crypto-crc32c crc32c_intel\nalias crypto-crc32c crc32c_generic\n",
            ),
            parse_softdep_pre("softdep ext4 pre: crypto-crc32c\nsoftdep jbd2 pre: crypto-crc32c\n"),
            parse_builtin("kernel/net/packet/af_packet.ko\n"),
        )
    }

    fn names(v: &[ModuleName]) -> Vec<&str> {
        v.iter().map(ModuleName::as_str).collect()
    }

    #[test]
    fn ext4_brings_both_crc32c_providers_before_it() {
        let (dep, aliases, soft, builtin) = inputs();
        let plan = plan_modules(&dep, &aliases, &soft, &builtin, &["ext4".into()]).unwrap();
        assert_eq!(
            names(&plan.load_order),
            [
                "crc32c_intel",
                "crc32c_generic",
                "jbd2",
                "mbcache",
                "crc16",
                "ext4"
            ]
        );
    }

    #[test]
    fn builtin_modules_are_reported_not_included() {
        let (dep, aliases, soft, builtin) = inputs();
        let plan = plan_modules(
            &dep,
            &aliases,
            &soft,
            &builtin,
            &["af_packet".into(), "virtio_pci".into()],
        )
        .unwrap();
        assert_eq!(names(&plan.builtin), ["af_packet"]);
        assert_eq!(names(&plan.load_order), ["virtio", "virtio_pci"]);
    }

    #[test]
    fn a_requested_module_the_kernel_lacks_fails_the_plan() {
        let (dep, aliases, soft, builtin) = inputs();
        let err = plan_modules(&dep, &aliases, &soft, &builtin, &["ntfs3".into()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "module ntfs3 is neither in modules.dep nor built into the kernel"
        );
    }

    #[test]
    fn each_module_appears_once_however_often_it_is_needed() {
        let (dep, aliases, soft, builtin) = inputs();
        let plan = plan_modules(
            &dep,
            &aliases,
            &soft,
            &builtin,
            &["ext4".into(), "jbd2".into(), "ext4".into()],
        )
        .unwrap();
        let set: BTreeSet<_> = plan.load_order.iter().collect();
        assert_eq!(set.len(), plan.load_order.len());
    }

    #[test]
    fn firmware_is_found_plain_or_xz_only_when_the_kernel_takes_xz() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("rtl_nic")).unwrap();
        fs::write(dir.path().join("rtl_nic/rtl8168h-2.fw.xz"), b"x").unwrap();
        fs::write(dir.path().join("tg3.bin"), b"x").unwrap();
        let dirs = [dir.path().to_owned()];
        assert_eq!(find_firmware(&dirs, "tg3.bin", false).unwrap().1, "tg3.bin");
        assert_eq!(
            find_firmware(&dirs, "rtl_nic/rtl8168h-2.fw", true)
                .unwrap()
                .1,
            "rtl_nic/rtl8168h-2.fw.xz"
        );
        assert_eq!(find_firmware(&dirs, "rtl_nic/rtl8168h-2.fw", false), None);
    }
}
