//! Getting Debian's kernel: download `linux-image-amd64` and the versioned
//! package it depends on with `apt-get download` (never installing them),
//! keep the .debs in a cache, unpack with `dpkg -x` and run `depmod`, since
//! the package's module tree ships without `modules.dep` (depmod normally
//! runs in the package's postinst).

use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::host::{self, AptUri};
use crate::{io_err, Error, Result};

/// The metapackage that tracks Debian's current kernel for amd64.
pub const METAPACKAGE: &str = "linux-image-amd64";

/// Where the kernel package comes from.
#[derive(Debug, Clone)]
pub enum KernelSource {
    /// Ask apt for the current `linux-image-amd64`, reusing cached .debs.
    Apt,
    /// An already-downloaded versioned kernel package (`linux-image-6.1.*.deb`).
    Deb(PathBuf),
}

/// An unpacked, depmod-ed kernel package.
#[derive(Debug, Clone)]
pub struct KernelTree {
    /// The .deb it was unpacked from.
    pub deb: PathBuf,
    /// The unpacked tree: `boot/`, `lib/modules/KVER/`.
    pub root: PathBuf,
    /// `uname -r` of the kernel, e.g. `6.1.0-56-amd64`.
    pub version: String,
}

impl KernelTree {
    pub fn vmlinuz(&self) -> PathBuf {
        self.root.join(format!("boot/vmlinuz-{}", self.version))
    }

    pub fn config(&self) -> PathBuf {
        self.root.join(format!("boot/config-{}", self.version))
    }

    pub fn modules_dir(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.version)
    }
}

const EXTRACTED_MARKER: &str = ".marrow-unpacked";

