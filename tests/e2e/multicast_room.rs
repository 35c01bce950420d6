//! Multicast sessions end to end: `marrow serve` in a lab namespace, and
//! `marrow-client restore` processes in one namespace each on the lab's
//! bridge, writing disk image files, with per-port loss from nftables.
//! Every copy must equal a unicast restore of the image byte for byte,
//! and `store check` stays clean.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use marrow_tests::disks::{blank, tools_missing, windows_like_disk};
use marrow_tests::lab::{vm_slot, Lab};
use marrow_tests::process::Guarded;
use marrow_tests::room::{receivers, same_bytes, set_loss, start_client, Receiver};
use serde_json::Value;

/// The default `multicast.port`.
const PORT: u16 = 9977;
/// A hang guard for one session, not a timing assertion.
const LIMIT: Duration = Duration::from_secs(300);

struct Setup {
    lab: Lab,
    rx: Vec<Receiver>,
    reference: PathBuf,
}

fn cli_token(lab: &Lab, args: &[&str]) -> String {
    let mut all = vec!["task"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--show-token", "--json"]);
    let v: Value = serde_json::from_str(&lab.marrow_cli(&all)).expect("task JSON");
    v["token"].as_str().expect("token").to_string()
}

fn run_client(lab: &Lab, r: &Receiver, kind: &str, token: &str, disk: &std::path::Path) {
    let bin = marrow_tests::workspace_bin("marrow-client");
    let mut cmd: Command = r.ns.command(bin.to_str().unwrap());
    cmd.args([kind, "--json", "--server"])
        .arg(format!("http://{}:8080", lab.server_ip))
        .arg("--disk")
        .arg(disk)
        .env("MARROW_TOKEN", token);
    let out = cmd.output().expect("marrow-client runs");
    assert!(
        out.status.success(),
        "marrow-client {kind}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        lab.marrow_log()
    );
}

/// A lab with `n` receivers in group `room`, the image `room` captured
/// from a GPT disk (ESP, ext4, NTFS; 40 MiB of data), and a unicast
/// restore of it as the reference.
fn setup(net: &str, tag: u8, n: usize) -> Option<Setup> {
    if let Some(why) = marrow_tests::missing_root().or_else(tools_missing) {
        eprintln!("skipping: {why}");
        return None;
    }
    if !marrow_tests::have("nft") {
        eprintln!("skipping: nft is not installed (scripts/install-deps installs it)");
        return None;
    }
    let mut lab = Lab::new(net);
    lab.start_marrow(&["--dhcp", "off"]);
    let rx = receivers(&lab, n, tag);
    for (i, r) in rx.iter().enumerate() {
        let name = format!("rx-{i}");
        lab.marrow_cli(&["host", "add", &r.mac, "--name", &name, "--group", "room"]);
    }
    let dir = lab.dir.path().to_path_buf();
    let source = windows_like_disk(&dir, "source.img", "room", 160, 40);
    let token = cli_token(&lab, &["capture", "--host", &rx[0].mac, "--image", "room"]);
    run_client(&lab, &rx[0], "capture", &token, &source);
    let reference = blank(&dir, "reference.img", 160);
    let token = cli_token(&lab, &["restore", "--host", &rx[0].mac, "--image", "room"]);
    run_client(&lab, &rx[0], "restore", &token, &reference);
    Some(Setup { lab, rx, reference })
}

/// How one receiver takes part in a session.
#[derive(Clone, Copy, Default)]
struct Plan {
    /// Percent of the session's frames dropped on its port.
    loss: u32,
    /// Starts once another receiver is this far (0–1).
    join_at: Option<f64>,
    /// Killed (SIGKILL) once it is this far, and started again.
    kill_at: Option<f64>,
}

struct Outcome {
    show: Value,
    reports: Vec<Value>,
    logs: Vec<String>,
}

fn show(lab: &Lab, id: i64) -> Value {
    serde_json::from_str(&lab.marrow_cli(&["session", "show", &id.to_string(), "--json"]))
        .expect("session show JSON")
}

fn progress_of(show: &Value, mac: &str) -> f64 {
    show["receivers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["host"] == mac)
        .and_then(|r| r["progress"].as_f64())
        .unwrap_or(0.0)
}

/// Makes a session of the first `plans.len()` receivers with `args`, runs
/// it to its end with the plans, and checks every copy.
fn run_session(s: &Setup, case: &str, plans: &[Plan], args: &[&str]) -> Outcome {
    let lab = &s.lab;
    let rx = &s.rx[..plans.len()];
    let rules: Vec<(&str, u32)> = rx
        .iter()
        .zip(plans)
        .filter(|(_, p)| p.loss > 0)
        .map(|(r, p)| (r.port.as_str(), p.loss))
        .collect();
    set_loss(lab, PORT, &rules);
    let mut create = vec![
        "session",
        "create",
        "--image",
        "room",
        "--show-tokens",
        "--host",
    ];
    let macs: Vec<&str> = rx.iter().map(|r| r.mac.as_str()).collect();
    create.extend_from_slice(&macs);
    create.extend_from_slice(args);
    let (id, tokens) = parse_created(&lab.marrow_cli(&create), &macs);
    let dir = lab.dir.path();
    let disks: Vec<PathBuf> = (0..rx.len())
        .map(|i| blank(dir, &format!("{case}-{i}.img"), 160))
        .collect();
    let log = |i: usize, n: u32| dir.join(format!("{case}-{i}-{n}.log"));
    let mut procs: Vec<Option<Guarded>> = (0..rx.len()).map(|_| None).collect();
    let mut runs = vec![0u32; rx.len()];
    let mut killed = vec![false; rx.len()];
    let mut exits: Vec<Option<std::process::ExitStatus>> = vec![None; rx.len()];
    for (i, p) in plans.iter().enumerate() {
        if p.join_at.is_none() {
            procs[i] = Some(start_client(lab, &rx[i], &tokens[i], &disks[i], &log(i, 0)));
        }
    }
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < LIMIT,
            "{case}: the session did not end: {}\n{}",
            show(lab, id),
            lab.marrow_log()
        );
        let v = show(lab, id);
        for (i, p) in plans.iter().enumerate() {
            let mine = progress_of(&v, &rx[i].mac);
            if let (Some(at), None, 0) = (p.join_at, &procs[i], runs[i]) {
                let others = rx
                    .iter()
                    .enumerate()
                    .filter(|(j, _)| *j != i)
                    .map(|(_, r)| progress_of(&v, &r.mac))
                    .fold(0.0, f64::max);
                if others >= at {
                    runs[i] = 1;
                    procs[i] = Some(start_client(lab, &rx[i], &tokens[i], &disks[i], &log(i, 0)));
                }
            }
            if let (Some(at), false) = (p.kill_at, killed[i]) {
                if mine >= at && exits[i].is_none() {
                    killed[i] = true;
                    if let Some(mut g) = procs[i].take() {
                        let _ = g.child.kill();
                        let _ = g.child.wait();
                    }
                    runs[i] = 1;
                    procs[i] = Some(start_client(lab, &rx[i], &tokens[i], &disks[i], &log(i, 1)));
                }
            }
            if let Some(g) = procs[i].as_mut() {
                if let Ok(Some(status)) = g.child.try_wait() {
                    exits[i] = Some(status);
                }
            }
        }
        let all_started = plans
            .iter()
            .enumerate()
            .all(|(i, p)| p.join_at.is_none() || runs[i] > 0);
        if all_started && exits.iter().all(Option::is_some) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let logs: Vec<String> = (0..rx.len())
        .map(|i| {
            (0..=runs[i])
                .map(|n| marrow_tests::process::read_lossy(&log(i, n)))
                .collect::<Vec<_>>()
                .join("\n--- restarted ---\n")
        })
        .collect();
    for (i, status) in exits.iter().enumerate() {
        assert!(
            status.is_some_and(|s| s.success()),
            "{case}: receiver {i} failed: {}\n{}",
            logs[i],
            lab.marrow_log()
        );
        assert!(
            same_bytes(&disks[i], &s.reference),
            "{case}: receiver {i}'s disk differs from the unicast restore\n{}",
            logs[i]
        );
    }
    // The service ends the session on its next look.
    let deadline = Instant::now() + Duration::from_secs(20);
    let v = loop {
        let v = show(lab, id);
        if v["state"] != "running" && v["state"] != "waiting" {
            break v;
        }
        assert!(Instant::now() < deadline, "{case}: still {v}");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(v["state"], "done", "{case}: {v}");
    set_loss(lab, PORT, &[]);
    let reports = v["receivers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let t: Value = serde_json::from_str(&lab.marrow_cli(&[
                "task",
                "show",
                &r["task"].to_string(),
                "--json",
            ]))
            .unwrap();
            t["report"].clone()
        })
        .collect();
    eprintln!(
        "measured: {case}: {} receivers, {} MiB sent in {} cycles, {:.1} s",
        rx.len(),
        v["sent_bytes"].as_u64().unwrap_or(0) >> 20,
        v["cycles"],
        start.elapsed().as_secs_f64()
    );
    Outcome {
        show: v,
        reports,
        logs,
    }
}

