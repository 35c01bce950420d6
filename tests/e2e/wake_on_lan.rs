//! Wake-on-LAN on the wire: `host wake` by name (at the server's shell),
//! by group (through the admin API), and `task capture --wake`, captured
//! by tcpdump on a machine's side of the segment and checked byte by byte.

use std::time::{Duration, Instant};

use marrow_tests::lab::Lab;
use marrow_tests::process::Guarded;
use marrow_tests::{missing_root, room};

/// The UDP payloads of a pcap file (Ethernet, IPv4 without options or
/// with, UDP), with their destination address and port.
fn udp_payloads(pcap: &[u8]) -> Vec<([u8; 4], u16, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 24; // the global header
    while at + 16 <= pcap.len() {
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &pcap[at + 16..(at + 16 + caplen).min(pcap.len())];
        at += 16 + caplen;
        if frame.len() < 14 + 20 + 8 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0F) * 4;
        if ip[9] != 17 || ip.len() < ihl + 8 {
            continue;
        }
        let dst = [ip[16], ip[17], ip[18], ip[19]];
        let udp = &ip[ihl..];
        let port = u16::from_be_bytes([udp[2], udp[3]]);
        out.push((dst, port, udp[8..].to_vec()));
    }
    out
}

fn magic(mac: &str) -> Vec<u8> {
    let bytes: Vec<u8> = mac
        .split(':')
        .map(|o| u8::from_str_radix(o, 16).unwrap())
        .collect();
    let mut p = vec![0xFF; 6];
    for _ in 0..16 {
        p.extend_from_slice(&bytes);
    }
    p
}

#[test]
fn magic_packets_reach_the_segment_by_name_group_and_task() {
    if let Some(why) = missing_root() {
        eprintln!("skipping: {why}");
        return;
    }
    let mut lab = Lab::new("10.89.0");
    lab.start_marrow(&["--dhcp", "off"]);
    let machine = room::receivers(&lab, 1, 0x89).remove(0);
    for (mac, name, group) in [
        ("52:54:00:89:00:01", "lab-01", "room-b"),
        ("52:54:00:89:00:02", "lab-02", "room-b"),
        ("52:54:00:89:00:03", "lab-03", ""),
    ] {
        lab.marrow_cli(&["host", "add", mac, "--name", name, "--group", group]);
    }
    let pcap = lab.dir.path().join("wol.pcap");
    let log = lab.dir.path().join("tcpdump.log");
    let mut cmd = machine.ns.command("tcpdump");
    cmd.args(["-i", "eth0", "-n", "-U", "-w"])
        .arg(&pcap)
        .args(["udp", "port", "9"]);
    let mut tcpdump = Guarded::spawn("tcpdump", cmd, &log);
    tcpdump.wait_for_log("listening on", Duration::from_secs(20));

    let bin = marrow_tests::workspace_bin("marrow");
    let bin = bin.to_str().unwrap();
    // At the server's shell (inside the lab, where br0 is).
    let out = lab
        .ns
        .command(bin)
        .arg("--data-dir")
        .arg(&lab.data_dir)
        .args(["host", "wake", "lab-03"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim(),
        "woke 52:54:00:89:00:03 (lab-03) on br0 (10.89.0.255:9)"
    );
    // Through the API, as an operator; a viewer is refused.
    let token = |role: &str| {
        let out = lab.marrow_cli(&["token", "create", "--role", role, "--json"]);
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let url = format!("http://{}:8080", lab.server_ip);
    let remote = |t: &str, args: &[&str]| {
        lab.ns
            .command(bin)
            .args(["--server", &url, "--token", t])
            .args(args)
            .output()
            .unwrap()
    };
    let out = remote(&token("viewer"), &["host", "wake", "--group", "room-b"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("role viewer"));
    let out = remote(
        &token("operator"),
        &["host", "wake", "--group", "room-b", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["hosts"].as_array().unwrap().len(), 2, "{report}");
    let out = remote(&token("operator"), &["host", "wake", "--group", "room-z"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("room-z"));
    // A task that wakes its host when it is made.
    let out = lab
        .ns
        .command(bin)
        .arg("--data-dir")
        .arg(&lab.data_dir)
        .args([
            "task",
            "capture",
            "--host",
            "52:54:00:89:00:04",
            "--image",
            "x",
            "--wake",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().next(), Some("1"), "{stdout}");
    assert!(stdout.contains("woke 52:54:00:89:00:04 on br0"), "{stdout}");

    // Three copies for each of the four hosts (a lost packet leaves a
    // machine off).
    let want = 12;
    let deadline = Instant::now() + Duration::from_secs(20);
    let packets = loop {
        let p = udp_payloads(&std::fs::read(&pcap).unwrap_or_default());
        if p.len() >= want || Instant::now() > deadline {
            break p;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    tcpdump.stop();
    assert_eq!(packets.len(), want, "{packets:?}");
    for mac in [
        "52:54:00:89:00:01",
        "52:54:00:89:00:02",
        "52:54:00:89:00:03",
        "52:54:00:89:00:04",
    ] {
        let m = magic(mac);
        let copies = packets
            .iter()
            .filter(|(dst, port, payload)| *dst == [10, 89, 0, 255] && *port == 9 && *payload == m)
            .count();
        assert_eq!(copies, 3, "{mac}");
    }
    let audit = lab.marrow_cli(&["audit", "--json"]);
    let rows: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let wakes: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "host.wake")
        .map(|r| {
            (
                r["actor"]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_string(),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(wakes.len(), 4, "{wakes:?}");
    assert!(
        wakes
            .iter()
            .any(|(a, o)| a == "token" && o.starts_with("failed")),
        "{wakes:?}"
    );
}
