//! Faults a running service meets: its store's disk fills during a
//! capture, it is killed with SIGKILL in the middle of captures and
//! restores and started again, and many clients come at once. Shell-mode
//! `marrow-client` against `marrow serve` in a namespace, on disk files.
//!
//! `scripts/soak` runs the long versions (20 kills, 20 clients) and prints
//! the figures in docs/reliability.md; CI runs the short ones.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use marrow_tests::disks::{assert_windows_like_disk, blank};
use marrow_tests::lab::Lab;
use serde_json::Value;

/// How many times `MARROW_SOAK_<NAME>` says, else `default`.
fn soak(name: &str, default: u64) -> u64 {
    std::env::var(format!("MARROW_SOAK_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A shell-mode client in the background, its report to `NAME.json` and
/// its messages to `NAME.log`.
struct Client {
    child: Child,
    out: PathBuf,
    log: PathBuf,
}

impl Client {
    fn start(lab: &Lab, kind: &str, token: &str, disk: &Path, name: &str) -> Client {
        let out = lab.dir.path().join(format!("{name}.json"));
        let log = lab.dir.path().join(format!("{name}.log"));
        let bin = marrow_tests::workspace_bin("marrow-client");
        let mut cmd = lab.ns.command(bin.to_str().unwrap());
        cmd.args([kind, "--json", "--server"])
            .arg(format!("http://{}:8080", lab.server_ip))
            .arg("--disk")
            .arg(disk)
            .env("MARROW_TOKEN", token)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().expect("marrow-client starts");
        marrow_tests::interrupt::add_pid(child.id());
        Client { child, out, log }
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the end: the report when it succeeded, else its messages.
    fn finish(mut self) -> Result<Value, String> {
        let status = self.child.wait().expect("wait for marrow-client");
        marrow_tests::interrupt::remove_pid(self.child.id());
        let log = marrow_tests::process::read_lossy(&self.log);
        if !status.success() {
            return Err(format!("marrow-client {status}: {log}"));
        }
        let text = marrow_tests::process::read_lossy(&self.out);
        serde_json::from_str(&text).map_err(|e| format!("report {text:?}: {e}\n{log}"))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        marrow_tests::interrupt::remove_pid(self.child.id());
    }
}

/// A tmpfs of `mib` MiB on `at`, unmounted on drop (and on interrupt).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, mib: u64) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        marrow_tests::interrupt::add_mount(at.to_path_buf());
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(at)
            .status()
            .expect("mount runs");
        assert!(ok.success(), "mount tmpfs on {}", at.display());
        Tmpfs(at.to_path_buf())
    }

    fn free(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.0)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df's free bytes")
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        marrow_tests::interrupt::remove_mount(&self.0);
    }
}

#[test]
fn a_full_store_fails_the_capture_with_507_and_a_rerun_completes_once_space_is_freed() {
    let Some((mut lab, source)) = Lab::with_windows_disk("10.84.0", "full", 192, 40) else {
        return;
    };
    // The data folder on a small filesystem of its own, keeping 8 MiB free.
    let mount = Tmpfs::mount(&lab.data_dir, 160);
    let config = lab.dir.path().join("marrow.toml");
    std::fs::write(&config, "store_reserve_mib = 8\n").unwrap();
    lab.start_marrow(&["--dhcp", "off", "--config", config.to_str().unwrap()]);
    // Fill it so that about 12 MiB of the capture's ~40 fit above the reserve.
    let ballast = lab.data_dir.join("ballast");
    let fill = mount.free() - (20 << 20);
    Command::new("fallocate")
        .args(["-l", &fill.to_string()])
        .arg(&ballast)
        .status()
        .unwrap();

    // A new capture task of the source disk, run to its end.
    let capture = |name: &str| {
        let (id, token) = lab.task(&["capture", "--host", "52:54:00:84:00:01", "--image", "full"]);
        (
            id,
            Client::start(&lab, "capture", &token, &source, name).finish(),
        )
    };
    let (id, outcome) = capture("full-1");
    let failed = outcome.expect_err("a capture into a full store fails");
    assert!(failed.contains("507"), "{failed}");
    assert!(failed.contains("is full"), "{failed}");
    let t = lab.task_json(id);
    assert_eq!(t["state"], "failed", "{t}");
    let error = t["error"].as_str().unwrap_or_default().to_string()
        + t["report"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("is full"), "the task names the cause: {t}");
    assert!(
        lab.marrow_log().contains("507") || lab.marrow_log().contains("is full"),
        "{}",
        lab.marrow_log()
    );
    // Nothing half-made is listed, and what is stored is whole.
    let listed = lab.marrow_cli(&["image", "list", "--json"]);
    assert!(!listed.contains("\"full\""), "{listed}");
    lab.marrow_cli(&["store", "check"]);
    assert!(
        mount.free() >= 7 << 20,
        "the reserve held: {} free",
        mount.free()
    );

    // Space freed: a new task completes, reusing what went up before.
    std::fs::remove_file(&ballast).unwrap();
    let (id, outcome) = capture("full-2");
    let report = outcome.expect("the capture completes once there is room");
    assert!(report["known_chunks"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(lab.task_json(id)["state"], "done");
    lab.marrow_cli(&["store", "check"]);
    lab.stop_marrow();
}

/// A small deterministic generator for kill points, seeded so a failing
/// run can be repeated (`MARROW_SOAK_SEED`).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// PRAGMA integrity_check of the server's database, read-only.
fn sqlite_integrity(lab: &Lab) -> String {
    let db = lab.data_dir.join("marrow.db");
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; print(sqlite3.connect('file:'+sys.argv[1]+'?mode=ro', uri=True).execute('pragma integrity_check').fetchone()[0])",
        ])
        .arg(&db)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn serve_killed_during_captures_and_restores_loses_nothing() {
    let kills = soak("KILLS", 4);
    let Some((mut lab, source)) = Lab::with_windows_disk("10.85.0", "kill", 320, 128) else {
        return;
    };
    lab.start_marrow(&["--dhcp", "off"]);
    let seed = soak("SEED", 0x5eed_1234_abcd);
    let mut rng = Rng(seed | 1);
    let target = lab.dir.path().join("target.img");
    let mut hit = 0;
    let mut expected_versions = 0;
    let mut claims = 0;
    for round in 0..kills {
        let capture = round % 2 == 0;
        let (id, token) = if capture {
            // New data each time, so that every capture has chunks to send.
            if round > 0 {
                marrow_tests::disks::add_file(&source, "churn", 20);
            }
            lab.task(&["capture", "--host", "52:54:00:85:00:01", "--image", "kill"])
        } else {
            // A blank disk each time, so that every restore fetches it all.
            let _ = std::fs::remove_file(&target);
            blank(lab.dir.path(), "target.img", 320);
            lab.task(&["restore", "--host", "52:54:00:85:00:02", "--image", "kill"])
        };
        let disk = if capture { &source } else { &target };
        let kind = if capture { "capture" } else { "restore" };
        let mut client = Client::start(&lab, kind, &token, disk, &format!("kill-{round}"));
        // Killed at a random point after the client claimed its task.
        claims += 1;
        let limit = Instant::now() + Duration::from_secs(60);
        while lab.marrow_log().matches("task claimed").count() < claims && Instant::now() < limit {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(rng.below(1200)));
        let mid_transfer = client.running();
        hit += mid_transfer as u32;
        let server = lab.marrow.as_mut().expect("serve runs");
        server.child.kill().expect("SIGKILL serve");
        server.child.wait().unwrap();
        // While it is down: nothing half-made is listed, SQLite is whole.
        let listed: Value =
            serde_json::from_str(&lab.marrow_cli(&["image", "list", "--json"])).unwrap();
        let versions = listed
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["name"] == "kill")
            .count();
        assert!(versions <= 1, "{listed}");
        assert_eq!(sqlite_integrity(&lab), "ok", "round {round}");
        std::thread::sleep(Duration::from_millis(rng.below(1500)));
        lab.start_marrow(&["--dhcp", "off"]);
        claims = 0;
        let report = client.finish().unwrap_or_else(|e| {
            panic!(
                "round {round} ({kind}, seed {seed:#x}): {e}\n{}",
                lab.marrow_log()
            )
        });
        let t = lab.task_json(id);
        assert_eq!(t["state"], "done", "round {round}: {t}");
        if capture {
            expected_versions = 1;
            assert!(report["image_id"].is_string(), "{report}");
        } else {
            assert_windows_like_disk(&target, "kill", 128);
        }
        lab.marrow_cli(&["store", "check"]);
        let kept = lab
            .marrow_log()
            .lines()
            .find(|l| l.contains("left by a stopped writer"))
            .unwrap_or("no chunk left behind")
            .to_string();
        eprintln!(
            "round {round}: {kind} killed mid-transfer: {mid_transfer}; sent {} chunks, fetched {}; restart: {kept}",
            report["uploaded_chunks"], report["fetched_chunks"]
        );
    }
    let listed: Value =
        serde_json::from_str(&lab.marrow_cli(&["image", "list", "--json"])).unwrap();
    assert_eq!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["name"] == "kill")
            .count(),
        expected_versions,
        "{listed}"
    );
    eprintln!("{kills} kills, {hit} in the middle of a transfer (seed {seed:#x})");
    lab.stop_marrow();
}