fn unicast_bytes(o: &Outcome, i: usize) -> u64 {
    o.reports[i]["unicast_bytes"].as_u64().unwrap()
}

fn multicast_bytes(o: &Outcome, i: usize) -> u64 {
    o.reports[i]["multicast_bytes"].as_u64().unwrap()
}

#[test]
fn a_room_restores_byte_identical_copies_with_and_without_loss() {
    let _slot = vm_slot();
    let Some(s) = setup("10.86.0", 0x86, 4) else {
        return;
    };
    let clean = run_session(&s, "clean", &[Plan::default(); 4], &[]);
    for i in 0..4 {
        assert_eq!(unicast_bytes(&clean, i), 0, "{}", clean.show);
        assert!(multicast_bytes(&clean, i) > 0);
        assert_eq!(clean.show["receivers"][i]["state"], "done");
    }
    let v = &clean.show;
    for key in ["id", "image", "state", "receivers", "sent_bytes", "cycles"] {
        assert!(!v[key].is_null(), "session show --json lacks {key}: {v}");
    }
    for key in [
        "host",
        "state",
        "progress",
        "multicast_bytes",
        "unicast_bytes",
        "loss",
    ] {
        assert!(
            v["receivers"][0].get(key).is_some(),
            "receiver lacks {key}: {v}"
        );
    }
    let lossy = Plan {
        loss: 2,
        ..Plan::default()
    };
    let two = run_session(&s, "two-percent", &[lossy; 4], &[]);
    for i in 0..4 {
        assert_eq!(unicast_bytes(&two, i), 0, "{}", two.show);
    }
    let mut plans = [Plan::default(); 4];
    plans[3].loss = 10;
    let ten = run_session(&s, "ten-percent-one", &plans, &[]);
    assert_eq!(unicast_bytes(&ten, 3), 0, "{}\n{}", ten.show, ten.logs[3]);
    s.lab.marrow_cli(&["store", "check"]);
    let metrics = s.lab.http_get(8080, "/metrics");
    for name in [
        "marrow_multicast_bytes_sent_total",
        "marrow_multicast_cycles_total",
        "marrow_multicast_repair_symbols_total",
        "marrow_session_receivers",
    ] {
        assert!(metrics.contains(name), "/metrics lacks {name}");
    }
    let sent: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("marrow_multicast_bytes_sent_total "))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(sent > 0, "{metrics}");
}

