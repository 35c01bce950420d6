//! Interrupted with SIGINT or SIGTERM at any point, a test run and the demo
//! leave nothing behind: no server, no VM, no namespace.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use marrow_tests::lab::Lab;

const HOLD: &str = "MARROW_TEST_HOLD_LAB";

/// Not a test of its own: run by the test below as a child test binary,
/// it starts a lab (a namespace, `marrow serve` in it, a process outside
/// any namespace), says what it started, and waits to be interrupted.
#[test]
#[ignore = "a helper the interrupt test runs in a child process"]
fn holds_a_lab_until_interrupted() {
    if std::env::var_os(HOLD).is_none() {
        return;
    }
    let mut lab = Lab::new("10.87.0");
    lab.start_marrow(&["--dhcp", "off"]);
    let mut sleeper = Command::new("sleep");
    sleeper.arg("600");
    let outside =
        marrow_tests::process::Guarded::spawn("sleep", sleeper, &lab.dir.path().join("sleep.log"));
    println!(
        "HOLDING ns={} serve={} outside={} dir={}",
        lab.ns.name,
        lab.marrow.as_ref().unwrap().child.id(),
        outside.child.id(),
        lab.dir.path().display()
    );
    std::thread::sleep(Duration::from_secs(600));
}

fn namespaces() -> String {
    String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned()
}

fn alive(pid: &str) -> bool {
    // A zombie is gone in every way that matters, but nothing here should
    // leave one: the kernel reparents and reaps what the test started.
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| !s.contains("State:\tZ"))
        .unwrap_or(false)
}

fn wait_gone(pid: &str) -> bool {
    let limit = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < limit {
        std::thread::sleep(Duration::from_millis(100));
    }
    !alive(pid)
}

#[test]
fn an_interrupted_test_run_stops_its_servers_and_removes_its_namespaces() {
    if let Some(why) = marrow_tests::missing_root() {
        eprintln!("skipping: {why}");
        return;
    }
    for signal in ["TERM", "INT"] {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "interrupt::holds_a_lab_until_interrupted",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env(HOLD, "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        marrow_tests::interrupt::add_pid(child.id());
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let holding = lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.starts_with("HOLDING "))
            .expect("the helper reports what it holds");
        let field = |k: &str| {
            holding
                .split_whitespace()
                .find_map(|f| f.strip_prefix(&format!("{k}=")))
                .unwrap()
                .to_string()
        };
        let (ns, serve, outside, dir) =
            (field("ns"), field("serve"), field("outside"), field("dir"));
        assert!(namespaces().contains(&ns));
        assert!(alive(&serve) && alive(&outside));

        Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        marrow_tests::interrupt::remove_pid(child.id());
        let expected = if signal == "TERM" { 143 } else { 130 };
        assert_eq!(status.code(), Some(expected), "SIG{signal}: {status}");
        assert!(
            !namespaces().contains(&ns),
            "SIG{signal}: namespace {ns} is left"
        );
        assert!(
            wait_gone(&serve),
            "SIG{signal}: marrow serve {serve} still runs"
        );
        assert!(
            wait_gone(&outside),
            "SIG{signal}: process {outside} still runs"
        );
        // The helper's temporary folder is its business; leave no clutter.
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Processes whose environment names the demo's data folder: everything
/// the demo starts after it makes that folder.
fn demo_processes(data_dir_prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || !alive(&name) {
            continue;
        }
        let env = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let needle = format!("MARROW_DATA_DIR={data_dir_prefix}");
        if env
            .split(|b| *b == 0)
            .any(|kv| kv.starts_with(needle.as_bytes()))
        {
            out.push(name);
        }
    }
    out
}

fn demo_dirs() -> Vec<String> {
    std::fs::read_dir("/var/tmp")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("marrow-demo."))
                .collect()
        })
        .unwrap_or_default()
}

/// `scripts/demo` interrupted twice: SIGINT while its server runs and
/// before any VM, SIGTERM while the first VM boots and the script waits
/// on the task. Only the script's own pid gets the signal, as from `kill`.
#[test]
fn an_interrupted_demo_leaves_nothing_running() {
    if let Some(why) =
        marrow_tests::missing_root().or_else(|| marrow_tests::qemu::qemu_available().err())
    {
        eprintln!("skipping: {why}");
        return;
    }
    let _slot = marrow_tests::lab::vm_slot();
    let (marrow, client) = crate::initramfs_boot::binaries();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    for (signal, after) in [
        ("INT", "==> starting marrow serve"),
        ("TERM", "==> BIOS machine"),
    ] {
        let before = demo_dirs();
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new("bash")
            .arg(root.join("scripts/demo"))
            .env("MARROW_BIN", &marrow)
            .env("MARROW_CLIENT", &client)
            .env("MARROW_CACHE_DIR", crate::initramfs_boot::kernel_cache())
            .stdout(log.reopen().unwrap())
            .stderr(log.reopen().unwrap())
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        marrow_tests::interrupt::add_pid(child.id());
        let ns = format!("marrow-demo-{}", child.id());
        let text = marrow_tests::process::wait_for_text(
            log.path(),
            after,
            Duration::from_secs(600),
            || None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        // Into the step: the server answering, or the VM booting.
        std::thread::sleep(Duration::from_secs(3));
        let dir = demo_dirs()
            .into_iter()
            .find(|d| !before.contains(d))
            .unwrap_or_else(|| panic!("the demo made no folder:\n{text}"));
        let data = format!("/var/tmp/{dir}/data");
        let running = demo_processes(&data);
        assert!(!running.is_empty(), "nothing of the demo runs:\n{text}");
        assert!(namespaces().contains(&ns), "{ns} missing:\n{text}");

        Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        let limit = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < limit, "the demo ignored SIG{signal}");
            std::thread::sleep(Duration::from_millis(100));
        };
        marrow_tests::interrupt::remove_pid(child.id());
        let text = marrow_tests::process::read_lossy(log.path());
        assert!(!status.success(), "SIG{signal}: {status}\n{text}");
        let left: Vec<String> = running.into_iter().filter(|p| !wait_gone(p)).collect();
        assert!(
            left.is_empty(),
            "SIG{signal}: still running: {left:?}\n{text}"
        );
        assert!(
            demo_processes(&data).is_empty(),
            "SIG{signal}: {:?}",
            demo_processes(&data)
        );
        assert!(
            !namespaces().contains(&ns),
            "SIG{signal}: namespace {ns} is left"
        );
        assert!(!Path::new(&data).exists(), "SIG{signal}: {data} is left");
    }
}
