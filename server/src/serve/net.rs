//! The interfaces the service listens on and their IPv4 addresses.

use std::net::Ipv4Addr;

use crate::error::{Error, Result};

/// A configured interface with its first IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u32,
}

impl Interface {
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::MAX.checked_shl(32 - self.prefix_len).unwrap_or(0))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::from(self.netmask());
        u32::from(ip) & mask == u32::from(self.ip) & mask
    }
}

/// Every interface that has an IPv4 address, in kernel order.
pub fn ipv4_interfaces() -> Result<Vec<Interface>> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| Error::Command {
        command: "getifaddrs".into(),
        detail: e.to_string(),
    })?;
    let mut out: Vec<Interface> = Vec::new();
    for a in addrs {
        let (Some(addr), Some(mask)) = (a.address, a.netmask) else {
            continue;
        };
        let (Some(addr), Some(mask)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) else {
            continue;
        };
        if out.iter().any(|i| i.name == a.interface_name) {
            continue;
        }
        out.push(Interface {
            name: a.interface_name.clone(),
            ip: addr.ip(),
            prefix_len: u32::from(mask.ip()).count_ones(),
        });
    }
    Ok(out)
}

/// The interfaces to serve: the named ones (each must exist with an IPv4
/// address), or, when none are named, the only non-loopback one.
pub fn choose(named: &[String], available: &[Interface]) -> Result<Vec<Interface>> {
    if named.is_empty() {
        let candidates: Vec<&Interface> =
            available.iter().filter(|i| !i.ip.is_loopback()).collect();
        return match candidates.as_slice() {
            [one] => Ok(vec![(*one).clone()]),
            [] => Err(Error::Usage(
                "no interface with an IPv4 address besides loopback; name one with --interface"
                    .into(),
            )),
            many => Err(Error::Usage(format!(
                "several interfaces have IPv4 addresses ({}); choose with --interface",
                many.iter()
                    .map(|i| format!("{} {}", i.name, i.ip))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        };
    }
    named
        .iter()
        .map(|n| {
            available
                .iter()
                .find(|i| &i.name == n)
                .cloned()
                .ok_or_else(|| Error::Config {
                    key: "--interface".into(),
                    value: n.clone(),
                    reason: "no such interface with an IPv4 address".into(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, ip: [u8; 4]) -> Interface {
        Interface {
            name: name.into(),
            ip: ip.into(),
            prefix_len: 24,
        }
    }

    #[test]
    fn picks_the_only_non_loopback_interface_when_none_is_named() {
        let avail = [iface("lo", [127, 0, 0, 1]), iface("eth0", [10, 0, 0, 1])];
        assert_eq!(choose(&[], &avail).unwrap(), vec![avail[1].clone()]);
    }

    #[test]
    fn asks_to_choose_when_several_interfaces_exist() {
        let avail = [iface("eth0", [10, 0, 0, 1]), iface("eth1", [10, 1, 0, 1])];
        let err = choose(&[], &avail).unwrap_err().to_string();
        assert!(
            err.contains("eth0 10.0.0.1") && err.contains("eth1"),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_named_interface_that_does_not_exist() {
        let err = choose(&["br9".into()], &[]).unwrap_err().to_string();
        assert!(err.contains("br9"), "{err}");
    }

    #[test]
    fn netmask_follows_the_prefix() {
        let i = Interface {
            name: "x".into(),
            ip: [10, 1, 2, 3].into(),
            prefix_len: 16,
        };
        assert_eq!(i.netmask(), Ipv4Addr::new(255, 255, 0, 0));
        assert!(i.contains([10, 1, 9, 9].into()));
        assert!(!i.contains([10, 2, 0, 1].into()));
    }
}