#[test]
fn late_joiners_killed_receivers_and_a_lossy_port_do_not_hold_the_room() {
    let _slot = vm_slot();
    let Some(s) = setup("10.87.0", 0x87, 4) else {
        return;
    };
    let plans = [
        Plan::default(),
        Plan {
            join_at: Some(0.5),
            ..Plan::default()
        },
        Plan {
            kill_at: Some(0.3),
            ..Plan::default()
        },
        Plan {
            loss: 50,
            ..Plan::default()
        },
    ];
    // 40 Mbit/s: slow enough that half and a third of the way are seen.
    // Three start it; the fourth joins the running session.
    let o = run_session(
        &s,
        "room",
        &plans,
        &["--rate-cap", "40M", "--min-receivers", "3"],
    );
    // The late joiner got its chunks from the running carousel.
    assert_eq!(unicast_bytes(&o, 1), 0, "{}\n{}", o.show, o.logs[1]);
    assert!(o.show["cycles"].as_u64().unwrap() >= 2, "{}", o.show);
    // The killed one resumed from its disk: its second run took less than
    // the image.
    let whole = multicast_bytes(&o, 0);
    let second = multicast_bytes(&o, 2) + unicast_bytes(&o, 2);
    assert!(
        second < whole,
        "second run took {second} of {whole}\n{}",
        o.logs[2]
    );
    // The lossy port fell back to unicast, and said why.
    assert!(unicast_bytes(&o, 3) > 0, "{}\n{}", o.show, o.logs[3]);
    let why = o.show["receivers"][3]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("lost"), "{}\n{}", o.show, o.logs[3]);
    assert!(
        o.logs[3].contains("taking the rest over HTTP"),
        "{}",
        o.logs[3]
    );
    assert_eq!(unicast_bytes(&o, 0), 0, "{}", o.show);
    s.lab.marrow_cli(&["store", "check"]);
}

