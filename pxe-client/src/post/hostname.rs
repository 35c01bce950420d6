//! The machine's name in the restored systems. On a Linux root
//! `/etc/hostname` holds the name (hostname(5)), and `/etc/hosts` maps it
//! to 127.0.1.1, as Debian's installer writes it (Debian Reference, "The
//! hostname resolution"), so the name resolves without the network. In a
//! Windows volume it is `ComputerName` in the answer file (see
//! `driver_store::name_computer`).

use std::fs;
use std::io::Write;
use std::path::Path;

use driver_store::{Arch, InjectOptions};
use marrow_protocol::api::post::{HostnameReport, NamedFile};

use super::{linux_root, windows_volume, Part};
use crate::{Error, Result};

/// Writes `name` into every system on the disk. A name Windows refuses is
/// refused before anything is written; no system at all is an error.
pub fn name_systems(
    parts: &[Part],
    unmountable: &[String],
    name: &str,
    arch: Arch,
) -> Result<HostnameReport> {
    for p in parts.iter().filter(|p| windows_volume(p)) {
        if let Some(why) = driver_store::refuse_computer_name(name) {
            return Err(Error::Usage(format!(
                "hostname on partition {}: {why}",
                p.number
            )));
        }
    }
    let answer_file = InjectOptions::new(arch).answer_file;
    let mut files = Vec::new();
    for p in parts {
        if windows_volume(p) {
            let path = driver_store::name_computer(&p.mount.at, &answer_file, name, arch)?;
            files.push(NamedFile {
                partition: p.number,
                os: "windows".into(),
                path,
            });
        } else if linux_root(p) {
            for path in name_linux(&p.mount.at, name)? {
                files.push(NamedFile {
                    partition: p.number,
                    os: "linux".into(),
                    path,
                });
            }
        }
    }
    if files.is_empty() {
        let mut why = format!(
            "hostname {name}: no Linux root (ext4, XFS or btrfs with /etc) and no Windows volume \
             (NTFS with a Windows folder) among the {} mounted partition(s)",
            parts.len()
        );
        if !unmountable.is_empty() {
            why.push_str(&format!("; not mounted: {}", unmountable.join("; ")));
        }
        return Err(Error::Usage(why));
    }
    Ok(HostnameReport {
        name: name.to_string(),
        files,
    })
}

