//! The web UI in Debian's headless Chromium, driven by Selenium
//! (`tests/ui/walkthrough.py`), against `marrow serve` in a network
//! namespace with shell-mode clients doing the imaging: first start and
//! sign-in, a capture whose bar moves live, a restore started from the
//! image page, a room session made there (a bad field named in place,
//! then cancelled), a pull from an upstream site started from the sites
//! page and followed live, the pulled image's signature and origin, a
//! viewer without actions, a bad field named in place, every page at a
//! tablet's width, and screenshots of the pages (kept in
//! `target/ui-screenshots/`). The server is a site of a second one, "hq",
//! in a namespace of its own.

use std::path::Path;
use std::time::Duration;

use marrow_tests::disks::{blank, tools_missing, windows_like_disk};
use marrow_tests::sites::{capture, Sites};

const MAC_A: &str = "52:54:00:90:00:01";
const MAC_B: &str = "52:54:00:90:00:02";

/// Why the browser scenario cannot run here, if it cannot.
fn browser_missing() -> Option<String> {
    for f in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        if !Path::new(f).exists() {
            return Some(format!(
                "{f} is missing (scripts/install-deps installs chromium and chromium-driver)"
            ));
        }
    }
    let selenium = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import selenium"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    (!selenium).then(|| "python3-selenium is missing (scripts/install-deps installs it)".into())
}

#[test]
fn the_web_ui_drives_a_capture_a_restore_and_refuses_a_viewer() {
    if let Some(why) = marrow_tests::missing_root()
        .or_else(tools_missing)
        .or_else(browser_missing)
    {
        eprintln!("skipping: {why}");
        return;
    }
    let mut s = Sites::new(90, &[], &[]);
    let hq_disk = windows_like_disk(s.hq.dir.path(), "hq.img", "hq", 96, 8);
    capture(&s.hq, &hq_disk, "fleet");
    let log = s
        .site
        .marrow
        .as_mut()
        .unwrap()
        .wait_for_log("Make the first admin", Duration::from_secs(20));
    let link = log
        .lines()
        .find_map(|l| l.split_once("Make the first admin").map(|(_, r)| r))
        .and_then(|r| r.split_whitespace().last())
        .expect("setup link")
        .to_string();
    let lab = &s.site;
    let dir = lab.dir.path().to_path_buf();
    let source = windows_like_disk(&dir, "source.img", "ui", 128, 8);
    let target = blank(&dir, "target.img", 128);
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ui-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/walkthrough.py");
    let zip = dir.join("netkvm.zip");
    let packages = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../driver-store/tests/data/packages/netkvm-amd64");
    let zipped = std::process::Command::new("python3")
        .args(["-m", "zipfile", "-c"])
        .arg(&zip)
        .arg(&packages)
        .status()
        .unwrap();
    assert!(zipped.success());
    let mut cmd = lab.ns.command("/usr/bin/python3");
    cmd.arg(&script)
        .env("BASE", format!("http://{}:8080", lab.server_ip))
        .env("SETUP_LINK", &link)
        .env("MARROW", marrow_tests::workspace_bin("marrow"))
        .env("CLIENT", marrow_tests::workspace_bin("marrow-client"))
        .env("DATA_DIR", &lab.data_dir)
        .env("SOURCE", &source)
        .env("TARGET", &target)
        .env("MAC_A", MAC_A)
        .env("MAC_B", MAC_B)
        .env("SHOTS", &shots)
        .env("DRIVERS_ZIP", &zip)
        .env("HOME", &dir);
    let out = cmd.output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "the browser walkthrough failed:\n{stdout}\n{stderr}\n--- marrow serve log ---\n{}",
        lab.marrow_log()
    );
    for scenario in [
        "1 setup",
        "2 capture",
        "3 restore",
        "4 viewer",
        "5 bad disk rule",
        "room session from the image page",
        "tablet width",
        "sites: pull now",
    ] {
        assert!(
            stdout.contains(scenario),
            "{scenario} did not run: {stdout}"
        );
    }
    for shot in [
        "dashboard.png",
        "host.png",
        "image.png",
        "task-running.png",
        "session.png",
        "dashboard-tablet.png",
        "sites.png",
    ] {
        let bytes = std::fs::read(shots.join(shot)).unwrap_or_default();
        assert!(bytes.starts_with(b"\x89PNG"), "{shot} is not a PNG");
    }
}
