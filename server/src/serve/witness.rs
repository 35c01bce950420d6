//! Which address each MAC took in the last DHCP exchange Marrow saw: the
//! boot script hands a task's token only to a request from that address
//! (docs/security.md). MACs are broadcast on the segment, so a MAC alone
//! proves nothing.
//!
//! What counts as a witness:
//! - full mode: the lease Marrow committed (RFC 2131 ACK);
//! - proxy mode: the address a DHCPREQUEST asked for (option 50, RFC 2131
//!   §4.3.2, which a client in SELECTING state must send), or the source of
//!   a PXE boot server request on port 4011, which the client sends from
//!   its new address.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use marrow_protocol::MacAddr;

/// How long after its DHCP exchange a machine may fetch its boot script
/// and get a token: iPXE does so within seconds; a minute of firmware
/// slowness is allowed for.
pub const WINDOW_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    ip: Ipv4Addr,
    at: i64,
}

/// The latest DHCP-witnessed address per MAC, each good for one token.
#[derive(Debug, Default)]
pub(crate) struct Witnesses(Mutex<HashMap<MacAddr, Seen>>);

impl Witnesses {
    pub fn saw(&self, mac: MacAddr, ip: Ipv4Addr, now: i64) {
        if ip.is_unspecified() || !mac.is_unicast() {
            return;
        }
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Old entries go, so the map is bounded by the machines booting
        // within one window.
        map.retain(|_, s| now - s.at <= WINDOW_SECS);
        map.insert(mac, Seen { ip, at: now });
    }

    /// Takes the witness of `mac` when a request from `from` at `now` may
    /// have a token: the address must be the one the MAC took, within the
    /// window. A witness is good for one token, so each boot issues one.
    pub fn take(&self, mac: MacAddr, from: Option<Ipv4Addr>, now: i64) -> Result<(), String> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let seen = map.get(&mac).copied();
        let verdict = judge(seen, from, now);
        if verdict.is_ok() {
            map.remove(&mac);
        }
        verdict
    }
}

/// The pure rule behind [`Witnesses::take`].
fn judge(seen: Option<Seen>, from: Option<Ipv4Addr>, now: i64) -> Result<(), String> {
    let Some(seen) = seen else {
        return Err(
            "no DHCP exchange of this MAC was seen (or its token was issued already)".into(),
        );
    };
    if now - seen.at > WINDOW_SECS {
        return Err(format!(
            "its last DHCP exchange was {} s ago, over the {WINDOW_SECS} s window",
            now - seen.at
        ));
    }
    match from {
        Some(ip) if ip == seen.ip => Ok(()),
        Some(ip) => Err(format!(
            "the request came from {ip}, but the MAC took {} in DHCP",
            seen.ip
        )),
        None => Err("the request did not come over IPv4".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac() -> MacAddr {
        "52:54:00:12:34:56".parse().unwrap()
    }

    const IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);

    #[test]
    fn the_address_the_mac_took_gets_one_token_and_others_none() {
        let w = Witnesses::default();
        w.saw(mac(), IP, 100);
        let other = Ipv4Addr::new(10, 0, 0, 66);
        let err = w.take(mac(), Some(other), 101).unwrap_err();
        assert!(
            err.contains("10.0.0.66") && err.contains("10.0.0.50"),
            "{err}"
        );
        w.take(mac(), Some(IP), 102).unwrap();
        assert!(
            w.take(mac(), Some(IP), 103).is_err(),
            "one token per exchange"
        );
        w.saw(mac(), IP, 200);
        w.take(mac(), Some(IP), 201).unwrap();
    }

    #[test]
    fn a_stale_exchange_an_unseen_mac_and_group_addresses_get_nothing() {
        let w = Witnesses::default();
        w.saw(mac(), IP, 100);
        assert!(w
            .take(mac(), Some(IP), 100 + WINDOW_SECS + 1)
            .unwrap_err()
            .contains("window"));
        let unseen: MacAddr = "52:54:00:00:00:99".parse().unwrap();
        assert!(w.take(unseen, Some(IP), 100).is_err());
        let bcast: MacAddr = "ff:ff:ff:ff:ff:ff".parse().unwrap();
        w.saw(bcast, IP, 100);
        assert!(w.take(bcast, Some(IP), 100).is_err());
    }
}
