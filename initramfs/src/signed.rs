//! The Secure Boot chain made only of Debian's signed binaries: shim
//! (`shim-signed`, signed by Microsoft's UEFI CA) and the network GRUB
//! (`grub-efi-amd64-signed`, signed by Debian and trusted by shim), put in
//! the boot folder beside the kernel, whose own Authenticode signature is
//! checked to be there (`linux-image-*-amd64` ships the signed kernel;
//! the unsigned one is the `-unsigned` package).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::{host, io_err, kernel, Error, Result};

/// The package and file of shim.
pub const SHIM_PACKAGE: &str = "shim-signed";
const SHIM_FILE: &str = "usr/lib/shim/shimx64.efi.signed";
/// The package and file of the network GRUB image.
pub const GRUB_PACKAGE: &str = "grub-efi-amd64-signed";
const GRUB_FILE: &str = "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed";

/// One signed binary put in the boot folder.
#[derive(Debug, Clone, Serialize)]
pub struct SignedFile {
    pub path: PathBuf,
    /// The `.deb` it came from.
    pub package: PathBuf,
    /// Size of its Authenticode signature (the PE security directory).
    pub signature_bytes: u32,
}

/// What `install` put in the boot folder.
#[derive(Debug, Clone, Serialize)]
pub struct SignedChain {
    pub shim: SignedFile,
    /// Served under the name shim loads, `grubx64.efi`.
    pub grub: SignedFile,
}

/// The size of a PE image's Authenticode signature: the certificate table
/// (data directory 4, PE/COFF spec §3.4.3 and "Attribute Certificate
/// Table"), `None` when the file is not a PE image or carries none.
pub fn authenticode_bytes(pe: &[u8]) -> Option<u32> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(pe.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(pe.get(at..at + 4)?.try_into().ok()?));
    if pe.get(..2)? != b"MZ" {
        return None;
    }
    let header = u32_at(0x3c)? as usize;
    if pe.get(header..header + 4)? != b"PE\0\0" {
        return None;
    }
    let optional = header + 24;
    // The data directories follow 96 bytes of PE32 or 112 of PE32+.
    let directories = match u16_at(optional)? {
        0x10b => optional + 96,
        0x20b => optional + 112,
        _ => return None,
    };
    let count = u32_at(directories - 4)?;
    if count <= 4 {
        return None;
    }
    let (offset, size) = (u32_at(directories + 32)?, u32_at(directories + 36)?);
    let end = (offset as usize).checked_add(size as usize)?;
    (offset != 0 && size != 0 && end <= pe.len()).then_some(size)
}

/// Fetches (or reuses from `cache_dir`) shim and GRUB and writes them to
/// `out_dir` as `shimx64.efi` and `grubx64.efi`.
pub fn install(
    cache_dir: &Path,
    out_dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<SignedChain> {
    let shim = fetch(
        SHIM_PACKAGE,
        SHIM_FILE,
        cache_dir,
        &out_dir.join("shimx64.efi"),
        progress,
    )?;
    let grub = fetch(
        GRUB_PACKAGE,
        GRUB_FILE,
        cache_dir,
        &out_dir.join("grubx64.efi"),
        progress,
    )?;
    Ok(SignedChain { shim, grub })
}

fn fetch(
    package: &str,
    member: &str,
    cache_dir: &Path,
    dest: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<SignedFile> {
    let deb = kernel::download(package, cache_dir, progress)?;
    let stem = deb
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| Error::Package {
            deb: deb.clone(),
            detail: "file name is not UTF-8".into(),
        })?;
    let root = cache_dir.join("unpacked").join(stem);
    if !root.join(member).is_file() {
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        progress(&format!("unpacking {}", deb.display()));
        host::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&root))?;
    }
    let path = root.join(member);
    let data = fs::read(&path).map_err(io_err(&path))?;
    let signature_bytes = authenticode_bytes(&data).ok_or_else(|| Error::Package {
        deb: deb.clone(),
        detail: format!("{member} carries no Authenticode signature"),
    })?;
    let dir = dest.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    crate::build::write_atomically(dest, &data)?;
    progress(&format!("wrote {} from {package}", dest.display()));
    Ok(SignedFile {
        path: dest.to_owned(),
        package: deb,
        signature_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PE32+ header with `count` data directories and the certificate
    /// table at `offset`/`size`, padded to `len` bytes.
    fn pe(count: u32, offset: u32, size: u32, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        let optional = 0x80 + 24;
        b[optional..optional + 2].copy_from_slice(&0x20bu16.to_le_bytes());
        let dirs = optional + 112;
        b[dirs - 4..dirs].copy_from_slice(&count.to_le_bytes());
        b[dirs + 32..dirs + 36].copy_from_slice(&offset.to_le_bytes());
        b[dirs + 36..dirs + 40].copy_from_slice(&size.to_le_bytes());
        b
    }

    #[test]
    fn reads_the_certificate_table_size() {
        assert_eq!(
            authenticode_bytes(&pe(16, 0x300, 0x100, 0x400)),
            Some(0x100)
        );
    }

    #[test]
    fn named_bad_inputs_carry_no_signature() {
        let cases: [(&str, Vec<u8>); 7] = [
            ("empty", Vec::new()),
            ("not MZ", b"ELF".to_vec()),
            ("header offset past the end", {
                let mut b = pe(16, 0x300, 0x100, 0x400);
                b[0x3c..0x40].copy_from_slice(&0xfff0u32.to_le_bytes());
                b
            }),
            ("no PE signature", {
                let mut b = pe(16, 0x300, 0x100, 0x400);
                b[0x80] = b'X';
                b
            }),
            ("four directories only", pe(4, 0x300, 0x100, 0x400)),
            ("table past the end", pe(16, 0x300, 0x200, 0x400)),
            ("unsigned", pe(16, 0, 0, 0x400)),
        ];
        for (name, bytes) in cases {
            assert_eq!(authenticode_bytes(&bytes), None, "{name}");
        }
    }

    /// The stable stand-in for the fuzz target `pe_signature`: every
    /// single-byte change and every cut of a signed header reads without
    /// panicking, and a size it gives lies inside the input.
    #[test]
    fn mutated_and_cut_headers_never_panic() {
        let good = pe(16, 0x300, 0x100, 0x400);
        for at in 0..0x180 {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut b = good.clone();
                b[at] = v;
                if let Some(size) = authenticode_bytes(&b) {
                    assert!(size as usize <= b.len());
                }
            }
        }
        for len in 0..good.len() {
            if let Some(size) = authenticode_bytes(&good[..len]) {
                assert!(size as usize <= len);
            }
        }
    }

    #[test]
    fn an_offset_and_size_that_overflow_are_refused() {
        assert_eq!(authenticode_bytes(&pe(16, u32::MAX, u32::MAX, 0x400)), None);
    }
}
