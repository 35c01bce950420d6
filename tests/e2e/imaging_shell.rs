//! `marrow-client capture|restore` from a shell, against `marrow serve` in
//! a network namespace, on disk image files: the client API end to end
//! without a VM. A GPT disk (ESP, ext4, NTFS) is captured, restored onto a
//! larger disk with the last partition grown, restored again (the delta
//! pass then fetches nothing), and the API refuses tokens used out of
//! their task's reach and chunks that are not what their name says.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use marrow_tests::disks::{assert_windows_like_disk, blank, partition_range, sh};
use marrow_tests::lab::Lab;
use serde_json::Value;

const MAC_A: &str = "52:54:00:83:00:01";
const MAC_B: &str = "52:54:00:83:00:02";
const MAC_C: &str = "52:54:00:83:00:03";

fn client(lab: &Lab, kind: &str, token: &str, disk: &Path) -> Output {
    let bin = marrow_tests::workspace_bin("marrow-client");
    let mut cmd: Command = lab.ns.command(bin.to_str().unwrap());
    cmd.args([kind, "--json", "--server"])
        .arg(format!("http://{}:8080", lab.server_ip))
        .arg("--disk")
        .arg(disk)
        .env("MARROW_TOKEN", token);
    cmd.output().expect("marrow-client runs")
}

fn client_ok(lab: &Lab, kind: &str, token: &str, disk: &Path) -> Value {
    let out = client(lab, kind, token, disk);
    assert!(
        out.status.success(),
        "marrow-client {kind} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        lab.marrow_log()
    );
    serde_json::from_slice(&out.stdout).expect("report JSON")
}

