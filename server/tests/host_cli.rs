//! `marrow host` and `marrow serve`'s argument errors, through the binary.

use std::process::{Command, Output};

fn marrow(data: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_marrow"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .expect("run marrow")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn host_add_then_list_shows_the_named_host_in_json_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let o = marrow(
        dir.path(),
        &["host", "add", "52:54:00:AA:BB:01", "--name", "lab-01"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = marrow(dir.path(), &["host", "list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let hosts: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let h = &hosts[0];
    assert_eq!(h["mac"], "52:54:00:aa:bb:01");
    assert_eq!(h["name"], "lab-01");
    assert!(
        h["arch"].is_null() && h["last_boot"].is_null() && h["ip"].is_null(),
        "{h}"
    );
    let text = String::from_utf8_lossy(&marrow(dir.path(), &["host", "list"]).stdout).into_owned();
    assert!(
        text.contains("52:54:00:aa:bb:01") && text.contains("lab-01"),
        "{text}"
    );
}

#[test]
fn host_add_refuses_a_bad_mac_and_a_name_already_taken() {
    let dir = tempfile::tempdir().unwrap();
    let o = marrow(
        dir.path(),
        &["host", "add", "52:54:00:zz:bb:01", "--name", "x"],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("52:54:00:zz:bb:01"), "{}", stderr(&o));
    assert!(marrow(
        dir.path(),
        &["host", "add", "52:54:00:00:00:01", "--name", "dup"]
    )
    .status
    .success());
    let o = marrow(
        dir.path(),
        &["host", "add", "52:54:00:00:00:02", "--name", "dup"],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("dup") && stderr(&o).contains("52:54:00:00:00:01"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn serve_refuses_bad_settings_naming_the_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let o = marrow(dir.path(), &["serve", "--dhcp", "fulll"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--dhcp") && stderr(&o).contains("fulll"),
        "{}",
        stderr(&o)
    );
    let o = marrow(dir.path(), &["serve", "--dhcp", "full"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("range"), "{}", stderr(&o));
    let config = dir.path().join("marrow.toml");
    std::fs::write(&config, "[dhcp]\nrouter = \"10.0.0.256\"\n").unwrap();
    let o = marrow(dir.path(), &["serve", "--config", config.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("dhcp.router") && stderr(&o).contains("10.0.0.256"),
        "{}",
        stderr(&o)
    );
    let o = marrow(dir.path(), &["serve", "--interface", "no-such-if0"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no-such-if0"), "{}", stderr(&o));
}

#[test]
fn host_add_renames_only_when_asked_and_refuses_group_macs_and_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let add = |args: &[&str]| marrow(d, &[&["host", "add"][..], args].concat());
    assert!(add(&["52:54:00:00:00:0a", "--name", "lab-01"])
        .status
        .success());
    let o = add(&["52:54:00:00:00:0a", "--name", "lab-02"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("lab-01") && stderr(&o).contains("--rename"),
        "{}",
        stderr(&o)
    );
    assert!(add(&["52:54:00:00:00:0a", "--name", "lab-02", "--rename"])
        .status
        .success());
    let long = "x".repeat(5000);
    for (mac, name, why) in [
        ("ff:ff:ff:ff:ff:ff", "bcast", "broadcast"),
        ("01:00:5e:00:00:01", "mcast", "multicast"),
        ("00:00:00:00:00:00", "zero", "zero"),
        ("52:54:00:00:00:0b", "52:54:00:00:00:0c", "MAC"),
        ("52:54:00:00:00:0b", long.as_str(), "1 to 63"),
        ("52:54:00:00:00:0b", "LAB-02", "already used"),
    ] {
        let o = add(&[mac, "--name", name]);
        assert!(!o.status.success(), "{mac} {name}");
        assert!(stderr(&o).contains(why), "{mac} {name}: {}", stderr(&o));
    }
    let list = String::from_utf8_lossy(&marrow(d, &["host", "list", "--json"]).stdout).into_owned();
    let hosts: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(hosts.as_array().unwrap().len(), 1, "{hosts}");
}
