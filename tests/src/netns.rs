//! Network namespaces, bridges, taps and veth pairs for scenarios, each torn
//! down on drop (even when the test fails). Nothing here touches the host's
//! own interfaces: every link is created inside a namespace we made.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short name unique across parallel tests and processes: interface
/// names are limited to 15 bytes (IFNAMSIZ - 1).
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id() % 100_000;
    format!("{prefix}{pid}x{n}")
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A network namespace, deleted on drop with everything inside it.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(prefix: &str) -> Self {
        let name = unique_name(prefix);
        crate::interrupt::add_namespace(&name);
        run(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// A command to run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `ip ARGS` inside the namespace; panics with its output on failure.
    pub fn ip(&self, args: &[&str]) -> Output {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Runs a program inside the namespace and returns its output, whatever
    /// the exit status.
    pub fn output(&self, program: &str, args: &[&str]) -> Output {
        let mut c = self.command(program);
        c.args(args);
        c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"))
    }

    /// Creates a bridge with `addr` (CIDR) and brings it up.
    pub fn bridge(&self, name: &str, addr: &str) {
        self.ip(&["link", "add", name, "type", "bridge"]);
        // No STP forwarding delay: a PXE ROM gives up long before 15 s.
        self.ip(&[
            "link",
            "set",
            name,
            "type",
            "bridge",
            "forward_delay",
            "0",
            "stp_state",
            "0",
        ]);
        self.ip(&["addr", "add", addr, "brd", "+", "dev", name]);
        self.ip(&["link", "set", name, "up"]);
    }

    /// Creates a tap device enslaved to `bridge`, for QEMU's `-netdev tap`.
    pub fn tap(&self, name: &str, bridge: &str) {
        self.ip(&["tuntap", "add", "dev", name, "mode", "tap"]);
        self.ip(&["link", "set", name, "master", bridge]);
        self.ip(&["link", "set", name, "up"]);
    }

    /// A veth pair: `here` in this namespace, `there` in `other`.
    pub fn veth(&self, here: &str, other: &Netns, there: &str) {
        self.ip(&[
            "link",
            "add",
            here,
            "type",
            "veth",
            "peer",
            "name",
            there,
            "netns",
            &other.name,
        ]);
        self.ip(&["link", "set", here, "up"]);
        other.ip(&["link", "set", there, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        kill_inside(&self.name);
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        crate::interrupt::remove_namespace(&self.name);
    }
}

/// Kills every process inside namespace `name`: processes still inside
/// keep it alive after `ip netns del`.
pub fn kill_inside(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
    }
}
