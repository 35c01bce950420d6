//! The Debian package (`scripts/package`) installed with apt into a clean
//! Debian 12 tree made by debootstrap, as an admin would install it: the
//! dependencies come in, the marrow system user and /var/lib/marrow are
//! made, the unit and the conffile are in place, and `marrow doctor` runs
//! there (with no DHCP probe: nothing is sent from the tree).

use std::path::{Path, PathBuf};
use std::process::Command;

use marrow_tests::{have, missing_root};

/// The minimal tree, kept as debootstrap's tarball of packages so that a
/// rerun unpacks it without downloading again (as the kernel cache does).
fn base_tarball(mirror: &str) -> PathBuf {
    let cache = std::env::var_os("MARROW_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/marrow-test"))
        .join("debootstrap");
    std::fs::create_dir_all(&cache).unwrap();
    let tarball = cache.join("bookworm-minbase.tgz");
    if !tarball.exists() {
        let work = tempfile::tempdir_in(&cache).unwrap();
        let part = cache.join("bookworm-minbase.tgz.part");
        run(Command::new("debootstrap").args([
            "--variant=minbase",
            &format!("--make-tarball={}", part.display()),
            "bookworm",
            work.path().to_str().unwrap(),
            mirror,
        ]));
        std::fs::rename(&part, &tarball).unwrap();
    }
    tarball
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// /proc mounted in the tree for as long as this lives.
struct ProcMount(PathBuf);

impl ProcMount {
    fn new(root: &Path) -> Self {
        let at = root.join("proc");
        run(Command::new("mount").args(["-t", "proc", "proc"]).arg(&at));
        ProcMount(at)
    }
}

impl Drop for ProcMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn in_tree(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new("chroot")
        .arg(root)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap()
}

#[test]
fn the_package_installs_into_a_clean_debian_and_doctor_runs_there() {
    if let Some(why) = missing_root() {
        eprintln!("skipping: {why}");
        return;
    }
    for tool in ["debootstrap", "dpkg-deb", "chroot"] {
        if !have(tool) {
            eprintln!("skipping: {tool} is not installed (scripts/install-deps installs it)");
            return;
        }
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mirror = std::env::var("MARROW_DEBIAN_MIRROR")
        .unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    let tarball = base_tarball(&mirror);
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let root = dir.path().join("root");
    run(Command::new("debootstrap")
        .args([
            "--variant=minbase",
            &format!("--unpack-tarball={}", tarball.display()),
            "bookworm",
        ])
        .arg(&root)
        .arg(&mirror));
    std::fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf")).unwrap();

    let out = dir.path().join("deb");
    let deb = run(Command::new(repo.join("scripts/package"))
        .arg(&out)
        .env("MARROW_PROFILE", "debug"));
    let deb = PathBuf::from(deb.lines().last().unwrap().trim());
    std::fs::copy(&deb, root.join("tmp/marrow.deb")).unwrap();

    let _proc = ProcMount::new(&root);
    let apt = |args: &[&str]| {
        let o = in_tree(&root, &[&["apt-get", "-qq"][..], args].concat());
        assert!(
            o.status.success(),
            "apt-get {args:?}:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    };
    apt(&["update"]);
    apt(&[
        "install",
        "-y",
        "--no-install-recommends",
        "/tmp/marrow.deb",
    ]);

    let user = String::from_utf8_lossy(&in_tree(&root, &["getent", "passwd", "marrow"]).stdout)
        .into_owned();
    let fields: Vec<&str> = user.trim().split(':').collect();
    assert_eq!(fields.len(), 7, "the marrow user: {user:?}");
    assert!(
        fields[2].parse::<u32>().unwrap() < 1000,
        "a system user: {user}"
    );
    assert_eq!(fields[5], "/var/lib/marrow");
    let owner = String::from_utf8_lossy(
        &in_tree(&root, &["stat", "-c", "%U:%G %a", "/var/lib/marrow"]).stdout,
    )
    .into_owned();
    assert_eq!(owner.trim(), "marrow:marrow 750");
    assert_eq!(
        std::fs::read(root.join("etc/marrow/marrow.toml")).unwrap(),
        std::fs::read(repo.join("server/packaging/marrow.toml")).unwrap()
    );
    let conffiles = String::from_utf8_lossy(
        &in_tree(&root, &["dpkg-query", "-W", "-f=${Conffiles}", "marrow"]).stdout,
    )
    .into_owned();
    assert!(conffiles.contains("/etc/marrow/marrow.toml"), "{conffiles}");
    assert!(root.join("lib/systemd/system/marrow.service").is_file());
    assert!(root.join("usr/bin/marrow-client").is_file());
    assert!(
        root.join("usr/lib/ipxe/undionly.kpxe").is_file(),
        "ipxe came in as a dependency"
    );

    // As the service's user, on the service's configuration.
    let doctor = in_tree(
        &root,
        &[
            "setpriv",
            "--reuid=marrow",
            "--regid=marrow",
            "--clear-groups",
            "marrow",
            "--data-dir",
            "/var/lib/marrow",
            "--config",
            "/etc/marrow/marrow.toml",
            "doctor",
            "--probe-secs",
            "0",
            "--json",
        ],
    );
    let text = String::from_utf8_lossy(&doctor.stdout);
    let findings: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "doctor --json: {e}\n{text}\n{}",
            String::from_utf8_lossy(&doctor.stderr)
        )
    });
    let status = |check: &str| {
        findings
            .iter()
            .find(|f| f["check"] == check)
            .unwrap_or_else(|| panic!("no {check} in {findings:#?}"))["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("config"), "ok", "the shipped conffile loads");
    assert_eq!(status("iPXE BIOS"), "ok");
    assert_eq!(status("kernel"), "fail", "no initramfs built yet");
    assert!(!doctor.status.success(), "a missing kernel is broken");
    let stderr = String::from_utf8_lossy(&doctor.stderr);
    assert!(stderr.contains("kernel"), "the failure is named: {stderr}");
}
