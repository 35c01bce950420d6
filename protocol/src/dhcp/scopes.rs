//! Address scopes of `full` mode: the local pool, and one pool per relayed
//! subnet. RFC 2131 §4.3.1: a request that came through a relay gets an
//! address "from the subnet of the 'giaddr'"; one that did not, from the
//! subnet of the interface it arrived on.

use std::net::Ipv4Addr;

use super::decide::Network;
use super::pool::{Lease, Pool};
use crate::MacAddr;

/// An IPv4 subnet: a base address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    base: u32,
    prefix: u8,
}

impl Subnet {
    /// The subnet of `ip` under `prefix` bits (host bits are cleared).
    /// `None` for a prefix over 32.
    pub fn new(ip: Ipv4Addr, prefix: u8) -> Option<Self> {
        (prefix <= 32).then(|| Subnet {
            base: u32::from(ip) & Self::mask_bits(prefix),
            prefix,
        })
    }

    /// Parses `a.b.c.d/n`; `None` when it is not that, or when host bits
    /// are set (a typo more often than a meaning).
    pub fn parse(s: &str) -> Option<Self> {
        let (ip, prefix) = s.split_once('/')?;
        let ip: Ipv4Addr = ip.trim().parse().ok()?;
        let subnet = Subnet::new(ip, prefix.trim().parse().ok()?)?;
        (subnet.base == u32::from(ip)).then_some(subnet)
    }

    fn mask_bits(prefix: u8) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
    }

    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(Self::mask_bits(self.prefix))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask_bits(self.prefix) == self.base
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let p = self.prefix.min(other.prefix);
        self.base & Self::mask_bits(p) == other.base & Self::mask_bits(p)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

/// One pool and what its clients are told.
#[derive(Debug, Clone)]
pub struct Scope {
    pub subnet: Subnet,
    pub pool: Pool,
    pub network: Network,
}

/// Every pool of the service. Which one answers is chosen by `giaddr`.
#[derive(Debug, Clone, Default)]
pub struct Scopes {
    scopes: Vec<Scope>,
}

impl Scopes {
    /// Scopes whose subnets do not overlap (the configuration checks it);
    /// a `giaddr` in two of them would be ambiguous.
    pub fn new(scopes: Vec<Scope>) -> Self {
        Scopes { scopes }
    }

    /// The scope for a request: the one whose subnet holds `giaddr`, or,
    /// without a relay, the one holding the arrival interface's address.
    /// `None` when no pool serves that subnet.
    pub fn select(&mut self, giaddr: Ipv4Addr, interface_ip: Ipv4Addr) -> Option<&mut Scope> {
        let on = if giaddr.is_unspecified() {
            interface_ip
        } else {
            giaddr
        };
        self.scopes.iter_mut().find(|s| s.subnet.contains(on))
    }

    /// A client bound in one scope holds nothing in the others: a laptop
    /// moved between relayed rooms keeps one lease, as storage keeps one
    /// per MAC.
    pub fn forget_elsewhere(&mut self, mac: MacAddr, kept: Ipv4Addr) {
        for s in &mut self.scopes {
            if !s.subnet.contains(kept) {
                s.pool.release(mac);
            }
        }
    }

    /// Restores a stored lease into the scope holding its address; one
    /// that no scope holds any longer (the configuration changed) is
    /// returned, to be dropped.
    pub fn restore(&mut self, lease: Lease) -> Result<(), Lease> {
        match self.scopes.iter_mut().find(|s| s.subnet.contains(lease.ip)) {
            Some(s) => {
                s.pool.restore(lease);
                Ok(())
            }
            None => Err(lease),
        }
    }

    /// A fixed address for `mac`, in the scope holding it. False when no
    /// scope does.
    pub fn reserve(&mut self, mac: MacAddr, ip: Ipv4Addr) -> bool {
        match self.scopes.iter_mut().find(|s| s.subnet.contains(ip)) {
            Some(s) => {
                s.pool.reserve(mac, ip);
                true
            }
            None => false,
        }
    }

