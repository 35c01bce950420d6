//! The client side of DHCP (RFC 2131), for a boot without a static `ip=`:
//! DISCOVER, take the first OFFER, REQUEST it, and be bound on the ACK.
//! Sans-I/O: packets come in through [`DhcpClient::handle_input`] and go out
//! through [`DhcpClient::poll_transmit`], and time is passed in as the
//! duration since the client started. `net::dhcp` drives it over a socket.
//!
//! Not here: renewing the lease (the client runs for one imaging task,
//! shorter than any sensible lease), INIT-REBOOT, and randomised backoff
//! (RFC 2131 §4.1 asks for ±1 s of jitter; one machine per NIC booting
//! does not need it, and deterministic timing keeps the tests exact).

use marrow_protocol::dhcp::{code, MessageType, Packet, OP_REPLY, OP_REQUEST};
use marrow_protocol::MacAddr;
use std::net::Ipv4Addr;
use std::time::Duration;

/// RFC 2131 §4.1: retransmit after 4 s, doubling up to 64 s.
const FIRST_RETRANSMIT: Duration = Duration::from_secs(4);
const MAX_RETRANSMIT: Duration = Duration::from_secs(64);

/// What the server gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub server_id: Ipv4Addr,
    pub lease_secs: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Selecting,
    Requesting { offer: Lease },
    Bound(Lease),
}

/// What an input did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An ACK: configure the lease.
    Bound(Lease),
    /// A NAK: the client went back to DISCOVER.
    Restarted { server: Ipv4Addr },
    /// Not for us, malformed, or not expected in this state; the reason is
    /// for the log.
    Ignored(&'static str),
}

#[derive(Debug, Clone)]
pub struct DhcpClient {
    mac: MacAddr,
    xid: u32,
    state: State,
    /// When the next DISCOVER or REQUEST is due.
    next_send: Duration,
    interval: Duration,
}

impl DhcpClient {
    /// A client for `mac`; `xid` should be random (RFC 2131 §4.4.1).
    pub fn new(mac: MacAddr, xid: u32, now: Duration) -> Self {
        DhcpClient {
            mac,
            xid,
            state: State::Selecting,
            next_send: now,
            interval: FIRST_RETRANSMIT,
        }
    }

    pub fn lease(&self) -> Option<&Lease> {
        match &self.state {
            State::Bound(l) => Some(l),
            _ => None,
        }
    }

    /// When [`poll_transmit`](Self::poll_transmit) next has something to
    /// send; `None` once bound.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match self.state {
            State::Bound(_) => None,
            _ => Some(self.next_send),
        }
    }

    /// The packet to broadcast now, if one is due.
    pub fn poll_transmit(&mut self, now: Duration) -> Option<Vec<u8>> {
        if matches!(self.state, State::Bound(_)) || now < self.next_send {
            return None;
        }
        let packet = match &self.state {
            State::Selecting => self.packet(MessageType::Discover, now, None),
            State::Requesting { offer } => self.packet(MessageType::Request, now, Some(offer)),
            State::Bound(_) => return None,
        };
        self.next_send = now + self.interval;
        self.interval = (self.interval * 2).min(MAX_RETRANSMIT);
        Some(packet.emit().expect("a client packet always fits"))
    }

    fn packet(&self, kind: MessageType, now: Duration, offer: Option<&Lease>) -> Packet {
        let mut p = Packet::new(OP_REQUEST, self.xid, self.mac);
        p.secs = now.as_secs().min(u64::from(u16::MAX)) as u16;
        // RFC 2131 §4.1: with no address yet the client cannot take unicast
        // replies on its UDP socket, so it asks for broadcast ones.
        p.flags = 0x8000;
        p.push_option(code::MESSAGE_TYPE, [kind.to_byte()]);
        // RFC 2132 §9.14: hardware type 1 (Ethernet) and the MAC.
        let mut client_id = vec![1u8];
        client_id.extend_from_slice(&self.mac.0);
        p.push_option(code::CLIENT_ID, client_id);
        if let Some(offer) = offer {
            // RFC 2131 §4.3.2, SELECTING: requested address and server id.
            p.push_option(code::REQUESTED_IP, offer.address.octets());
            p.push_option(code::SERVER_ID, offer.server_id.octets());
        }
        p.push_option(
            code::PARAMETER_LIST,
            [
                code::SUBNET_MASK,
                code::ROUTER,
                code::DNS,
                code::HOSTNAME,
                code::LEASE_TIME,
                code::SERVER_ID,
            ],
        );
        p
    }

    /// Takes a datagram received on port 68.
    pub fn handle_input(&mut self, now: Duration, bytes: &[u8]) -> Event {
        let Ok(p) = Packet::parse(bytes) else {
            return Event::Ignored("not a DHCP packet");
        };
        if p.op != OP_REPLY || p.xid != self.xid || p.mac() != Some(self.mac) {
            return Event::Ignored("not a reply to this client");
        }
        let Some(kind) = p.message_type() else {
            return Event::Ignored("BOOTP reply without a DHCP message type");
        };
        let Some(lease) = lease_of(&p) else {
            return Event::Ignored("reply without an address or server id");
        };
        match (&self.state, kind) {
            (State::Selecting, MessageType::Offer) => {
                self.state = State::Requesting { offer: lease };
                self.next_send = now;
                self.interval = FIRST_RETRANSMIT;
                Event::Ignored("offer taken; request due")
            }
            (State::Requesting { offer }, MessageType::Ack)
                if offer.server_id == lease.server_id =>
            {
                self.state = State::Bound(lease.clone());
                Event::Bound(lease)
            }
            (State::Requesting { offer }, MessageType::Nak)
                if offer.server_id == lease.server_id =>
            {
                // RFC 2131 §4.3.2: on a NAK, start again from INIT.
                self.state = State::Selecting;
                self.next_send = now;
                self.interval = FIRST_RETRANSMIT;
                Event::Restarted {
                    server: lease.server_id,
                }
            }
            _ => Event::Ignored("message not expected in this state"),
        }
    }
}

