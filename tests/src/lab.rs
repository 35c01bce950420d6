//! A boot lab: a network namespace with a bridge carrying the server's
//! address, `marrow serve` running inside it, and taps/veths for clients.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::netns::{unique_name, Netns};
use crate::process::Guarded;

static VM_SLOT: Mutex<()> = Mutex::new(());

/// Held by every scenario that boots a VM: TCG boots on two cores starve
/// each other, so VM scenarios run one at a time.
pub fn vm_slot() -> MutexGuard<'static, ()> {
    VM_SLOT.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Lab {
    pub marrow: Option<Guarded>,
    pub ns: Netns,
    pub dir: tempfile::TempDir,
    pub data_dir: PathBuf,
    pub bridge: String,
    /// The server's address on the bridge (prefix /24).
    pub server_ip: String,
    /// The first three octets, e.g. `10.77.0`.
    pub net: String,
}

impl Lab {
    /// A namespace with bridge `br0` at `<net>.1/24`.
    pub fn new(net: &str) -> Lab {
        let ns = Netns::new("mrw");
        let bridge = "br0".to_string();
        let server_ip = format!("{net}.1");
        ns.bridge(&bridge, &format!("{server_ip}/24"));
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).expect("data dir");
        Lab {
            marrow: None,
            ns,
            dir,
            data_dir,
            bridge,
            server_ip,
            net: net.to_string(),
        }
    }

    /// A unique tap on the bridge, for a VM.
    pub fn tap(&self) -> String {
        let name = unique_name("tp");
        self.ns.tap(&name, &self.bridge);
        name
    }

    /// Starts `marrow --data-dir D serve --interface br0 ARGS` in the
    /// namespace and waits until it says where it listens.
    pub fn start_marrow(&mut self, args: &[&str]) {
        let bridge = self.bridge.clone();
        self.start_marrow_plain(&[&["--interface", bridge.as_str()][..], args].concat());
    }

    /// Starts `marrow --data-dir D serve ARGS` without naming an interface.
    pub fn start_marrow_plain(&mut self, args: &[&str]) {
        let mut cmd: Command = self
            .ns
            .command(crate::workspace_bin("marrow").to_str().expect("utf-8 path"));
        cmd.arg("--data-dir")
            .arg(&self.data_dir)
            .arg("serve")
            .args(args);
        cmd.env("RUST_LOG", "debug");
        let n = std::fs::read_dir(self.dir.path())
            .map(|d| d.count())
            .unwrap_or(0);
        let log = self.dir.path().join(format!("marrow-{n}.log"));
        let mut g = Guarded::spawn("marrow serve", cmd, &log);
        g.wait_for_log("serving on", Duration::from_secs(30));
        self.marrow = Some(g);
    }

    pub fn stop_marrow(&mut self) {
        if let Some(mut g) = self.marrow.take() {
            g.stop();
        }
    }

    pub fn marrow_log(&self) -> String {
        self.marrow
            .as_ref()
            .map(|g| g.log_text())
            .unwrap_or_default()
    }

    /// Waits for a VM to exit (its client powered off; `-no-reboot` also
    /// turns a reboot into an exit) and returns its console, panicking
    /// with the console and this server's log after `limit`: a hang
    /// guard, not a timing assertion.
    pub fn wait_vm_exit(&self, vm: &mut crate::qemu::Vm, limit: Duration) -> String {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Ok(Some(_)) = vm.process.child.try_wait() {
                return crate::process::read_lossy(&vm.serial);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "VM still running after {limit:?}\n--- serial ---\n{}\n--- marrow ---\n{}",
                crate::process::read_lossy(&vm.serial),
                self.marrow_log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Runs `marrow --data-dir D ARGS` (outside the namespace) and returns
    /// stdout; panics with stderr on failure.
    pub fn marrow_cli(&self, args: &[&str]) -> String {
        let out = Command::new(crate::workspace_bin("marrow"))
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .output()
            .expect("run marrow");
        assert!(
            out.status.success(),
            "marrow {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `GET http://<server>:<port><path>` from inside the namespace.
    pub fn http_get(&self, port: u16, path: &str) -> String {
        let url = format!("http://{}:{port}{path}", self.server_ip);
        let out = self.ns.output("curl", &["-sS", "-f", &url]);
        assert!(
            out.status.success(),
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Lab {
    /// A lab on `net` (serve not started) with a [`windows_like_disk`]
    /// `source.img` in its folder, or `None` when this machine cannot make
    /// one (not root, or a tool missing; the reason is printed).
    ///
    /// [`windows_like_disk`]: crate::disks::windows_like_disk
    pub fn with_windows_disk(
        net: &str,
        seed: &str,
        mib: u64,
        data_mib: u64,
    ) -> Option<(Lab, PathBuf)> {
        if let Some(why) = crate::missing_root().or_else(crate::disks::tools_missing) {
            eprintln!("skipping: {why}");
            return None;
        }
        let lab = Lab::new(net);
        let source =
            crate::disks::windows_like_disk(lab.dir.path(), "source.img", seed, mib, data_mib);
        Some((lab, source))
    }

    /// `marrow task ARGS --show-token --json`: the new task's id and token.
    pub fn task(&self, args: &[&str]) -> (i64, String) {
        let mut all = vec!["task"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--show-token", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&self.marrow_cli(&all)).expect("task JSON");
        (
            v["id"].as_i64().expect("id"),
            v["token"].as_str().expect("token").to_string(),
        )
    }

    /// `marrow task show ID --json`.
    pub fn task_json(&self, id: i64) -> serde_json::Value {
        serde_json::from_str(&self.marrow_cli(&["task", "show", &id.to_string(), "--json"]))
            .expect("task show JSON")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(g) = &self.marrow {
                eprintln!("--- marrow serve log ---\n{}", g.log_text());
            }
        }
        self.marrow.take();
    }
}
