//! Plain DHCP clients against `marrow serve --dhcp full`: a busybox udhcpc
//! lease that survives a server restart, a client behind a relay agent
//! (ISC dhcrelay) answered through the relay on port 67, and clients of two
//! relayed subnets served from the pools of their subnets.

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
    lease_field(ns, hook, requested, "ip")
}

/// Runs udhcpc once and returns one field of what it leased (`ip`, `mask`
/// or `router`).
fn lease_field(ns: &Netns, hook: &std::path::Path, requested: Option<&str>, field: &str) -> String {
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
    let prefix = format!("{field}=");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {field} in {line}"))
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

/// A UEFI HTTP boot client (vendor class `HTTPClient`, arch 16), played by
/// udhcpc with those options: it is offered an `http://` URL with vendor
/// class `HTTPClient` echoed, and the URL serves Debian's ipxe.efi.
#[test]
fn http_boot_client_is_offered_a_url_that_serves_ipxe_efi() {
    if let Some(why) = missing_root() {
        eprintln!("skipping: {why}");
        return;
    }
    if !have("udhcpc") {
        eprintln!("skipping: udhcpc is not installed (scripts/install-deps installs it)");
        return;
    }
    let mut lab = Lab::new("10.88.0");
    lab.start_marrow(&["--dhcp", "full", "--dhcp-range", "10.88.0.100-10.88.0.120"]);
    let hook = lab.dir.path().join("hook");
    std::fs::write(
        &hook,
        "#!/bin/sh\n[ \"$1\" = bound ] && echo \"BOOTFILE=$boot_file\"\nexit 0\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("755")
        .arg(&hook)
        .status()
        .unwrap();
    let c = client(&lab, "02:00:00:88:00:01");
    let out = c.output(
        "udhcpc",
        &[
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
            "-V",
            "HTTPClient:Arch:00016:UNDI:003001",
            "-x",
            "0x5d:0010",
            "-O",
            "bootfile",
        ],
    );
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let url = text
        .lines()
        .find_map(|l| l.strip_prefix("BOOTFILE="))
        .unwrap_or_else(|| panic!("no boot file offered:\n{text}\n{}", lab.marrow_log()))
        .to_string();
    assert_eq!(url, "http://10.88.0.1:8080/tftp/ipxe.efi");
    // The hook configures nothing; give the client an address to fetch with.
    c.ip(&["addr", "add", "10.88.0.121/24", "dev", "eth0"]);
    let body = c.output("curl", &["-sS", "-f", &url]);
    assert!(
        body.status.success(),
        "GET {url}: {}",
        String::from_utf8_lossy(&body.stderr)
    );
    assert!(
        body.stdout == std::fs::read("/usr/lib/ipxe/ipxe.efi").unwrap(),
        "{url} is ipxe.efi"
    );
    let hosts = lab.marrow_cli(&["host", "list", "--json"]);
    assert!(hosts.contains("http-x64"), "{hosts}");
}

/// `[[dhcp.pool]]`: one dhcrelay serves two client subnets, and each client
/// gets an address, mask and router from the pool of its relay's subnet
/// (RFC 2131 §4.3.1); the router defaults to the relay's address. A client
/// on the server's own segment, which (as udhcpc does) does not ask for
/// broadcast replies, is answered by unicast to its new address (§4.1).
#[test]
fn relayed_subnets_get_their_own_pools_and_local_offers_are_unicast() {
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
    // clients a, b -- relay ns (r0 10.83.1.1, r2 10.83.2.1 | r1 10.83.0.2)
    // -- lab ns br0 10.83.0.1, where client c sits too.
    let mut lab = Lab::new("10.83.0");
    let relay = Netns::new("mrr");
    let up = marrow_tests::netns::unique_name("vr");
    lab.ns.veth(&up, &relay, "r1");
    lab.ns.ip(&["link", "set", &up, "master", &lab.bridge]);
    relay.ip(&["addr", "add", "10.83.0.2/24", "dev", "r1"]);
    let a = Netns::new("mrc");
    relay.veth("r0", &a, "eth0");
    relay.ip(&["addr", "add", "10.83.1.1/24", "dev", "r0"]);
    a.ip(&["link", "set", "eth0", "address", "02:00:00:83:01:01"]);
    let b = Netns::new("mrc");
    relay.veth("r2", &b, "eth0");
    relay.ip(&["addr", "add", "10.83.2.1/24", "dev", "r2"]);
    b.ip(&["link", "set", "eth0", "address", "02:00:00:83:02:01"]);
    for net in ["10.83.1.0/24", "10.83.2.0/24"] {
        lab.ns.ip(&["route", "add", net, "via", "10.83.0.2"]);
    }

    let config = lab.dir.path().join("marrow.toml");
    std::fs::write(
        &config,
        r#"[dhcp]
mode = "full"
range = "10.83.0.100-10.83.0.120"

[[dhcp.pool]]
subnet = "10.83.1.0/24"
range = "10.83.1.50-10.83.1.60"

[[dhcp.pool]]
subnet = "10.83.2.0/24"
range = "10.83.2.70-10.83.2.80"
router = "10.83.2.254"
"#,
    )
    .unwrap();
    lab.start_marrow(&["--config", config.to_str().unwrap()]);
    let log = lab.dir.path().join("dhcrelay.log");
    let mut cmd = relay.command("dhcrelay");
    cmd.args([
        "-4",
        "-d",
        "-iu",
        "r1",
        "-id",
        "r0",
        "-id",
        "r2",
        "10.83.0.1",
    ]);
    let _relay_proc = marrow_tests::process::Guarded::spawn("dhcrelay", cmd, &log);
    std::thread::sleep(std::time::Duration::from_millis(500));

    let hook = hook(&lab);
    assert_eq!(lease(&a, &hook, None), "10.83.1.50");
    assert_eq!(
        lease_field(&a, &hook, None, "router"),
        "10.83.1.1",
        "the relay's address"
    );
    assert_eq!(lease_field(&a, &hook, None, "mask"), "255.255.255.0");
    assert_eq!(lease(&b, &hook, None), "10.83.2.70");
    assert_eq!(lease_field(&b, &hook, None, "router"), "10.83.2.254");

    let c = client(&lab, "02:00:00:83:00:01");
    assert_eq!(lease(&c, &hook, None), "10.83.0.100");
    let text = lab.marrow_log();
    assert!(
        text.contains("to=10.83.0.100:68"),
        "offer unicast to yiaddr:\n{text}"
    );
    let neigh = lab.ns.output("ip", &["neigh", "show", "10.83.0.100"]);
    let neigh = String::from_utf8_lossy(&neigh.stdout);
    assert!(
        neigh.contains("02:00:00:83:00:01"),
        "the server bound the new address to the client's MAC: {neigh}"
    );
}

/// Under systemd (`JOURNAL_STREAM` set), `marrow serve` logs to journald
/// natively, with its fields as journal fields. A real systemd-journald
/// runs in a private mount and PID namespace (its sockets on a tmpfs over
/// /run/systemd, its files in the test's folder), so nothing of the host's
/// journal is touched and everything dies with the namespace.
#[test]
fn serve_logs_to_journald_with_the_client_mac_as_a_field() {
    if let Some(why) = missing_root() {
        eprintln!("skipping: {why}");
        return;
    }
    let journald = std::path::Path::new("/lib/systemd/systemd-journald");
    for tool in ["udhcpc", "unshare", "journalctl"] {
        if !have(tool) || !journald.exists() {
            eprintln!("skipping: {tool} or systemd-journald is not installed");
            return;
        }
    }
    let lab = Lab::new("10.88.0");
    let logs = lab.dir.path().join("log");
    std::fs::create_dir_all(&logs).unwrap();
    let marrow = marrow_tests::workspace_bin("marrow");
    let script = format!(
        "set -e\n\
         mount -t tmpfs tmpfs /run/systemd\n\
         mkdir -p /run/systemd/journal /run/log\n\
         mount --bind {logs} /run/log\n\
         {journald} &\n\
         for i in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done\n\
         JOURNAL_STREAM=8:1 RUST_LOG=debug ip netns exec {ns} {marrow} --data-dir {data} serve \
           --interface {br} --dhcp full --dhcp-range 10.88.0.100-10.88.0.120\n",
        logs = logs.display(),
        journald = journald.display(),
        ns = lab.ns.name,
        marrow = marrow.display(),
        data = lab.data_dir.display(),
        br = lab.bridge,
    );
    let mut cmd = std::process::Command::new("unshare");
    // --kill-child: when unshare goes, its child (PID 1 of the new PID
    // namespace) is killed, and with it journald and marrow.
    cmd.args([
        "--pid",
        "--fork",
        "--kill-child",
        "--mount",
        "--propagation",
        "private",
    ])
    .args(["bash", "-c", &script]);
    let _served = marrow_tests::process::Guarded::spawn(
        "journald and marrow serve",
        cmd,
        &lab.dir.path().join("journal-serve.log"),
    );
    let journal = |filter: &[&str]| -> Vec<serde_json::Value> {
        let out = std::process::Command::new("journalctl")
            .arg("-D")
            .arg(logs.join("journal"))
            .args(["-o", "json", "--no-pager", "SYSLOG_IDENTIFIER=marrow"])
            .args(filter)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !journal(&[])
        .iter()
        .any(|e| e["MESSAGE"].as_str().unwrap_or("").contains("serving on"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "marrow never said it serves:\n{}",
            marrow_tests::process::read_lossy(&lab.dir.path().join("journal-serve.log"))
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    let hook = hook(&lab);
    let c = client(&lab, "02:00:00:88:00:01");
    assert_eq!(lease(&c, &hook, None), "10.88.0.100");
    let entries = journal(&["MAC=02:00:00:88:00:01"]);
    assert!(
        entries.iter().any(|e| e["MESSAGE"]
            .as_str()
            .is_some_and(|m| m.contains("DHCP ack"))
            && e["YIADDR"] == "10.88.0.100"
            && e["PRIORITY"] == "6"),
        "the ACK with MAC and YIADDR fields, at debug (6): {entries:#?}"
    );
}