    /// Expired leases and offers, dropped from every pool.
    pub fn purge(&mut self, now: u64) -> Vec<Lease> {
        self.scopes
            .iter_mut()
            .flat_map(|s| s.pool.purge(now))
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.scopes.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn scope(subnet: &str, first: &str, last: &str) -> Scope {
        let subnet = Subnet::parse(subnet).unwrap();
        Scope {
            subnet,
            pool: Pool::new(ip(first), ip(last)),
            network: Network {
                subnet_mask: subnet.mask(),
                router: None,
                dns: vec![],
                lease_secs: 3600,
            },
        }
    }

    fn scopes() -> Scopes {
        Scopes::new(vec![
            scope("10.0.0.0/24", "10.0.0.100", "10.0.0.199"),
            scope("10.1.0.0/24", "10.1.0.100", "10.1.0.199"),
            scope("10.2.0.0/16", "10.2.5.1", "10.2.5.9"),
        ])
    }

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    #[test]
    fn subnets_parse_and_refuse_named_bad_inputs() {
        let s = Subnet::parse("10.1.0.0/24").unwrap();
        assert_eq!(s.to_string(), "10.1.0.0/24");
        assert_eq!(s.mask(), ip("255.255.255.0"));
        assert!(s.contains(ip("10.1.0.255")) && !s.contains(ip("10.1.1.0")));
        assert_eq!(Subnet::parse("0.0.0.0/0").unwrap().mask(), ip("0.0.0.0"));
        for bad in [
            "10.1.0.0",
            "10.1.0.0/33",
            "10.1.0.1/24",
            "x/24",
            "10.1.0.0/-1",
            "",
        ] {
            assert_eq!(Subnet::parse(bad), None, "{bad:?}");
        }
        let wide = Subnet::parse("10.0.0.0/8").unwrap();
        assert!(wide.overlaps(&s) && s.overlaps(&wide));
        assert!(!s.overlaps(&Subnet::parse("10.2.0.0/24").unwrap()));
    }

    #[test]
    fn giaddr_chooses_the_relayed_subnet_and_none_the_interface() {
        let mut s = scopes();
        let server = ip("10.0.0.1");
        let local = s.select(Ipv4Addr::UNSPECIFIED, server).unwrap();
        assert_eq!(local.subnet.to_string(), "10.0.0.0/24");
        let relayed = s.select(ip("10.1.0.1"), server).unwrap();
        assert_eq!(relayed.pool.offer(MAC, None, 0), Some(ip("10.1.0.100")));
        assert_eq!(
            s.select(ip("10.2.200.1"), server)
                .unwrap()
                .subnet
                .to_string(),
            "10.2.0.0/16"
        );
        assert!(
            s.select(ip("192.168.9.1"), server).is_none(),
            "no pool there"
        );
    }

    #[test]
    fn a_client_keeps_one_lease_across_scopes() {
        let mut s = scopes();
        let server = ip("10.0.0.1");
        let a = s.select(ip("10.1.0.1"), server).unwrap();
        let first = a.pool.offer(MAC, None, 0).unwrap();
        a.pool.commit(MAC, first, 0, 3600).unwrap();
        let b = s.select(ip("10.2.0.1"), server).unwrap();
        let second = b.pool.offer(MAC, None, 10).unwrap();
        b.pool.commit(MAC, second, 10, 3600).unwrap();
        s.forget_elsewhere(MAC, second);
        let a = s.select(ip("10.1.0.1"), server).unwrap();
        assert!(a.pool.lease(MAC).is_none(), "the old room's lease is gone");
        assert!(s
            .select(ip("10.2.0.1"), server)
            .unwrap()
            .pool
            .lease(MAC)
            .is_some());
    }

    #[test]
    fn stored_leases_and_reservations_go_to_the_scope_holding_them() {
        let mut s = scopes();
        let lease = Lease {
            mac: MAC,
            ip: ip("10.1.0.150"),
            expires: 100,
        };
        assert_eq!(s.restore(lease), Ok(()));
        let gone = Lease {
            ip: ip("172.16.0.5"),
            ..lease
        };
        assert_eq!(s.restore(gone), Err(gone), "no scope holds it any more");
        assert!(s.reserve(MacAddr([2, 0, 0, 0, 0, 2]), ip("10.2.9.9")));
        assert!(!s.reserve(MacAddr([2, 0, 0, 0, 0, 3]), ip("172.16.0.5")));
        assert_eq!(s.purge(101), vec![lease]);
    }
}
