//! The lexical half of TFTP root confinement. The other half (a symlink that
//! resolves outside the root) needs the file system, so the server checks it
//! after opening; this function refuses everything that can be refused by
//! looking at the name alone.

use std::path::PathBuf;

/// Why a requested name is refused before touching the file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathRefusal {
    #[error("empty file name")]
    Empty,
    #[error("file name contains a NUL byte")]
    Nul,
    #[error("file name contains a backslash")]
    Backslash,
    #[error("file name contains a '..' component")]
    ParentComponent,
    #[error("file name contains a control character")]
    ControlCharacter,
}

/// Turns a requested TFTP file name into a path relative to the root, or
/// refuses it. `.` and empty components (`a//b`) are dropped.
///
/// A leading `/` names the root, as tftpd-hpa's `--secure` mode takes it:
/// Debian's network GRUB asks for `/grub/grub.cfg` and its module lists
/// under its prefix `(tftp,SERVER)/grub`, and the client's view of the
/// server has no other root.
///
/// Backslashes are refused rather than translated: Windows-era clients send
/// `boot\pxeboot.n12`, and translating would make `..\` a second traversal
/// spelling to get right.
pub fn check_path(name: &str) -> Result<PathBuf, PathRefusal> {
    if name.is_empty() {
        return Err(PathRefusal::Empty);
    }
    if name.contains('\0') {
        return Err(PathRefusal::Nul);
    }
    if name.contains('\\') {
        return Err(PathRefusal::Backslash);
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(PathRefusal::ControlCharacter);
    }
    let mut out = PathBuf::new();
    for part in name.split('/') {
        match part {
            "" | "." => continue,
            ".." => return Err(PathRefusal::ParentComponent),
            p => out.push(p),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(PathRefusal::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_and_nested_names() {
        assert_eq!(
            check_path("undionly.kpxe").unwrap(),
            PathBuf::from("undionly.kpxe")
        );
        assert_eq!(
            check_path("./efi//ipxe.efi").unwrap(),
            PathBuf::from("efi/ipxe.efi")
        );
        // GRUB's prefix is `(tftp,SERVER)/grub`: the root, not the host's.
        assert_eq!(
            check_path("/grub/grub.cfg").unwrap(),
            PathBuf::from("grub/grub.cfg")
        );
        assert_eq!(check_path("//"), Err(PathRefusal::Empty));
    }

    #[test]
    fn refuses_every_traversal_spelling() {
        assert_eq!(
            check_path("../etc/passwd"),
            Err(PathRefusal::ParentComponent)
        );
        assert_eq!(check_path("a/../../x"), Err(PathRefusal::ParentComponent));
        assert_eq!(
            check_path("/../etc/passwd"),
            Err(PathRefusal::ParentComponent)
        );
        assert_eq!(check_path("..\\etc\\passwd"), Err(PathRefusal::Backslash));
        assert_eq!(check_path("a\0b"), Err(PathRefusal::Nul));
        assert_eq!(check_path(""), Err(PathRefusal::Empty));
        assert_eq!(check_path("./"), Err(PathRefusal::Empty));
        assert_eq!(check_path("a\nb"), Err(PathRefusal::ControlCharacter));
    }
}
