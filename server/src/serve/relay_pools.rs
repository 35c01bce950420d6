//! `[[dhcp.pool]]`: one address pool per relayed subnet (RFC 2131 §4.3.1,
//! chosen by `giaddr`), checked when the configuration loads.

use std::net::Ipv4Addr;

use marrow_protocol::dhcp::Subnet;
use serde::Deserialize;

use super::config::{bad, ip};
use crate::error::Result;

/// One `[[dhcp.pool]]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolFile {
    /// `10.1.0.0/24`: the relay's subnet, which `giaddr` falls in.
    pub subnet: Option<String>,
    /// `10.1.0.100-10.1.0.199`, inside `subnet`.
    pub range: Option<String>,
    /// Default: the relay's own address (`giaddr`), which RFC 1542 §4.1.1
    /// makes its address on the client's subnet, usually the way off it.
    pub router: Option<String>,
    /// Default: `dhcp.dns`.
    pub dns: Option<Vec<String>>,
    /// Default: `dhcp.lease_time`.
    pub lease_time: Option<u32>,
}

/// A relayed subnet's pool, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayPool {
    pub subnet: Subnet,
    pub range: (Ipv4Addr, Ipv4Addr),
    pub router: Option<Ipv4Addr>,
    pub dns: Option<Vec<Ipv4Addr>>,
    pub lease_secs: Option<u32>,
}

/// Checks every pool: a subnet and a range inside it, and no two subnets
/// overlapping (a `giaddr` in both would be ambiguous).
pub fn resolve(pools: &[PoolFile]) -> Result<Vec<RelayPool>> {
    let mut out: Vec<RelayPool> = Vec::new();
    for (i, p) in pools.iter().enumerate() {
        let key = |field: &str| format!("dhcp.pool[{i}].{field}");
        let subnet_text = p
            .subnet
            .as_deref()
            .ok_or_else(|| bad(&key("subnet"), "", "missing; give ADDRESS/PREFIX"))?;
        let subnet = Subnet::parse(subnet_text).ok_or_else(|| {
            bad(
                &key("subnet"),
                subnet_text,
                "expected ADDRESS/PREFIX with no host bits set, e.g. 10.1.0.0/24",
            )
        })?;
        let range_text = p
            .range
            .as_deref()
            .ok_or_else(|| bad(&key("range"), "", "missing; give FIRST-LAST"))?;
        let range = super::config::parse_range(&key("range"), range_text)?;
        if !subnet.contains(range.0) || !subnet.contains(range.1) {
            return Err(bad(
                &key("range"),
                range_text,
                format!("not inside the pool's subnet {subnet}"),
            ));
        }
        let router = p
            .router
            .as_deref()
            .map(|v| ip(&key("router"), v))
            .transpose()?;
        let dns = p
            .dns
            .as_ref()
            .map(|list| {
                list.iter()
                    .map(|v| ip("dns", v))
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        if let Some(secs) = p.lease_time.filter(|s| *s < 60) {
            return Err(bad(&key("lease_time"), secs, "must be at least 60 seconds"));
        }
        if let Some(other) = out.iter().find(|o| o.subnet.overlaps(&subnet)) {
            return Err(bad(
                &key("subnet"),
                subnet,
                format!("overlaps the pool for {}", other.subnet),
            ));
        }
        out.push(RelayPool {
            subnet,
            range,
            router,
            dns,
            lease_secs: p.lease_time,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(subnet: &str, range: &str) -> PoolFile {
        PoolFile {
            subnet: Some(subnet.into()),
            range: Some(range.into()),
            ..PoolFile::default()
        }
    }

    #[test]
    fn pools_resolve_with_their_defaults_left_open() {
        let p = resolve(&[
            pool("10.1.0.0/24", "10.1.0.100-10.1.0.199"),
            PoolFile {
                router: Some("10.2.0.254".into()),
                dns: Some(vec!["10.2.0.53".into()]),
                lease_time: Some(600),
                ..pool("10.2.0.0/16", "10.2.1.1-10.2.9.9")
            },
        ])
        .unwrap();
        assert_eq!(p[0].subnet.to_string(), "10.1.0.0/24");
        assert_eq!(p[0].router, None);
        assert_eq!(p[1].router, Some(Ipv4Addr::new(10, 2, 0, 254)));
        assert_eq!(p[1].dns, Some(vec![Ipv4Addr::new(10, 2, 0, 53)]));
        assert_eq!(p[1].lease_secs, Some(600));
    }

    /// Each bad pool is refused naming the key, the value and why.
    #[test]
    fn bad_pools_are_refused_by_name() {
        let cases = [
            (vec![PoolFile::default()], "dhcp.pool[0].subnet", "missing"),
            (
                vec![pool("10.1.0.0", "10.1.0.1-10.1.0.2")],
                "dhcp.pool[0].subnet",
                "ADDRESS/PREFIX",
            ),
            (
                vec![pool("10.1.0.5/24", "10.1.0.1-10.1.0.2")],
                "dhcp.pool[0].subnet",
                "host bits",
            ),
            (
                vec![pool("10.1.0.0/24", "10.1.1.1-10.1.1.9")],
                "dhcp.pool[0].range",
                "not inside",
            ),
            (
                vec![pool("10.1.0.0/24", "10.1.0.9-10.1.0.1")],
                "dhcp.pool[0].range",
                "after the last",
            ),
            (
                vec![
                    pool("10.1.0.0/24", "10.1.0.1-10.1.0.9"),
                    pool("10.0.0.0/8", "10.3.0.1-10.3.0.9"),
                ],
                "dhcp.pool[1].subnet",
                "overlaps the pool for 10.1.0.0/24",
            ),
            (
                vec![PoolFile {
                    lease_time: Some(5),
                    ..pool("10.1.0.0/24", "10.1.0.1-10.1.0.9")
                }],
                "dhcp.pool[0].lease_time",
                "at least 60",
            ),
            (
                vec![PoolFile {
                    router: Some("10.1.0.300".into()),
                    ..pool("10.1.0.0/24", "10.1.0.1-10.1.0.9")
                }],
                "dhcp.pool[0].router",
                "not an IPv4 address",
            ),
        ];
        for (pools, key, why) in cases {
            let e = resolve(&pools).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains(why), "{key}: {e}");
        }
    }
}
