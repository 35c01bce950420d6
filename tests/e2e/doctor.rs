//! `marrow doctor` on a lab segment, against real peers: dnsmasq answering
//! DHCP from another namespace, and tftp-hpa holding the TFTP port. First
//! it names both and exits non-zero; with them gone and `marrow serve`
//! running, every port is Marrow's own and it exits zero.

use std::time::Duration;

use marrow_tests::lab::Lab;
use marrow_tests::process::Guarded;
use marrow_tests::{have, missing_root};

/// Runs `marrow doctor --json` in the lab's namespace; returns its exit
/// status and findings.
fn doctor(lab: &Lab, dhcp: &str) -> (bool, Vec<serde_json::Value>) {
    let bin = marrow_tests::workspace_bin("marrow");
    let out = lab.ns.output(
        bin.to_str().unwrap(),
        &[
            "--data-dir",
            lab.data_dir.to_str().unwrap(),
            "doctor",
            "--interface",
            &lab.bridge,
            "--dhcp",
            dhcp,
            "--dhcp-range",
            "10.84.0.100-10.84.0.120",
            "--probe-secs",
            "2",
            "--json",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let findings: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "doctor --json: {e}\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), findings)
}

fn finding<'a>(findings: &'a [serde_json::Value], check: &str) -> &'a serde_json::Value {
    findings
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no {check} finding in {findings:#?}"))
}

#[test]
fn doctor_names_another_dhcp_server_and_a_taken_port_then_passes() {
    if let Some(why) = missing_root() {
        eprintln!("skipping: {why}");
        return;
    }
    for tool in ["dnsmasq", "in.tftpd"] {
        if !have(tool) {
            eprintln!("skipping: {tool} is not installed (scripts/install-deps installs it)");
            return;
        }
    }
    let mut lab = Lab::new("10.84.0");
    // What a PXE client is sent: present (the test does not boot them).
    let boot = lab.data_dir.join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    for f in ["vmlinuz", "initrd.img"] {
        std::fs::write(boot.join(f), b"placeholder").unwrap();
    }
    let (_dns_ns, mut dnsmasq) = marrow_tests::dnsmasq::start(&lab, "10.84.0");
    let tftp_root = lab.dir.path().join("tftp-hpa");
    std::fs::create_dir_all(&tftp_root).unwrap();
    let mut cmd = lab.ns.command("in.tftpd");
    cmd.args([
        "--foreground",
        "--listen",
        "--address",
        "10.84.0.1:69",
        "--secure",
    ])
    .arg(&tftp_root);
    let mut tftpd = Guarded::spawn("in.tftpd", cmd, &lab.dir.path().join("tftpd.log"));
    std::thread::sleep(Duration::from_millis(300));

    let (ok, findings) = doctor(&lab, "full");
    assert!(!ok, "broken set-up exits non-zero: {findings:#?}");
    let tftp = finding(&findings, "port 69/udp");
    assert_eq!(tftp["status"], "fail", "{tftp}");
    assert!(
        tftp["detail"].as_str().unwrap().contains("in.tftpd"),
        "{tftp}"
    );
    let dhcp = finding(&findings, &format!("dhcp on {}", lab.bridge));
    assert_eq!(dhcp["status"], "fail", "{dhcp}");
    assert!(
        dhcp["detail"].as_str().unwrap().contains("10.84.0.2"),
        "{dhcp}"
    );
    assert!(
        dhcp["fix"].as_str().unwrap().contains("--dhcp proxy"),
        "{dhcp}"
    );
    let (_, proxy) = doctor(&lab, "proxy");
    assert_eq!(
        finding(&proxy, &format!("dhcp on {}", lab.bridge))["status"],
        "ok",
        "proxy mode beside dnsmasq is right"
    );

    tftpd.stop();
    dnsmasq.stop();
    lab.start_marrow(&["--dhcp", "full", "--dhcp-range", "10.84.0.100-10.84.0.120"]);
    let (ok, findings) = doctor(&lab, "full");
    for port in [
        "port 67/udp",
        "port 4011/udp",
        "port 69/udp",
        "port 8080/tcp",
    ] {
        let f = finding(&findings, port);
        assert_eq!(f["status"], "ok", "{f}");
        assert!(
            f["detail"].as_str().unwrap().contains("held by marrow"),
            "{f}"
        );
    }
    let db = finding(&findings, "database");
    assert_eq!(db["status"], "ok", "{db}");
    assert!(ok, "a working set-up exits zero: {findings:#?}");
}