/// Resident-set high-water mark of a process, from /proc.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `scripts/soak` runs this with 20 clients: half capture, half restore,
/// all at once against one server.
#[test]
#[ignore = "long: scripts/soak runs it"]
fn many_clients_at_once_all_complete_and_verify() {
    let clients = soak("CLIENTS", 20);
    let Some((mut lab, source)) = Lab::with_windows_disk("10.86.0", "many", 192, 24) else {
        return;
    };
    lab.start_marrow(&["--dhcp", "off"]);
    // The image every restore takes.
    let (_, token) = lab.task(&["capture", "--host", "52:54:00:86:00:00", "--image", "many"]);
    Client::start(&lab, "capture", &token, &source, "seed")
        .finish()
        .expect("first capture");
    let started = Instant::now();
    let mut running = Vec::new();
    for i in 0..clients {
        let mac = format!("52:54:00:86:01:{i:02x}");
        if i % 2 == 0 {
            // Each capture its own copy of the disk, with its own new file.
            let disk = lab.dir.path().join(format!("src-{i}.img"));
            std::fs::copy(&source, &disk).unwrap();
            marrow_tests::disks::add_file(&disk, &format!("own-{i}"), 2);
            let (id, token) =
                lab.task(&["capture", "--host", &mac, "--image", &format!("many-{i}")]);
            running.push((
                id,
                disk.clone(),
                true,
                Client::start(&lab, "capture", &token, &disk, &format!("c{i}")),
            ));
        } else {
            let disk = blank(lab.dir.path(), &format!("dst-{i}.img"), 192);
            let (id, token) = lab.task(&["restore", "--host", &mac, "--image", "many"]);
            running.push((
                id,
                disk.clone(),
                false,
                Client::start(&lab, "restore", &token, &disk, &format!("r{i}")),
            ));
        }
    }
    let pid = lab.marrow.as_ref().unwrap().child.id();
    let mut peak = 0;
    while running.iter_mut().any(|(_, _, _, c)| c.running()) {
        peak = peak.max(peak_rss_kib(pid));
        std::thread::sleep(Duration::from_millis(200));
    }
    peak = peak.max(peak_rss_kib(pid));
    let secs = started.elapsed().as_secs_f64();
    for (id, disk, capture, client) in running {
        client.finish().unwrap_or_else(|e| panic!("task {id}: {e}"));
        assert_eq!(lab.task_json(id)["state"], "done");
        if !capture {
            assert_windows_like_disk(&disk, "many", 24);
        }
    }
    lab.marrow_cli(&["store", "check"]);
    println!(
        "SOAK clients={clients} seconds={secs:.1} server_peak_rss_mib={:.1}",
        peak as f64 / 1024.0
    );
    lab.stop_marrow();
}