/// `session create` for `hosts` with `args`: the id and each host's token.
fn create(s: &Setup, hosts: &[usize], args: &[&str]) -> (i64, Vec<String>) {
    let mut create = vec!["session", "create", "--image", "room", "--show-tokens"];
    for &h in hosts {
        create.extend_from_slice(&["--host", s.rx[h].mac.as_str()]);
    }
    create.extend_from_slice(args);
    let macs: Vec<&str> = hosts.iter().map(|&h| s.rx[h].mac.as_str()).collect();
    parse_created(&s.lab.marrow_cli(&create), &macs)
}

/// `session create --show-tokens` output: the id on the first line, then
/// `MAC TOKEN` for each of `macs`.
fn parse_created(out: &str, macs: &[&str]) -> (i64, Vec<String>) {
    let id = out
        .lines()
        .next()
        .and_then(|l| l.parse().ok())
        .expect("session id first");
    let tokens = macs
        .iter()
        .map(|mac| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{mac} ")))
                .expect("a token per member")
                .to_string()
        })
        .collect();
    (id, tokens)
}

/// Starts receiver `i` with `token` onto a fresh disk.
fn start(s: &Setup, i: usize, token: &str, case: &str) -> (Guarded, PathBuf) {
    let dir = s.lab.dir.path();
    let disk = blank(dir, &format!("{case}-{i}.img"), 160);
    let log = dir.join(format!("{case}-{i}.log"));
    (start_client(&s.lab, &s.rx[i], token, &disk, &log), disk)
}

/// Waits for the receiver to exit, then checks its copy.
fn finish(s: &Setup, g: &mut Guarded, disk: &std::path::Path) {
    let start = Instant::now();
    let status = loop {
        if let Ok(Some(st)) = g.child.try_wait() {
            break st;
        }
        assert!(start.elapsed() < LIMIT, "receiver hangs:\n{}", g.log_text());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "{}\n{}", g.log_text(), s.lab.marrow_log());
    assert!(same_bytes(disk, &s.reference), "{} differs", disk.display());
}

