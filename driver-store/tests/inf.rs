//! INF parsing against the real INF files in `tests/data/inf/` (sources and
//! licences in `tests/data/inf/SOURCES.md`).
//!
//! Every fixture has a golden summary in `tests/data/inf/golden/`; rerun
//! with `MARROW_BLESS=1` to rewrite them after a deliberate change, then
//! review the diff. The facts the goldens were first checked against are
//! also asserted by hand below.

use driver_store::{Arch, Inf, TargetOs, TextEncoding};
use serde_json::json;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/inf")
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "inf" || e == "inx"))
        .collect();
    files.sort();
    files
}

fn parse(name: &str) -> Inf {
    let bytes = std::fs::read(dir().join(name)).unwrap();
    Inf::parse(name, &bytes).unwrap_or_else(|e| panic!("{e}"))
}

fn target(text: &str) -> TargetOs {
    text.parse().unwrap()
}

const TARGETS: [&str; 4] = ["win10-x64", "win11-x64", "win10-x86", "win11-arm64"];

/// What the golden files record about one INF.
fn summary(inf: &Inf) -> serde_json::Value {
    let models: Vec<_> = inf
        .all_models()
        .unwrap()
        .into_iter()
        .map(|m| {
            json!({
                "line": m.line,
                "section": m.section,
                "description": m.description,
                "install": m.install_section,
                "hardware_id": m.hardware_id,
                "compatible_ids": m.compatible_ids,
                "feature_score_amd64": inf.feature_score(&m.install_section, &target("win11-x64")),
            })
        })
        .collect();
    let selection: serde_json::Map<String, serde_json::Value> = TARGETS
        .iter()
        .map(|t| {
            let (models, excluded) = inf.models_for(&target(t)).unwrap();
            let mut sections: Vec<String> = models.iter().map(|m| m.section.clone()).collect();
            sections.dedup();
            (
                t.to_string(),
                json!({ "sections": sections, "models": models.len(), "excluded": excluded }),
            )
        })
        .collect();
    json!({
        "encoding": inf.encoding,
        "template": inf.template,
        "version": inf.version,
        "driver_ver": inf.version.driver_ver.map(|d| d.to_string()),
        "manufacturers": inf.manufacturers,
        "models": models,
        "selection": selection,
        "catalog_amd64": inf.catalog_file(Arch::Amd64),
        "source_files_amd64": inf.source_files(Arch::Amd64),
        "unresolved_tokens": inf.unresolved_tokens,
    })
}

