//! A tiny bootable payload for VM scenarios: Debian's kernel (fetched once
//! into a cache that outlives the checkout) and an initramfs whose `/init`
//! prints a marker on the console and powers off.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `${MARROW_CACHE:-/var/cache/marrow-test}`: downloads kept across runs.
pub fn cache_dir() -> PathBuf {
    let dir = std::env::var_os("MARROW_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/marrow-test"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The newest `linux-image-6.1.*-amd64` the archive offers, as a `.deb` in
/// the cache (downloaded with `apt-get download` on first use).
fn kernel_deb(debs: &Path) -> PathBuf {
    let find = || -> Option<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(debs)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                n.starts_with("linux-image-6.1.") && n.ends_with("_amd64.deb") && !n.contains("dbg")
            })
            .collect();
        found.sort();
        found.pop()
    };
    if let Some(p) = find() {
        return p;
    }
    // linux-image-amd64 is a metapackage; its Depends names the versioned one.
    let depends = run(Command::new("apt-cache").args(["depends", "linux-image-amd64"]));
    let versioned = depends
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| p.starts_with("linux-image-6.1"))
        .unwrap_or_else(|| panic!("no linux-image-6.1 dependency in:\n{depends}"))
        .to_string();
    run(Command::new("apt-get")
        .args(["download", &versioned])
        .current_dir(debs));
    find().unwrap_or_else(|| {
        panic!(
            "apt-get download {versioned} left no .deb in {}",
            debs.display()
        )
    })
}

/// Path to a Debian 6.1 `vmlinuz`, extracted once into the cache.
pub fn debian_kernel() -> PathBuf {
    let cache = cache_dir();
    let debs = cache.join("debs");
    std::fs::create_dir_all(&debs).expect("create debs cache");
    let deb = kernel_deb(&debs);
    let stem = deb.file_stem().unwrap().to_string_lossy().into_owned();
    let root = cache.join("extracted").join(&stem);
    let boot = root.join("boot");
    let existing = |boot: &Path| -> Option<PathBuf> {
        std::fs::read_dir(boot)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .starts_with("vmlinuz-")
            })
    };
    if let Some(k) = existing(&boot) {
        return k;
    }
    // Extract to a temporary sibling, then rename: a parallel or killed run
    // never sees half a tree.
    let tmp = cache
        .join("extracted")
        .join(format!("{stem}.tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).expect("create extraction dir");
    run(Command::new("dpkg").arg("-x").arg(&deb).arg(&tmp));
    let _ = std::fs::rename(&tmp, &root);
    let _ = std::fs::remove_dir_all(&tmp);
    existing(&boot).unwrap_or_else(|| panic!("no vmlinuz-* in {}", boot.display()))
}

/// One newc (SVR4, no CRC) cpio entry.
fn newc_entry(out: &mut Vec<u8>, ino: u32, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
    let header = format!(
        "070701{ino:08x}{mode:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
        0,
        0,
        1,
        0,
        data.len(),
        0,
        0,
        rdev.0,
        rdev.1,
        name.len() + 1,
        0
    );
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out.extend_from_slice(data);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// An initramfs (uncompressed newc cpio) holding busybox-static and an
/// `/init` that runs `script` (busybox sh) with /dev, /proc and /sys mounted.
pub fn busybox_initramfs(script: &str) -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (package busybox-static)");
    let init = format!(
        "#!/bin/busybox sh\n/bin/busybox mkdir -p /proc /sys\n/bin/busybox mount -t devtmpfs dev /dev\n\
         /bin/busybox mount -t proc proc /proc\n/bin/busybox mount -t sysfs sys /sys\n\
         /bin/busybox --install -s /bin\nexport PATH=/bin\n{script}\n"
    );
    let mut out = Vec::new();
    newc_entry(&mut out, 1, "dev", 0o040755, (0, 0), &[]);
    // The kernel opens /dev/console before /init runs; without it, init has
    // no stdout (char 5:1).
    newc_entry(&mut out, 2, "dev/console", 0o020600, (5, 1), &[]);
    newc_entry(&mut out, 3, "bin", 0o040755, (0, 0), &[]);
    newc_entry(&mut out, 4, "bin/busybox", 0o100755, (0, 0), &busybox);
    newc_entry(&mut out, 5, "init", 0o100755, (0, 0), init.as_bytes());
    newc_entry(&mut out, 0, "TRAILER!!!", 0, (0, 0), &[]);
    out
}

/// Installs the Debian kernel and an initramfs that prints `marker` and
/// powers off as `<data_dir>/boot/vmlinuz` and `initrd.img`, where
/// `marrow serve` looks for them.
pub fn install_marker_payload(data_dir: &Path, marker: &str) {
    let boot = data_dir.join("boot");
    std::fs::create_dir_all(&boot).expect("create boot dir");
    std::fs::copy(debian_kernel(), boot.join("vmlinuz")).expect("copy kernel");
    let script = format!("echo {marker}\necho {marker} > /dev/ttyS0\npoweroff -f\n");
    std::fs::write(boot.join("initrd.img"), busybox_initramfs(&script)).expect("write initrd");
}
