//! Are the service's ports free, or held by Marrow itself?

use std::path::Path;

use super::proc_net::{self, TCP_LISTEN};
use super::Finding;
use crate::serve::config::{Config, DhcpMode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

/// Who holds a port: `None` when it is free; a holder whose process could
/// not be seen (another user's, without root) has no name.
pub type Holder = Option<(u32, String)>;

pub fn check(config: &Config) -> Vec<Finding> {
    let mut wanted = Vec::new();
    if config.dhcp_mode != DhcpMode::Off {
        wanted.push((67, Proto::Udp, "DHCP"));
        wanted.push((4011, Proto::Udp, "PXE boot server"));
    }
    wanted.push((config.tftp_port, Proto::Udp, "TFTP"));
    wanted.push((config.http_port, Proto::Tcp, "HTTP"));
    let udp = proc_net::parse(&std::fs::read_to_string("/proc/net/udp").unwrap_or_default());
    let tcp = proc_net::parse(&std::fs::read_to_string("/proc/net/tcp").unwrap_or_default());
    wanted
        .into_iter()
        .map(|(port, proto, what)| {
            let sockets = match proto {
                Proto::Udp => &udp,
                Proto::Tcp => &tcp,
            };
            let holders: Vec<Holder> = sockets
                .iter()
                .filter(|s| s.local_port == port && (proto == Proto::Udp || s.state == TCP_LISTEN))
                .map(|s| proc_net::owner(Path::new("/proc"), s.inode))
                .collect();
            judge(port, proto, what, &holders)
        })
        .collect()
}

/// The finding for one port given the processes that hold it.
pub fn judge(port: u16, proto: Proto, what: &str, holders: &[Holder]) -> Finding {
    let check = format!(
        "port {port}/{}",
        match proto {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    );
    let other = holders
        .iter()
        .find(|h| h.as_ref().is_none_or(|(_, comm)| comm != "marrow"));
    match (holders.is_empty(), other) {
        (true, _) => Finding::ok(check, format!("{what}: free")),
        (false, None) => {
            let (pid, _) = holders[0].as_ref().expect("marrow holders have names");
            Finding::ok(check, format!("{what}: held by marrow (pid {pid})"))
        }
        (false, Some(Some((pid, comm)))) => Finding::fail(
            check,
            format!("{what}: held by {comm} (pid {pid})"),
            match port {
                67 | 4011 => format!(
                    "stop {comm} on this host, or run Marrow on another; PXE needs this port"
                ),
                _ => format!("stop {comm}, or give Marrow another port in the configuration"),
            },
        ),
        (false, Some(None)) => Finding::warn(
            check,
            format!("{what}: in use by a process this user cannot see"),
            "run marrow doctor as root to name it",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn ports_are_judged_by_who_holds_them() {
        let free = judge(69, Proto::Udp, "TFTP", &[]);
        assert_eq!(free.line(), "ok   port 69/udp: TFTP: free");
        let ours = judge(67, Proto::Udp, "DHCP", &[Some((42, "marrow".into()))]);
        assert_eq!(ours.status, Status::Ok);
        assert!(ours.detail.contains("pid 42"));
        let taken = judge(
            67,
            Proto::Udp,
            "DHCP",
            &[Some((42, "marrow".into())), Some((7, "dnsmasq".into()))],
        );
        assert_eq!(taken.status, Status::Fail);
        assert!(
            taken.line().contains("held by dnsmasq (pid 7)"),
            "{}",
            taken.line()
        );
        let web = judge(8080, Proto::Tcp, "HTTP", &[Some((9, "nginx".into()))]);
        assert!(web.fix.unwrap().contains("another port"));
        let hidden = judge(8080, Proto::Tcp, "HTTP", &[None]);
        assert_eq!(hidden.status, Status::Warn);
    }
}
