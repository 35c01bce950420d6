//! The address pool of `full` mode: which address a MAC gets, as pure state
//! on caller-supplied wall-clock seconds. The server loads it from SQLite at
//! start and writes every commit back, so leases survive a restart.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::MacAddr;

/// One binding of a MAC to an address until `expires` (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    pub expires: u64,
}

/// How long an offered address is held for the client's REQUEST.
pub const OFFER_HOLD_SECS: u64 = 60;

/// How long an address a client declined is not offered (RFC 2131 §4.3.3:
/// the server marks it not available). Some host took it by hand; ten
/// minutes keeps the next clients off it, and gives it back if the
/// conflict goes away.
pub const DECLINE_HOLD_SECS: u64 = 600;

#[derive(Debug, Clone)]
pub struct Pool {
    first: u32,
    last: u32,
    leases: HashMap<MacAddr, Lease>,
    by_ip: HashMap<Ipv4Addr, MacAddr>,
    reservations: HashMap<MacAddr, Ipv4Addr>,
    reserved_ips: HashMap<Ipv4Addr, MacAddr>,
    /// Declined addresses and until when they are not offered.
    declined: HashMap<Ipv4Addr, u64>,
    /// Where the search for a free address resumes: scanning from the
    /// start each time made a busy pool quadratic (a room of clients
    /// booting at once fills it in order).
    cursor: u32,
}

impl Pool {
    /// A pool over `first..=last` (the caller checks `first <= last`).
    pub fn new(first: Ipv4Addr, last: Ipv4Addr) -> Self {
        Pool {
            first: u32::from(first),
            last: u32::from(last),
            leases: HashMap::new(),
            by_ip: HashMap::new(),
            reservations: HashMap::new(),
            reserved_ips: HashMap::new(),
            declined: HashMap::new(),
            cursor: u32::from(first),
        }
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (self.first..=self.last).contains(&u32::from(ip))
    }

    /// A fixed address for `mac`; it may lie outside the range.
    pub fn reserve(&mut self, mac: MacAddr, ip: Ipv4Addr) {
        if let Some(old) = self.reservations.insert(mac, ip) {
            self.reserved_ips.remove(&old);
        }
        self.reserved_ips.insert(ip, mac);
    }

    /// Restores a lease loaded from storage.
    pub fn restore(&mut self, lease: Lease) {
        self.insert(lease);
    }

    pub fn lease(&self, mac: MacAddr) -> Option<&Lease> {
        self.leases.get(&mac)
    }

    fn insert(&mut self, lease: Lease) {
        if let Some(old) = self.leases.insert(lease.mac, lease) {
            self.by_ip.remove(&old.ip);
        }
        self.by_ip.insert(lease.ip, lease.mac);
    }

    fn free_for(&self, ip: Ipv4Addr, mac: MacAddr, now: u64) -> bool {
        if self.reserved_ips.get(&ip).is_some_and(|m| *m != mac) {
            return false;
        }
        if self.declined.get(&ip).is_some_and(|until| *until > now) {
            return false;
        }
        match self.by_ip.get(&ip) {
            None => true,
            Some(holder) if *holder == mac => true,
            Some(holder) => self.leases.get(holder).is_none_or(|l| l.expires <= now),
        }
    }

    /// Chooses an address for a DISCOVER and holds it briefly: the MAC's
    /// reservation, else its current lease, else the address it asked for
    /// (option 50) when free, else the next free address after the last
    /// one handed out (wrapping). `None` when the pool is exhausted.
    pub fn offer(
        &mut self,
        mac: MacAddr,
        requested: Option<Ipv4Addr>,
        now: u64,
    ) -> Option<Ipv4Addr> {
        let ip = if let Some(ip) = self.reservations.get(&mac) {
            *ip
        } else if let Some(l) = self.leases.get(&mac) {
            l.ip
        } else if let Some(ip) =
            requested.filter(|ip| self.contains(*ip) && self.free_for(*ip, mac, now))
        {
            ip
        } else {
            let start = self.cursor.clamp(self.first, self.last);
            let found = (start..=self.last)
                .chain(self.first..start)
                .map(Ipv4Addr::from)
                .find(|ip| self.free_for(*ip, mac, now))?;
            self.cursor = u32::from(found).saturating_add(1);
            found
        };
        let expires = self
            .leases
            .get(&mac)
            .map_or(0, |l| l.expires)
            .max(now + OFFER_HOLD_SECS);
        self.evict_other_holder(ip, mac);
        self.insert(Lease { mac, ip, expires });
        Some(ip)
    }

