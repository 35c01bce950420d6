//! `marrow-client dhcp` against dnsmasq, across a veth pair between two
//! network namespaces made for the test (no traffic leaves them).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Deletes the namespaces and stops dnsmasq even when the test fails.
struct Lab {
    server_ns: String,
    client_ns: String,
    dnsmasq: Option<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut d) = self.dnsmasq.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        for ns in [&self.server_ns, &self.client_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ready() -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("needs root for network namespaces".into());
    }
    for tool in ["ip", "dnsmasq"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output();
        if found.map_or(true, |o| !o.status.success()) {
            return Err(format!(
                "{tool} is not installed (scripts/install-deps installs it)"
            ));
        }
    }
    Ok(())
}

#[test]
fn dhcp_command_leases_and_configures_an_address_from_dnsmasq() {
    if let Err(why) = ready() {
        eprintln!("skipped: {why}");
        return;
    }
    // Unique per process and test, short enough for interface names (15).
    let tag = format!("{:x}", std::process::id() % 0xfffff);
    let mut lab = Lab {
        server_ns: format!("mdhs{tag}"),
        client_ns: format!("mdhc{tag}"),
        dnsmasq: None,
    };
    let (srv_if, cli_if) = (format!("vs{tag}"), format!("vc{tag}"));
    ip(&["netns", "add", &lab.server_ns]);
    ip(&["netns", "add", &lab.client_ns]);
    ip(&[
        "link", "add", &srv_if, "type", "veth", "peer", "name", &cli_if,
    ]);
    ip(&["link", "set", &srv_if, "netns", &lab.server_ns]);
    ip(&["link", "set", &cli_if, "netns", &lab.client_ns]);
    ip(&[
        "-n",
        &lab.server_ns,
        "addr",
        "add",
        "10.77.0.1/24",
        "dev",
        &srv_if,
    ]);
    ip(&["-n", &lab.server_ns, "link", "set", &srv_if, "up"]);

    lab.dnsmasq = Some(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.server_ns,
                "dnsmasq",
                "--no-daemon",
                "--port=0",
                "--bind-interfaces",
            ])
            .arg(format!("--interface={srv_if}"))
            .args([
                "--dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,1h",
                "--dhcp-option=3,10.77.0.1",
            ])
            .args([
                "--dhcp-option=6,10.77.0.53",
                "--no-ping",
                "--leasefile-ro",
                "--no-resolv",
                "--no-hosts",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq"),
    );
    std::thread::sleep(Duration::from_millis(500));

    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.client_ns,
            env!("CARGO_BIN_EXE_marrow-client"),
            "dhcp",
            "--interface",
            &cli_if,
        ])
        .args(["--timeout", "30", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lease: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let addr = lease["address"].as_str().unwrap().to_owned();
    assert!(addr.starts_with("10.77.0.1"), "{lease}");
    assert_eq!(lease["prefix_len"], 24);
    assert_eq!(lease["router"], "10.77.0.1");
    assert_eq!(lease["server_id"], "10.77.0.1");
    assert_eq!(lease["dns"], serde_json::json!(["10.77.0.53"]));
    assert_eq!(lease["lease_secs"], 3600);

    // The interface carries the address and the default route.
    let shown = Command::new("ip")
        .args(["-n", &lab.client_ns, "-4", "addr", "show", &cli_if])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&shown.stdout).contains(&format!("inet {addr}/24")));
    let routes = Command::new("ip")
        .args(["-n", &lab.client_ns, "route"])
        .output()
        .unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout);
    assert!(
        routes.contains(&format!("default via 10.77.0.1 dev {cli_if}")),
        "{routes}"
    );
}

#[test]
fn dhcp_command_gives_up_with_the_interface_named_when_nobody_answers() {
    if let Err(why) = ready() {
        eprintln!("skipped: {why}");
        return;
    }
    let tag = format!("{:x}", (std::process::id() + 1) % 0xfffff);
    let lab = Lab {
        server_ns: format!("mdqs{tag}"),
        client_ns: format!("mdqc{tag}"),
        dnsmasq: None,
    };
    let (srv_if, cli_if) = (format!("ws{tag}"), format!("wc{tag}"));
    ip(&["netns", "add", &lab.server_ns]);
    ip(&["netns", "add", &lab.client_ns]);
    ip(&[
        "link", "add", &srv_if, "type", "veth", "peer", "name", &cli_if,
    ]);
    ip(&["link", "set", &srv_if, "netns", &lab.server_ns]);
    ip(&["link", "set", &cli_if, "netns", &lab.client_ns]);
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.client_ns,
            env!("CARGO_BIN_EXE_marrow-client"),
            "dhcp",
            "--interface",
            &cli_if,
        ])
        .args(["--timeout", "2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("no DHCP lease on {cli_if}")) && err.contains("within 2 s"),
        "{err}"
    );
}