fn wait_state(s: &Setup, id: i64, want: &str) -> Value {
    let start = Instant::now();
    loop {
        let v = show(&s.lab, id);
        if v["state"] == want {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "not {want}: {v}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Sends 20 symbol frames of session 0x1234 to `group` from the server's
/// namespace.
fn foreign_frames(s: &Setup, group: &str) {
    let script = r#"
import socket, struct, sys
group, port, src = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(src))
frame = (b"MRWC" + bytes([1, 1]) + struct.pack("!HQ", 0, 0x1234) + bytes(32)
         + struct.pack("!I", 0) + bytes(32) + struct.pack("!IIQ", 1368, 0, 1) + bytes(1368))
for _ in range(20):
    s.sendto(frame, (group, port))
"#;
    let out = s.lab.ns.output(
        "python3",
        &["-c", script, group, &PORT.to_string(), &s.lab.server_ip],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Listens on UDP port 9 in receiver `i`'s namespace and prints, in hex,
/// every datagram from the first (within 20 s) until none comes for 2 s.
fn wake_listener(s: &Setup, i: usize) -> std::process::Child {
    let script = r#"
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", 9))
s.settimeout(20)
print(s.recvfrom(2048)[0].hex(), flush=True)
s.settimeout(2)
try:
    while True:
        print(s.recvfrom(2048)[0].hex(), flush=True)
except socket.timeout:
    pass
"#;
    let child = s.rx[i]
        .ns
        .command("python3")
        .args(["-c", script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    // Bound before the session is made.
    std::thread::sleep(Duration::from_millis(500));
    child
}

#[test]
fn sessions_start_by_their_policy_wake_their_members_and_ignore_foreign_frames() {
    let _slot = vm_slot();
    let Some(s) = setup("10.88.0", 0x88, 2) else {
        return;
    };
    // --min-receivers 2: one joined is not enough.
    let (id, tokens) = create(&s, &[0, 1], &["--min-receivers", "2"]);
    let (mut a, disk_a) = start(&s, 0, &tokens[0], "min");
    std::thread::sleep(Duration::from_secs(4));
    let v = show(&s.lab, id);
    assert_eq!(v["state"], "waiting", "{v}");
    assert_eq!(v["receivers"][0]["state"], "ready", "{v}");
    assert_eq!(v["receivers"][1]["state"], "pending", "{v}");
    let (mut b, disk_b) = start(&s, 1, &tokens[1], "min");
    finish(&s, &mut a, &disk_a);
    finish(&s, &mut b, &disk_b);
    let v = wait_state(&s, id, "done");
    assert!(
        v["start_reason"]
            .as_str()
            .unwrap()
            .contains("--min-receivers 2"),
        "{v}"
    );

    // --max-wait: it starts without the member that never comes; that one
    // keeps the session running until it is cancelled. With --wake, the
    // members' magic packets go out on the serving interface.
    let listener = wake_listener(&s, 1);
    let (id, tokens) = create(&s, &[0, 1], &["--max-wait", "3s", "--wake"]);
    let woke = listener.wait_with_output().expect("listener ran");
    let heard = String::from_utf8_lossy(&woke.stdout);
    let mac_hex = s.rx[1].mac.replace(':', "");
    assert!(
        heard.contains(&format!("{}{}", "ff".repeat(6), mac_hex.repeat(16))),
        "no magic packet for {}: {heard:?} {}",
        s.rx[1].mac,
        String::from_utf8_lossy(&woke.stderr)
    );
    let (mut a, disk_a) = start(&s, 0, &tokens[0], "wait");
    finish(&s, &mut a, &disk_a);
    let v = wait_state(&s, id, "running");
    assert!(
        v["start_reason"].as_str().unwrap().contains("--max-wait"),
        "{v}"
    );
    assert_eq!(v["receivers"][1]["state"], "pending", "{v}");
    s.lab.marrow_cli(&["session", "cancel", &id.to_string()]);
    let v = wait_state(&s, id, "cancelled");
    assert_eq!(v["receivers"][1]["state"], "cancelled", "{v}");

    // --at far ahead: waits until `session start`. Slow enough that frames
    // of another session reach the receiver while it runs.
    let (id, tokens) = create(
        &s,
        &[0],
        &["--at", "2099-01-01T00:00Z", "--rate-cap", "40M"],
    );
    let (mut a, disk_a) = start(&s, 0, &tokens[0], "at");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(show(&s.lab, id)["state"], "waiting");
    s.lab.marrow_cli(&["session", "start", &id.to_string()]);
    let v = wait_state(&s, id, "running");
    assert!(
        v["start_reason"]
            .as_str()
            .unwrap()
            .contains("session start"),
        "{v}"
    );
    let group = v["channel"]
        .as_str()
        .unwrap()
        .split(':')
        .next()
        .unwrap()
        .to_string();
    std::thread::sleep(Duration::from_secs(1));
    foreign_frames(&s, &group);
    finish(&s, &mut a, &disk_a);
    assert!(
        a.log_text()
            .contains("ignored a frame of another session (0000000000001234)"),
        "{}",
        a.log_text()
    );
    wait_state(&s, id, "done");
    let listed = s.lab.marrow_cli(&["session", "list"]);
    assert!(
        listed.contains("cancelled") && listed.contains("done"),
        "{listed}"
    );
    let tasks = s.lab.marrow_cli(&["task", "list"]);
    assert!(tasks.contains(&format!("(session {id})")), "{tasks}");
}

#[test]
fn a_server_restart_mid_session_resumes_it_and_no_receiver_starts_over() {
    let _slot = vm_slot();
    let Some(mut s) = setup("10.89.0", 0x89, 2) else {
        return;
    };
    let (id, tokens) = create(&s, &[0, 1], &["--rate-cap", "40M"]);
    let (mut a, disk_a) = start(&s, 0, &tokens[0], "restart");
    let (mut b, disk_b) = start(&s, 1, &tokens[1], "restart");
    let begun = Instant::now();
    loop {
        let v = show(&s.lab, id);
        if progress_of(&v, &s.rx[0].mac) >= 0.4 {
            break;
        }
        assert!(begun.elapsed() < LIMIT, "never got to 40 %: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
    s.lab.stop_marrow();
    std::thread::sleep(Duration::from_secs(1));
    s.lab.start_marrow(&["--dhcp", "off"]);
    finish(&s, &mut a, &disk_a);
    finish(&s, &mut b, &disk_b);
    let v = wait_state(&s, id, "done");
    assert!(
        s.lab
            .marrow_log()
            .contains("resuming the sender of a running session"),
        "{}",
        s.lab.marrow_log()
    );
    for i in 0..2 {
        // Neither fell back: the restarted sender took over from the
        // receivers' reports.
        assert_eq!(v["receivers"][i]["unicast_bytes"], 0, "{v}");
        assert_eq!(v["receivers"][i]["state"], "done", "{v}");
    }
    s.lab.marrow_cli(&["store", "check"]);
}
