//! The same CLI scenario twice: on a local data directory, and through a
//! server's admin API with `--server URL` and `MARROW_TOKEN`. Each
//! command's standard output, standard error and exit status must match
//! (times and data directory paths aside).

use std::path::Path;
use std::process::Command;

use marrow_tests::lab::Lab;
use marrow_tests::missing_root;

/// The scenario: successes, refusals and listings.
const SCRIPT: &[&[&str]] = &[
    &["host", "list"],
    &["task", "list"],
    &["image", "list"],
    &[
        "host",
        "add",
        "52:54:00:88:00:01",
        "--name",
        "lab-01",
        "--group",
        "room-b",
    ],
    &["host", "add", "52:54:00:88:00:02", "--name", "lab-02"],
    &["host", "add", "52:54:00:88:00:01", "--name", "other"],
    &["host", "add", "52:54:00:88:00:03", "--name", "lab-01"],
    &["host", "add", "not-a-mac", "--name", "x"],
    &["host", "list"],
    &["host", "list", "--json"],
    &["task", "capture", "--host", "lab-01", "--image", "golden"],
    &["task", "capture", "--host", "lab-01", "--image", "golden"],
    &["task", "restore", "--host", "lab-02", "--image", "missing"],
    &[
        "task",
        "capture",
        "--host",
        "lab-02",
        "--image",
        "golden@abc",
    ],
    &[
        "task",
        "capture",
        "--host",
        "52:54:00:88:00:09",
        "--image",
        "other",
        "--json",
    ],
    &["task", "list"],
    &["task", "list", "--json"],
    &["task", "show", "1"],
    &["task", "show", "1", "--json"],
    &["task", "show", "99"],
    &["task", "cancel", "1"],
    &["task", "cancel", "1"],
    &["task", "show", "1", "--follow"],
    &["image", "list", "--json"],
    &["image", "delete", "nothing"],
    &["schedule", "list"],
    &[
        "schedule",
        "add",
        "nightly",
        "--cron",
        "0 22 * * 1-5",
        "--tz",
        "Europe/Paris",
        "--",
        "session",
        "create",
        "--group",
        "room-b",
        "--image",
        "win11-lab",
        "--wake",
        "--after",
        "poweroff",
    ],
    &[
        "schedule",
        "add",
        "eve",
        "--at",
        "2031-12-24T18:00",
        "--tz",
        "Europe/Paris",
        "--",
        "task",
        "restore",
        "--host",
        "lab-01",
        "--image",
        "win11-lab",
    ],
    &[
        "schedule",
        "add",
        "nightly",
        "--cron",
        "0 1 * * *",
        "--",
        "task",
        "cancel",
        "1",
    ],
    &[
        "schedule",
        "add",
        "bad",
        "--cron",
        "0 25 * * *",
        "--",
        "task",
        "cancel",
        "1",
    ],
    &[
        "schedule",
        "add",
        "bad",
        "--cron",
        "0 1 * * *",
        "--",
        "store",
        "gc",
    ],
    &[
        "schedule",
        "add",
        "bad",
        "--cron",
        "0 1 * * *",
        "--tz",
        "Mars/Olympus",
        "--",
        "task",
        "cancel",
        "1",
    ],
    &["schedule", "list"],
    &["schedule", "show", "eve"],
    &["schedule", "show", "nightly", "--json"],
    &["schedule", "pause", "nightly"],
    &["schedule", "list", "--json"],
    &["schedule", "resume", "nightly"],
    &["schedule", "pause", "nightly", "--json"],
    &["schedule", "resume", "nightly", "--json"],
    &["schedule", "remove", "eve"],
    &["schedule", "show", "eve"],
    // Images and sessions: `tiny` is captured into both data directories
    // before the scenario runs.
    &["image", "inspect", "tiny"],
    &["image", "inspect", "tiny", "--json"],
    &["image", "inspect", "nothing"],
    &["session", "list"],
    &[
        "session", "create", "--image", "nothing", "--group", "room-b",
    ],
    &["session", "create", "--image", "tiny", "--group", "nobody"],
    &[
        "session",
        "create",
        "--image",
        "tiny",
        "--group",
        "room-b",
        "--hostname",
        "{group}-{n}",
        "--min-receivers",
        "2",
    ],
    &[
        "session",
        "create",
        "--image",
        "tiny",
        "--host",
        "lab-02",
        "--hostname",
        "{group}-{n}",
    ],
    &["session", "add", "1", "--host", "lab-02"],
    &["session", "add", "1", "--host", "lab-02"],
    &["session", "show", "1"],
    &["session", "show", "1", "--json"],
    &["session", "list", "--json"],
    &["task", "list"],
    &["session", "start", "99"],
    &["session", "cancel", "1"],
    &["session", "cancel", "1"],
    &["session", "show", "99"],
    &["session", "show", "1", "--follow"],
];

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn run(mut cmd: Command, args: &[&str]) -> Run {
    let out = cmd.args(args).output().expect("run marrow");
    Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Times (Unix seconds of this decade, and `YYYY-MM-DD HH:MM:SS`), the
/// data directory and its identity key (which signs its images) differ
/// between the runs.
fn normal(s: &str, dir: &Path) -> String {
    let s = s.replace(&dir.display().to_string(), "DATA");
    let mut s = s.as_str().to_string();
    let mut from = 0;
    while let Some(i) = s[from..].find("ed25519:").map(|i| from + i + 8) {
        let key = s
            .get(i..i + 64)
            .filter(|k| k.bytes().all(|b| b.is_ascii_hexdigit()));
        if key.is_some() {
            s.replace_range(i..i + 64, "KEY");
        }
        from = i;
    }
    let mut out = String::new();
    let mut digits = String::new();
    for c in s.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if digits.len() == 10 && digits.starts_with('1') {
            out.push_str("TIME");
        } else {
            out.push_str(&digits);
        }
        digits.clear();
        out.push(c);
    }
    out.pop();
    out
}

