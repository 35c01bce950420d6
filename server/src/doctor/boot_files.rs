//! What clients are sent: the iPXE binaries, the signed UEFI chain, and the
//! imaging kernel and initramfs.

use std::path::{Path, PathBuf};

use marrow_protocol::dhcp::UefiChain;

use super::Finding;
use crate::paths::DataDir;
use crate::serve::config::Config;

pub fn check(config: &Config, dirs: &DataDir) -> Vec<Finding> {
    let mut out = Vec::new();
    // `marrow serve` copies a binary from ipxe_dir into the TFTP root at
    // start; either place will do.
    for (what, name) in [
        ("BIOS", &config.boot_bios),
        ("UEFI x64", &config.boot_uefi_x64),
    ] {
        let places = [config.tftp_root.join(name), config.ipxe_dir.join(name)];
        out.push(judge_file(
            &format!("iPXE {what}"),
            &places,
            &format!(
                "install Debian's ipxe package, or put {name} in {}",
                config.tftp_root.display()
            ),
        ));
    }
    let signed = [marrow_protocol::grub::SHIM, marrow_protocol::grub::GRUB]
        .iter()
        .all(|f| dirs.boot().join(f).is_file());
    out.push(match (config.uefi_chain, signed) {
        (UefiChain::Ipxe, _) => Finding::ok("secure boot", "UEFI x64 clients get iPXE (boot.uefi = \"ipxe\")"),
        (UefiChain::Signed, true) => Finding::ok("secure boot", "shim and GRUB in place for UEFI x64 clients"),
        (UefiChain::Signed, false) => Finding::warn(
            "secure boot",
            "shim and GRUB are missing, so UEFI x64 clients get iPXE and Secure Boot machines cannot boot",
            "run marrow initramfs build (it installs them from shim-signed and grub-efi-amd64-signed)",
        ),
    });
    for (what, path) in [
        ("kernel", dirs.boot().join("vmlinuz")),
        ("initramfs", dirs.initrd()),
    ] {
        out.push(judge_file(what, &[path], "run marrow initramfs build"));
    }
    out
}

/// Present (and not empty) in one of `places`, or missing.
fn judge_file(check: &str, places: &[PathBuf], fix: &str) -> Finding {
    match places.iter().find_map(|p| size(p).map(|n| (p, n))) {
        Some((path, bytes)) => Finding::ok(check, format!("{} ({bytes} bytes)", path.display())),
        None => Finding::fail(
            check,
            format!(
                "missing: {}",
                places
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            fix,
        ),
    }
}

fn size(path: &Path) -> Option<u64> {
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.is_file() && m.len() > 0)
        .map(|m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn a_file_is_found_in_any_of_its_places_and_an_empty_one_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let f = judge_file("kernel", &[a.clone(), b.clone()], "build it");
        assert_eq!(f.status, Status::Fail);
        assert!(f.detail.contains(" or "), "{}", f.detail);
        std::fs::write(&a, b"").unwrap();
        assert_eq!(
            judge_file("kernel", std::slice::from_ref(&a), "x").status,
            Status::Fail,
            "empty"
        );
        std::fs::write(&b, b"kernel").unwrap();
        let f = judge_file("kernel", &[a, b], "x");
        assert_eq!(f.status, Status::Ok);
        assert!(f.detail.contains("(6 bytes)"));
    }
}
