//! Site sync between two `marrow serve` instances, "hq" and "site", each
//! in its own namespace, joined by a veth pair over which the site pulls
//! on hq's TLS port: a first pull and a restore, an update that moves
//! only the new chunks, a link cut and a killed pull that resume without
//! fetching a chunk twice, tampering of every kind refused, the bandwidth
//! cap and the window, and a restore that reads through to hq.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use marrow_tests::disks::{
    add_file, assert_windows_like_disk, blank, sh, tools_missing, windows_like_disk,
};
use marrow_tests::process::Guarded;
use marrow_tests::sites::{
    capture, chunk_files, chunk_ids, marrow_in, marrow_json, marrow_ok, Sites,
};
use serde_json::Value;

/// Two sites and a disk captured at hq as `golden`, or `None` when the
/// machine cannot run the scenario.
fn sites_with_image(tag: u8, data_mib: u64, site_args: &[&str]) -> Option<(Sites, PathBuf)> {
    if let Some(why) = marrow_tests::missing_root().or_else(tools_missing) {
        eprintln!("skipping: {why}");
        return None;
    }
    if !marrow_tests::have("nft") {
        eprintln!("skipping: nft is not installed (scripts/install-deps installs it)");
        return None;
    }
    let s = Sites::new(tag, &[], site_args);
    let disk = windows_like_disk(
        s.hq.dir.path(),
        "golden.img",
        "golden",
        data_mib + 80,
        data_mib,
    );
    capture(&s.hq, &disk, "golden");
    Some((s, disk))
}

