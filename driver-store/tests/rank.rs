//! Driver ranking against cases worked out by hand from Microsoft's
//! documented rules ("Identifier Score", "Driver Package Rank Example",
//! "How Windows selects a driver package"): the expected ranks below were
//! computed on paper, not copied from the code's output.
//!
//! The device throughout is QEMU's e1000 as Windows 10 sees it:
//! hardware IDs  #1 `PCI\VEN_8086&DEV_100E&SUBSYS_11001AF4&REV_03`,
//!               #2 `...&SUBSYS_11001AF4`, #3 `...&CC_020000`, #4 `...&CC_0200`;
//! compatible IDs #1 `PCI\VEN_8086&DEV_100E&REV_03`, #2 `PCI\VEN_8086&DEV_100E`,
//!               #3 `PCI\VEN_8086&CC_020000`, #4 `PCI\VEN_8086&CC_0200`,
//!               #5 `PCI\VEN_8086`, #6 `PCI\CC_020000`, #7 `PCI\CC_0200`.

use driver_store::{choose, excluded_matches, rank, DriverIndex, Signature};
use driver_store::{Inf, PciDevice, TargetOs};

const E1000: &str = "8086:100e:1af4:1100@03/020000";

fn e1000() -> driver_store::DeviceIds {
    E1000.parse::<PciDevice>().unwrap().ids()
}

/// A minimal INF: one manufacturer with `decoration`, the given model
/// lines, DriverVer, and an optional FeatureScore on the install section.
fn inf(decoration: &str, lines: &[&str], driver_ver: &str, feature: Option<&str>) -> Inf {
    let models = if decoration.is_empty() {
        "Models".to_string()
    } else {
        format!("Models.{decoration}")
    };
    let mut text = format!(
        "[Version]\nSignature=\"$Windows NT$\"\nClass=Net\nDriverVer={driver_ver}\n\
         [Manufacturer]\n%Mfg%=Models{}{decoration}\n[{models}]\n",
        if decoration.is_empty() { "" } else { "," }
    );
    for line in lines {
        text.push_str(&format!("%Dev% = Inst, {line}\n"));
    }
    text.push_str("[Inst]\n");
    if let Some(f) = feature {
        text.push_str(&format!("FeatureScore={f}\n"));
    }
    text.push_str("[Strings]\nMfg=\"Test\"\nDev=\"Test device\"\n");
    Inf::parse("test.inf", text.as_bytes()).unwrap()
}

fn index(target: &str, packages: &[(&str, Inf, Signature)]) -> DriverIndex {
    let mut index = DriverIndex::new(target.parse::<TargetOs>().unwrap());
    for (name, inf, sig) in packages {
        index
            .add_inf(name, &format!("{name}.inf"), inf, *sig)
            .unwrap();
    }
    index
}

/// (package, rank) of the candidates, best first.
fn ranked(index: &DriverIndex) -> Vec<(String, u32)> {
    rank(&e1000(), index)
        .into_iter()
        .map(|c| (c.package, c.rank))
        .collect()
}

const U: Signature = Signature::Unsigned;
const C: Signature = Signature::CatalogPresent;

#[test]
fn a_specific_id_beats_a_generic_one() {
    let idx = index(
        "win10-x64",
        &[
            // Device CID #7 = INF HwID: 0x2000 + 6.
            (
                "class",
                inf("NTamd64", &[r"PCI\CC_0200"], "01/01/2020,1.0", None),
                U,
            ),
            // Device CID #2 = INF HwID: 0x2000 + 1.
            (
                "vendev",
                inf(
                    "NTamd64",
                    &[r"PCI\VEN_8086&DEV_100E"],
                    "01/01/2020,1.0",
                    None,
                ),
                U,
            ),
            // Device HwID #2 = INF HwID: 0x0000 + 1.
            (
                "subsys",
                inf(
                    "NTamd64",
                    &[r"PCI\VEN_8086&DEV_100E&SUBSYS_11001AF4"],
                    "01/01/2020,1.0",
                    None,
                ),
                U,
            ),
        ],
    );
    assert_eq!(
        ranked(&idx),
        [
            ("subsys".to_string(), 0x80FF_0001),
            ("vendev".to_string(), 0x80FF_2001),
            ("class".to_string(), 0x80FF_2006),
        ]
    );
}

