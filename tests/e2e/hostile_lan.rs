//! `marrow serve` probed as a hostile machine on the imaging LAN would
//! probe it (docs/security.md), in a namespace: floods of uploads without a
//! token and with one, a TFTP flood that never acknowledges, a huge TFTP
//! file, slow headers, a FIFO among the boot files, random MACs asking for
//! boot scripts, gc while a capture runs, and a stop while transfers stall.
//! The flooding clients are small Python programs run inside the
//! namespace; counts and durations are bounded.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use marrow_tests::disks::{tools_missing, windows_like_disk};
use marrow_tests::lab::Lab;
use marrow_tests::{have, missing_root};
use serde_json::Value;

/// A lab serving on `net` without DHCP, with a second address `<net>.2`
/// on the bridge for clients that must not share the server's address.
fn lab(net: &str) -> Option<Lab> {
    if let Some(why) = missing_root() {
        eprintln!("skipping: {why}");
        return None;
    }
    if !have("python3") || !have("curl") {
        eprintln!("skipping: needs python3 and curl (scripts/install-deps)");
        return None;
    }
    let mut lab = Lab::new(net);
    lab.ns
        .ip(&["addr", "add", &format!("{net}.2/24"), "dev", &lab.bridge]);
    lab.start_marrow(&["--dhcp", "off"]);
    Some(lab)
}

fn marrow_pid(lab: &Lab) -> u32 {
    lab.marrow.as_ref().expect("marrow runs").child.id()
}

/// The server's resident memory, in MiB.
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

/// Runs `script` with python3 in the namespace, in the background.
fn python(lab: &Lab, script: &str, args: &[&str]) -> std::process::Child {
    let mut cmd = lab.ns.command("python3");
    cmd.arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("python3 runs")
}

