//! How many transfers may run: in total, and per client address. A flood
//! of requests that never acknowledge takes at most its share of slots and
//! is refused beyond it, while other machines keep booting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub(crate) struct Slots {
    total: usize,
    per_peer: usize,
    used: Mutex<Used>,
}

#[derive(Debug, Default)]
struct Used {
    total: usize,
    by_peer: HashMap<IpAddr, usize>,
}

/// Why a transfer was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Busy {
    /// Every slot of the server is taken.
    Server(usize),
    /// This client has its share already.
    Peer(usize),
}

/// A running transfer's slot; given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
    peer: IpAddr,
}

impl Slots {
    pub fn new(total: usize, per_peer: usize) -> Arc<Slots> {
        Arc::new(Slots {
            total,
            per_peer,
            used: Mutex::default(),
        })
    }

    pub fn take(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Busy> {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if used.total >= self.total {
            return Err(Busy::Server(self.total));
        }
        let mine = used.by_peer.entry(peer).or_default();
        if *mine >= self.per_peer {
            return Err(Busy::Peer(self.per_peer));
        }
        *mine += 1;
        used.total += 1;
        Ok(Slot {
            slots: self.clone(),
            peer,
        })
    }

    #[cfg(test)]
    fn in_use(&self) -> usize {
        self.used.lock().unwrap_or_else(|e| e.into_inner()).total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut used = self.slots.used.lock().unwrap_or_else(|e| e.into_inner());
        used.total -= 1;
        if let Some(n) = used.by_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                used.by_peer.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_gets_its_share_and_the_server_its_total_and_slots_come_back() {
        let slots = Slots::new(3, 2);
        let a: IpAddr = "10.0.0.5".parse().unwrap();
        let b: IpAddr = "10.0.0.6".parse().unwrap();
        let a1 = slots.take(a).unwrap();
        let _a2 = slots.take(a).unwrap();
        assert_eq!(slots.take(a).unwrap_err(), Busy::Peer(2));
        let _b1 = slots.take(b).unwrap();
        assert_eq!(slots.take(b).unwrap_err(), Busy::Server(3));
        drop(a1);
        assert_eq!(slots.in_use(), 2);
        let _b2 = slots.take(b).unwrap();
        assert_eq!(slots.take(a).unwrap_err(), Busy::Server(3));
    }
}