fn listed(lab: &marrow_tests::lab::Lab) -> Vec<Value> {
    marrow_json(lab, &["image", "list", "--json"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Restores `reference` from a lab's own store onto a new blank disk.
fn restore(lab: &marrow_tests::lab::Lab, reference: &str, name: &str, mib: u64) -> PathBuf {
    let target = blank(lab.dir.path(), name, mib);
    marrow_ok(
        lab,
        &["image", "restore", reference, target.to_str().unwrap()],
    );
    target
}

#[test]
fn a_site_pulls_only_what_it_lacks_verified_and_restores_the_same_disk() {
    let Some((s, disk)) = sites_with_image(93, 24, &[]) else {
        return;
    };
    let hq_store = s.hq.data_dir.join("store");
    let site_store = s.site.data_dir.join("store");

    // First pull: everything, each chunk verified as it arrived.
    let before = s.wan_bytes();
    let first = s.pull_ok(&[]);
    assert_eq!(first["published"].as_array().unwrap().len(), 1, "{first}");
    assert!(first["failed"].as_array().unwrap().is_empty(), "{first}");
    let hq_chunks = chunk_files(&hq_store);
    assert_eq!(
        first["chunks_fetched"].as_u64().unwrap(),
        hq_chunks.len() as u64,
        "{first}"
    );
    assert_eq!(chunk_ids(&site_store), chunk_ids(&hq_store));
    assert_eq!(first["in_flight"], 8, "{first}");
    let after = s.wan_bytes();
    eprintln!(
        "first pull: {} chunks, {} stored bytes, {} bytes on the link",
        first["chunks_fetched"],
        first["bytes_fetched"],
        (after.0 - before.0) + (after.1 - before.1)
    );
    marrow_ok(&s.site, &["store", "check"]);
    // The same version at both sites, and the same disk from each.
    let (at_hq, at_site) = (listed(&s.hq), listed(&s.site));
    assert_eq!(at_hq[0]["id"], at_site[0]["id"], "{at_hq:?} {at_site:?}");
    let from_site = restore(&s.site, "golden", "from-site.img", 104);
    let from_hq = restore(&s.hq, "golden", "from-hq.img", 104);
    sh(&format!(
        "cmp {} {}",
        from_site.display(),
        from_hq.display()
    ));
    assert_windows_like_disk(&from_site, "golden", 24);

    // Pulling again moves nothing.
    let again = s.pull_ok(&[]);
    assert_eq!(again["chunks_fetched"], 0, "{again}");
    assert_eq!(again["up_to_date"], 1, "{again}");

    // Update: a few new files, a new capture at hq; the site fetches the
    // new chunks only, and the link carries little more than them.
    add_file(&disk, "update1.bin", 6);
    add_file(&disk, "update2.bin", 2);
    capture(&s.hq, &disk, "golden");
    let before = s.wan_bytes();
    let update = s.pull_ok(&[]);
    let after = s.wan_bytes();
    // What the site received: the new chunks' frames as it stored them.
    let new_chunks: u64 = chunk_files(&site_store)
        .iter()
        .filter(|(id, _)| !hq_chunks.contains_key(*id))
        .map(|(_, len)| len)
        .sum();
    let wire = (after.0 - before.0) + (after.1 - before.1);
    assert_eq!(update["published"].as_array().unwrap().len(), 1, "{update}");
    assert_eq!(
        update["bytes_fetched"].as_u64().unwrap(),
        new_chunks,
        "{update}"
    );
    let ratio = wire as f64 / new_chunks as f64;
    eprintln!("update: {new_chunks} bytes of new chunks, {wire} bytes on the link: {ratio:.3}x");
    assert!(
        ratio <= 1.1,
        "{wire} bytes on the link for {new_chunks} of new chunks"
    );
    assert_eq!(chunk_ids(&site_store), chunk_ids(&hq_store));
    let versions = marrow_json(&s.site, &["image", "list", "--json"]);
    assert_eq!(versions[0]["versions"], 2, "{versions}");
    marrow_ok(&s.site, &["store", "check"]);

    // sync status says how the last pull went.
    let status = marrow_json(&s.site, &["sync", "status", "--json"]);
    assert_eq!(status[0]["name"], "hq", "{status}");
    assert_eq!(status[0]["last_run"]["state"], "done", "{status}");
    assert_eq!(status[0]["last_run"]["published"], 1, "{status}");
}

/// Waits until the site has at least `n` chunks, or panics after `limit`.
fn wait_for_chunks(store: &Path, n: usize, limit: Duration) {
    let start = Instant::now();
    while chunk_files(store).len() < n {
        assert!(
            start.elapsed() < limit,
            "fewer than {n} chunks after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn spawn_pull(s: &Sites, args: &[&str], log: &str) -> Guarded {
    let bin = marrow_tests::workspace_bin("marrow");
    let mut cmd: Command = s.site.ns.command(bin.to_str().unwrap());
    cmd.arg("--data-dir")
        .arg(&s.site.data_dir)
        .args(["sync", "pull", "--from", "hq", "--json"])
        .args(args);
    Guarded::spawn("sync pull", cmd, &s.site.dir.path().join(log))
}

#[test]
fn a_cut_link_and_a_killed_pull_resume_without_fetching_a_chunk_twice() {
    let Some((mut s, _disk)) = sites_with_image(94, 48, &[]) else {
        return;
    };
    let site_store = s.site.data_dir.join("store");
    let needed = chunk_files(&s.hq.data_dir.join("store")).len();
    // Slow enough to cut in the middle: about 17 s for the image.
    let cap = ["--bandwidth", "24M"];

    // A pull that is killed partway: nothing listed, what arrived kept.
    let mut pull = spawn_pull(&s, &cap, "killed.log");
    wait_for_chunks(&site_store, needed / 4, Duration::from_secs(120));
    assert!(
        listed(&s.site).is_empty(),
        "a half-synced version was listed: {}",
        pull.log_text()
    );
    pull.child.kill().unwrap();
    pull.child.wait().unwrap();
    let kept = chunk_files(&site_store).len();
    assert!(kept > 0 && kept < needed, "{kept} of {needed}");
    let status = marrow_json(&s.site, &["sync", "status", "--json"]);
    assert_eq!(status[0]["last_run"]["state"], "interrupted", "{status}");

    // The next pull: the link is cut partway and comes back, which the
    // pull waits out; then hq restarts, and the pull asks again for what
    // had not arrived. It finishes, and never asks for what it had.
    let mut pull = spawn_pull(&s, &cap, "resumed.log");
    let left = needed - kept;
    wait_for_chunks(&site_store, kept + left / 4, Duration::from_secs(120));
    let at_cut = chunk_files(&site_store).len();
    s.cut(true);
    std::thread::sleep(Duration::from_secs(3));
    let during = chunk_files(&site_store).len();
    assert!(
        listed(&s.site).is_empty(),
        "a half-synced version was listed: {kept} kept, {at_cut} at the cut, {during} after, of {needed}: {}",
        pull.log_text()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        chunk_files(&site_store).len(),
        during,
        "chunks arrived over a cut link"
    );
    s.cut(false);
    wait_for_chunks(&site_store, during + left / 4, Duration::from_secs(120));
    s.hq.stop_marrow();
    std::thread::sleep(Duration::from_secs(1));
    s.hq.start_marrow(&["--dhcp", "off"]);
    let status = pull.child.wait().unwrap();
    let text = pull.log_text();
    assert!(status.success(), "resumed pull failed: {text}");
    let start = text.find('{').expect("report");
    let report: Value = serde_json::from_str(&text[start..]).expect("report JSON");
    assert_eq!(report["published"].as_array().unwrap().len(), 1, "{report}");
    // Every chunk that arrived before was present; every other arrived once.
    assert_eq!(
        report["chunks_present"].as_u64().unwrap() as usize,
        kept,
        "{report}"
    );
    assert_eq!(
        report["chunks_fetched"].as_u64().unwrap() as usize,
        needed - kept,
        "{report}"
    );
    assert!(report["retries"].as_u64().unwrap() > 0, "{report}");
    eprintln!(
        "resumed: {kept} kept, {} fetched, {} batches asked again",
        report["chunks_fetched"], report["retries"]
    );
    assert_eq!(
        chunk_ids(&site_store),
        chunk_ids(&s.hq.data_dir.join("store"))
    );
    marrow_ok(&s.site, &["store", "check"]);
    marrow_ok(&s.site, &["image", "verify", "golden"]);
}

/// A pull from `site` that must fail: its error.
fn refused(s: &Sites, site: &str) -> String {
    let out = marrow_in(&s.site, &["sync", "pull", "--from", site]);
    assert!(
        !out.status.success(),
        "pull from {site} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn tampered_chunks_untrusted_keys_bad_tokens_and_wrong_certificates_are_refused() {
    let Some((mut s, _disk)) = sites_with_image(95, 8, &[]) else {
        return;
    };
    let hq_store = s.hq.data_dir.join("store");
    let site_store = s.site.data_dir.join("store");

    // A chunk flipped at hq: refused at the site, named, nothing published.
    let (victim, _) = chunk_files(&hq_store)
        .into_iter()
        .max_by_key(|(_, len)| *len)
        .unwrap();
    let path = hq_store.join("chunks").join(&victim[..4]).join(&victim);
    let original = std::fs::read(&path).unwrap();
    let mut flipped = original.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    std::fs::write(&path, &flipped).unwrap();
    let (report, out) = s.pull(&[]);
    assert!(!out.status.success(), "{report}");
    let why = report["failed"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        why.contains(&victim[..12]) || why.contains(&victim),
        "{report}"
    );
    assert!(
        report["published"].as_array().unwrap().is_empty(),
        "{report}"
    );
    assert!(listed(&s.site).is_empty());
    assert!(!chunk_files(&site_store).contains_key(&victim));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("golden@"), "{stderr}");
    std::fs::write(&path, &original).unwrap();

    // Re-signed at hq by a key the site was not given: refused before a
    // chunk moves.
    let rogue = s.hq.dir.path().join("rogue");
    let rogue_dir = rogue.to_str().unwrap();
    let hq_store_arg = hq_store.to_str().unwrap();
    let out = Command::new(marrow_tests::workspace_bin("marrow"))
        .args([
            "--data-dir",
            rogue_dir,
            "image",
            "sign",
            "golden",
            "--store",
            hq_store_arg,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fetched = chunk_files(&site_store).len();
    let (report, out) = s.pull(&[]);
    assert!(!out.status.success());
    let why = report["failed"][0]["reason"].as_str().unwrap_or_default();
    assert!(why.contains("does not trust"), "{report}");
    assert_eq!(
        chunk_files(&site_store).len(),
        fetched,
        "chunks of an untrusted image moved"
    );
    assert!(listed(&s.site).is_empty());
    // Signed again by hq's own key, it goes through.
    marrow_ok(&s.hq, &["image", "sign", "golden"]);
    s.pull_ok(&[]);
    assert_eq!(listed(&s.site).len(), 1);

    // A wrong token: 401. A revoked one: 401. A viewer's token: 403.
    s.add_site("wrongtoken", "mrw_0000", &s.key, Some(&s.fingerprint));
    let e = refused(&s, "wrongtoken");
    assert!(e.contains("401"), "{e}");
    let id = marrow_json(&s.hq, &["token", "list", "--json"])[0]["id"]
        .as_i64()
        .unwrap();
    let viewer = marrow_json(&s.hq, &["token", "create", "--role", "viewer", "--json"])["token"]
        .as_str()
        .unwrap()
        .to_string();
    s.add_site("viewertoken", &viewer, &s.key, Some(&s.fingerprint));
    let e = refused(&s, "viewertoken");
    assert!(e.contains("403"), "{e}");
    marrow_ok(&s.hq, &["token", "revoke", &id.to_string()]);
    let e = refused(&s, "hq");
    assert!(e.contains("401"), "{e}");

    // A certificate that is not the pinned one; and, unpinned, one that
    // no public CA signed.
    let other_pin = format!("sha256:{}", "ab".repeat(32));
    s.add_site("wrongpin", &s.token, &s.key, Some(&other_pin));
    let e = refused(&s, "wrongpin");
    assert!(
        e.contains("fingerprint") || e.contains("certificate"),
        "{e}"
    );
    s.add_site("unpinned", &s.token, &s.key, None);
    let e = refused(&s, "unpinned");
    assert!(e.contains("certificate"), "{e}");

    // A certificate the admin configures: hq serves it instead of its own,
    // `key show` prints its fingerprint, and a site pinned to it (as
    // openssl prints it) pulls; the old pin no longer matches.
    let dir = s.hq.dir.path().join("configured");
    std::fs::create_dir_all(&dir).unwrap();
    let fp = sh(&format!(
        "cd {d} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
         -keyout key.pem -out cert.pem -days 30 -subj /CN=hq.example 2>/dev/null && \
         openssl x509 -in cert.pem -noout -fingerprint -sha256 | cut -d= -f2",
        d = dir.display()
    ));
    let config = dir.join("marrow.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert = \"{0}/cert.pem\"\nkey = \"{0}/key.pem\"\n",
            dir.display()
        ),
    )
    .unwrap();
    s.hq.stop_marrow();
    s.hq.start_marrow(&["--dhcp", "off", "--config", config.to_str().unwrap()]);
    let shown = marrow_json(
        &s.hq,
        &[
            "--config",
            config.to_str().unwrap(),
            "key",
            "show",
            "--json",
        ],
    );
    let want = format!("sha256:{}", fp.trim().replace(':', "").to_lowercase());
    assert_eq!(shown["fingerprint"], want.as_str(), "{shown}");
    assert_ne!(shown["fingerprint"], s.fingerprint.as_str());
    let token = marrow_json(&s.hq, &["token", "create", "--scope", "sync", "--json"])["token"]
        .as_str()
        .unwrap()
        .to_string();
    s.add_site("configured", &token, &s.key, Some(fp.trim()));
    let out = marrow_in(&s.site, &["sync", "pull", "--from", "configured"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.add_site("oldpin", &token, &s.key, Some(&s.fingerprint));
    let e = refused(&s, "oldpin");
    assert!(e.contains("fingerprint"), "{e}");
}

#[test]
fn the_bandwidth_cap_holds_and_a_closed_window_pauses_the_pull() {
    let Some((s, _disk)) = sites_with_image(96, 40, &[]) else {
        return;
    };
    // 20 Mbit/s, measured on the link each second while the pull runs:
    // on average, and from the start (no burst into the buffers first).
    let mut pull = spawn_pull(&s, &["--bandwidth", "20M"], "capped.log");
    let mut samples = vec![(Instant::now(), s.wan_bytes().0)];
    while pull.child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(500));
        samples.push((Instant::now(), s.wan_bytes().0));
    }
    let rate = |a: &(Instant, u64), b: &(Instant, u64)| {
        (b.1 - a.1) as f64 * 8.0 / (b.0 - a.0).as_secs_f64()
    };
    let whole = rate(&samples[0], samples.last().unwrap());
    let early = rate(&samples[0], &samples[6.min(samples.len() - 1)]);
    eprintln!(
        "--bandwidth 20M: {:.2} Mbit/s on the link over {:.1} s; {:.2} Mbit/s in the first 3 s",
        whole / 1e6,
        (samples.last().unwrap().0 - samples[0].0).as_secs_f64(),
        early / 1e6
    );
    let text = pull.log_text();
    assert!(text.contains("\"published\""), "{text}");
    assert!(listed(&s.site).len() == 1, "{text}");
    assert!((whole - 20e6).abs() <= 2e6, "{:.2} Mbit/s", whole / 1e6);
    assert!(early <= 25e6, "{:.2} Mbit/s in the first 3 s", early / 1e6);

    // A window that opens in an hour: the pull waits, and moves nothing.
    marrow_ok(&s.hq, &["image", "delete", "golden"]);
    let out = sh("date -d '+1 hour' +%H:%M; date -d '+2 hour' +%H:%M");
    let mut times = out.lines();
    let window = format!("{}-{}", times.next().unwrap(), times.next().unwrap());
    let disk = windows_like_disk(s.hq.dir.path(), "other.img", "other", 88, 8);
    capture(&s.hq, &disk, "other");
    let mut pull = spawn_pull(&s, &["--window", &window], "window.log");
    let start = Instant::now();
    loop {
        let status = marrow_json(&s.site, &["sync", "status", "--json"]);
        if status[0]["last_run"]["state"] == "paused" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never paused: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        pull.child.try_wait().unwrap().is_none(),
        "the pull ended in a closed window"
    );
    let names: Vec<Value> = listed(&s.site).iter().map(|v| v["name"].clone()).collect();
    assert!(!names.contains(&Value::from("other")), "{names:?}");
    pull.stop();
}

#[test]
fn a_restore_reads_through_to_hq_and_serve_runs_its_sync_entries() {
    let Some((mut s, _disk)) = sites_with_image(97, 16, &[]) else {
        return;
    };
    let site_store = s.site.data_dir.join("store");
    // The site reads through to hq, and pulls on no schedule.
    let config = s.site.dir.path().join("marrow.toml");
    std::fs::write(
        &config,
        // The background pull is held to 8 Mbit/s: most chunks come on
        // demand, as the client asks.
        "[[sync]]\nfrom = \"hq\"\nevery = \"off\"\nbandwidth = \"8M\"\nread_through = true\n",
    )
    .unwrap();
    s.site.stop_marrow();
    s.site
        .start_marrow(&["--dhcp", "off", "--config", config.to_str().unwrap()]);
    assert!(chunk_files(&site_store).is_empty());

    // A restore task for an image the site has never pulled.
    let created = marrow_json(
        &s.site,
        &[
            "task",
            "restore",
            "--host",
            "52:54:00:97:00:01",
            "--image",
            "golden",
            "--show-token",
            "--json",
        ],
    );
    let token = created["token"].as_str().unwrap();
    let target = blank(s.site.dir.path(), "target.img", 96);
    let client = marrow_tests::workspace_bin("marrow-client");
    let mut cmd: Command = s.site.ns.command(client.to_str().unwrap());
    cmd.args(["restore", "--json", "--server"])
        .arg(format!("http://{}:8080", s.site.server_ip))
        .arg("--disk")
        .arg(&target)
        .env("MARROW_TOKEN", token);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "restore through the site failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.site.marrow_log()
    );
    assert_windows_like_disk(&target, "golden", 16);
    let on_demand = s.site.http_get(8080, "/metrics");
    let on_demand: u64 = on_demand
        .lines()
        .find_map(|l| l.strip_prefix("marrow_read_through_chunks_total "))
        .and_then(|n| n.trim().parse().ok())
        .expect("read-through counter");
    eprintln!("read-through: {on_demand} chunks fetched on demand");
    assert!(on_demand > 0);
    // The site keeps what it fetched, and once the background pull has
    // the rest the version is published here.
    let start = Instant::now();
    while listed(&s.site).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "never published"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        chunk_ids(&site_store),
        chunk_ids(&s.hq.data_dir.join("store"))
    );
    assert_eq!(listed(&s.site)[0]["id"], listed(&s.hq)[0]["id"]);
    marrow_ok(&s.site, &["store", "check"]);

    // A restore of an image neither site has is refused when its host
    // claims it, naming the image.
    let created = marrow_json(
        &s.site,
        &[
            "task",
            "restore",
            "--host",
            "52:54:00:97:00:02",
            "--image",
            "nowhere",
            "--show-token",
            "--json",
        ],
    );
    let mut cmd: Command = s.site.ns.command(client.to_str().unwrap());
    cmd.args(["restore", "--json", "--server"])
        .arg(format!("http://{}:8080", s.site.server_ip))
        .arg("--disk")
        .arg(&target)
        .env("MARROW_TOKEN", created["token"].as_str().unwrap());
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let task = marrow_json(
        &s.site,
        &["task", "show", &created["id"].to_string(), "--json"],
    );
    let error = task["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("nowhere") && error.contains("read-through"),
        "{task}"
    );

    // A scheduled entry: serve pulls a new image at hq by itself, and
    // sync status says how the pull went.
    let disk = windows_like_disk(s.hq.dir.path(), "second.img", "second", 88, 8);
    capture(&s.hq, &disk, "second");
    std::fs::write(
        &config,
        "[[sync]]\nfrom = \"hq\"\nimages = \"sec*\"\nevery = \"1d\"\n",
    )
    .unwrap();
    // The last run so far is the read-through's background pull, done
    // just now; a 1d entry would wait a day after it.
    let before = marrow_json(&s.site, &["sync", "status", "--json"])[0]["last_run"]["id"].clone();
    assert_eq!(
        marrow_json(&s.site, &["sync", "status", "--json"])[0]["last_run"]["state"],
        "done"
    );
    let db = s.site.data_dir.join("marrow.db");
    sh(&format!(
        "sqlite3 {} \"UPDATE sync_runs SET started = started - 90000\"",
        db.display()
    ));
    s.site.stop_marrow();
    s.site
        .start_marrow(&["--dhcp", "off", "--config", config.to_str().unwrap()]);
    let start = Instant::now();
    loop {
        let status = marrow_json(&s.site, &["sync", "status", "--json"]);
        let run = &status[0]["last_run"];
        if run["id"] != before && run["state"] == "done" && run["published"] == 1 {
            assert!(
                status[0]["last_run"]["bytes"].as_u64().unwrap() > 0,
                "{status}"
            );
            assert_eq!(status[0]["read_through"], false, "{status}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no scheduled pull: {status}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let names: Vec<Value> = listed(&s.site).iter().map(|v| v["name"].clone()).collect();
    assert!(names.contains(&Value::from("second")), "{names:?}");
    // A config naming a site the server does not know stops it at start.
    std::fs::write(&config, "[[sync]]\nfrom = \"nosuch\"\n").unwrap();
    s.site.stop_marrow();
    let out = marrow_in(
        &s.site,
        &[
            "serve",
            "--interface",
            "br0",
            "--dhcp",
            "off",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("sync[0].from") && e.contains("nosuch"), "{e}");
}