#[test]
fn remote_cli_prints_what_the_local_cli_prints() {
    if let Some(why) = missing_root() {
        eprintln!("skipping: {why}");
        return;
    }
    let mut lab = Lab::new("10.88.0");
    lab.start_marrow_plain(&["--dhcp", "off"]);
    let token = serde_json::from_str::<serde_json::Value>(&lab.marrow_cli(&[
        "token", "create", "--role", "admin", "--name", "script", "--json",
    ]))
    .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let local_dir = lab.dir.path().join("local");
    let url = format!("http://{}:8080", lab.server_ip);
    let bin = marrow_tests::workspace_bin("marrow");
    let bin = bin.to_str().unwrap();
    // The same small image in both stores, for `image inspect` and sessions.
    let disk = lab.dir.path().join("tiny.img");
    let bytes: Vec<u8> = (0..(2u32 << 20)).map(|i| (i / 4096 % 251) as u8).collect();
    std::fs::write(&disk, bytes).unwrap();
    for dir in [&local_dir, &lab.data_dir] {
        let out = Command::new(bin)
            .arg("--data-dir")
            .arg(dir)
            .args(["image", "capture"])
            .arg(&disk)
            .args(["--name", "tiny"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for args in SCRIPT {
        let mut local = Command::new(bin);
        local.arg("--data-dir").arg(&local_dir);
        let local = run(local, args);
        let mut remote = lab.ns.command(bin);
        remote
            .args(["--server", &url])
            .env("MARROW_TOKEN", &token)
            // Not the server's data directory: the remote CLI must not
            // touch any.
            .arg("--data-dir")
            .arg(lab.dir.path().join("unused"));
        let remote = run(remote, args);
        let (l, r) = (
            (
                local.status,
                normal(&local.stdout, &local_dir),
                normal(&local.stderr, &local_dir),
            ),
            (
                remote.status,
                normal(&remote.stdout, &lab.data_dir),
                normal(&remote.stderr, &lab.data_dir),
            ),
        );
        assert_eq!(
            l, r,
            "marrow {args:?}: local (left) and remote (right) differ"
        );
    }
    assert!(
        !lab.dir.path().join("unused").exists(),
        "the remote CLI made a data directory"
    );

    // Refusals say what failed, with a non-zero exit.
    let mut viewer_cmd = Command::new(bin);
    viewer_cmd.arg("--data-dir").arg(&lab.data_dir);
    let viewer = run(
        viewer_cmd,
        &["token", "create", "--role", "viewer", "--json"],
    );
    let viewer: serde_json::Value = serde_json::from_str(&viewer.stdout).unwrap();
    let mut cmd = lab.ns.command(bin);
    cmd.args([
        "--server",
        &url,
        "--token",
        viewer["token"].as_str().unwrap(),
    ]);
    let refused = run(
        cmd,
        &["host", "add", "52:54:00:88:00:05", "--name", "lab-05"],
    );
    assert_ne!(refused.status, 0);
    assert!(refused.stderr.contains("role viewer"), "{}", refused.stderr);
    let mut cmd = lab.ns.command(bin);
    cmd.args(["--server", &url]);
    let no_token = run(cmd, &["host", "list"]);
    assert_ne!(no_token.status, 0);
    assert!(
        no_token.stderr.contains("MARROW_TOKEN"),
        "{}",
        no_token.stderr
    );
    let mut cmd = lab.ns.command(bin);
    cmd.args(["--server", &url, "--token", &token]);
    let local_only = run(cmd, &["store", "gc"]);
    assert_ne!(local_only.status, 0);
    assert!(
        local_only.stderr.contains("runs on the server itself"),
        "{}",
        local_only.stderr
    );

    // A schedule fires in the running server (every two seconds: the
    // pattern's optional seconds field), as itself.
    let mut cmd = lab.ns.command(bin);
    cmd.args(["--server", &url, "--token", &token]);
    let added = run(
        cmd,
        &[
            "schedule",
            "add",
            "often",
            "--cron",
            "*/2 * * * * *",
            "--",
            "task",
            "capture",
            "--host",
            "lab-02",
            "--image",
            "often",
        ],
    );
    assert_eq!(added.status, 0, "{}", added.stderr);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let fired = loop {
        let show = lab.marrow_cli(&["schedule", "show", "often", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&show).unwrap();
        let ok = v["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["outcome"] == "ok")
            .cloned();
        if let Some(run) = ok {
            break run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the schedule never ran: {show}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    lab.marrow_cli(&["schedule", "pause", "often"]);
    let task = fired["task"].as_i64().expect("the run made a task");
    let shown = lab.marrow_cli(&["task", "show", &task.to_string(), "--json"]);
    assert!(shown.contains("\"host\": \"52:54:00:88:00:02\""), "{shown}");
    assert!(
        lab.marrow_cli(&["audit"]).contains("schedule often"),
        "the run is audited as the schedule"
    );

    // Live progress over Server-Sent Events: the remote `--follow` and the
    // all-events stream see a cancel made at the server's shell.
    let follow = {
        let mut cmd = lab.ns.command(bin);
        cmd.args([
            "--server", &url, "--token", &token, "task", "show", "2", "--follow",
        ]);
        std::thread::spawn(move || run(cmd, &[]))
    };
    let stream = {
        let mut cmd = lab.ns.command("curl");
        cmd.args([
            "-sN",
            "--max-time",
            "8",
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .arg(format!("{url}/api/v1/admin/events"));
        std::thread::spawn(move || cmd.output().unwrap())
    };
    std::thread::sleep(std::time::Duration::from_secs(3));
    lab.marrow_cli(&["task", "cancel", "2"]);
    let followed = follow.join().unwrap();
    assert_ne!(followed.status, 0, "a cancelled task's follow fails");
    assert_eq!(
        followed.stdout, "task 2: pending\ntask 2: cancelled\n",
        "{}",
        followed.stderr
    );
    assert!(
        followed.stderr.contains("task 2 ended cancelled"),
        "{}",
        followed.stderr
    );
    let events = String::from_utf8_lossy(&stream.join().unwrap().stdout).into_owned();
    assert!(
        events.contains("event: task") && events.contains(r#""state":"cancelled""#),
        "{events}"
    );

    // The server's audit log names the token for the remote run; the local
    // run's own log names the shell.
    let audit = lab.marrow_cli(&["audit", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&audit).unwrap();
    assert!(
        rows.as_array().unwrap().iter().any(|r| r["actor"]
            .as_str()
            .unwrap()
            .starts_with("token script")
            && r["action"] == "task.capture"
            && r["outcome"] == "ok"),
        "{audit}"
    );
    // So are the shell's own commands on the store, and sessions either way.
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .any(|r| r["actor"] == "local"
                && r["action"] == "image.capture"
                && r["object"] == "tiny"
                && r["outcome"] == "ok"),
        "{audit}"
    );
    assert!(
        rows.as_array().unwrap().iter().any(|r| r["actor"]
            .as_str()
            .unwrap()
            .starts_with("token script")
            && r["action"] == "session.create"
            && r["outcome"] == "ok"),
        "{audit}"
    );
    let mut cmd = Command::new(bin);
    cmd.arg("--data-dir").arg(&local_dir);
    let local_audit = run(cmd, &["audit"]);
    assert!(
        local_audit.stdout.contains("local") && local_audit.stdout.contains("task.cancel"),
        "{}",
        local_audit.stdout
    );
}