#[test]
fn every_fixture_parses_and_matches_its_golden_summary() {
    let bless = std::env::var_os("MARROW_BLESS").is_some();
    let golden_dir = dir().join("golden");
    let mut parsed = 0;
    let mut failures = Vec::new();
    for path in fixtures() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let inf = match Inf::parse(&name, &std::fs::read(&path).unwrap()) {
            Ok(inf) => inf,
            Err(e) => {
                failures.push(format!("{name}: does not parse: {e}"));
                continue;
            }
        };
        parsed += 1;
        let got = serde_json::to_string_pretty(&summary(&inf)).unwrap() + "\n";
        let golden = golden_dir.join(format!("{name}.json"));
        if bless {
            std::fs::create_dir_all(&golden_dir).unwrap();
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == got => {}
            Ok(_) => failures.push(format!(
                "{name}: differs from {} (MARROW_BLESS=1 rewrites it)",
                golden.display()
            )),
            Err(e) => failures.push(format!("{name}: {}: {e}", golden.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(parsed, 40, "every fixture INF parses");
}

#[test]
fn utf16_utf8_bom_and_plain_files_decode_by_their_marks() {
    assert_eq!(
        parse("mssamples-netvadapter.inf").encoding,
        TextEncoding::Utf16Le
    );
    assert_eq!(
        parse("rpiiotcore-SerPL011.inf").encoding,
        TextEncoding::Utf16Le
    );
    assert_eq!(
        parse("netadaptercx-RtEthSample.inx").encoding,
        TextEncoding::Utf8Bom
    );
    assert_eq!(parse("reactos-nete1000.inf").encoding, TextEncoding::Utf8);
}

#[test]
fn an_ansi_inf_is_read_as_windows_1252_and_en_us_strings_win() {
    // nete1000.inf plus an en-US string table in windows-1252 bytes
    // (0xF1 is ñ, 0x80 is the euro sign), as an ANSI INF carries them.
    let mut bytes = std::fs::read(dir().join("reactos-nete1000.inf")).unwrap();
    bytes.extend_from_slice(b"\n[Strings.0409]\nIntelMfg = \"Intel Espa\xf1a \x80\"\n");
    let inf = Inf::parse("nete1000-ansi.inf", &bytes).unwrap();
    assert_eq!(inf.encoding, TextEncoding::Windows1252);
    assert_eq!(inf.manufacturers[0].name, "Intel Espa\u{f1}a \u{20ac}");
    // Without the en-US table, [Strings] names it.
    assert_eq!(parse("reactos-nete1000.inf").manufacturers[0].name, "Intel");
}

#[test]
fn nete1000_lists_the_qemu_e1000_and_resolves_its_description() {
    let inf = parse("reactos-nete1000.inf");
    let models = inf.all_models().unwrap();
    assert_eq!(models.len(), 37);
    let e1000 = models
        .iter()
        .find(|m| m.hardware_id.as_deref() == Some(r"PCI\VEN_8086&DEV_100E"))
        .unwrap();
    assert_eq!(e1000.install_section, "E1000_Inst.ndi");
    assert!(
        e1000.description.contains("82540EM"),
        "{}",
        e1000.description
    );
    let dv = inf.version.driver_ver.unwrap();
    assert_eq!((dv.date, dv.version), ((2019, 1, 22), [1, 0, 0, 0]));
    // Undecorated models section: x86 only.
    assert_eq!(inf.models_for(&target("win10-x86")).unwrap().0.len(), 37);
    assert!(inf.models_for(&target("win10-x64")).unwrap().0.is_empty());
}

#[test]
fn netkvm_template_has_the_virtio_net_ids_with_the_generic_one_compatible() {
    let inf = parse("virtio-netkvm.inx");
    assert!(inf.template);
    let models = inf.models_for(&target("win11-x64")).unwrap().0;
    let ids: Vec<(Option<&str>, Vec<&str>)> = models
        .iter()
        .map(|m| {
            (
                m.hardware_id.as_deref(),
                m.compatible_ids.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            (
                Some(r"PCI\VEN_1AF4&DEV_1000&SUBSYS_0001_INX_SUBSYS_VENDOR_ID&REV_00"),
                vec![r"PCI\VEN_1AF4&DEV_1000"]
            ),
            (
                Some(r"PCI\VEN_1AF4&DEV_1041&SUBSYS_1100_INX_SUBSYS_VENDOR_ID&REV_01"),
                vec![r"PCI\VEN_1AF4&DEV_1041"]
            ),
        ]
    );
    assert_eq!(inf.version.class.as_deref(), Some("Net"));
    assert_eq!(inf.catalog_file(Arch::Amd64), Some("netkvm.cat"));
}

#[test]
fn reactos_netkvm_is_x86_windows_xp_and_later_only() {
    let inf = parse("reactos-netkvm.inf");
    assert_eq!(inf.models_for(&target("win10-x86")).unwrap().0.len(), 2);
    let (models, excluded) = inf.models_for(&target("win10-x64")).unwrap();
    assert!(models.is_empty());
    assert!(excluded[0].contains("NTx86.5.1 is for x86"), "{excluded:?}");
    // `Tx = "Tx Enabled";`: the comment right after the quote goes.
    assert_eq!(inf.string("Tx"), Some("Tx Enabled"));
    assert_eq!(inf.string("Enable*"), Some("Enabled*"));
}

#[test]
fn a_semicolon_inside_a_quoted_string_is_kept() {
    let inf = parse("mssamples-lsi_u3.inf");
    assert_eq!(
        inf.string("DevDesc1"),
        Some("LSI Ultra3 PCI SCSI Adapter; 53C1010-33 (StorPort)")
    );
    let models = inf.all_models().unwrap();
    assert_eq!(
        models[0].description,
        "LSI Ultra3 PCI SCSI Adapter; 53C1010-33 (StorPort)"
    );
}

#[test]
fn the_best_decoration_for_the_build_is_chosen() {
    let inf = parse("mssamples-echoum.inx");
    let section = |t: &str| inf.models_for(&target(t)).unwrap().0[0].section.clone();
    assert!(section("win10-x64").ends_with("...17763"));
    assert!(section("win11-x64").ends_with("...22000"));
    let ndisprot = parse("mssamples-ndisprot.inx");
    let section = |t: &str| {
        ndisprot.models_for(&target(t)).unwrap().0[0]
            .section
            .clone()
    };
    assert!(section("win11-x64").ends_with("10.0...25341"));
    assert!(section("win10-x64").ends_with("NT$ARCH$.10.0"));
    assert!(section("win7-x64").ends_with("NT$ARCH$.6.1"));
}

#[test]
fn architecture_decorations_pick_the_matching_platform() {
    let fwcfg = parse("virtio-qemufwcfg.inf");
    let section = |t: &str| fwcfg.models_for(&target(t)).unwrap().0[0].section.clone();
    assert!(section("win11-x64").ends_with("NTAMD64"));
    assert!(section("win11-arm64").ends_with("NTARM64"));
    assert!(section("win10-x86").ends_with("NTx86"));
    // smbus.inf has an undecorated [Models] and [Models.NTamd64].
    let smbus = parse("virtio-smbus.inf");
    let x64 = smbus.models_for(&target("win10-x64")).unwrap().0;
    assert!(x64
        .iter()
        .all(|m| m.section.eq_ignore_ascii_case("Models.NTamd64")));
    let x86 = smbus.models_for(&target("win10-x86")).unwrap().0;
    assert!(x86.iter().all(|m| m.section.eq_ignore_ascii_case("Models")));
}

#[test]
fn a_backslash_in_a_trailing_comment_does_not_join_lines() {
    let inf = parse("mssamples-passThrough.inf");
    let section = inf
        .section_names()
        .find(|n| n.eq_ignore_ascii_case("MiniFilter.Service"))
        .unwrap()
        .to_string();
    let keys: Vec<String> = inf
        .section(&section)
        .unwrap()
        .lines
        .iter()
        .filter_map(|l| l.key.clone())
        .collect();
    assert!(keys.iter().any(|k| k == "ServiceBinary"), "{keys:?}");
    assert!(keys.iter().any(|k| k == "Dependencies"), "{keys:?}");
    assert!(inf.manufacturers.is_empty());
}

#[test]
fn quoted_lower_case_ids_are_unquoted_as_written() {
    let inf = parse("virtio-rhel-qemupciserial.inf");
    let models = inf.models_for(&target("win10-x64")).unwrap().0;
    assert_eq!(
        models[0].hardware_id.as_deref(),
        Some(r"PCI\VEN_1b36&DEV_0002&CC_0700")
    );
}

#[test]
fn source_disk_files_are_placed_by_their_disk_path() {
    let inf = parse("mssamples-diskdev.inf");
    let files = inf.source_files(Arch::Amd64);
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].path, "amd64/disk.sys");
    let files = parse("virtio-viostor.inx").source_files(Arch::Amd64);
    assert_eq!(files[0].path, "viostor.sys");
}

#[test]
fn an_empty_driver_ver_is_absent_not_an_error() {
    assert!(parse("netadaptercx-RtEthSample.inx")
        .version
        .driver_ver
        .is_none());
    assert!(parse("mssamples-ndisprot.inx").version.driver_ver.is_none());
}

#[test]
fn feature_scores_are_read_as_hex_with_or_without_0x() {
    let win11 = target("win11-x64");
    let stdvga = parse("virtio-stdvga.inx");
    let m = &stdvga.models_for(&win11).unwrap().0[0];
    assert_eq!(stdvga.feature_score(&m.install_section, &win11), Some(0xF8));
    let rt = parse("netadaptercx-RtEthSample.inx");
    let m = &rt.models_for(&win11).unwrap().0[0];
    assert_eq!(rt.feature_score(&m.install_section, &win11), Some(0xFE));
}

/// Malformed inputs live in `tests/data/inf/malformed/`, named for the
/// defect. Each must fail with the file name and the line at fault, which
/// the file's first line gives as `; expect line N`.
#[test]
fn named_malformed_inf_files_are_rejected_with_file_and_line() {
    let dir = dir().join("malformed");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let err = Inf::parse(&name, &bytes)
            .and_then(|inf| inf.all_models().map(|_| inf))
            .expect_err(&name)
            .to_string();
        assert!(err.starts_with(&name), "{name}: {err}");
        let text = String::from_utf8_lossy(&bytes);
        if let Some(line) = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("; expect line "))
        {
            assert!(
                err.contains(&format!("line {}:", line.trim())),
                "{name}: {err}"
            );
        }
        seen += 1;
    }
    assert!(seen >= 8, "only {seen} malformed inputs");
}

