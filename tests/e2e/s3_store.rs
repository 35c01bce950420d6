//! The chunk store on S3: a one-node Garage in the site's namespace, and
//! `store = "s3://marrow/site"` in the site's marrow.toml. The image
//! round trips (capture, verify, restore, a delta restore, a corrupt
//! chunk named, delete and gc, check), a pull from hq into it, and a
//! shell-mode restore task that `marrow serve` feeds from it.

use std::path::Path;
use std::process::{Command, Output};

use marrow_tests::disks::{
    add_file, assert_windows_like_disk, blank, sh, tools_missing, windows_like_disk,
};
use marrow_tests::garage::{self, Garage};
use marrow_tests::lab::Lab;
use marrow_tests::sites::{capture, marrow_in, marrow_json, marrow_ok, Sites};
use serde_json::Value;

/// `ARGS` after `--config C`: the commands on the S3 store.
fn with_config<'a>(config: &'a Path, args: &[&'a str]) -> Vec<&'a str> {
    [
        &["--config", config.to_str().expect("utf-8 path")][..],
        args,
    ]
    .concat()
}

/// `marrow --data-dir D --config C ARGS` in the lab's namespace.
fn marrow_s3(lab: &Lab, config: &Path, args: &[&str]) -> Output {
    marrow_in(lab, &with_config(config, args))
}

fn ok(lab: &Lab, config: &Path, args: &[&str]) -> String {
    marrow_ok(lab, &with_config(config, args))
}

fn json(lab: &Lab, config: &Path, args: &[&str]) -> Value {
    marrow_json(lab, &with_config(config, args))
}

/// Runs a script in the lab's namespace with the Garage keys for curl's
/// SigV4 (`$S3`: the bucket's URL, `$CREDS`: key:secret, `$EMPTY`: the
/// SHA-256 of no body, which Garage wants in `x-amz-content-sha256`).
fn s3_sh(lab: &Lab, g: &Garage, script: &str) -> String {
    let out = lab.ns.output(
        "bash",
        &[
            "-euo",
            "pipefail",
            "-c",
            &format!(
                "S3={}/{}; CREDS={}:{}; SIG=aws:amz:garage:s3\n\
                 EMPTY=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n{script}",
                g.endpoint,
                garage::BUCKET,
                g.key_id,
                g.secret
            ),
        ],
    );
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn images_round_trip_sync_and_serve_on_a_garage_store() {
    if let Some(why) = marrow_tests::missing_root()
        .or_else(tools_missing)
        .or_else(garage::missing)
    {
        eprintln!("skipping: {why}");
        return;
    }
    let mut s = Sites::new(98, &[], &[]);
    let g = Garage::start(&s.site.dir.path().join("garage"), Some(&s.site.ns));
    let cfg = s.site.dir.path().join("marrow.toml");
    std::fs::write(&cfg, format!("store = \"s3://marrow/site\"\n{}", g.toml())).unwrap();
    let site = &s.site;
    let dir = site.dir.path().to_path_buf();

    // Capture, verify and restore, all on the S3 store.
    let disk = windows_like_disk(&dir, "disk.img", "s3", 104, 24);
    let first = json(
        site,
        &cfg,
        &[
            "image",
            "capture",
            disk.to_str().unwrap(),
            "--name",
            "golden",
            "--json",
        ],
    );
    assert!(first["new_chunks"].as_u64().unwrap() > 0, "{first}");
    ok(site, &cfg, &["image", "verify", "golden"]);
    let target = blank(&dir, "target.img", 104);
    ok(
        site,
        &cfg,
        &["image", "restore", "golden", target.to_str().unwrap()],
    );
    assert_windows_like_disk(&target, "s3", 24);
    let listed = json(site, &cfg, &["image", "list", "--json"]);
    assert_eq!(listed[0]["name"], "golden", "{listed}");

    // A second version stores little, and a delta restore over the first
    // writes little.
    add_file(&disk, "new.bin", 4);
    let second = json(
        site,
        &cfg,
        &[
            "image",
            "capture",
            disk.to_str().unwrap(),
            "--name",
            "golden",
            "--json",
        ],
    );
    assert!(
        second["new_bytes"].as_u64().unwrap() < first["new_bytes"].as_u64().unwrap() / 3,
        "{second}"
    );
    let delta = json(
        site,
        &cfg,
        &[
            "image",
            "restore",
            "golden",
            target.to_str().unwrap(),
            "--json",
        ],
    );
    eprintln!("delta restore from S3: {delta}");
    sh(&format!("cmp {} {}", disk.display(), target.display()));
    ok(site, &cfg, &["store", "check"]);

    // A chunk changed in the bucket is named by verify.
    let key = s3_sh(
        site,
        &g,
        r#"curl -sfS -H "x-amz-content-sha256: $EMPTY" --aws-sigv4 "$SIG" --user "$CREDS" "$S3?list-type=2&prefix=site%2Fchunks%2F" | grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g' | tail -1"#,
    );
    let key = key.trim().to_string();
    let id = key.rsplit('/').next().unwrap().to_string();
    s3_sh(
        site,
        &g,
        &format!(
            r#"curl -sfS -H "x-amz-content-sha256: $EMPTY" --aws-sigv4 "$SIG" --user "$CREDS" "$S3/{key}" -o {d}/chunk
python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[len(b)//2]^=0x40; open(sys.argv[1]+".bad","wb").write(b)' {d}/chunk
H=$(sha256sum {d}/chunk.bad | cut -d' ' -f1)
curl -sfS -H "x-amz-content-sha256: $H" --aws-sigv4 "$SIG" --user "$CREDS" -X PUT --data-binary @{d}/chunk.bad "$S3/{key}""#,
            d = dir.display()
        ),
    );
    let out = marrow_s3(site, &cfg, &["image", "verify", "golden"]);
    let check = marrow_s3(site, &cfg, &["store", "check"]);
    s3_sh(
        site,
        &g,
        &format!(
            r#"H=$(sha256sum {d}/chunk | cut -d' ' -f1)
curl -sfS -H "x-amz-content-sha256: $H" --aws-sigv4 "$SIG" --user "$CREDS" -X PUT --data-binary @{d}/chunk "$S3/{key}""#,
            d = dir.display()
        ),
    );
    let e = String::from_utf8_lossy(&check.stderr).into_owned()
        + &String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success() && e.contains(&id), "{e}");
    if !out.status.success() {
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains(&id[..12]) || e.contains(&id), "{e}");
    }

    // Delete the first version, gc: the second stays whole.
    let versions = ok(site, &cfg, &["image", "inspect", "golden", "--json"]);
    let latest: Value = serde_json::from_str(&versions).unwrap();
    let history = json(site, &cfg, &["image", "list", "--json"]);
    assert_eq!(history[0]["versions"], 2, "{history}");
    let first_id = first["image"].as_str().unwrap();
    ok(
        site,
        &cfg,
        &["image", "delete", &format!("golden@{}", &first_id[..12])],
    );
    let gc = json(site, &cfg, &["store", "gc", "--json"]);
    assert!(gc["removed_chunks"].as_u64().unwrap() > 0, "{gc}");
    ok(site, &cfg, &["image", "verify", "golden"]);
    ok(site, &cfg, &["store", "check"]);
    assert_eq!(latest["image"], second["image"]);

    // A pull from hq lands in the S3 store, verified, and restores the
    // same disk as hq's own store does.
    let hq_disk = windows_like_disk(s.hq.dir.path(), "hq.img", "hq", 96, 16);
    capture(&s.hq, &hq_disk, "fleet");
    let pulled = json(site, &cfg, &["sync", "pull", "--from", "hq", "--json"]);
    assert_eq!(pulled["published"].as_array().unwrap().len(), 1, "{pulled}");
    let from_s3 = blank(&dir, "fleet-site.img", 96);
    ok(
        site,
        &cfg,
        &["image", "restore", "fleet", from_s3.to_str().unwrap()],
    );
    let from_hq = blank(s.hq.dir.path(), "fleet-hq.img", 96);
    marrow_ok(
        &s.hq,
        &["image", "restore", "fleet", from_hq.to_str().unwrap()],
    );
    sh(&format!("cmp {} {}", from_s3.display(), from_hq.display()));

    // marrow serve on the S3 store: a shell-mode restore task is fed from
    // it over the client API.
    s.site.stop_marrow();
    s.site
        .start_marrow(&["--dhcp", "off", "--config", cfg.to_str().unwrap()]);
    let created = marrow_json(
        &s.site,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "task",
            "restore",
            "--host",
            "52:54:00:98:00:01",
            "--image",
            "fleet",
            "--show-token",
            "--json",
        ],
    );
    let target = blank(&dir, "served.img", 96);
    let client = marrow_tests::workspace_bin("marrow-client");
    let mut cmd: Command = s.site.ns.command(client.to_str().unwrap());
    cmd.args(["restore", "--json", "--server"])
        .arg(format!("http://{}:8080", s.site.server_ip))
        .arg("--disk")
        .arg(&target)
        .env("MARROW_TOKEN", created["token"].as_str().unwrap());
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "restore served from S3 failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.site.marrow_log()
    );
    sh(&format!("cmp {} {}", target.display(), from_hq.display()));
}