    fn evict_other_holder(&mut self, ip: Ipv4Addr, mac: MacAddr) {
        if let Some(holder) = self.by_ip.get(&ip).copied() {
            if holder != mac {
                self.leases.remove(&holder);
                self.by_ip.remove(&ip);
            }
        }
    }

    /// Answers a REQUEST for `ip`: `Some(lease)` to ACK (the caller stores
    /// it), `None` to NAK because the address is not this MAC's to have.
    pub fn commit(
        &mut self,
        mac: MacAddr,
        ip: Ipv4Addr,
        now: u64,
        lease_secs: u64,
    ) -> Option<Lease> {
        let allowed = match self.reservations.get(&mac) {
            Some(r) => *r == ip,
            None => self.contains(ip) && self.free_for(ip, mac, now),
        };
        if !allowed {
            return None;
        }
        self.evict_other_holder(ip, mac);
        let lease = Lease {
            mac,
            ip,
            expires: now + lease_secs,
        };
        self.insert(lease);
        Some(lease)
    }

    /// RFC 2131 §4.4.6: the client gives its address back.
    pub fn release(&mut self, mac: MacAddr) -> Option<Lease> {
        let lease = self.leases.remove(&mac)?;
        self.by_ip.remove(&lease.ip);
        Some(lease)
    }

    /// RFC 2131 §4.3.3: the client found `ip`, which this server gave it,
    /// in use by someone else. Its lease goes and the address is not
    /// offered for [`DECLINE_HOLD_SECS`]. Only the MAC holding `ip` can
    /// decline it, so no one on the LAN can take addresses out of the pool.
    pub fn decline(&mut self, mac: MacAddr, ip: Ipv4Addr, now: u64) -> Option<Lease> {
        if self.leases.get(&mac).is_none_or(|l| l.ip != ip) {
            return None;
        }
        let lease = self.release(mac)?;
        self.declined.insert(ip, now + DECLINE_HOLD_SECS);
        Some(lease)
    }