/// `/etc/hosts` with `name` in place of `old` (the name the image had;
/// `old.DOMAIN` becomes `name.DOMAIN`), and a `127.0.1.1` line naming
/// `name`: the one there is kept when it names it after the renaming and
/// rewritten otherwise, or one is added after the `127.0.0.1` line (at the
/// end when there is none). Comments and every other line stay as they were.
pub fn edit_hosts(text: &str, old: Option<&str>, name: &str) -> String {
    // `localhost.localdomain` and the like name the loopback, not the machine.
    let old = old.filter(|o| !o.is_empty() && !o.starts_with("localhost"));
    let rename = |n: &str| -> String {
        match old {
            Some(o) if n.eq_ignore_ascii_case(o) => name.to_string(),
            Some(o)
                if n.len() > o.len()
                    && n.as_bytes()[o.len()] == b'.'
                    && n[..o.len()].eq_ignore_ascii_case(o) =>
            {
                format!("{name}{}", &n[o.len()..])
            }
            _ => n.to_string(),
        }
    };
    let mut lines: Vec<String> = Vec::new();
    let mut has_own = false;
    for line in text.lines() {
        let (body, comment) = match line.find('#') {
            Some(i) => (&line[..i], &line[i..]),
            None => (line, ""),
        };
        let mut fields = body.split_whitespace();
        let Some(addr) = fields.next() else {
            lines.push(line.to_string());
            continue;
        };
        let names: Vec<&str> = fields.collect();
        let mut renamed: Vec<String> = names.iter().map(|n| rename(n)).collect();
        if addr == "127.0.1.1" {
            has_own = true;
            if !renamed.iter().any(|n| n == name) {
                renamed = vec![name.to_string()];
            }
        } else if renamed.iter().zip(&names).all(|(r, n)| r == n) {
            lines.push(line.to_string());
            continue;
        }
        let sep = if comment.is_empty() { "" } else { " " };
        lines.push(format!("{addr}\t{}{sep}{comment}", renamed.join("\t")));
    }
    if !has_own {
        let own = format!("127.0.1.1\t{name}");
        let at = lines
            .iter()
            .position(|l| l.split_whitespace().next() == Some("127.0.0.1"))
            .map_or(lines.len(), |i| i + 1);
        lines.insert(at, own);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Writes `bytes` into `path` in place: an existing file keeps its
/// inode, owner, mode and security labels (an SELinux system relabels
/// nothing after a restore), a new one is made 0644.
fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    use std::os::unix::fs::OpenOptionsExt;
    // Not through a symbolic link: an absolute one would point into the
    // client's own root, not the restored system's.
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Names the Linux system mounted at `root` `name`; returns the files
/// written, relative to `root`.
pub fn name_linux(root: &Path, name: &str) -> Result<Vec<String>> {
    let etc = root.join("etc");
    let hostname = etc.join("hostname");
    let old = fs::read_to_string(&hostname)
        .ok()
        .map(|s| s.trim().to_string());
    replace(&hostname, format!("{name}\n").as_bytes())?;
    let hosts = etc.join("hosts");
    let text = match fs::read_to_string(&hosts) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "127.0.0.1\tlocalhost\n".into(),
        Err(source) => {
            return Err(Error::Io {
                path: hosts,
                source,
            })
        }
    };
    replace(&hosts, edit_hosts(&text, old.as_deref(), name).as_bytes())?;
    Ok(vec!["etc/hostname".into(), "etc/hosts".into()])
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = "127.0.0.1\tlocalhost\n127.0.1.1\tgolden.lab.example\tgolden\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\n";

    #[test]
    fn debians_own_line_is_rewritten_and_the_rest_kept() {
        let out = edit_hosts(DEBIAN, Some("golden"), "lab-07");
        assert_eq!(
            out,
            DEBIAN.replace("golden.lab.example\tgolden", "lab-07.lab.example\tlab-07")
        );
        // An image whose old name is unknown gets the line rewritten.
        let out = edit_hosts(DEBIAN, None, "lab-07");
        assert_eq!(out, DEBIAN.replace("golden.lab.example\tgolden", "lab-07"));
    }

    #[test]
    fn a_file_without_the_line_gets_it_after_localhost() {
        let out = edit_hosts("127.0.0.1 localhost\n::1 localhost\n", None, "pc1");
        assert_eq!(out, "127.0.0.1 localhost\n127.0.1.1\tpc1\n::1 localhost\n");
        assert_eq!(edit_hosts("", None, "pc1"), "127.0.1.1\tpc1\n");
    }

    #[test]
    fn the_old_name_is_renamed_where_it_stands_but_localhost_is_not() {
        let text = "127.0.0.1 localhost golden # mine\n10.0.0.5 golden other\n";
        let out = edit_hosts(text, Some("golden"), "pc2");
        assert_eq!(
            out,
            "127.0.0.1\tlocalhost\tpc2 # mine\n127.0.1.1\tpc2\n10.0.0.5\tpc2\tother\n"
        );
        let out = edit_hosts("127.0.0.1 localhost\n", Some("localhost"), "pc3");
        assert_eq!(out, "127.0.0.1 localhost\n127.0.1.1\tpc3\n");
        let text = "127.0.0.1 localhost.localdomain localhost\n";
        let out = edit_hosts(text, Some("localhost.localdomain"), "pc4");
        assert_eq!(out, format!("{text}127.0.1.1\tpc4\n"));
    }

    #[test]
    fn writing_keeps_permissions_and_names_both_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("marrow-hostname-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("etc")).unwrap();
        fs::write(dir.join("etc/hostname"), "golden\n").unwrap();
        fs::write(dir.join("etc/hosts"), DEBIAN).unwrap();
        fs::set_permissions(dir.join("etc/hosts"), fs::Permissions::from_mode(0o640)).unwrap();
        let files = name_linux(&dir, "lab-07").unwrap();
        assert_eq!(files, ["etc/hostname", "etc/hosts"]);
        assert_eq!(
            fs::read_to_string(dir.join("etc/hostname")).unwrap(),
            "lab-07\n"
        );
        let hosts = fs::read_to_string(dir.join("etc/hosts")).unwrap();
        assert!(
            hosts.contains("127.0.1.1\tlab-07.lab.example\tlab-07\n"),
            "{hosts}"
        );
        let mode = fs::metadata(dir.join("etc/hosts"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
        fs::remove_dir_all(&dir).unwrap();
    }
}
