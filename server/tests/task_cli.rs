//! `marrow task`, through the binary.

use std::path::Path;
use std::process::{Command, Output};

fn marrow(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_marrow"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .expect("run marrow")
}

fn ok(data: &Path, args: &[&str]) -> String {
    let o = marrow(data, args);
    assert!(
        o.status.success(),
        "marrow {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn refused(data: &Path, args: &[&str]) -> String {
    let o = marrow(data, args);
    assert!(!o.status.success(), "marrow {args:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Captures a small disk file as image `name` in the data directory's
/// store; returns the image id.
fn image(data: &Path, name: &str) -> String {
    let disk = data.join(format!("{name}.raw"));
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(&disk, marrow_test_support::noise(7, 1 << 20)).unwrap();
    let out: serde_json::Value = serde_json::from_str(&ok(
        data,
        &[
            "image",
            "capture",
            disk.to_str().unwrap(),
            "--name",
            name,
            "--json",
        ],
    ))
    .unwrap();
    out["image"].as_str().unwrap().to_string()
}

#[test]
fn a_restore_task_for_a_named_host_is_listed_shown_and_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let prefix = image(d, "win11")[..4].to_string();
    ok(d, &["host", "add", "52:54:00:aa:bb:01", "--name", "lab-01"]);
    let id = ok(
        d,
        &[
            "task",
            "restore",
            "--host",
            "lab-01",
            "--image",
            &format!("win11@{}", prefix.to_uppercase()),
            "--grow-last-partition",
        ],
    );
    assert_eq!(id.trim(), "1");

    let list: serde_json::Value =
        serde_json::from_str(&ok(d, &["task", "list", "--json"])).unwrap();
    let t = &list[0];
    assert_eq!(t["id"], 1);
    assert_eq!(t["kind"], "restore");
    assert_eq!(t["host"], "52:54:00:aa:bb:01");
    assert_eq!(t["image"], format!("win11@{prefix}"));
    assert_eq!(t["state"], "pending");
    assert_eq!(t["grow_last_partition"], true);
    for key in ["error", "progress", "report"] {
        assert!(t[key].is_null(), "{key} in {t}");
    }

    let shown: serde_json::Value =
        serde_json::from_str(&ok(d, &["task", "show", "1", "--json"])).unwrap();
    assert_eq!(shown["id"], 1);
    assert!(ok(d, &["task", "list"]).contains("pending"));

    ok(d, &["task", "cancel", "1"]);
    let shown: serde_json::Value =
        serde_json::from_str(&ok(d, &["task", "show", "1", "--json"])).unwrap();
    assert_eq!(shown["state"], "cancelled");
    let err = refused(d, &["task", "cancel", "1"]);
    assert!(err.contains("task 1") && err.contains("cancelled"), "{err}");
}

#[test]
fn a_capture_for_a_new_mac_registers_the_host_and_shows_its_token_once_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out: serde_json::Value = serde_json::from_str(&ok(
        d,
        &[
            "task",
            "capture",
            "--host",
            "52:54:00:aa:bb:02",
            "--image",
            "golden",
            "--disk",
            "serial=XYZ",
            "--show-token",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(out["id"], 1);
    let token = out["token"].as_str().unwrap();
    assert_eq!(token.len(), 64);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(ok(d, &["host", "list"]).contains("52:54:00:aa:bb:02"));
    let shown = ok(d, &["task", "show", "1", "--json"]);
    assert!(!shown.contains(token), "the token is never shown again");
    assert!(shown.contains("serial=XYZ"), "{shown}");
}

#[test]
fn a_second_active_task_for_a_host_is_refused_naming_the_host_and_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(d, &["host", "add", "52:54:00:aa:bb:03", "--name", "lab-03"]);
    ok(d, &["task", "capture", "--host", "lab-03", "--image", "a"]);
    let err = refused(
        d,
        &[
            "task",
            "restore",
            "--host",
            "52:54:00:aa:bb:03",
            "--image",
            "a",
        ],
    );
    assert!(
        err.contains("52:54:00:aa:bb:03") && err.contains("task 1"),
        "{err}"
    );
}

#[test]
fn unknown_hosts_bad_images_and_unknown_tasks_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let err = refused(d, &["task", "capture", "--host", "nobody", "--image", "a"]);
    assert!(err.contains("nobody"), "{err}");
    ok(d, &["host", "add", "52:54:00:aa:bb:04", "--name", "lab-04"]);
    let err = refused(
        d,
        &["task", "capture", "--host", "lab-04", "--image", "a@abcd"],
    );
    assert!(err.contains("a@abcd"), "{err}");
    let err = refused(
        d,
        &[
            "task",
            "restore",
            "--host",
            "lab-04",
            "--image",
            "a@not-hex",
        ],
    );
    assert!(err.contains("not-hex"), "{err}");
    let err = refused(d, &["task", "show", "7"]);
    assert!(err.contains("no task 7"), "{err}");
    let err = refused(d, &["task", "show", "7", "--follow"]);
    assert!(err.contains("no task 7"), "{err}");
    let err = refused(
        d,
        &[
            "task",
            "capture",
            "--host",
            "lab-04",
            "--image",
            "a",
            "--disk",
            "colour=red",
        ],
    );
    assert!(err.contains("unknown key \"colour\""), "{err}");
    let err = refused(
        d,
        &[
            "task", "capture", "--host", "lab-04", "--image", "a", "--after", "halt",
        ],
    );
    assert!(err.contains("use reboot or poweroff"), "{err}");
    let err = refused(
        d,
        &[
            "task",
            "restore",
            "--host",
            "lab-04",
            "--image",
            "a",
            "--inject-drivers",
            "win12-x64",
        ],
    );
    assert!(err.contains("win12-x64"), "{err}");
    let err = refused(
        d,
        &[
            "task",
            "restore",
            "--host",
            "lab-04",
            "--image",
            "nonexistent",
        ],
    );
    assert!(err.contains("nonexistent"), "{err}");
    assert!(ok(d, &["task", "list"]).contains("no tasks"));
}

#[test]
fn listing_a_data_directory_that_does_not_exist_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("never-made");
    assert!(ok(&d, &["task", "list"]).contains("no tasks"));
    assert_eq!(ok(&d, &["host", "list", "--json"]).trim(), "[]");
    assert!(!d.exists(), "a listing made {}", d.display());
}