/// Waits for `child`, sampling the server's memory meanwhile; returns the
/// peak in MiB and the child's stdout.
fn peak_while(pid: u32, child: std::process::Child, limit: Duration) -> (u64, String) {
    let mut child = child;
    let mut peak = rss_mib(pid);
    let end = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() && Instant::now() < end {
        peak = peak.max(rss_mib(pid));
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (peak, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Opens `count` connections at once, each a PUT of `mib` MiB to `path`
/// with `auth` ("" for none), writing the body as long as the server
/// reads it, holding the connection a while; prints the status lines.
const UPLOAD_FLOOD: &str = r#"
import socket, sys, threading, time
host, path, auth, count, mib = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
size = mib << 20
statuses = []
def one():
    s = socket.create_connection((host, 8080), timeout=60)
    head = f"PUT {path} HTTP/1.1\r\nHost: m\r\nContent-Length: {size}\r\n"
    if auth:
        head += f"Authorization: Bearer {auth}\r\n"
    s.sendall((head + "\r\n").encode())
    block = bytes(range(256)) * 256
    sent = 0
    try:
        while sent < size:
            s.sendall(block)
            sent += len(block)
    except OSError:
        pass
    try:
        statuses.append(s.recv(64).split(b"\r\n")[0].decode())
    except OSError:
        statuses.append("closed")
    time.sleep(1)
    s.close()
threads = [threading.Thread(target=one) for _ in range(count)]
for t in threads: t.start()
for t in threads: t.join()
print("\n".join(statuses))
"#;

#[test]
fn uploads_without_a_token_cost_no_memory_and_uploads_with_one_are_bounded() {
    let Some(lab) = lab("10.91.0") else { return };
    let pid = marrow_pid(&lab);
    let before = rss_mib(pid);
    let chunk = format!("/api/v1/images/x/chunks/{}", "ab".repeat(32));
    let server = lab.server_ip.clone();
    // 60 uploads of 15 MiB with no token: refused before a body byte is read.
    let flood = python(&lab, UPLOAD_FLOOD, &[&server, &chunk, "", "60", "15"]);
    let (peak, statuses) = peak_while(pid, flood, Duration::from_secs(120));
    assert!(
        statuses.lines().all(|l| l.contains("401") || l == "closed"),
        "{statuses}"
    );
    eprintln!(
        "RSS {before} MiB before, {peak} MiB at most during 60 unauthenticated 15 MiB uploads"
    );
    assert!(peak < before + 64, "{peak} MiB after {before}");

    // With a capture token: bodies are read within the upload budget (and
    // refused 422: they are not chunks), so memory stays bounded, and it
    // goes back to the system afterwards.
    let out = lab.marrow_cli(&[
        "task",
        "capture",
        "--host",
        "52:54:00:91:00:01",
        "--image",
        "x",
        "--show-token",
        "--json",
    ]);
    let token = serde_json::from_str::<Value>(&out).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let flood = python(&lab, UPLOAD_FLOOD, &[&server, &chunk, &token, "40", "8"]);
    let (peak, statuses) = peak_while(pid, flood, Duration::from_secs(300));
    assert!(
        statuses
            .lines()
            .all(|l| l.contains("422") || l.contains("503")),
        "{statuses}"
    );
    eprintln!("RSS at most {peak} MiB during 40 authenticated 8 MiB uploads");
    assert!(peak < before + 300, "{peak} MiB after {before}");
    let end = Instant::now() + Duration::from_secs(30);
    let mut after = rss_mib(pid);
    while after > before + 80 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(500));
        after = rss_mib(pid);
    }
    eprintln!("RSS {after} MiB once they ended");
    assert!(after <= before + 80, "memory stayed at {after} MiB");

    // Boot script requests for made-up MACs register no hosts.
    for i in 0..200u32 {
        let mac = format!("02-00-00-00-{:02x}-{:02x}", i >> 8, i & 0xff);
        lab.http_get(8080, &format!("/boot.ipxe?mac={mac}"));
    }
    let hosts: Value = serde_json::from_str(&lab.marrow_cli(&["host", "list", "--json"])).unwrap();
    assert_eq!(
        hosts.as_array().unwrap().len(),
        1,
        "only the task's host: {hosts}"
    );
}

/// From `<net>.2`: `count` RRQs of `file` with `timeout 20`, each from its
/// own socket, never acknowledged; the sockets stay open `hold` seconds.
const TFTP_FLOOD: &str = r#"
import socket, sys, time
src, dst, port, file, count, hold = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
rrq = b"\x00\x01" + file.encode() + b"\x00octet\x00timeout\x0020\x00"
socks = []
for _ in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.sendto(rrq, (dst, port))
    socks.append(s)
print("sent", len(socks), flush=True)
time.sleep(hold)
"#;

#[test]
fn a_tftp_flood_leaves_http_the_api_and_other_machines_served_and_stop_is_prompt() {
    let Some(mut lab) = lab("10.92.0") else {
        return;
    };
    if !have("tftp") {
        eprintln!("skipping: needs the tftp-hpa client");
        return;
    }
    let root = lab.data_dir.join("tftp");
    let data = marrow_test_support::noise(0x5eed, 1 << 20);
    std::fs::write(root.join("boot.bin"), &data).unwrap();
    let (net, server) = (lab.net.clone(), lab.server_ip.clone());
    let flood = python(
        &lab,
        TFTP_FLOOD,
        &[&format!("{net}.2"), &server, "69", "boot.bin", "700", "40"],
    );
    std::thread::sleep(Duration::from_secs(2));

    // HTTP and the API answer (curl gives up after 10 s).
    let out = lab.ns.output(
        "curl",
        &[
            "-sS",
            "-m",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://{server}:8080/healthz"),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{out:?}");
    let out = lab.ns.output(
        "curl",
        &[
            "-sS",
            "-m",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            &format!("http://{server}:8080/api/v1/task/claim"),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "401",
        "the API answers: {out:?}"
    );
    // Another machine still gets its file, byte for byte.
    let got = lab.dir.path().join("got.bin");
    let out = lab.ns.output(
        "tftp",
        &[
            "-m",
            "binary",
            &server,
            "-c",
            "get",
            "boot.bin",
            got.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read(&got).unwrap(), data);
    let metrics = lab.http_get(8080, "/metrics");
    let busy = metrics
        .lines()
        .find(|l| l.contains("marrow_tftp_refused_total") && l.contains("busy"))
        .unwrap_or_else(|| panic!("no busy refusals in\n{metrics}"));
    eprintln!("{busy}");

    // SIGTERM with transfers stalled: the service stops at once.
    let started = Instant::now();
    lab.stop_marrow();
    let took = started.elapsed();
    eprintln!("stopped {took:?} after SIGTERM with stalled transfers");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let mut flood = flood;
    let _ = flood.kill();
    let _ = flood.wait();
}

/// Asks for `file` with the largest block size, acknowledges `acks`
/// blocks, then stops: a transfer that holds a huge file open.
const TFTP_SLOW_READER: &str = r#"
import socket, sys
dst, file, acks = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
s.sendto(b"\x00\x01" + file.encode() + b"\x00octet\x00blksize\x0065464\x00", (dst, 69))
data, peer = s.recvfrom(70000)
s.sendto(b"\x00\x04\x00\x00", peer)
got = 0
for _ in range(acks):
    data, peer = s.recvfrom(70000)
    got += len(data) - 4
    s.sendto(b"\x00\x04" + data[2:4], peer)
print(got)
"#;

#[test]
fn a_huge_tftp_file_is_streamed_not_held_and_a_fifo_hangs_nothing() {
    let Some(lab) = lab("10.93.0") else { return };
    let root = lab.data_dir.join("tftp");
    // 1 GiB, sparse.
    let big = std::fs::File::create(root.join("huge.bin")).unwrap();
    big.set_len(1 << 30).unwrap();
    let pid = marrow_pid(&lab);
    let before = rss_mib(pid);
    let reader = python(&lab, TFTP_SLOW_READER, &[&lab.server_ip, "huge.bin", "200"]);
    let (peak, got) = peak_while(pid, reader, Duration::from_secs(60));
    assert_eq!(got.trim(), (200 * 65464).to_string(), "{got}");
    eprintln!("RSS {before} MiB before, {peak} MiB at most while serving a 1 GiB file");
    assert!(peak < before + 64, "{peak} MiB after {before}");

    // A FIFO among the boot files and the TFTP root is refused, not opened.
    let boot = lab.data_dir.join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    for fifo in [boot.join("fifo"), root.join("fifo")] {
        let ok = Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    let out = lab.ns.output(
        "curl",
        &[
            "-sS",
            "-m",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://{}:8080/boot/fifo", lab.server_ip),
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "404", "{out:?}");
    if have("tftp") {
        let out = lab.ns.output(
            "timeout",
            &[
                "10",
                "tftp",
                &lab.server_ip,
                "-c",
                "get",
                "fifo",
                "/dev/null",
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("not a file"), "{text}");
    }
}

/// Sends `GET / HTTP/1.1` and never ends the headers; prints how long the
/// server kept the connection.
const SLOW_HEADERS: &str = r#"
import socket, sys, time
s = socket.create_connection((sys.argv[1], 8080), timeout=60)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: m\r\n")
t = time.time()
try:
    s.recv(100)
except OSError:
    pass
print(round(time.time() - t))
"#;

#[test]
fn a_client_that_never_finishes_its_headers_is_dropped() {
    let Some(lab) = lab("10.94.0") else { return };
    let slow = python(&lab, SLOW_HEADERS, &[&lab.server_ip]);
    let out = slow.wait_with_output().unwrap();
    let held: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    eprintln!("a connection without its headers' end was closed after {held} s");
    assert!(held < 60, "held for good");
}

fn capture_task(lab: &Lab, mac: &str, image: &str) -> (String, String) {
    let out = lab.marrow_cli(&[
        "task",
        "capture",
        "--host",
        mac,
        "--image",
        image,
        "--show-token",
        "--json",
    ]);
    let task: Value = serde_json::from_str(&out).unwrap();
    (
        task["id"].as_i64().unwrap().to_string(),
        task["token"].as_str().unwrap().to_string(),
    )
}

fn gc(lab: &Lab) -> std::process::Child {
    Command::new(marrow_tests::workspace_bin("marrow"))
        .arg("--data-dir")
        .arg(&lab.data_dir)
        .args(["store", "gc", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn gc_waits_while_a_task_runs_and_a_capture_beside_it_commits_whole() {
    let Some(lab) = lab("10.95.0") else { return };
    if let Some(why) = tools_missing() {
        eprintln!("skipping: {why}");
        return;
    }
    // A claimed task holds the store: gc waits, and says why.
    let (id, token) = capture_task(&lab, "52:54:00:95:00:01", "held");
    let out = lab.ns.output(
        "curl",
        &[
            "-sS",
            "-f",
            "-X",
            "POST",
            "-H",
            &format!("Authorization: Bearer {token}"),
            &format!("http://{}:8080/api/v1/task/claim", lab.server_ip),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let mut waiting = gc(&lab);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "gc ran while a task held the store"
    );
    // Cancelling the task elsewhere lets the server's sweep release it.
    lab.marrow_cli(&["task", "cancel", &id]);
    let done = waiting.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(
        String::from_utf8_lossy(&done.stderr).contains("in use"),
        "{done:?}"
    );

    // A real capture with gc started beside it commits a whole image.
    let source = windows_like_disk(lab.dir.path(), "source.img", "gc", 128, 24);
    let (_, token) = capture_task(&lab, "52:54:00:95:00:02", "gc");
    let client = marrow_tests::workspace_bin("marrow-client");
    let mut capture = lab.ns.command(client.to_str().unwrap());
    capture
        .args(["capture", "--json", "--server"])
        .arg(format!("http://{}:8080", lab.server_ip))
        .arg("--disk")
        .arg(&source)
        .env("MARROW_TOKEN", &token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let capture = capture.spawn().unwrap();
    let beside = gc(&lab);
    let captured = capture.wait_with_output().unwrap();
    assert!(
        captured.status.success(),
        "the capture failed: {}\n{}",
        String::from_utf8_lossy(&captured.stderr),
        lab.marrow_log()
    );
    let beside = beside.wait_with_output().unwrap();
    assert!(
        beside.status.success(),
        "{}",
        String::from_utf8_lossy(&beside.stderr)
    );
    lab.marrow_cli(&["store", "check"]);
    lab.marrow_cli(&["image", "verify", "gc"]);
}
