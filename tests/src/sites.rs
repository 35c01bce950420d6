//! Two sites: "hq" and "site", each a [`Lab`] running `marrow serve` in
//! its own namespace, joined by a veth pair that stands for the WAN
//! (hq 192.168.250.1, site 192.168.250.2). The site trusts hq's key and
//! pins its certificate; the link can be cut with nftables and its bytes
//! read from the veth's counters.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::lab::Lab;
use crate::netns::unique_name;

pub const HQ_WAN: &str = "192.168.250.1";
pub const SITE_WAN: &str = "192.168.250.2";

pub struct Sites {
    pub hq: Lab,
    pub site: Lab,
    /// The veth's name on the site's side.
    pub wan: String,
    /// What the site was given: hq's key, certificate pin, sync token.
    pub key: String,
    pub fingerprint: String,
    pub token: String,
}

/// Runs `marrow --data-dir D ARGS` inside a lab's namespace.
pub fn marrow_in(lab: &Lab, args: &[&str]) -> Output {
    let bin = crate::workspace_bin("marrow");
    let mut cmd: Command = lab.ns.command(bin.to_str().expect("utf-8 path"));
    cmd.arg("--data-dir").arg(&lab.data_dir).args(args);
    cmd.output().expect("marrow runs")
}

/// As [`marrow_in`]; panics with stderr on failure, returns stdout.
pub fn marrow_ok(lab: &Lab, args: &[&str]) -> String {
    let out = marrow_in(lab, args);
    assert!(
        out.status.success(),
        "marrow {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `--json` output of a command that succeeds.
pub fn marrow_json(lab: &Lab, args: &[&str]) -> Value {
    let text = marrow_ok(lab, args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("marrow {args:?}: {e}: {text}"))
}

/// `marrow image capture DISK --name NAME --json` in a lab: its report.
pub fn capture(lab: &Lab, disk: &Path, name: &str) -> Value {
    let disk = disk.to_str().expect("utf-8 path");
    marrow_json(lab, &["image", "capture", disk, "--name", name, "--json"])
}

impl Sites {
    /// Both servers started (`serve_args` for each, after `--dhcp off`),
    /// the WAN link up, and the site told about hq. `tag` keeps the bridge
    /// networks of tests running side by side apart (10.<tag>.1.0/24 and
    /// 10.<tag>.2.0/24).
    pub fn new(tag: u8, hq_args: &[&str], site_args: &[&str]) -> Sites {
        let mut hq = Lab::new(&format!("10.{tag}.1"));
        let mut site = Lab::new(&format!("10.{tag}.2"));
        let (here, there) = (unique_name("wh"), unique_name("ws"));
        hq.ns.veth(&here, &site.ns, &there);
        hq.ns
            .ip(&["addr", "add", &format!("{HQ_WAN}/24"), "dev", &here]);
        site.ns
            .ip(&["addr", "add", &format!("{SITE_WAN}/24"), "dev", &there]);
        hq.start_marrow(&[&["--dhcp", "off"][..], hq_args].concat());
        site.start_marrow(&[&["--dhcp", "off"][..], site_args].concat());
        let keys = marrow_json(&hq, &["key", "show", "--json"]);
        let token = marrow_json(
            &hq,
            &[
                "token", "create", "--scope", "sync", "--name", "site", "--json",
            ],
        )["token"]
            .as_str()
            .expect("token")
            .to_string();
        let s = Sites {
            hq,
            site,
            wan: there,
            key: keys["key"].as_str().expect("key").to_string(),
            fingerprint: keys["fingerprint"]
                .as_str()
                .expect("fingerprint")
                .to_string(),
            token,
        };
        s.add_site(
            "hq",
            &s.token.clone(),
            &s.key.clone(),
            Some(&s.fingerprint.clone()),
        );
        s
    }

    /// `marrow site add NAME` at the site, for hq's TLS port.
    pub fn add_site(&self, name: &str, token: &str, key: &str, fingerprint: Option<&str>) {
        let url = format!("https://{HQ_WAN}:8443");
        let mut args = vec![
            "site", "add", name, "--url", &url, "--token", token, "--key", key,
        ];
        if let Some(f) = fingerprint {
            args.extend_from_slice(&["--fingerprint", f]);
        }
        marrow_ok(&self.site, &args);
    }

    /// `marrow sync pull --from hq ARGS --json` at the site: its report
    /// (also when it fails with refused versions), and whether it succeeded.
    pub fn pull(&self, args: &[&str]) -> (Value, Output) {
        let mut all = vec!["sync", "pull", "--from", "hq", "--json"];
        all.extend_from_slice(args);
        let out = marrow_in(&self.site, &all);
        let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (report, out)
    }

    /// As [`Sites::pull`], and it must succeed.
    pub fn pull_ok(&self, args: &[&str]) -> Value {
        let (report, out) = self.pull(args);
        assert!(
            out.status.success(),
            "sync pull failed: {}\n{report}",
            String::from_utf8_lossy(&out.stderr)
        );
        report
    }

    /// Bytes received and sent on the site's end of the WAN link.
    pub fn wan_bytes(&self) -> (u64, u64) {
        let out = self
            .site
            .ns
            .output("ip", &["-s", "-j", "link", "show", "dev", &self.wan]);
        let v: Value = serde_json::from_slice(&out.stdout).expect("ip -j link");
        let stats = &v[0]["stats64"];
        (
            stats["rx"]["bytes"].as_u64().expect("rx bytes"),
            stats["tx"]["bytes"].as_u64().expect("tx bytes"),
        )
    }

    /// Cuts (`true`) or restores the WAN: every packet in or out of the
    /// site's end of the link is dropped by nftables.
    pub fn cut(&self, cut: bool) {
        let ns = &self.site.ns;
        let _ = ns.output("nft", &["delete", "table", "inet", "marrowcut"]);
        if !cut {
            return;
        }
        let rules = format!(
            "table inet marrowcut {{
  chain input {{ type filter hook input priority 0; iifname \"{w}\" drop; }}
  chain output {{ type filter hook output priority 0; oifname \"{w}\" drop; }}
}}
",
            w = self.wan
        );
        let path = self.site.dir.path().join("cut.nft");
        std::fs::write(&path, rules).expect("write nft rules");
        let out = ns.output("nft", &["-f", path.to_str().expect("utf-8 path")]);
        assert!(
            out.status.success(),
            "nft: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A counter from hq's `/metrics`.
    pub fn hq_metric(&self, name: &str) -> u64 {
        let text = self.hq.http_get(8080, "/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not in /metrics"))
            .trim()
            .parse()
            .expect("a counter")
    }
}

/// The chunks a local store holds, by id. A store that packs keeps a
/// pointer file per chunk and the site a frame, so stores are compared by
/// the chunks they hold, not by their files' sizes.
pub fn chunk_ids(store: &Path) -> std::collections::BTreeSet<String> {
    chunk_files(store).into_keys().collect()
}

/// The chunk files in a local store, with their sizes.
pub fn chunk_files(store: &Path) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(dirs) = std::fs::read_dir(store.join("chunks")) else {
        return out;
    };
    for d in dirs.flatten() {
        for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.len() == 64 {
                out.insert(name, f.metadata().map(|m| m.len()).unwrap_or(0));
            }
        }
    }
    out
}
