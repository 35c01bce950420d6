//! `marrow drivers`: the built binary against a temporary data directory,
//! with the driver packages in `driver-store/tests/data/packages/`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn packages() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../driver-store/tests/data/packages")
}

fn marrow(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_marrow"))
        .arg("--data-dir")
        .arg(data)
        .arg("drivers")
        .args(args)
        .output()
        .unwrap()
}

fn ok_json(data: &Path, args: &[&str]) -> Value {
    let out = marrow(data, args);
    assert!(
        out.status.success(),
        "marrow drivers {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn add_all(data: &Path) {
    let dir = packages();
    let out = marrow(
        data,
        &[
            "add",
            dir.to_str().unwrap(),
            "--os",
            "win11-x64",
            "--os",
            "win10-x86",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken-netkvm-missing-sys"), "{stderr}");
}

#[test]
fn match_reports_the_virtio_driver_for_qemu_virtio_net_in_the_documented_json_shape() {
    let data = tempfile::tempdir().unwrap();
    add_all(data.path());
    let report = ok_json(
        data.path(),
        &[
            "match",
            "--pci",
            "1af4:1041:1af4:1100@01/020000",
            "--os",
            "win11-x64",
            "--json",
        ],
    );
    let device = &report["devices"][0];
    assert_eq!(device["device"], "pci 1af4:1041:1af4:1100@01/020000");
    assert_eq!(
        device["hardware_ids"][0],
        r"PCI\VEN_1AF4&DEV_1041&SUBSYS_11001AF4&REV_01"
    );
    assert_eq!(device["compatible_ids"][1], r"PCI\VEN_1AF4&DEV_1041");
    let candidates = device["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 1);
    let c = candidates[0].as_object().unwrap();
    let mut keys: Vec<&str> = c.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["inf", "matched_id", "name", "package", "rank", "reason"]
    );
    assert_eq!(c["name"], "netkvm-amd64");
    assert_eq!(device["excluded"], serde_json::json!([]));
    assert_eq!(c["inf"], "netkvm.inf");
    assert_eq!(c["rank"], 0x0FFF_0000);
    assert!(c["reason"].as_str().unwrap().starts_with("hardware ID #1"));
}

#[test]
fn match_finds_the_e1000_driver_on_x86_and_nothing_on_x64() {
    let data = tempfile::tempdir().unwrap();
    add_all(data.path());
    let e1000 = "8086:100e:1af4:1100@03/020000";
    let x86 = ok_json(
        data.path(),
        &["match", "--pci", e1000, "--os", "win10-x86", "--json"],
    );
    let c = &x86["devices"][0]["candidates"];
    assert_eq!(c.as_array().unwrap().len(), 1);
    assert_eq!(c[0]["inf"], "nete1000.inf");
    assert_eq!(c[0]["matched_id"], r"PCI\VEN_8086&DEV_100E");
    assert_eq!(c[0]["rank"], 0x80FF_2001u32);
    let x64 = ok_json(
        data.path(),
        &["match", "--pci", e1000, "--os", "win11-x64", "--json"],
    );
    assert!(x64["devices"][0]["candidates"]
        .as_array()
        .unwrap()
        .is_empty());
    // The human report says why the ReactOS driver is not offered.
    let out = marrow(data.path(), &["match", "--pci", e1000, "--os", "win11-x64"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("nothing to inject"), "{text}");
    assert!(text.contains("undecorated sections are x86 only"), "{text}");
}

#[test]
fn list_and_remove_work_by_id_and_report_broken_packages() {
    let data = tempfile::tempdir().unwrap();
    add_all(data.path());
    // Importing again stores nothing new.
    let again = ok_json(
        data.path(),
        &[
            "add",
            packages().to_str().unwrap(),
            "--os",
            "win11-x64",
            "--json",
        ],
    );
    assert!(again["imported"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["newly_stored"] == false));
    let list = ok_json(data.path(), &["list", "--json"]);
    let packages = list["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 3);
    let broken: Vec<&Value> = packages.iter().filter(|p| p["broken"] == true).collect();
    assert_eq!(broken.len(), 1);
    assert_eq!(broken[0]["package"]["name"], "broken-netkvm-missing-sys");
    let id = broken[0]["package"]["id"].as_str().unwrap()[..12].to_string();
    let removed = ok_json(data.path(), &["remove", &id, "--json"]);
    assert_eq!(removed["removed"][0]["name"], "broken-netkvm-missing-sys");
    let list = ok_json(data.path(), &["list", "--json"]);
    assert_eq!(list["packages"].as_array().unwrap().len(), 2);
}

#[test]
fn failures_exit_non_zero_and_name_what_failed() {
    let data = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["match", "--pci", "8086:100e", "--os", "win12-x64"],
            "win12-x64",
        ),
        (
            &["match", "--pci", "8086:zzzz", "--os", "win11-x64"],
            "8086:zzzz",
        ),
        (
            &["match", "--host", "52:54:00:12:34:56", "--os", "win11-x64"],
            "has reported no inventory yet",
        ),
        (&["remove", "deadbeef0000"], "deadbeef0000"),
        (
            &["add", "/nonexistent/drivers", "--os", "win11-x64"],
            "/nonexistent/drivers",
        ),
    ];
    for (args, needle) in cases {
        let out = marrow(data.path(), args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn match_reads_a_client_inventory_and_offers_only_the_nic_drivers() {
    let data = tempfile::tempdir().unwrap();
    add_all(data.path());
    let inventory = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../driver-store/tests/data/inventory/qemu-pc-i440fx-7.2.json");
    let report = ok_json(
        data.path(),
        &[
            "match",
            "--inventory",
            inventory.to_str().unwrap(),
            "--os",
            "win11-x64",
            "--json",
        ],
    );
    let devices = report["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 8);
    let with_candidates: Vec<&str> = devices
        .iter()
        .filter(|d| !d["candidates"].as_array().unwrap().is_empty())
        .map(|d| d["device"].as_str().unwrap())
        .collect();
    assert_eq!(
        with_candidates,
        [
            "pci 1af4:1000:1af4:0001@00/020000",
            "pci 1af4:1041:1af4:1100@01/020000"
        ]
    );
}
