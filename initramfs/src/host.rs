//! The host tools the build drives (`apt-get`, `dpkg-deb`, `dpkg`, `depmod`,
//! `modinfo`, `ldd`), and pure parsers for what they print.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// Runs `cmd` and returns its stdout, or an error naming the command, its
/// exit status and what it wrote to stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().map_err(|e| Error::Command {
        command: shown.clone(),
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: shown,
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One line of `apt-get download --print-uris PKG`:
/// `'URI' FILENAME SIZE SHA256:HEX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptUri {
    pub uri: String,
    pub file_name: String,
    pub size: u64,
    pub sha256: Option<String>,
}

pub fn parse_print_uris(text: &str) -> Option<AptUri> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix('\'')?;
        let (uri, rest) = rest.split_once('\'')?;
        let mut words = rest.split_whitespace();
        let file_name = words.next()?.to_owned();
        let size = words.next()?.parse().ok()?;
        let sha256 = words
            .next()
            .and_then(|h| h.strip_prefix("SHA256:"))
            .map(str::to_owned);
        if file_name.contains('/') || !file_name.ends_with(".deb") {
            return None;
        }
        Some(AptUri {
            uri: uri.to_owned(),
            file_name,
            size,
            sha256,
        })
    })
}

/// The versioned kernel package a `linux-image-amd64` metapackage points at,
/// from its `Depends:` field (`linux-image-6.1.0-56-amd64 (= 6.1.192-2)`).
pub fn kernel_package_from_depends(depends: &str) -> Option<String> {
    depends
        .split(',')
        .flat_map(|alt| alt.split('|'))
        .map(|d| d.split_whitespace().next().unwrap_or(""))
        .find(|name| {
            name.starts_with("linux-image-")
                && name.chars().nth(12).is_some_and(|c| c.is_ascii_digit())
        })
        .map(str::to_owned)
}

/// What `ldd` says about an executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linkage {
    Static,
    /// The files the dynamic loader maps, the loader itself included, as
    /// the absolute paths it will look for them at.
    Dynamic(Vec<PathBuf>),
}

/// Parses `ldd` output. Lines are `name => /path (0x…)`, `/path (0x…)` for
/// the loader, or `name (0x…)` for the vDSO (which is not a file). A
/// library ldd could not find is an error naming it.
pub fn parse_ldd(exe: &Path, text: &str) -> Result<Linkage> {
    if text.contains("statically linked") || text.contains("not a dynamic executable") {
        return Ok(Linkage::Static);
    }
    let mut files = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let target = match line.split_once("=>") {
            Some((name, rest)) => {
                let path = rest.split_whitespace().next().unwrap_or("");
                if path == "not" {
                    return Err(Error::Library {
                        exe: exe.to_owned(),
                        library: name.trim().to_owned(),
                    });
                }
                path
            }
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if target.starts_with('/') {
            files.push(PathBuf::from(target));
        }
    }
    Ok(Linkage::Dynamic(files))
}

pub fn ldd(exe: &Path) -> Result<Linkage> {
    // ldd exits 1 for a static binary; read its output either way.
    let out = Command::new("ldd")
        .arg(exe)
        .output()
        .map_err(|e| Error::Command {
            command: format!("ldd {}", exe.display()),
            detail: e.to_string(),
        })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_ldd(exe, &text)
}

/// The firmware files a module may request, from `modinfo -F firmware`.
pub fn module_firmware(root: &Path, kver: &str, module_file: &Path) -> Result<Vec<String>> {
    let out = run(Command::new("modinfo")
        .arg("-b")
        .arg(root)
        .arg("-k")
        .arg(kver)
        .arg("-F")
        .arg("firmware")
        .arg(module_file))?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_uris_line_gives_file_size_and_hash() {
        let text = "'http://deb.debian.org/debian/pool/main/l/linux-signed-amd64/linux-image-amd64_6.1.192-2_amd64.deb' linux-image-amd64_6.1.192-2_amd64.deb 1480 SHA256:3a2b\n";
        assert_eq!(
            parse_print_uris(text),
            Some(AptUri {
                uri: "http://deb.debian.org/debian/pool/main/l/linux-signed-amd64/linux-image-amd64_6.1.192-2_amd64.deb"
                    .into(),
                file_name: "linux-image-amd64_6.1.192-2_amd64.deb".into(),
                size: 1480,
                sha256: Some("3a2b".into()),
            })
        );
        assert_eq!(parse_print_uris("E: Unable to locate package nope\n"), None);
        assert_eq!(
            parse_print_uris("'http://x/../evil.deb' ../evil.deb 1 SHA256:00\n"),
            None
        );
    }

    #[test]
    fn versioned_kernel_package_is_read_from_depends() {
        assert_eq!(
            kernel_package_from_depends("linux-image-6.1.0-56-amd64 (= 6.1.192-2)").as_deref(),
            Some("linux-image-6.1.0-56-amd64")
        );
        assert_eq!(
            kernel_package_from_depends(
                "foo, linux-image-6.1.0-56-amd64-unsigned (= 6.1.192-2) | bar"
            )
            .as_deref(),
            Some("linux-image-6.1.0-56-amd64-unsigned")
        );
        assert_eq!(
            kernel_package_from_depends("linux-image-amd64-signed-template"),
            None
        );
    }

    #[test]
    fn ldd_lists_libraries_and_the_loader_but_not_the_vdso() {
        let text = "\tlinux-vdso.so.1 (0x00007f6af7591000)\n\
                    \tlibntfs-3g.so.89 => /lib/x86_64-linux-gnu/libntfs-3g.so.89 (0x00007f6af7502000)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f6af7320000)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f6af7593000)\n";
        let exe = Path::new("/usr/bin/ntfs-3g");
        assert_eq!(
            parse_ldd(exe, text).unwrap(),
            Linkage::Dynamic(vec![
                "/lib/x86_64-linux-gnu/libntfs-3g.so.89".into(),
                "/lib/x86_64-linux-gnu/libc.so.6".into(),
                "/lib64/ld-linux-x86-64.so.2".into(),
            ])
        );
    }

    #[test]
    fn ldd_says_static_for_static_binaries() {
        assert_eq!(
            parse_ldd(Path::new("/bin/busybox"), "\tnot a dynamic executable\n").unwrap(),
            Linkage::Static
        );
        assert_eq!(
            parse_ldd(Path::new("/init"), "\tstatically linked\n").unwrap(),
            Linkage::Static
        );
    }

    #[test]
    fn a_library_ldd_cannot_find_is_named() {
        let err = parse_ldd(Path::new("/usr/bin/x"), "\tlibgone.so.1 => not found\n").unwrap_err();
        assert!(err.to_string().contains("libgone.so.1"), "{err}");
    }
}