pub fn prepare(
    source: &KernelSource,
    cache_dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<KernelTree> {
    fs::create_dir_all(cache_dir).map_err(io_err(cache_dir))?;
    let deb = match source {
        KernelSource::Deb(path) => path.clone(),
        KernelSource::Apt => {
            let meta = download(METAPACKAGE, cache_dir, progress)?;
            let depends = host::run(Command::new("dpkg-deb").arg("-f").arg(&meta).arg("Depends"))?;
            let package =
                host::kernel_package_from_depends(&depends).ok_or_else(|| Error::Package {
                    deb: meta.clone(),
                    detail: format!(
                        "Depends {:?} names no versioned linux-image package",
                        depends.trim()
                    ),
                })?;
            download(&package, cache_dir, progress)?
        }
    };
    unpack(&deb, cache_dir, progress)
}

/// Downloads `package` into `cache_dir` unless a file of the right name,
/// size and SHA-256 is already there.
pub(crate) fn download(
    package: &str,
    cache_dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf> {
    // apt-get prints nothing for a file already in its working directory,
    // so ask from an empty one: the cache check below is ours to make.
    let probe = cache_dir.join(".print-uris");
    fs::create_dir_all(&probe).map_err(io_err(&probe))?;
    let listing = host::run(
        Command::new("apt-get")
            .args(["download", "--print-uris", package])
            .current_dir(&probe),
    )?;
    let uri = host::parse_print_uris(&listing).ok_or_else(|| Error::Command {
        command: format!("apt-get download --print-uris {package}"),
        detail: format!("no .deb in its output: {:?}", listing.trim()),
    })?;
    let path = cache_dir.join(&uri.file_name);
    if cached_matches(&path, &uri)? {
        progress(&format!("using cached {}", uri.file_name));
        return Ok(path);
    }
    if path.exists() {
        // A partial or stale download: apt-get would not replace it.
        fs::remove_file(&path).map_err(io_err(&path))?;
    }
    progress(&format!(
        "downloading {} ({} bytes)",
        uri.file_name, uri.size
    ));
    host::run(
        Command::new("apt-get")
            .args(["download", "-q", package])
            .current_dir(cache_dir),
    )?;
    if !cached_matches(&path, &uri)? {
        return Err(Error::Package {
            deb: path,
            detail: format!(
                "downloaded file does not have apt's size {} and hash {:?}",
                uri.size, uri.sha256
            ),
        });
    }
    Ok(path)
}

fn cached_matches(path: &Path, uri: &AptUri) -> Result<bool> {
    let Ok(meta) = fs::metadata(path) else {
        return Ok(false);
    };
    if meta.len() != uri.size {
        return Ok(false);
    }
    let Some(want) = &uri.sha256 else {
        return Ok(true);
    };
    let data = fs::read(path).map_err(io_err(path))?;
    Ok(hex::encode(Sha256::digest(&data)) == want.to_ascii_lowercase())
}

/// Unpacks `deb` under `cache_dir/unpacked/`, once: a tree is reused only if
/// the marker written after depmod is there, so an interrupted unpack is
/// redone.
fn unpack(deb: &Path, cache_dir: &Path, progress: &mut dyn FnMut(&str)) -> Result<KernelTree> {
    let stem = deb
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| Error::Package {
            deb: deb.to_owned(),
            detail: "file name is not UTF-8".into(),
        })?;
    let root = cache_dir.join("unpacked").join(stem);
    if !root.join(EXTRACTED_MARKER).exists() {
        if root.exists() {
            fs::remove_dir_all(&root).map_err(io_err(&root))?;
        }
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        progress(&format!("unpacking {}", deb.display()));
        host::run(Command::new("dpkg").arg("-x").arg(deb).arg(&root))?;
        let version = kernel_version(deb, &root)?;
        progress(&format!("running depmod for {version}"));
        host::run(Command::new("depmod").arg("-b").arg(&root).arg(&version))?;
        fs::write(root.join(EXTRACTED_MARKER), &version).map_err(io_err(&root))?;
    }
    let version = kernel_version(deb, &root)?;
    let tree = KernelTree {
        deb: deb.to_owned(),
        root,
        version,
    };
    if !tree.vmlinuz().is_file() {
        return Err(Error::Package {
            deb: deb.to_owned(),
            detail: format!("no boot/vmlinuz-{}", tree.version),
        });
    }
    Ok(tree)
}

/// The one directory under `lib/modules/` is the kernel's version.
fn kernel_version(deb: &Path, root: &Path) -> Result<String> {
    let dir = root.join("lib/modules");
    let mut versions: Vec<String> = fs::read_dir(&dir)
        .map_err(|e| Error::Package {
            deb: deb.to_owned(),
            detail: format!("no lib/modules in the package: {e}"),
        })?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    versions.sort();
    match versions.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(Error::Package {
            deb: deb.to_owned(),
            detail: format!("expected one kernel version under lib/modules, found {versions:?}"),
        }),
    }
}

/// Kernel build options that decide how the initramfs is packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelConfig {
    /// `CONFIG_RD_ZSTD=y`: the kernel unpacks a zstd-compressed initramfs.
    pub rd_zstd: bool,
    /// `CONFIG_MODULE_DECOMPRESS=y`: `finit_module` takes compressed modules.
    pub module_decompress: bool,
    /// `CONFIG_FW_LOADER_COMPRESS_XZ=y`: the loader finds `FILE.xz` firmware.
    pub firmware_xz: bool,
}

impl KernelConfig {
    pub fn parse(text: &str) -> Self {
        let set = |key: &str| text.lines().any(|l| l.trim() == format!("{key}=y"));
        KernelConfig {
            rd_zstd: set("CONFIG_RD_ZSTD"),
            module_decompress: set("CONFIG_MODULE_DECOMPRESS"),
            firmware_xz: set("CONFIG_FW_LOADER_COMPRESS_XZ"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_config_reads_only_options_set_to_y() {
        let cfg = KernelConfig::parse(
            "CONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=y\n# CONFIG_MODULE_DECOMPRESS is not set\nCONFIG_FW_LOADER_COMPRESS_XZ=y\n",
        );
        assert_eq!(
            cfg,
            KernelConfig {
                rd_zstd: true,
                module_decompress: false,
                firmware_xz: true
            }
        );
        assert!(!KernelConfig::parse("CONFIG_RD_ZSTD=m\n").rd_zstd);
    }
}