/// `curl` inside the namespace: (HTTP status, body).
fn curl(lab: &Lab, args: &[&str]) -> (u16, String) {
    let mut all = vec!["-sS", "-o", "/dev/stderr", "-w", "%{http_code}"];
    all.extend_from_slice(args);
    let out = lab.ns.output("curl", &all);
    let status = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (status, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A lab serving on `net` (no DHCP) and a source disk in its folder, or
/// `None` when the machine cannot run the scenario.
fn lab_with_disk(net: &str, seed: &str, mib: u64, data_mib: u64) -> Option<(Lab, PathBuf)> {
    let (mut lab, source) = Lab::with_windows_disk(net, seed, mib, data_mib)?;
    lab.start_marrow(&["--dhcp", "off"]);
    Some((lab, source))
}

#[test]
fn shell_client_captures_restores_grows_and_resumes_over_the_client_api() {
    let Some((lab, source)) = lab_with_disk("10.83.0", "shell", 192, 24) else {
        return;
    };
    let dir = lab.dir.path().to_path_buf();

    // Capture.
    let (cap, token) = lab.task(&["capture", "--host", MAC_A, "--image", "lab"]);
    let report = client_ok(&lab, "capture", &token, &source);
    assert!(report["uploaded_chunks"].as_u64().unwrap() > 0, "{report}");
    let captured = lab.task_json(cap);
    assert_eq!(captured["state"], "done", "{captured}");
    assert_eq!(captured["report"]["image_id"], report["image_id"]);
    lab.marrow_cli(&["store", "check"]);
    let listed = lab.marrow_cli(&["image", "list"]);
    assert!(listed.contains("lab"), "{listed}");
    // The used token is spent.
    let out = client(&lab, "capture", &token, &source);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Capturing again uploads nothing: the server has every chunk (how a
    // rerun after an interrupted capture skips what went up before).
    let (_, token) = lab.task(&["capture", "--host", MAC_A, "--image", "lab"]);
    let rerun = client_ok(&lab, "capture", &token, &source);
    assert_eq!(rerun["uploaded_chunks"], 0, "{rerun}");
    // (Piece chunks, the image's chunk lists, are sent without asking.)
    assert!(
        rerun["known_chunks"].as_u64().unwrap() + 16 >= report["uploaded_chunks"].as_u64().unwrap(),
        "{rerun} after {report}"
    );
    assert_eq!(rerun["image_id"], report["image_id"]);

    // Restore onto a larger disk, growing the last partition.
    let target = blank(&dir, "target.img", 256);
    let (rest, token) = lab.task(&[
        "restore",
        "--host",
        MAC_B,
        "--image",
        "lab",
        "--grow-last-partition",
    ]);
    // `task show --follow` waits for the end and prints the final task.
    let follow = Command::new(marrow_tests::workspace_bin("marrow"))
        .arg("--data-dir")
        .arg(&lab.data_dir)
        .args(["task", "show", &rest.to_string(), "--follow", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let first = client_ok(&lab, "restore", &token, &target);
    let followed = follow.wait_with_output().unwrap();
    assert!(
        followed.status.success(),
        "{}",
        String::from_utf8_lossy(&followed.stderr)
    );
    let followed: Value = serde_json::from_slice(&followed.stdout).unwrap();
    assert_eq!(followed["state"], "done");
    assert_eq!(followed["report"]["fetched_bytes"], first["fetched_bytes"]);
    assert!(first["fetched_chunks"].as_u64().unwrap() > 0, "{first}");
    assert_eq!(lab.task_json(rest)["state"], "done");
    // The NTFS volume in the grown partition was grown to fill it.
    let grow = &followed["report"]["filesystem_grow"];
    assert!(
        grow["fs"] == "ntfs" && grow["grown"] == true,
        "{}",
        followed["report"]
    );
    assert!(
        grow["to"].as_u64().unwrap() > grow["from"].as_u64().unwrap() + (48 << 20),
        "{grow}"
    );
    assert_windows_like_disk(&target, "shell", 24);
    let (_, last) = partition_range(&target, 3);
    assert!(
        last > (192u64 << 20) / 512,
        "partition 3 ends at sector {last}"
    );

    // Again onto the same disk: the data is in place and is not fetched;
    // only the boot area, whose GPT was rewritten for the larger disk, and
    // the few NTFS metadata chunks ntfsresize rewrote (boot sector,
    // $Bitmap, $MFT records) differ from the image.
    let (_, token) = lab.task(&[
        "restore",
        "--host",
        MAC_B,
        "--image",
        "lab",
        "--grow-last-partition",
    ]);
    let again = client_ok(&lab, "restore", &token, &target);
    assert!(
        again["fetched_chunks"].as_u64().unwrap() <= 8
            && again["fetched_bytes"].as_u64().unwrap()
                < first["fetched_bytes"].as_u64().unwrap() / 100,
        "second pass fetched {again} after {first}"
    );
    assert!(
        again["written_bytes"].as_u64().unwrap() < first["written_bytes"].as_u64().unwrap() / 10,
        "second pass wrote {again} after {first}"
    );
    eprintln!(
        "measured: shell capture {:.2} s, restore {:.2} s, delta restore {:.2} s, {} bytes fetched",
        report["seconds"].as_f64().unwrap(),
        first["seconds"].as_f64().unwrap(),
        again["seconds"].as_f64().unwrap(),
        first["fetched_bytes"]
    );
}

#[test]
fn client_api_refuses_tokens_out_of_reach_and_chunks_that_do_not_match_their_name() {
    let Some((lab, source)) = lab_with_disk("10.84.0", "tokens", 128, 2) else {
        return;
    };
    let dir = lab.dir.path().to_path_buf();
    let (_, token) = lab.task(&["capture", "--host", MAC_A, "--image", "alpha"]);
    client_ok(&lab, "capture", &token, &source);
    let (_, restore) = lab.task(&["restore", "--host", MAC_B, "--image", "alpha"]);
    let (_, capture) = lab.task(&["capture", "--host", MAC_C, "--image", "beta"]);

    // METHOD /api/v1PATH with a token ("" for none) and extra curl arguments.
    let base = format!("http://{}:8080/api/v1", lab.server_ip);
    let call = |method: &str, token: &str, path: &str, extra: &[&str]| {
        let url = format!("{base}{path}");
        let header = format!("Authorization: Bearer {token}");
        let mut args = vec!["-X", method];
        if !token.is_empty() {
            args.extend(["-H", header.as_str()]);
        }
        args.extend_from_slice(extra);
        args.push(&url);
        curl(&lab, &args)
    };
    let json = |body: &str| {
        vec!["-H", "Content-Type: application/json", "--data-binary"]
            .into_iter()
            .map(String::from)
            .chain([body.to_string()])
            .collect::<Vec<String>>()
    };
    let zero = "0".repeat(64);
    let chunk = |image: &str| format!("/images/{image}/chunks/{zero}");

    // A restore token reads its own image's manifest, and nothing else.
    let (status, manifest) = call("GET", &restore, "/images/alpha/manifest", &[]);
    assert_eq!(status, 200, "{manifest}");
    let (status, body) = call("GET", &restore, "/images/beta/manifest", &[]);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains(r#"reaches image \"alpha\" only"#), "{body}");
    // The capture token of "beta" can neither read "alpha" nor write to it.
    let (status, body) = call("GET", &capture, "/images/alpha/manifest", &[]);
    assert_eq!(status, 403, "{body}");
    let (status, body) = call("PUT", &capture, &chunk("alpha"), &["--data-binary", "x"]);
    assert_eq!(status, 403, "{body}");
    // A restore token cannot upload, nor read a chunk outside its image.
    let (status, body) = call("PUT", &restore, &chunk("alpha"), &["--data-binary", "x"]);
    assert_eq!(status, 403, "{body}");
    let (status, body) = call("GET", &restore, &chunk("alpha"), &[]);
    assert_eq!(status, 403, "{body}");
    // No token, a made-up token.
    let (status, _) = call("GET", "", "/images/alpha/manifest", &[]);
    assert_eq!(status, 401);
    let (status, _) = call("GET", &"ab".repeat(32), "/images/alpha/manifest", &[]);
    assert_eq!(status, 401);

    // A chunk whose content does not hash to its name is refused and not stored.
    let body = dir.join("chunk.zst");
    marrow_tests::disks::sh(&format!(
        "printf 'not what the name says' | zstd -q -c > {}",
        body.display()
    ));
    let wrong = "ab".repeat(32);
    let upload = format!("@{}", body.display());
    let (status, text) = call(
        "PUT",
        &capture,
        &format!("/images/beta/chunks/{wrong}"),
        &["--data-binary", &upload],
    );
    assert_eq!(status, 422, "{text}");
    let ask = json(&format!(r#"{{"ids":["{wrong}"]}}"#));
    let ask: Vec<&str> = ask.iter().map(String::as_str).collect();
    let (status, has) = call("POST", &capture, "/images/beta/chunks/has", &ask);
    assert_eq!((status, has.trim()), (200, r#"{"have":[false]}"#));
    // One `has` call asks about at most 1024 chunks.
    let ids = vec![format!("\"{wrong}\""); 1025].join(",");
    let many = json(&format!(r#"{{"ids":[{ids}]}}"#));
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let (status, body) = call("POST", &capture, "/images/beta/chunks/has", &many);
    assert_eq!(status, 413, "{body}");

    // Malformed ids and bodies get 4xx answers that say what is wrong.
    let (status, text) = call("GET", &restore, "/images/alpha/chunks/xyz", &[]);
    assert_eq!(status, 400, "{text}");
    let (status, text) = call("POST", &capture, "/images/beta/manifest", &["--data", "{"]);
    assert_eq!(status, 422, "{text}");
    // A manifest naming a piece the store lacks is not committed.
    let mut broken: Value = serde_json::from_str(&manifest).unwrap();
    let region = broken["regions"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| !r["chunks"].as_array().unwrap().is_empty())
        .unwrap();
    region["chunks"][0] = Value::String("cd".repeat(32));
    let broken_path = dir.join("broken.json");
    std::fs::write(&broken_path, broken.to_string()).unwrap();
    let (status, body) = call(
        "POST",
        &capture,
        "/images/beta/manifest",
        &["--data-binary", &format!("@{}", broken_path.display())],
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("not uploaded"), "{body}");
    assert!(!lab.marrow_cli(&["image", "list"]).contains("beta"));

    // The auth scheme is case-insensitive (RFC 9110 §11.1).
    let url = format!("{base}/images/beta/chunks/has");
    let lower = format!("Authorization: bearer {capture}");
    let (status, body) = curl(
        &lab,
        &[
            "-X",
            "POST",
            "-H",
            &lower,
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            r#"{"ids":[]}"#,
            &url,
        ],
    );
    assert_eq!(status, 200, "{body}");
    // A body over its route's limit is refused in JSON, like every error.
    let big = dir.join("big.bin");
    std::fs::write(&big, vec![0u8; 10 << 20]).unwrap();
    let (status, body) = call(
        "PUT",
        &capture,
        &chunk("beta"),
        &["--data-binary", &format!("@{}", big.display())],
    );
    assert_eq!(status, 413, "{body}");
    assert!(
        serde_json::from_str::<Value>(&body).unwrap()["error"].is_string(),
        "{body}"
    );
    // An inventory the driver plan could not read is refused at the PUT.
    let bad_inventory = json(r#"{"pci":[{"vendor":"not hex"}],"usb":[]}"#);
    let bad_inventory: Vec<&str> = bad_inventory.iter().map(String::as_str).collect();
    let (status, body) = call("PUT", &capture, "/task/inventory", &bad_inventory);
    assert_eq!(status, 422, "{body}");
    // A retried commit (its answer was lost) gets the same version back
    // and adds none.
    let manifest_path = dir.join("alpha.json");
    std::fs::write(&manifest_path, &manifest).unwrap();
    let (_, again) = lab.task(&["capture", "--host", "52:54:00:84:00:0a", "--image", "alpha"]);
    let commit = ["--data-binary", &format!("@{}", manifest_path.display())];
    let (status, first) = call("POST", &again, "/images/alpha/manifest", &commit);
    assert_eq!(status, 200, "{first}");
    let (status, second) = call("POST", &again, "/images/alpha/manifest", &commit);
    assert_eq!((status, &second), (200, &first));
    let versions = lab.marrow_cli(&["image", "list", "--json"]);
    let versions: Value = serde_json::from_str(&versions).unwrap();
    let alpha = versions
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "alpha")
        .unwrap();
    assert_eq!(alpha["versions"], 2, "{alpha}");

    // A restore whose image is gone by the time the client claims it fails
    // the task at once, naming the image, rather than leaving the host
    // booting the client.
    let (missing, token) =
        lab.task(&["restore", "--host", "52:54:00:84:00:09", "--image", "alpha"]);
    lab.marrow_cli(&["image", "delete", "alpha"]);
    let out = client(&lab, "restore", &token, &source);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("404") && err.contains("no image named \"alpha\""),
        "{err}"
    );
    let t = lab.task_json(missing);
    assert_eq!(t["state"], "failed", "{t}");
    assert!(t["error"].as_str().unwrap().contains("alpha"), "{t}");
    lab.marrow_cli(&["store", "check"]);
}

/// `marrow --data-dir D ARGS` expected to fail: its stderr.
fn cli_fails(lab: &Lab, args: &[&str]) -> String {
    let out = Command::new(marrow_tests::workspace_bin("marrow"))
        .arg("--data-dir")
        .arg(&lab.data_dir)
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "marrow {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_restore_names_the_machine_and_runs_the_post_script_with_the_partitions_mounted() {
    let Some((lab, source)) = lab_with_disk("10.85.0", "post", 128, 2) else {
        return;
    };
    let dir = lab.dir.path().to_path_buf();
    let (_, token) = lab.task(&["capture", "--host", MAC_A, "--image", "lab"]);
    client_ok(&lab, "capture", &token, &source);
    lab.marrow_cli(&["host", "add", MAC_C, "--name", "pc-a", "--group", "room-b"]);
    lab.marrow_cli(&["host", "add", MAC_B, "--name", "pc-b", "--group", "room-b"]);

    // The script sees the task's variables and the mounted partitions,
    // and what it writes lands on the restored disk.
    let script = dir.join("fixup.sh");
    std::fs::write(
        &script,
        "set -e\necho \"host=$MARROW_HOST_NAME name=$MARROW_HOSTNAME group=$MARROW_GROUP task=$MARROW_TASK_ID\"\n\
         echo \"root=$(cat \"$MARROW_LINUX_ROOT/etc/hostname\")\"\n\
         ls \"$MARROW_WINDOWS\" | grep -q Windows && echo windows-mounted\n\
         echo \"stamped by $MARROW_IMAGE\" > \"$MARROW_LINUX_ROOT/etc/marrow-stamp\"\n\
         echo to-stderr >&2\n",
    )
    .unwrap();
    lab.marrow_cli(&["script", "add", "fixup", script.to_str().unwrap()]);
    let listed: Value =
        serde_json::from_str(&lab.marrow_cli(&["script", "list", "--json"])).unwrap();
    assert_eq!(listed[0]["name"], "fixup", "{listed}");
    let err = cli_fails(&lab, &["script", "add", "fixup", script.to_str().unwrap()]);
    assert!(err.contains("--replace"), "{err}");
    let err = cli_fails(
        &lab,
        &[
            "task",
            "restore",
            "--host",
            MAC_B,
            "--image",
            "lab",
            "--post-script",
            "nope",
        ],
    );
    assert!(err.contains("no post-deploy script \"nope\""), "{err}");

    let target = blank(&dir, "target.img", 128);
    let (id, token) = lab.task(&[
        "restore",
        "--host",
        MAC_B,
        "--image",
        "lab",
        "--hostname",
        "{group}-{n}",
        "--post-script",
        "fixup",
    ]);
    // A script an active task runs stays.
    let err = cli_fails(&lab, &["script", "remove", "fixup"]);
    assert!(err.contains(&format!("active task(s) {id}")), "{err}");
    let report = client_ok(&lab, "restore", &token, &target);
    let t = lab.task_json(id);
    assert_eq!(t["state"], "done", "{t}");
    assert_eq!(t["hostname"], "room-b-2");
    // pc-a is 1 and pc-b 2 in room-b, by name.
    let hostname = &report["hostname"];
    assert_eq!(hostname["name"], "room-b-2", "{report}");
    let files: Vec<String> = hostname["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {} {}",
                f["partition"],
                f["os"].as_str().unwrap(),
                f["path"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        files,
        [
            "2 linux etc/hostname",
            "2 linux etc/hosts",
            "3 windows Windows/Panther/unattend.xml"
        ],
        "{report}"
    );
    let script_report = &report["post_script"];
    assert_eq!(script_report["exit_code"], 0, "{report}");
    let output = script_report["output"].as_str().unwrap();
    assert!(
        output.contains(&format!("host=pc-b name=room-b-2 group=room-b task={id}"))
            && output.contains("root=room-b-2")
            && output.contains("windows-mounted")
            && output.contains("to-stderr"),
        "{output}"
    );
    assert_eq!(
        t["report"]["post_script"]["output"],
        script_report["output"]
    );

    // Read back from the restored disk with the filesystems' own tools.
    let fs_ok = assert_windows_like_disk(&target, "post", 2);
    let root = marrow_tests::disks::partition(&target, 2);
    let cat = |path: &str| {
        sh(&format!(
            "debugfs -R 'cat {path}' {} 2>/dev/null",
            root.display()
        ))
    };
    assert_eq!(cat("/etc/hostname"), "room-b-2\n");
    assert!(
        cat("/etc/hosts").contains("127.0.1.1\troom-b-2\n"),
        "{}",
        cat("/etc/hosts")
    );
    assert_eq!(cat("/etc/marrow-stamp"), "stamped by lab\n");
    let answer = dir.join("unattend.xml");
    sh(&format!(
        "ntfscat --force {} Windows/Panther/unattend.xml > {}; xmllint --noout {}",
        fs_ok.display(),
        answer.display(),
        answer.display()
    ));
    let xml = std::fs::read_to_string(&answer).unwrap();
    assert!(
        xml.contains("<ComputerName>room-b-2</ComputerName>"),
        "{xml}"
    );
    assert!(xml.contains("<settings pass=\"specialize\">"), "{xml}");
    assert!(xml.contains("<SystemLocale>en-US</SystemLocale>"), "{xml}");

    // A failing script fails the task, its output kept, and the client
    // exits non-zero naming it.
    let failing = dir.join("fail.sh");
    std::fs::write(
        &failing,
        "echo checking; echo 'no licence server' >&2; exit 7\n",
    )
    .unwrap();
    lab.marrow_cli(&["script", "add", "check", failing.to_str().unwrap()]);
    let (id, token) = lab.task(&[
        "restore",
        "--host",
        MAC_B,
        "--image",
        "lab",
        "--post-script",
        "check",
    ]);
    let out = client(&lab, "restore", &token, &target);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("post-script check exited 7"), "{stderr}");
    let t = lab.task_json(id);
    assert_eq!(t["state"], "failed", "{t}");
    assert_eq!(t["error"], "post-script check exited 7");
    assert_eq!(t["report"]["post_script"]["exit_code"], 7);
    assert_eq!(
        t["report"]["post_script"]["output"],
        "checking\nno licence server\n"
    );

    // Both actions are audited; an unused script can go.
    lab.marrow_cli(&["script", "remove", "check"]);
    let audit: Value = serde_json::from_str(&lab.marrow_cli(&["audit", "--json"])).unwrap();
    let entries = audit.as_array().expect("audit entries");
    let has = |action: &str, object: &str, outcome: &str| {
        entries.iter().any(|e| {
            e["action"] == action
                && e["object"] == object
                && e["outcome"].as_str().unwrap_or("").starts_with(outcome)
        })
    };
    assert!(has("script.add", "fixup", "ok"), "{audit}");
    assert!(has("script.add", "fixup", "failed"), "{audit}");
    assert!(has("script.remove", "fixup", "failed"), "{audit}");
    assert!(has("script.remove", "check", "ok"), "{audit}");
    assert!(
        entries.iter().any(|e| e["action"] == "task.restore"
            && e["args"].to_string().contains("{group}-{n}")),
        "{audit}"
    );
}
