//! Plain DHCP clients against `marrow serve --dhcp full`: a busybox udhcpc
//! lease that survives a server restart, and a client behind a relay agent
//! (ISC dhcrelay) answered through the relay on port 67.

use marrow_tests::lab::Lab;
use marrow_tests::netns::Netns;
use marrow_tests::{have, missing_root};

/// udhcpc's hook: print what was leased, configure nothing.
const HOOK: &str =
    "#!/bin/sh\n[ \"$1\" = bound ] && echo \"LEASE ip=$ip mask=$subnet router=$router\"\nexit 0\n";

fn client(lab: &Lab, mac: &str) -> Netns {
    let c = Netns::new("mrc");
    let here = marrow_tests::netns::unique_name("vc");
    lab.ns.veth(&here, &c, "eth0");
    lab.ns.ip(&["link", "set", &here, "master", &lab.bridge]);
    c.ip(&["link", "set", "eth0", "address", mac]);
    c
}

/// Runs udhcpc once (optionally asking for `requested`) and returns the
/// leased address.
fn lease(ns: &Netns, hook: &std::path::Path, requested: Option<&str>) -> String {
    let mut args = vec![
        "-i",
        "eth0",
        "-n",
        "-q",
        "-f",
        "-t",
        "5",
        "-T",
        "1",
        "-s",
        hook.to_str().unwrap(),
    ];
    if let Some(r) = requested {
        args.extend(["-r", r]);
    }
    let out = ns.output("udhcpc", &args);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .find(|l| l.starts_with("LEASE "))
        .unwrap_or_else(|| panic!("no lease:\n{text}"));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("ip="))
        .unwrap_or_else(|| panic!("no ip in {line}"))
        .to_string()
}

fn hook(lab: &Lab) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = lab.dir.path().join("udhcpc-hook");
    std::fs::write(&path, HOOK).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn udhcpc_lease_survives_a_server_restart() {
    if let Some(why) = missing_root() {
        eprintln!("skipping: {why}");
        return;
    }
    if !have("udhcpc") {
        eprintln!("skipping: udhcpc is not installed (scripts/install-deps installs it)");
        return;
    }
    let mut lab = Lab::new("10.81.0");
    let args = ["--dhcp", "full", "--dhcp-range", "10.81.0.100-10.81.0.120"];
    lab.start_marrow(&args);
    let hook = hook(&lab);
    let one = client(&lab, "02:00:00:81:00:01");
    let first = lease(&one, &hook, None);
    assert_eq!(first, "10.81.0.100");

    lab.stop_marrow();
    lab.start_marrow(&args);
    assert_eq!(
        lease(&one, &hook, None),
        first,
        "the same client gets its address back after a restart"
    );
    let two = client(&lab, "02:00:00:81:00:02");
    let second = lease(&two, &hook, Some(&first));
    assert_ne!(
        second, first,
        "another client asking for a leased address gets a different one"
    );
    let log = lab.marrow_log();
    assert!(log.contains("leases restored"), "{log}");
}

#[test]
fn relayed_client_is_answered_through_the_relay_on_port_67() {
    if let Some(why) = missing_root() {
        eprintln!("skipping: {why}");
        return;
    }
    for tool in ["udhcpc", "dhcrelay"] {
        if !have(tool) {
            eprintln!("skipping: {tool} is not installed (scripts/install-deps installs it)");
            return;
        }
    }
    // client ns (eth0) -- relay ns (r0 10.82.1.1 | r1 10.82.0.2) -- lab ns br0 10.82.0.1
    let mut lab = Lab::new("10.82.0");
    let relay = Netns::new("mrr");
    let up = marrow_tests::netns::unique_name("vr");
    lab.ns.veth(&up, &relay, "r1");
    lab.ns.ip(&["link", "set", &up, "master", &lab.bridge]);
    relay.ip(&["addr", "add", "10.82.0.2/24", "dev", "r1"]);
    lab.ns
        .ip(&["route", "add", "10.82.1.0/24", "via", "10.82.0.2"]);
    let cl = Netns::new("mrc");
    relay.veth("r0", &cl, "eth0");
    relay.ip(&["addr", "add", "10.82.1.1/24", "dev", "r0"]);
    cl.ip(&["link", "set", "eth0", "address", "02:00:00:82:00:01"]);

    let config = lab.dir.path().join("marrow.toml");
    std::fs::write(
        &config,
        "[dhcp]\nmode = \"full\"\nrange = \"10.82.1.100-10.82.1.120\"\nsubnet_mask = \"255.255.255.0\"\nrouter = \"10.82.1.1\"\n",
    )
    .unwrap();
    lab.start_marrow(&["--config", config.to_str().unwrap()]);
    let log = lab.dir.path().join("dhcrelay.log");
    let mut cmd = relay.command("dhcrelay");
    cmd.args(["-4", "-d", "-iu", "r1", "-id", "r0", "10.82.0.1"]);
    let _relay_proc = marrow_tests::process::Guarded::spawn("dhcrelay", cmd, &log);
    std::thread::sleep(std::time::Duration::from_millis(500));

    let hook = hook(&lab);
    let ip = lease(&cl, &hook, None);
    assert_eq!(ip, "10.82.1.100");
    let text = lab.marrow_log();
    assert!(
        text.contains("to=10.82.1.1:67") || text.contains("10.82.1.1:67"),
        "reply went to the relay:\n{text}"
    );
}
