//! `modules.alias` parsing and matching against a real excerpt of Debian 12's
//! kernel (see `tests/data/modalias/SOURCES.md`), against the modaliases
//! QEMU's emulated devices expose, and against kmod's own `modprobe`.

use marrow_kmod::AliasTable;
use std::path::{Path, PathBuf};
use std::process::Command;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/modalias")
        .join(name)
}

fn excerpt_text() -> String {
    std::fs::read_to_string(data("modules.alias.excerpt")).unwrap()
}

fn excerpt() -> AliasTable {
    AliasTable::parse(&excerpt_text()).unwrap()
}

#[test]
fn the_debian_excerpt_parses_every_alias_line() {
    let text = excerpt_text();
    let alias_lines = text.lines().filter(|l| l.starts_with("alias ")).count();
    let table = excerpt();
    assert_eq!(table.aliases().len(), alias_lines);
    let first = &table.aliases()[0];
    // Line 1 is depmod's "# Aliases extracted from modules themselves." header.
    assert_eq!(first.line, 2);
    assert!(table
        .aliases()
        .iter()
        .any(|a| a.pattern == "pci:v00008086d0000100Esv*sd*bc*sc*i*" && a.module == "e1000"));
}

/// The modaliases below are what QEMU 7.2's devices show in
/// `/sys/bus/pci/devices/*/modalias` (subsystem 1AF4:1100 is QEMU's default).
#[test]
fn qemu_devices_select_the_modules_that_drive_them() {
    let table = excerpt();
    let cases = [
        // -device e1000 (82540EM) on the pc machine.
        (
            "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00",
            vec!["e1000"],
        ),
        // -device e1000e (82574L), the q35 default NIC.
        (
            "pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00",
            vec!["e1000e"],
        ),
        // virtio-net-pci, transitional: virtio_pci binds the PCI function...
        (
            "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00",
            vec!["virtio_pci"],
        ),
        // ...and virtio_net binds the virtio device it exposes.
        ("virtio:d00000001v00001AF4", vec!["virtio_net"]),
        ("virtio:d00000002v00001AF4", vec!["virtio_blk"]),
        // ICH9 AHCI on q35: only the class-code alias (bc01sc06i01) matches.
        (
            "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01",
            vec!["ahci"],
        ),
        // PIIX3 UHCI: class 0C0300.
        (
            "pci:v00008086d00007020sv00001AF4sd00001100bc0Csc03i00",
            vec!["uhci_hcd"],
        ),
        // QEMU std VGA has no module in the excerpt.
        (
            "pci:v00001234d00001111sv00001AF4sd00001100bc03sc00i00",
            vec![],
        ),
    ];
    for (modalias, want) in cases {
        assert_eq!(table.matching_modules(modalias), want, "{modalias}");
    }
}

#[test]
fn usb_bracket_patterns_match_only_the_listed_revisions() {
    let table = excerpt();
    let hit = "usb:v13FDp3940d0150dc00dsc00dp00ic08isc06ip50in00";
    let miss = "usb:v13FDp3940d0350dc00dsc00dp00ic00isc00ip00in00";
    assert!(
        table.matching_modules(hit).contains(&"usb_storage"),
        "{hit}"
    );
    assert!(
        !table.matching_modules(miss).contains(&"usb_storage"),
        "{miss}"
    );
}

/// Malformed inputs live in `tests/data/modalias/malformed/`, named for the
/// defect; each must be rejected with its line number.
#[test]
fn named_malformed_alias_files_are_rejected() {
    let dir = data("malformed");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let err = AliasTable::parse(&text).expect_err(&path.display().to_string());
        assert!(
            err.to_string().contains("line 1"),
            "{}: {err}",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 4);
}

#[test]
fn parsing_then_printing_then_parsing_again_gives_the_same_table() {
    let table = excerpt();
    let printed: String = table
        .aliases()
        .iter()
        .map(|a| format!("alias {} {}\n", a.pattern, a.module))
        .collect();
    let again = AliasTable::parse(&printed).unwrap();
    assert_eq!(table.aliases().len(), again.aliases().len());
    for (a, b) in table.aliases().iter().zip(again.aliases()) {
        assert_eq!((&a.pattern, &a.module), (&b.pattern, &b.module));
    }
}

/// The parser and matcher never panic, whatever the bytes: the fixture, then
/// deterministic mutations of it (stable stand-in for the cargo-fuzz target
/// `fuzz/fuzz_targets/modalias.rs`, which needs nightly).
#[test]
fn the_parser_and_matcher_never_panic_on_mutated_input() {
    let base = excerpt_text().into_bytes();
    let mut next = marrow_test_support::xorshift(0x9E37_79B9_7F4A_7C15u64);
    let alphabet = b"*?[]!^-\\ \n#aliaspci:v0123456789ABCDEF";
    for _ in 0..400 {
        let mut bytes = base[..(next() as usize % base.len())].to_vec();
        for _ in 0..(next() % 32) {
            if bytes.is_empty() {
                break;
            }
            let at = next() as usize % bytes.len();
            bytes[at] = alphabet[next() as usize % alphabet.len()];
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(table) = AliasTable::parse(&text) {
            let probe: String = (0..(next() % 60))
                .map(|_| alphabet[next() as usize % alphabet.len()] as char)
                .collect();
            let _ = table.matching_modules(&probe);
            let _ = table.matching_modules("pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00");
        }
    }
}

/// kmod's `modprobe --resolve-alias` applies the same `fnmatch` to aliases
/// from a config file. Feed it the excerpt as a modprobe.d file and compare,
/// for a concrete modalias made from every pattern in the excerpt.
#[test]
fn matches_agree_with_kmod_modprobe_resolve_alias() {
    let Some(modprobe) = ["/usr/sbin/modprobe", "/sbin/modprobe"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!("skipped: modprobe (kmod) is not installed; scripts/install-deps installs it");
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let kver = "0.0.0-marrow-test";
    let moddir = root.path().join("lib/modules").join(kver);
    std::fs::create_dir_all(&moddir).unwrap();
    std::fs::write(moddir.join("modules.dep"), "").unwrap();
    let conf = root.path().join("aliases.conf");
    std::fs::write(&conf, excerpt_text()).unwrap();

    let table = excerpt();
    let mut checked = 0;
    for (i, alias) in table.aliases().iter().enumerate() {
        // Every 7th pattern keeps the test quick while covering each module.
        if i % 7 != 0 && !alias.pattern.contains('[') {
            continue;
        }
        let modalias = concrete(&alias.pattern);
        let out = Command::new(modprobe)
            .arg("-C")
            .arg(&conf)
            .arg("-d")
            .arg(root.path())
            .args(["-S", kver, "--resolve-alias", &modalias])
            .output()
            .unwrap();
        let mut theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        theirs.sort();
        theirs.dedup();
        let mut ours: Vec<String> = table
            .matching_modules(&modalias)
            .into_iter()
            .map(str::to_string)
            .collect();
        ours.sort();
        assert_eq!(ours, theirs, "{modalias} (from {})", alias.pattern);
        checked += 1;
    }
    assert!(checked > 50, "only {checked} patterns checked");
}

/// A string the pattern matches: `*` becomes `0`, `?` becomes `A` and a
/// bracket expression its first member.
fn concrete(pattern: &str) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push('0'),
            '?' => out.push('A'),
            '[' => {
                let first = chars.next().unwrap();
                out.push(first);
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}