#[test]
fn a_hardware_id_match_beats_a_compatible_id_match() {
    let idx = index(
        "win10-x64",
        &[
            // Device HwID #1 = INF compatible ID #1: 0x1000 + 0.
            (
                "compat",
                inf(
                    "NTamd64",
                    &[r"PCI\VEN_8086&DEV_FFFF, PCI\VEN_8086&DEV_100E&SUBSYS_11001AF4&REV_03"],
                    "01/01/2020,1.0",
                    None,
                ),
                U,
            ),
            // Device HwID #4 = INF HwID: 0x0000 + 3.
            (
                "hw",
                inf(
                    "NTamd64",
                    &[r"PCI\VEN_8086&DEV_100E&CC_0200"],
                    "01/01/2020,1.0",
                    None,
                ),
                U,
            ),
        ],
    );
    assert_eq!(
        ranked(&idx),
        [
            ("hw".to_string(), 0x80FF_0003),
            ("compat".to_string(), 0x80FF_1000)
        ]
    );
}

#[test]
fn a_compatible_to_compatible_match_counts_both_positions() {
    // Device CID #5 (k=4) = INF compatible ID #2 (j=1): 0x3000 + 4 + 0x100.
    let idx = index(
        "win10-x64",
        &[(
            "vendor",
            inf(
                "NTamd64",
                &[r"PCI\VEN_DEAD&DEV_BEEF, PCI\VEN_1234, PCI\VEN_8086"],
                "01/01/2020,1.0",
                None,
            ),
            U,
        )],
    );
    assert_eq!(ranked(&idx), [("vendor".to_string(), 0x80FF_3104)]);
}

#[test]
fn the_best_line_of_an_inf_is_its_candidate() {
    let idx = index(
        "win10-x64",
        &[(
            "two-lines",
            inf(
                "NTamd64",
                &[
                    r"PCI\VEN_8086&DEV_100E",
                    r"PCI\VEN_8086&DEV_100E&SUBSYS_11001AF4&REV_03",
                ],
                "01/01/2020,1.0",
                None,
            ),
            U,
        )],
    );
    let candidates = rank(&e1000(), &idx);
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0].rank, 0x80FF_0000);
    assert_eq!(candidates[0].line, 9);
}

#[test]
fn a_newer_driver_date_breaks_a_tie_then_the_higher_version() {
    let id = [r"PCI\VEN_8086&DEV_100E"];
    let idx = index(
        "win10-x64",
        &[
            ("old", inf("NTamd64", &id, "01/01/2020,9.9.9.9", None), U),
            ("new", inf("NTamd64", &id, "06/01/2021,1.0", None), U),
            ("new-1.10", inf("NTamd64", &id, "06/01/2021,1.10", None), U),
            ("undated", inf("NTamd64", &id, "", None), U),
        ],
    );
    let order: Vec<String> = ranked(&idx).into_iter().map(|c| c.0).collect();
    assert_eq!(order, ["new-1.10", "new", "old", "undated"]);
}

#[test]
fn a_signed_package_beats_an_unsigned_one_whatever_the_ids() {
    let idx = index(
        "win10-x64",
        &[
            (
                "unsigned",
                inf(
                    "NTamd64",
                    &[r"PCI\VEN_8086&DEV_100E&SUBSYS_11001AF4&REV_03"],
                    "01/01/2020,1.0",
                    None,
                ),
                U,
            ),
            (
                "catalog",
                inf(
                    "NTamd64",
                    &[r"PCI\VEN_8086&DEV_100E"],
                    "01/01/2020,1.0",
                    None,
                ),
                C,
            ),
        ],
    );
    assert_eq!(
        ranked(&idx),
        [
            ("catalog".to_string(), 0x0FFF_2001),
            ("unsigned".to_string(), 0x80FF_0000)
        ]
    );
}

#[test]
fn a_lower_feature_score_wins_among_equal_identifier_scores() {
    let id = [r"PCI\VEN_8086&DEV_100E"];
    let idx = index(
        "win10-x64",
        &[
            ("default", inf("NTamd64", &id, "01/01/2022,1.0", None), U),
            ("f8", inf("NTamd64", &id, "01/01/2020,1.0", Some("F8")), U),
        ],
    );
    assert_eq!(
        ranked(&idx),
        [
            ("f8".to_string(), 0x80F8_2001),
            ("default".to_string(), 0x80FF_2001)
        ]
    );
}

#[test]
fn a_package_for_another_architecture_is_excluded_with_its_reason() {
    let idx = index(
        "win11-x64",
        &[(
            "x86-only",
            inf("NTx86", &[r"PCI\VEN_8086&DEV_100E"], "01/01/2020,1.0", None),
            U,
        )],
    );
    assert!(ranked(&idx).is_empty());
    let excluded = excluded_matches(&e1000(), &idx);
    assert_eq!(excluded.len(), 1);
    assert!(
        excluded[0].reason.contains("NTx86 is for x86, not amd64"),
        "{}",
        excluded[0].reason
    );
    // An undecorated models section is x86-only too.
    let idx = index(
        "win11-x64",
        &[(
            "plain",
            inf("", &[r"PCI\VEN_8086&DEV_100E"], "01/01/2020,1.0", None),
            U,
        )],
    );
    assert!(ranked(&idx).is_empty());
    let idx = index(
        "win10-x86",
        &[(
            "plain",
            inf("", &[r"PCI\VEN_8086&DEV_100E"], "01/01/2020,1.0", None),
            U,
        )],
    );
    assert_eq!(ranked(&idx).len(), 1);
}

