//! dnsmasq as another DHCP server on a lab's segment: in its own namespace
//! at `<net>.2`, like a corporate DHCP server on another machine.

use std::time::Duration;

use crate::lab::Lab;
use crate::netns::{unique_name, Netns};
use crate::process::Guarded;

/// dnsmasq as the address-only DHCP server for `<net>.50-90`.
pub fn start(lab: &Lab, net: &str) -> (Netns, Guarded) {
    let ns = Netns::new("mrd");
    let here = unique_name("vd");
    lab.ns.veth(&here, &ns, "d0");
    lab.ns.ip(&["link", "set", &here, "master", &lab.bridge]);
    ns.ip(&["addr", "add", &format!("{net}.2/24"), "dev", "d0"]);
    let dir = lab.dir.path();
    let mut cmd = ns.command("dnsmasq");
    cmd.args([
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        "--interface=d0",
        "--bind-interfaces",
    ]);
    cmd.arg(format!("--dhcp-range={net}.50,{net}.90,255.255.255.0,1h"));
    cmd.arg(format!(
        "--dhcp-leasefile={}",
        dir.join("dnsmasq.leases").display()
    ));
    cmd.arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()));
    cmd.args(["--user=root", "--no-ping", "--log-dhcp"]);
    let mut g = Guarded::spawn("dnsmasq", cmd, &dir.join("dnsmasq.log"));
    g.wait_for_log("DHCP, IP range", Duration::from_secs(10));
    (ns, g)
}
