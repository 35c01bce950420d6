//! Interface selection and robustness of `marrow serve`'s DHCP: with two
//! interfaces it asks which to use; a client on an interface that is not
//! configured gets no answer; garbage on port 67 is counted and ignored,
//! and the service keeps answering.

use std::process::Command;

use marrow_tests::lab::Lab;
use marrow_tests::netns::{unique_name, Netns};
use marrow_tests::{have, missing_root};

const HOOK: &str = "#!/bin/sh\n[ \"$1\" = bound ] && echo \"LEASE ip=$ip\"\nexit 0\n";

fn client_on(lab: &Lab, bridge: &str, mac: &str) -> Netns {
    let c = Netns::new("mrc");
    let here = unique_name("vi");
    lab.ns.veth(&here, &c, "eth0");
    lab.ns.ip(&["link", "set", &here, "master", bridge]);
    c.ip(&["link", "set", "eth0", "address", mac]);
    c
}

fn try_lease(ns: &Netns, hook: &std::path::Path) -> Option<String> {
    let out = ns.output(
        "udhcpc",
        &[
            "-i",
            "eth0",
            "-n",
            "-q",
            "-f",
            "-t",
            "3",
            "-T",
            "1",
            "-s",
            hook.to_str().unwrap(),
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("LEASE ip=").map(str::to_string))
}

#[test]
fn serves_only_the_configured_interface_and_survives_garbage() {
    if let Some(why) = missing_root() {
        eprintln!("skipping: {why}");
        return;
    }
    if !have("udhcpc") {
        eprintln!("skipping: udhcpc is not installed (scripts/install-deps installs it)");
        return;
    }
    let mut lab = Lab::new("10.85.0");
    lab.ns.bridge("br1", "10.85.1.1/24");

    // No --interface with two candidates: refuse and name both.
    let out = lab
        .ns
        .command(marrow_tests::workspace_bin("marrow").to_str().unwrap())
        .arg("--data-dir")
        .arg(&lab.data_dir)
        .arg("serve")
        .output()
        .expect("run marrow serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("br0 10.85.0.1") && err.contains("br1 10.85.1.1"),
        "{err}"
    );

    lab.start_marrow(&["--dhcp", "full", "--dhcp-range", "10.85.0.100-10.85.0.120"]);
    let hook = lab.dir.path().join("hook");
    std::fs::write(&hook, HOOK).unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&hook)
        .status()
        .unwrap();

    let outside = client_on(&lab, "br1", "02:00:00:85:01:01");
    assert_eq!(
        try_lease(&outside, &hook),
        None,
        "a client on br1 (not configured) is not answered"
    );

    // Garbage from a client on br0, straight at the DHCP port.
    let inside = client_on(&lab, "br0", "02:00:00:85:00:01");
    inside.ip(&["addr", "add", "10.85.0.77/24", "dev", "eth0"]);
    let junk = "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
                for p in [b'', b'\\x01', b'\\x01'*239, b'\\x01'*240, bytes(range(256))*2, b'\\x02'*300]:\n    \
                s.sendto(p, ('10.85.0.1', 67))\n";
    let sent = inside.output("python3", &["-c", junk]);
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    inside.ip(&["addr", "flush", "dev", "eth0"]);

    assert_eq!(
        try_lease(&inside, &hook).as_deref(),
        Some("10.85.0.100"),
        "still answering after garbage"
    );
    let metrics = lab.http_get(8080, "/metrics");
    let malformed: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("marrow_dhcp_malformed_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(malformed >= 6, "six garbage datagrams counted:\n{metrics}");
}
