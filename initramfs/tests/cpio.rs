//! The newc writer and reader against GNU cpio's output, malformed archives
//! kept as files named for their defect, and many mutated inputs.

use marrow_initramfs::cpio::{self, Archive, Entry, Kind};
use marrow_initramfs::CpioError;
use std::path::Path;
use std::process::Command;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cpio");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIXTURES).join(name)).unwrap()
}

fn entry(path: &str, perm: u32, kind: Kind) -> Entry {
    Entry {
        path: path.into(),
        perm,
        kind,
    }
}

/// The tree `gnu-newc-golden.cpio` was made from, with
/// `cpio -o -H newc -R 0:0 --reproducible` (GNU cpio 2.13) after
/// `touch -h -d @1700000000` on every file.
fn golden_tree() -> Archive {
    let mut a = Archive::new();
    for e in [
        entry("b", 0o755, Kind::File(b"xyz".to_vec())),
        entry("dev", 0o755, Kind::Dir),
        entry(
            "dev/console",
            0o600,
            Kind::CharDevice { major: 5, minor: 1 },
        ),
        entry("dir", 0o755, Kind::Dir),
        entry("dir/a.txt", 0o644, Kind::File(b"hello\n".to_vec())),
        entry("dir/sub", 0o755, Kind::Dir),
        entry("link", 0o777, Kind::Symlink("dir/a.txt".into())),
    ] {
        a.add(e).unwrap();
    }
    a
}

#[test]
fn writer_matches_gnu_cpio_byte_for_byte() {
    assert_eq!(
        golden_tree().to_bytes(1_700_000_000),
        fixture("gnu-newc-golden.cpio")
    );
}

#[test]
fn reader_parses_gnu_cpio_output_into_the_same_entries() {
    let parsed = cpio::parse(&fixture("gnu-newc-golden.cpio")).unwrap();
    assert_eq!(parsed, golden_tree().entries().cloned().collect::<Vec<_>>());
}

#[test]
fn written_archive_round_trips_through_the_reader() {
    let bytes = golden_tree().to_bytes(0);
    let mut again = Archive::new();
    for e in cpio::parse(&bytes).unwrap() {
        again.add(e).unwrap();
    }
    assert_eq!(again.to_bytes(0), bytes);
}

/// The same check against whatever GNU cpio is installed, from a tree made
/// now (no device node, so it runs without root).
#[test]
fn writer_matches_the_installed_gnu_cpio() {
    if Command::new("cpio").arg("--version").output().is_err() {
        // scripts/install-deps installs cpio; only a bare dev machine lacks it.
        eprintln!("skipped: GNU cpio is not installed (scripts/install-deps installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("etc/marrow")).unwrap();
    std::fs::write(root.join("etc/marrow/modules"), "ext4\nvfat\n").unwrap();
    std::fs::write(root.join("init"), vec![0x7fu8; 1000]).unwrap();
    std::os::unix::fs::symlink("init", root.join("sbin-init")).unwrap();
    let names = [
        "etc",
        "etc/marrow",
        "etc/marrow/modules",
        "init",
        "sbin-init",
    ];
    let perm = |p: u32, rel: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root.join(rel), std::fs::Permissions::from_mode(p)).unwrap();
    };
    perm(0o755, "etc");
    perm(0o755, "etc/marrow");
    perm(0o644, "etc/marrow/modules");
    perm(0o755, "init");
    for n in names {
        let status = Command::new("touch")
            .args(["-h", "-d", "@12345"])
            .arg(root.join(n))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let mut child = Command::new("cpio")
        .args(["-o", "-H", "newc", "-R", "0:0", "--reproducible", "--quiet"])
        .current_dir(root)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n", names.join("\n")).as_bytes())
        .unwrap();
    let gnu = child.wait_with_output().unwrap().stdout;

    let mut ours = Archive::new();
    ours.add_dir_all("etc/marrow").unwrap();
    ours.add(entry(
        "etc/marrow/modules",
        0o644,
        Kind::File(b"ext4\nvfat\n".to_vec()),
    ))
    .unwrap();
    ours.add(entry("init", 0o755, Kind::File(vec![0x7f; 1000])))
        .unwrap();
    ours.add(entry("sbin-init", 0o777, Kind::Symlink("init".into())))
        .unwrap();
    assert_eq!(ours.to_bytes(12345), gnu);
}

#[test]
fn each_malformed_archive_is_refused_for_its_defect() {
    type Expect = fn(&CpioError) -> bool;
    let cases: &[(&str, Expect)] = &[
        ("bad-magic.cpio", |e| {
            matches!(e, CpioError::BadMagic { offset: 0, .. })
        }),
        ("truncated-header.cpio", |e| {
            matches!(
                e,
                CpioError::Truncated {
                    offset: 0,
                    needed: 110,
                    ..
                }
            )
        }),
        ("truncated-data.cpio", |e| {
            matches!(e, CpioError::Truncated { needed: 3, .. })
        }),
        ("name-not-terminated.cpio", |e| {
            matches!(e, CpioError::NameNotTerminated { namesize: 5, .. })
        }),
        ("bad-hex-filesize.cpio", |e| {
            matches!(
                e,
                CpioError::BadHex {
                    field: "filesize",
                    ..
                }
            )
        }),
        ("socket-file-type.cpio", |e| {
            matches!(e, CpioError::UnsupportedType { mode: 0o140755, .. })
        }),
        ("missing-trailer.cpio", |e| {
            matches!(e, CpioError::MissingTrailer { .. })
        }),
        (
            "duplicate-entry.cpio",
            |e| matches!(e, CpioError::Duplicate { name } if name == "b"),
        ),
        ("huge-namesize.cpio", |e| {
            matches!(e, CpioError::Truncated { .. })
        }),
    ];
    let dir = Path::new(FIXTURES).join("malformed");
    let mut on_disk: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    on_disk.sort();
    assert_eq!(
        on_disk.len(),
        cases.len(),
        "every malformed fixture has a case"
    );
    for (name, expected) in cases {
        let err = cpio::parse(&std::fs::read(dir.join(name)).unwrap()).unwrap_err();
        assert!(expected(&err), "{name}: unexpected error {err:?}");
    }
}

/// The stable stand-in for the cargo-fuzz target: the reader must return
/// (Ok or Err) on every input, never panic or loop.
#[test]
fn reader_never_panics_on_mutated_archives() {
    let mut seeds = vec![fixture("gnu-newc-golden.cpio"), golden_tree().to_bytes(0)];
    for e in std::fs::read_dir(Path::new(FIXTURES).join("malformed")).unwrap() {
        seeds.push(std::fs::read(e.unwrap().path()).unwrap());
    }
    let mut next = marrow_test_support::xorshift(0x9e37_79b9_7f4a_7c15u64);
    for round in 0..20_000 {
        let mut input = seeds[round % seeds.len()].clone();
        for _ in 0..(next() % 8 + 1) {
            let at = (next() as usize) % input.len().max(1);
            match next() % 4 {
                0 if !input.is_empty() => input[at] = next() as u8,
                1 if !input.is_empty() => {
                    input[at] = b"0123456789ABCDEFG\0"[(next() % 18) as usize]
                }
                2 => input.truncate(at),
                _ => input.insert(at.min(input.len()), next() as u8),
            }
        }
        let _ = cpio::parse(&input);
    }
}