fn addr(data: Option<&[u8]>) -> Option<Ipv4Addr> {
    let b: [u8; 4] = data?.get(..4)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}

/// The lease a reply describes. A NAK carries no address, so only the
/// server id is required of it.
fn lease_of(p: &Packet) -> Option<Lease> {
    let server_id = addr(p.option(code::SERVER_ID))?;
    let is_nak = p.message_type() == Some(MessageType::Nak);
    if p.your_addr.is_unspecified() && !is_nak {
        return None;
    }
    let prefix_len = addr(p.option(code::SUBNET_MASK))
        .map(|m| u32::from(m).leading_ones() as u8)
        .unwrap_or(match p.your_addr.octets()[0] {
            0..=127 => 8,
            128..=191 => 16,
            _ => 24,
        });
    let dns = p.option(code::DNS).map(|d| {
        d.chunks_exact(4)
            .map(|c| addr(Some(c)).expect("4 bytes"))
            .collect()
    });
    Some(Lease {
        address: p.your_addr,
        prefix_len,
        router: addr(p.option(code::ROUTER)),
        dns: dns.unwrap_or_default(),
        server_id,
        lease_secs: p
            .option(code::LEASE_TIME)
            .and_then(|d| Some(u32::from_be_bytes(d.get(..4)?.try_into().ok()?))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
    const S: fn(u64) -> Duration = Duration::from_secs;

    fn reply(xid: u32, kind: MessageType, your: Ipv4Addr) -> Vec<u8> {
        let mut p = Packet::new(OP_REPLY, xid, MAC);
        p.your_addr = your;
        p.push_option(code::MESSAGE_TYPE, [kind.to_byte()]);
        p.push_option(code::SERVER_ID, SERVER.octets());
        p.push_option(code::SUBNET_MASK, [255, 255, 255, 0]);
        p.push_option(code::ROUTER, [10, 0, 2, 2]);
        p.push_option(code::DNS, [10, 0, 2, 3, 10, 0, 2, 4]);
        p.push_option(code::LEASE_TIME, 86400u32.to_be_bytes());
        p.emit().unwrap()
    }

    fn sent(bytes: &[u8]) -> Packet {
        Packet::parse(bytes).unwrap()
    }

    #[test]
    fn discover_offer_request_ack_binds_the_offered_address() {
        let mut c = DhcpClient::new(MAC, 0xfeed, S(0));
        let discover = sent(&c.poll_transmit(S(0)).unwrap());
        assert_eq!(discover.message_type(), Some(MessageType::Discover));
        assert!(discover.broadcast_flag());
        assert_eq!(
            discover.option(code::CLIENT_ID),
            Some(&[1, 0x52, 0x54, 0, 0x12, 0x34, 0x56][..])
        );

        let offered = Ipv4Addr::new(10, 0, 2, 15);
        assert_eq!(
            c.handle_input(S(1), &reply(0xfeed, MessageType::Offer, offered)),
            Event::Ignored("offer taken; request due")
        );
        let request = sent(&c.poll_transmit(S(1)).unwrap());
        assert_eq!(request.message_type(), Some(MessageType::Request));
        assert_eq!(
            request.option(code::REQUESTED_IP),
            Some(&offered.octets()[..])
        );
        assert_eq!(request.option(code::SERVER_ID), Some(&SERVER.octets()[..]));
        assert_eq!(request.secs, 1);

        let lease = Lease {
            address: offered,
            prefix_len: 24,
            router: Some(SERVER),
            dns: vec![Ipv4Addr::new(10, 0, 2, 3), Ipv4Addr::new(10, 0, 2, 4)],
            server_id: SERVER,
            lease_secs: Some(86400),
        };
        assert_eq!(
            c.handle_input(S(2), &reply(0xfeed, MessageType::Ack, offered)),
            Event::Bound(lease.clone())
        );
        assert_eq!(c.lease(), Some(&lease));
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(c.poll_transmit(S(100)), None);
    }

    #[test]
    fn discover_is_retransmitted_with_doubling_backoff() {
        let mut c = DhcpClient::new(MAC, 1, S(0));
        let mut sent_at = Vec::new();
        for t in 0..200 {
            if c.poll_transmit(S(t)).is_some() {
                sent_at.push(t);
            }
        }
        assert_eq!(sent_at, [0, 4, 12, 28, 60, 124, 188]);
        assert_eq!(c.poll_timeout(), Some(S(252)));
    }

    #[test]
    fn replies_for_other_clients_or_transactions_are_ignored() {
        let mut c = DhcpClient::new(MAC, 7, S(0));
        c.poll_transmit(S(0));
        let offer = reply(8, MessageType::Offer, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(
            c.handle_input(S(1), &offer),
            Event::Ignored("not a reply to this client")
        );
        assert_eq!(
            c.handle_input(S(1), b"garbage"),
            Event::Ignored("not a DHCP packet")
        );
        let ack_first = reply(7, MessageType::Ack, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(
            c.handle_input(S(1), &ack_first),
            Event::Ignored("message not expected in this state")
        );
        assert_eq!(c.lease(), None);
    }

    #[test]
    fn mutated_replies_never_panic_the_client() {
        let seeds = [
            reply(5, MessageType::Offer, Ipv4Addr::new(10, 0, 2, 15)),
            reply(5, MessageType::Ack, Ipv4Addr::new(10, 0, 2, 15)),
            reply(5, MessageType::Nak, Ipv4Addr::UNSPECIFIED),
        ];
        let mut next = marrow_test_support::xorshift(0x2545_f491_4f6c_dd1du64);
        for round in 0..5000 {
            let mut c = DhcpClient::new(MAC, 5, S(0));
            c.poll_transmit(S(0));
            let mut input = seeds[round % seeds.len()].clone();
            for _ in 0..(next() % 6 + 1) {
                let at = (next() as usize) % input.len();
                match next() % 3 {
                    0 => input[at] = next() as u8,
                    1 => input.truncate(at.max(1)),
                    _ => input[at] ^= 0xff,
                }
            }
            let _ = c.handle_input(S(1), &input);
            let _ = c.poll_transmit(S(1));
        }
    }

    #[test]
    fn nak_sends_the_client_back_to_discover() {
        let mut c = DhcpClient::new(MAC, 9, S(0));
        c.poll_transmit(S(0));
        c.handle_input(
            S(1),
            &reply(9, MessageType::Offer, Ipv4Addr::new(10, 0, 2, 15)),
        );
        c.poll_transmit(S(1));
        assert_eq!(
            c.handle_input(S(2), &reply(9, MessageType::Nak, Ipv4Addr::UNSPECIFIED)),
            Event::Restarted { server: SERVER }
        );
        assert_eq!(
            sent(&c.poll_transmit(S(2)).unwrap()).message_type(),
            Some(MessageType::Discover)
        );
    }
}
