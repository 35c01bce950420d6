//! Helpers shared by the end-to-end scenarios: network namespaces, guarded
//! child processes, a QEMU runner that waits for serial markers, a tiny
//! marker-printing boot payload, and the workspace's binaries.

pub mod disks;
pub mod dnsmasq;
pub mod garage;
pub mod interrupt;
pub mod kernel;
pub mod lab;
pub mod netns;
pub mod process;
pub mod qemu;
pub mod room;
pub mod sites;

use std::path::PathBuf;
use std::process::Command;

/// Why a scenario cannot run here, or `None` when it can. Scenarios print
/// the reason and return; CI runs as root with `scripts/install-deps`.
pub fn missing_root() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    (String::from_utf8_lossy(&uid.stdout).trim() != "0")
        .then(|| "needs root (network namespaces)".to_string())
}

/// True when `program` is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A binary of this workspace (`marrow`, `marrow-client`), from the target
/// directory this test binary was built in, brought up to date with cargo
/// once per run: a stale binary would test old code.
pub fn workspace_bin(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/e2e-<hash> → target/<profile>/<name>
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target profile dir")
        .to_path_buf();
    let bin = profile_dir.join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--workspace", "--bin", name])
            .status()
            .unwrap_or_else(|e| panic!("building {name}: {e}"));
        assert!(status.success(), "cargo build --bin {name} failed");
        built.push(name.to_string());
    }
    assert!(bin.exists(), "{} not found after build", bin.display());
    bin
}