#[test]
fn a_package_for_a_newer_windows_build_is_excluded() {
    let win11_only = || {
        inf(
            "NTamd64.10.0...22000",
            &[r"PCI\VEN_8086&DEV_100E"],
            "01/01/2020,1.0",
            None,
        )
    };
    let idx = index("win10-x64", &[("win11", win11_only(), U)]);
    assert!(ranked(&idx).is_empty());
    assert!(excluded_matches(&e1000(), &idx)[0]
        .reason
        .contains("needs build 22000"));
    let idx = index("win11-x64", &[("win11", win11_only(), U)]);
    assert_eq!(ranked(&idx), [("win11".to_string(), 0x80FF_2001)]);
}

#[test]
fn the_reason_names_the_ids_the_inf_line_and_the_rank() {
    let idx = index(
        "win10-x64",
        &[(
            "e1000",
            inf(
                "NTamd64",
                &[r"PCI\VEN_8086&DEV_100E"],
                "01/01/2020,1.0",
                None,
            ),
            U,
        )],
    );
    let c = &rank(&e1000(), &idx)[0];
    assert_eq!(c.matched_id, r"PCI\VEN_8086&DEV_100E");
    assert_eq!(
        c.reason,
        r"compatible ID #2 `PCI\VEN_8086&DEV_100E` matched the INF hardware ID `PCI\VEN_8086&DEV_100E` of e1000.inf line 8 (rank 0x80FF2001: unsigned, feature score 0xFF, identifier score 0x2001)"
    );
}

/// Real fixtures: ReactOS's e1000 and virtio-net INFs are x86 only, so on
/// 32-bit Windows 10 they drive QEMU's NICs and on x64 nothing does.
#[test]
fn reactos_drivers_match_qemu_nics_on_x86_only() {
    let read = |name: &str| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/inf")
            .join(name);
        Inf::parse(name, &std::fs::read(path).unwrap()).unwrap()
    };
    let packages = |target: &str| {
        let mut idx = DriverIndex::new(target.parse().unwrap());
        idx.add_inf("nete1000", "nete1000.inf", &read("reactos-nete1000.inf"), U)
            .unwrap();
        idx.add_inf("netkvm", "netkvm.inf", &read("reactos-netkvm.inf"), U)
            .unwrap();
        idx
    };
    let x86 = packages("win10-x86");
    let e1000 = rank(&e1000(), &x86);
    assert_eq!(e1000.len(), 1);
    assert_eq!(
        (e1000[0].package.as_str(), e1000[0].rank),
        ("nete1000", 0x80FF_2001)
    );
    // virtio-net, transitional, as QEMU presents it.
    let virtio = "1af4:1000:1af4:0001@00/020000"
        .parse::<PciDevice>()
        .unwrap()
        .ids();
    let kvm = rank(&virtio, &x86);
    assert_eq!(kvm.len(), 1);
    assert_eq!(
        (kvm[0].package.as_str(), kvm[0].rank),
        ("netkvm", 0x80FF_0000)
    );
    let x64 = packages("win10-x64");
    assert!(rank(&virtio, &x64).is_empty());
    assert_eq!(excluded_matches(&virtio, &x64).len(), 1);
}

#[test]
fn choosing_for_a_machine_takes_each_devices_best_package_once() {
    let idx = index(
        "win10-x64",
        &[
            (
                "specific",
                inf(
                    "NTamd64",
                    &[r"PCI\VEN_8086&DEV_100E&SUBSYS_11001AF4"],
                    "01/01/2020,1.0",
                    None,
                ),
                U,
            ),
            (
                "generic",
                inf(
                    "NTamd64",
                    &[r"PCI\VEN_8086&DEV_100E", r"PCI\VEN_8086&DEV_10D3"],
                    "01/01/2020,1.0",
                    None,
                ),
                U,
            ),
        ],
    );
    let e1000e = "8086:10d3:8086:0000@00/020000"
        .parse::<PciDevice>()
        .unwrap()
        .ids();
    let nothing = "1234:1111".parse::<PciDevice>().unwrap().ids();
    let chosen = choose(&[e1000(), e1000e, e1000(), nothing], &idx);
    let packages: Vec<&str> = chosen.iter().map(|c| c.package.as_str()).collect();
    assert_eq!(packages, ["specific", "generic"]);
    assert_eq!(chosen[0].reasons.len(), 2);
    assert!(chosen[1].reasons[0].starts_with(r"PCI\VEN_8086&DEV_10D3&SUBSYS_00008086&REV_00: "));
}