/// The parser never panics, whatever the bytes: every fixture, then
/// deterministic mutations of them (the stable stand-in for the cargo-fuzz
/// target `fuzz/fuzz_targets/inf.rs`).
#[test]
fn the_parser_never_panics_on_mutated_fixtures() {
    let mut next = marrow_test_support::xorshift(0x2545_F491_4F6C_DD1Du64);
    let alphabet = b"[]=,;\"%\\\n\r .$ARCHNTamd64x86PCI\\VEN_&\xff\xfe\x00";
    let win11 = target("win11-x64");
    for path in fixtures() {
        let base = std::fs::read(&path).unwrap();
        for _ in 0..40 {
            let mut bytes = base.clone();
            for _ in 0..(1 + next() % 16) {
                let at = next() as usize % bytes.len();
                match next() % 3 {
                    0 => bytes[at] = alphabet[next() as usize % alphabet.len()],
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, alphabet[next() as usize % alphabet.len()]),
                }
            }
            if next().is_multiple_of(4) {
                bytes.truncate(next() as usize % bytes.len());
            }
            if let Ok(inf) = Inf::parse("mutated.inf", &bytes) {
                let _ = inf.all_models();
                if let Ok((models, _)) = inf.models_for(&win11) {
                    for m in models {
                        let _ = inf.feature_score(&m.install_section, &win11);
                    }
                }
                let _ = inf.source_files(Arch::Amd64);
            }
        }
    }
}
