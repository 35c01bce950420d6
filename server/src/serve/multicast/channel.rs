//! Where sessions send: the `[multicast]` settings and the choice of a
//! group for each running session.
//!
//! Groups come from the administratively scoped range (RFC 2365 §6.1,
//! 239.0.0.0/8), by default 239.255.77.0/24 inside the IPv4 Local Scope
//! 239.255.0.0/16, which routers do not forward off the site. TTL 1
//! keeps frames on the imaging segment.

use std::net::Ipv4Addr;

use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MulticastFile {
    /// `ADDRESS/PREFIX`, within 239.0.0.0/8 (default 239.255.77.0/24).
    pub groups: Option<String>,
    /// UDP port of every session's group (default 9977).
    pub port: Option<u16>,
    /// IP TTL of the frames (default 1: the segment only).
    pub ttl: Option<u32>,
    /// Interface the frames and Wake-on-LAN packets leave by (default:
    /// the first served interface).
    pub interface: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MulticastConfig {
    pub first: Ipv4Addr,
    pub count: u32,
    pub port: u16,
    pub ttl: u32,
    pub interface: Option<String>,
}

impl Default for MulticastConfig {
    fn default() -> Self {
        MulticastConfig {
            first: Ipv4Addr::new(239, 255, 77, 0),
            count: 256,
            port: 9977,
            ttl: 1,
            interface: None,
        }
    }
}

fn bad(key: &str, value: impl std::fmt::Display, reason: &str) -> Error {
    Error::Config {
        key: key.into(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

impl MulticastConfig {
    pub fn resolve(file: &MulticastFile) -> Result<MulticastConfig> {
        let mut c = MulticastConfig::default();
        if let Some(g) = &file.groups {
            let (addr, prefix) = g
                .split_once('/')
                .ok_or_else(|| bad("multicast.groups", g, "expected ADDRESS/PREFIX"))?;
            let addr: Ipv4Addr = addr
                .trim()
                .parse()
                .map_err(|_| bad("multicast.groups", g, "not an IPv4 address"))?;
            let prefix: u32 = prefix
                .trim()
                .parse()
                .ok()
                .filter(|p| (8..=30).contains(p))
                .ok_or_else(|| bad("multicast.groups", g, "prefix must be 8 to 30"))?;
            if addr.octets()[0] != 239 {
                return Err(bad(
                    "multicast.groups",
                    g,
                    "use the administratively scoped range 239.0.0.0/8 (RFC 2365)",
                ));
            }
            let mask = u32::MAX << (32 - prefix);
            c.first = Ipv4Addr::from(u32::from(addr) & mask);
            c.count = 1 << (32 - prefix);
        }
        if let Some(p) = file.port {
            if p == 0 {
                return Err(bad("multicast.port", p, "must not be 0"));
            }
            c.port = p;
        }
        if let Some(t) = file.ttl {
            if !(1..=255).contains(&t) {
                return Err(bad("multicast.ttl", t, "must be 1 to 255"));
            }
            c.ttl = t;
        }
        c.interface = file.interface.clone();
        Ok(c)
    }

    /// The lowest group of the range that no running session uses (the
    /// range's first address is skipped: x.y.z.0 reads as a network).
    pub fn allocate(&self, in_use: &[Ipv4Addr]) -> Option<Ipv4Addr> {
        (1..self.count)
            .map(|i| Ipv4Addr::from(u32::from(self.first) + i))
            .find(|g| !in_use.contains(g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_taken_lowest_first_and_the_range_is_checked() {
        let c = MulticastConfig::default();
        let a = c.allocate(&[]).unwrap();
        assert_eq!(a, Ipv4Addr::new(239, 255, 77, 1));
        let b = c.allocate(&[a]).unwrap();
        assert_eq!(b, Ipv4Addr::new(239, 255, 77, 2));
        let file = MulticastFile {
            groups: Some("239.1.2.3/30".into()),
            ..MulticastFile::default()
        };
        let small = MulticastConfig::resolve(&file).unwrap();
        let used: Vec<Ipv4Addr> = (1..4).map(|i| Ipv4Addr::new(239, 1, 2, i)).collect();
        assert_eq!(small.allocate(&used), None);
        for (groups, why) in [
            ("224.0.0.0/24", "239.0.0.0/8"),
            ("239.1.0.0", "ADDRESS/PREFIX"),
            ("239.1.0.0/31", "8 to 30"),
        ] {
            let file = MulticastFile {
                groups: Some(groups.into()),
                ..MulticastFile::default()
            };
            let err = MulticastConfig::resolve(&file).unwrap_err().to_string();
            assert!(err.contains(why), "{groups}: {err}");
        }
    }
}
