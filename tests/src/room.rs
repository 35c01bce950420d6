//! A room for multicast scenarios: the server's lab namespace with its
//! bridge, and one namespace per receiver joined to the bridge by a veth
//! pair, with per-port loss from nftables on the bridge. The server sits
//! on the bridge device itself, so its frames leave through the bridge's
//! `output` hook, and receiver-to-receiver frames through `forward`: the
//! loss rule is in both.

use std::path::Path;
use std::process::Command;

use crate::lab::Lab;
use crate::netns::{unique_name, Netns};
use crate::process::Guarded;

pub struct Receiver {
    pub ns: Netns,
    /// Its veth end in the lab namespace, on the bridge.
    pub port: String,
    pub ip: String,
    pub mac: String,
}

/// `count` receivers at `<net>.11`, `.12`, … with MACs
/// `52:54:00:<tag>:00:01`, …
pub fn receivers(lab: &Lab, count: usize, tag: u8) -> Vec<Receiver> {
    (0..count)
        .map(|i| {
            let ns = Netns::new("mrx");
            let port = unique_name("vp");
            lab.ns.veth(&port, &ns, "eth0");
            lab.ns.ip(&["link", "set", &port, "master", &lab.bridge]);
            let ip = format!("{}.{}", lab.net, 11 + i);
            ns.ip(&[
                "addr",
                "add",
                &format!("{ip}/24"),
                "brd",
                "+",
                "dev",
                "eth0",
            ]);
            Receiver {
                ns,
                port,
                ip,
                mac: format!("52:54:00:{tag:02x}:00:{:02x}", i + 1),
            }
        })
        .collect()
}

/// Drops `pct` % of the UDP frames to `port` on the multicast port
/// (the session's frames; the HTTP path is left alone), replacing any
/// earlier rules. `rules` is (port, percent) pairs; none clears them.
pub fn set_loss(lab: &Lab, udp_port: u16, rules: &[(&str, u32)]) {
    let _ = lab
        .ns
        .output("nft", &["delete", "table", "bridge", "marrowloss"]);
    if rules.is_empty() {
        return;
    }
    let mut script = String::from("table bridge marrowloss {\n");
    for (chain, hook) in [("passing", "forward"), ("leaving", "output")] {
        script.push_str(&format!(
            "  chain {chain} {{\n    type filter hook {hook} priority 0; policy accept;\n"
        ));
        for (port, pct) in rules {
            script.push_str(&format!(
                "    oifname \"{port}\" udp dport {udp_port} numgen random mod 100 < {pct} drop\n"
            ));
        }
        script.push_str("  }\n");
    }
    script.push_str("}\n");
    let path = lab.dir.path().join("loss.nft");
    std::fs::write(&path, &script).expect("write nft rules");
    let out = lab
        .ns
        .output("nft", &["-f", path.to_str().expect("utf-8 path")]);
    assert!(
        out.status.success(),
        "nft -f:\n{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `marrow-client restore` for `token` onto `disk` in `r`'s
/// namespace; its output goes to `log`.
pub fn start_client(lab: &Lab, r: &Receiver, token: &str, disk: &Path, log: &Path) -> Guarded {
    let bin = crate::workspace_bin("marrow-client");
    let mut cmd: Command = r.ns.command(bin.to_str().expect("utf-8 path"));
    cmd.args(["restore", "--json", "--server"])
        .arg(format!("http://{}:8080", lab.server_ip))
        .arg("--disk")
        .arg(disk)
        .env("MARROW_TOKEN", token);
    Guarded::spawn("marrow-client restore", cmd, log)
}

/// True when the two files hold the same bytes.
pub fn same_bytes(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (mut fa, mut fb) = match (std::fs::File::open(a), std::fs::File::open(b)) {
        (Ok(x), Ok(y)) => (x, y),
        _ => return false,
    };
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = read_full(&mut fa, &mut ba);
        let nb = read_full(&mut fb, &mut bb);
        if na != nb || ba[..na] != bb[..nb] {
            return false;
        }
        if na == 0 {
            return true;
        }
    }

    fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() {
            match f.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) => panic!("reading a disk image: {e}"),
            }
        }
        n
    }
}