    /// Drops leases and offers that expired by `now`, and declines whose
    /// hold is over; returns the leases, for the caller to delete from
    /// storage. A reservation is kept: it is configuration, not a lease.
    pub fn purge(&mut self, now: u64) -> Vec<Lease> {
        let expired: Vec<MacAddr> = self
            .leases
            .values()
            .filter(|l| l.expires <= now)
            .map(|l| l.mac)
            .collect();
        self.declined.retain(|_, until| *until > now);
        expired
            .into_iter()
            .filter_map(|mac| self.release(mac))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u8) -> MacAddr {
        MacAddr([0x52, 0x54, 0, 0, 0, n])
    }
    fn ip(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, n)
    }

    #[test]
    fn a_declined_address_is_not_offered_until_its_hold_ends() {
        let mut p = Pool::new(ip(100), ip(101));
        assert_eq!(p.offer(mac(1), None, 0), Some(ip(100)));
        p.commit(mac(1), ip(100), 0, 3600).unwrap();
        assert!(p.decline(mac(2), ip(100), 10).is_none(), "not its lease");
        assert!(p.decline(mac(1), ip(101), 10).is_none(), "not its address");
        let gone = p.decline(mac(1), ip(100), 10).unwrap();
        assert_eq!(gone.ip, ip(100));
        assert!(p.lease(mac(1)).is_none());
        assert_eq!(p.offer(mac(1), Some(ip(100)), 20), Some(ip(101)));
        assert_eq!(
            p.offer(mac(3), None, 30),
            None,
            "the declined one stays out"
        );
        assert!(p.commit(mac(3), ip(100), 30, 3600).is_none());
        let later = 10 + DECLINE_HOLD_SECS;
        assert_eq!(p.offer(mac(3), Some(ip(100)), later), Some(ip(100)));
    }

    #[test]
    fn purge_drops_expired_leases_and_keeps_live_ones() {
        let mut p = Pool::new(ip(100), ip(110));
        p.offer(mac(1), None, 0);
        p.commit(mac(1), ip(100), 0, 100).unwrap();
        p.offer(mac(2), None, 0);
        p.commit(mac(2), ip(101), 0, 1000).unwrap();
        p.offer(mac(3), None, 50); // an offer held until 110, never taken
        let gone = p.purge(200);
        let mut macs: Vec<MacAddr> = gone.iter().map(|l| l.mac).collect();
        macs.sort_by_key(|m| m.0);
        assert_eq!(macs, vec![mac(1), mac(3)]);
        assert!(p.lease(mac(1)).is_none() && p.lease(mac(3)).is_none());
        assert_eq!(p.lease(mac(2)).unwrap().ip, ip(101));
        assert!(p.purge(200).is_empty());
        // A purged address is free again, and found by a fresh search.
        assert_eq!(p.offer(mac(4), Some(ip(100)), 200), Some(ip(100)));
    }

    #[test]
    fn offers_free_addresses_in_order_and_keeps_one_per_mac() {
        let mut p = Pool::new(ip(100), ip(102));
        assert_eq!(p.offer(mac(1), None, 1000), Some(ip(100)));
        assert_eq!(p.offer(mac(2), None, 1000), Some(ip(101)));
        assert_eq!(p.offer(mac(1), None, 1001), Some(ip(100)));
    }

    #[test]
    fn honours_a_free_requested_address_and_refuses_a_taken_one() {
        let mut p = Pool::new(ip(100), ip(110));
        assert_eq!(p.offer(mac(1), Some(ip(105)), 0), Some(ip(105)));
        assert_eq!(p.offer(mac(2), Some(ip(105)), 0), Some(ip(100)));
        assert!(p.commit(mac(2), ip(105), 0, 3600).is_none());
        assert!(p.commit(mac(1), ip(105), 0, 3600).is_some());
    }

    #[test]
    fn runs_out_then_reuses_expired_leases() {
        let mut p = Pool::new(ip(100), ip(100));
        assert_eq!(p.offer(mac(1), None, 0), Some(ip(100)));
        p.commit(mac(1), ip(100), 0, 100).unwrap();
        assert_eq!(p.offer(mac(2), None, 50), None);
        assert_eq!(p.offer(mac(2), None, 101), Some(ip(100)));
        assert!(p.lease(mac(1)).is_none());
    }

    #[test]
    fn a_reservation_wins_and_is_never_offered_to_another_mac() {
        let mut p = Pool::new(ip(100), ip(101));
        p.reserve(mac(9), ip(100));
        assert_eq!(p.offer(mac(1), None, 0), Some(ip(101)));
        assert_eq!(p.offer(mac(9), None, 0), Some(ip(100)));
    }

    #[test]
    fn a_large_pool_fills_without_repeating_an_address() {
        let mut p = Pool::new(Ipv4Addr::new(10, 1, 0, 0), Ipv4Addr::new(10, 1, 39, 255));
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_240u32 {
            let m = MacAddr([2, 0, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
            assert!(seen.insert(p.offer(m, None, 0).unwrap()));
        }
        assert_eq!(p.offer(MacAddr([2, 9, 9, 9, 9, 9]), None, 0), None);
    }

    #[test]
    fn a_restored_lease_is_offered_again_to_its_mac() {
        let mut p = Pool::new(ip(100), ip(110));
        p.restore(Lease {
            mac: mac(3),
            ip: ip(107),
            expires: 10_000,
        });
        assert_eq!(p.offer(mac(3), None, 5), Some(ip(107)));
        assert_eq!(p.offer(mac(4), Some(ip(107)), 5), Some(ip(100)));
    }
}
