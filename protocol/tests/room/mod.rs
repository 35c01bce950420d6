//! A room on virtual time: one [`Sender`] and its receivers, joined by a
//! lossy, reordering, duplicating "network" made of a seeded generator.
//! No sockets and no clocks: every run is the same run.
//!
//! Each receiver is what `marrow-client` does around its [`Receiver`]: it
//! decodes complete chunks, checks them against their BLAKE3 id, writes
//! them to its "disk", reports once a second, and fetches what it lacks
//! "over HTTP" when told to.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use marrow_protocol::api::session::{Mode, ReceiverPhase, ReceiverReport, SessionState};
use marrow_protocol::multicast::fec::{decode, ChunkEncoder};
use marrow_protocol::multicast::receiver::{Complete, Event, Receiver, ReceiverConfig};
use marrow_protocol::multicast::sender::{ChunkMeta, Sender, SenderConfig, Transmit};
use marrow_protocol::multicast::wire::{SymbolFrame, SYMBOL_SIZE};
use marrow_protocol::multicast::{Frame, SessionId};
use marrow_protocol::{ChunkId, ImageId, TaskId};
use marrow_test_support::{noise, xorshift};

pub const REPORT_EVERY: Duration = Duration::from_secs(1);
/// A room that has not ended by then hangs.
pub const GIVE_UP: Duration = Duration::from_secs(600);

pub struct Image {
    pub id: ImageId,
    pub chunks: Vec<Vec<u8>>,
    pub ids: Vec<ChunkId>,
}

/// `n` chunks of 1–48 KiB of noise, named by their BLAKE3.
pub fn image(seed: u64, n: usize) -> Image {
    let mut rng = xorshift(seed);
    let chunks: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            noise(
                seed * 1000 + i as u64,
                1024 + (rng() % (47 * 1024)) as usize,
            )
        })
        .collect();
    let ids: Vec<ChunkId> = chunks.iter().map(|c| ChunkId::of(c)).collect();
    let mut all = Vec::new();
    for id in &ids {
        all.extend_from_slice(&id.0);
    }
    Image {
        id: ImageId::of(&all),
        chunks,
        ids,
    }
}

impl Image {
    pub fn bytes(&self) -> u64 {
        self.chunks.iter().map(|c| c.len() as u64).sum()
    }
}

/// How one receiver behaves.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Percent of frames lost on its port.
    pub loss: u32,
    /// Percent of frames that arrive twice.
    pub duplicate: u32,
    /// Frames held back and delivered out of order, at most this many.
    pub reorder: usize,
    /// Joins this long after the session started.
    pub join_at: Duration,
    /// Killed this far into the session, and started again (with what it
    /// had written) this much later.
    pub restart: Option<(Duration, Duration)>,
    /// Chunk indexes already on its disk when it joins.
    pub holds: Vec<u32>,
    /// A complete chunk is decoded and written this long after its last
    /// symbol came (the client's workers and disk).
    pub decode_delay: Duration,
}

pub struct Peer {
    pub task: TaskId,
    pub plan: Plan,
    rng: Box<dyn FnMut() -> u64>,
    pub rx: Option<Receiver>,
    /// The disk: chunk bytes by index, as written.
    pub disk: Vec<Option<Vec<u8>>>,
    pub mode: Mode,
    pub reason: Option<String>,
    pub multicast_bytes: u64,
    pub unicast_bytes: u64,
    pub done_at: Option<Duration>,
    pub log: Vec<String>,
    /// Chunks on its disk when it was killed.
    pub held_at_kill: Option<usize>,
    next_report: Option<Instant>,
    held_back: VecDeque<Vec<u8>>,
    restarted: bool,
    down_until: Option<Instant>,
    /// Complete chunks waiting for the "workers".
    decoding: VecDeque<(Instant, Complete)>,
}

pub struct Room {
    pub image: Image,
    pub session: SessionId,
    pub sender: Sender,
    pub peers: Vec<Peer>,
    encoders: Vec<Option<ChunkEncoder>>,
    pub start: Instant,
    pub now: Instant,
    /// Frames from elsewhere, delivered to every receiver once at this time.
    pub foreign: Vec<(Duration, Vec<u8>)>,
    /// The server restarts (a new sender, fed only by reports) at this time.
    pub server_restart: Option<Duration>,
    pub ended: bool,
    /// The lowest rate the sender ran at.
    pub min_rate: u64,
    cap: u64,
}

impl Room {
    pub fn new(image: Image, rate_cap_bps: u64, plans: Vec<Plan>) -> Room {
        let start = Instant::now();
        let session = SessionId(0x5e55_1011);
        let sender = Sender::new(sender_config(&image, session, rate_cap_bps), start);
        let peers = plans
            .into_iter()
            .enumerate()
            .map(|(i, plan)| Peer {
                task: TaskId(i as i64 + 1),
                rng: Box::new(xorshift(0x9e37_79b9 + i as u64)),
                rx: None,
                disk: vec![None; image.chunks.len()],
                mode: Mode::Multicast,
                reason: None,
                multicast_bytes: 0,
                unicast_bytes: 0,
                done_at: None,
                log: Vec::new(),
                held_at_kill: None,
                next_report: None,
                held_back: VecDeque::new(),
                restarted: false,
                down_until: None,
                decoding: VecDeque::new(),
                plan,
            })
            .collect();
        Room {
            encoders: image.chunks.iter().map(|_| None).collect(),
            image,
            session,
            sender,
            peers,
            start,
            now: start,
            foreign: Vec::new(),
            server_restart: None,
            ended: false,
            min_rate: u64::MAX,
            cap: rate_cap_bps,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Runs until the sender has ended, or panics at [`GIVE_UP`].
    pub fn run(&mut self) {
        while !self.ended {
            assert!(
                self.elapsed() < GIVE_UP,
                "the room hangs: {:?} in, peers done: {:?}",
                self.elapsed(),
                self.peers.iter().map(|p| p.done_at).collect::<Vec<_>>()
            );
            self.step();
        }
    }

    fn step(&mut self) {
        let now = self.now;
        let elapsed = self.elapsed();
        if let Some(at) = self.server_restart {
            if elapsed >= at {
                self.server_restart = None;
                let cfg = sender_config(&self.image, self.session, self.cap);
                self.sender = Sender::new(cfg, now);
            }
        }
        let due: Vec<(Duration, Vec<u8>)> = self
            .foreign
            .iter()
            .filter(|(at, _)| *at <= elapsed)
            .cloned()
            .collect();
        self.foreign.retain(|(at, _)| *at > elapsed);
        for (_, frame) in due {
            for p in 0..self.peers.len() {
                self.deliver(p, &frame);
            }
        }
        for p in 0..self.peers.len() {
            self.lifecycle(p);
        }
        while let Some(t) = self.sender.poll_transmit(now) {
            for frame in self.frames(t) {
                for p in 0..self.peers.len() {
                    self.network(p, frame.clone());
                }
            }
        }
        self.min_rate = self.min_rate.min(self.sender.stats().rate_bps);
        if self.sender.ended() {
            self.ended = true;
            return;
        }
        if self.sender.is_finished(now) {
            self.sender.end(now);
        }
        let mut next = self.sender.poll_timeout();
        for p in &self.peers {
            if let Some(r) = p.next_report {
                next = next.min(r);
            }
            if let Some((at, _)) = p.decoding.front() {
                next = next.min(*at);
            }
        }
        let floor = now + Duration::from_micros(50);
        self.now = next.max(floor);
    }

    fn frames(&mut self, t: Transmit) -> Vec<Vec<u8>> {
        match t {
            Transmit::Announce(a) => vec![Frame::Announce(a).to_vec()],
            Transmit::Symbols {
                index,
                first_esi,
                count,
                first_seq,
            } => {
                let i = index as usize;
                let enc = self.encoders[i].get_or_insert_with(|| {
                    ChunkEncoder::new(self.image.chunks[i].clone(), SYMBOL_SIZE)
                });
                let mut sym = vec![0u8; SYMBOL_SIZE as usize];
                (0..count)
                    .map(|n| {
                        enc.symbol(first_esi + n, &mut sym);
                        Frame::Symbol(SymbolFrame {
                            session: self.session,
                            image: self.image.id,
                            chunk_index: index,
                            chunk: self.image.ids[i],
                            chunk_len: self.image.chunks[i].len() as u32,
                            esi: first_esi + n,
                            seq: first_seq + n as u64,
                            symbol: &sym,
                        })
                        .to_vec()
                    })
                    .collect()
            }
        }
    }

    /// Loss, duplication and reordering on the way to peer `p`.
    fn network(&mut self, p: usize, frame: Vec<u8>) {
        let peer = &mut self.peers[p];
        if (peer.rng)() % 100 < peer.plan.loss as u64 {
            return;
        }
        let twice = (peer.rng)() % 100 < peer.plan.duplicate as u64;
        let mut out = Vec::new();
        if peer.plan.reorder > 0 {
            peer.held_back.push_back(frame.clone());
            if twice {
                peer.held_back.push_back(frame);
            }
            while peer.held_back.len() > peer.plan.reorder {
                let at = ((peer.rng)() % peer.held_back.len() as u64) as usize;
                out.push(peer.held_back.remove(at).expect("in range"));
            }
        } else {
            if twice {
                out.push(frame.clone());
            }
            out.push(frame);
        }
        for f in out {
            self.deliver(p, &f);
        }
    }

    fn deliver(&mut self, p: usize, frame: &[u8]) {
        let now = self.now;
        let peer = &mut self.peers[p];
        let Some(rx) = peer.rx.as_mut() else { return };
        match rx.handle_datagram(now, frame) {
            Event::Nothing => {}
            Event::Ignored(why) => peer.log.push(format!("ignored a {why}")),
            Event::Complete(c) if peer.plan.decode_delay.is_zero() => self.decode(p, c),
            Event::Complete(c) => {
                let at = now + peer.plan.decode_delay;
                peer.decoding.push_back((at, c));
            }
        }
    }

    fn decode(&mut self, p: usize, c: Complete) {
        let image = &self.image;
        let peer = &mut self.peers[p];
        let Some(rx) = peer.rx.as_mut() else { return };
        let mut c = c;
        {
            loop {
                let index = c.index as usize;
                match decode(c.len, SYMBOL_SIZE, &c.symbols) {
                    Some(bytes) if ChunkId::of(&bytes) == image.ids[index] => {
                        peer.multicast_bytes += bytes.len() as u64;
                        peer.disk[index] = Some(bytes);
                        rx.mark_done(c.index);
                        break;
                    }
                    Some(_) => {
                        rx.corrupt(c.index);
                        break;
                    }
                    None => match rx.undecodable(c) {
                        Some(again) => c = again,
                        None => break,
                    },
                }
            }
        }
    }

    /// Joins, restarts, reports and unicast fetches of peer `p`.
    fn lifecycle(&mut self, p: usize) {
        let now = self.now;
        let elapsed = self.elapsed();
        let session = self.session;
        while let Some((at, _)) = self.peers[p].decoding.front() {
            if *at > now {
                break;
            }
            let (_, c) = self.peers[p].decoding.pop_front().expect("looked at");
            self.decode(p, c);
        }
        let image = &self.image;
        let peer = &mut self.peers[p];
        if peer.done_at.is_some() {
            return;
        }
        if let Some((at, down)) = peer.plan.restart {
            if !peer.restarted && peer.rx.is_some() && elapsed >= at {
                // Killed: whatever it held in memory is gone; its disk stays.
                peer.restarted = true;
                peer.held_at_kill = Some(peer.disk.iter().filter(|c| c.is_some()).count());
                peer.rx = None;
                peer.held_back.clear();
                peer.decoding.clear();
                peer.next_report = None;
                peer.down_until = Some(now + down);
                return;
            }
        }
        if peer.down_until.is_some_and(|t| now < t) {
            return;
        }
        if peer.rx.is_none() {
            if elapsed < peer.plan.join_at {
                return;
            }
            // Joining: the delta pass finds the chunks already on disk.
            let mut rx = Receiver::new(ReceiverConfig {
                session,
                image: image.id,
                chunks: image.ids.clone(),
                symbol_size: SYMBOL_SIZE,
                memory_limit: 64 << 20,
            });
            for &i in &peer.plan.holds {
                peer.disk[i as usize] = Some(image.chunks[i as usize].clone());
            }
            for (i, c) in peer.disk.iter().enumerate() {
                if c.as_deref() == Some(&image.chunks[i][..]) {
                    rx.mark_done(i as u32);
                }
            }
            rx.listen(now);
            peer.rx = Some(rx);
            peer.next_report = Some(now);
        }
        if peer.next_report.is_some_and(|t| now < t) {
            return;
        }
        peer.next_report = Some(now + REPORT_EVERY);
        let rx = peer.rx.as_mut().expect("joined above");
        if peer.mode == Mode::Unicast {
            // The fallback: fetch every missing chunk over HTTP.
            for i in rx.missing() {
                let bytes = image.chunks[i as usize].clone();
                peer.unicast_bytes += bytes.len() as u64;
                peer.disk[i as usize] = Some(bytes);
                rx.mark_done(i);
            }
        }
        let finished = rx.finished();
        let c = rx.counters(now);
        let report = ReceiverReport {
            phase: if finished {
                ReceiverPhase::Done
            } else if peer.mode == Mode::Unicast {
                ReceiverPhase::Unicast
            } else {
                ReceiverPhase::Receiving
            },
            done: rx.done().clone(),
            partial: c.partial,
            received: c.received,
            last_seq: c.last_seq,
            multicast_bytes: peer.multicast_bytes,
            unicast_bytes: peer.unicast_bytes,
            done_bytes: 0,
            total_bytes: image.bytes(),
            silent: c.silent,
            corrupt: c.corrupt,
            ignored: c.ignored,
        };
        let reply = self.sender.handle_report(now, peer.task, &report);
        if finished {
            peer.done_at = Some(elapsed);
            peer.next_report = None;
            return;
        }
        if reply.mode == Mode::Unicast && peer.mode == Mode::Multicast {
            peer.mode = Mode::Unicast;
            peer.reason = reply.reason;
            peer.next_report = Some(now);
        }
        if reply.state == SessionState::Done && peer.mode == Mode::Multicast {
            // The session ended before this receiver had everything.
            peer.mode = Mode::Unicast;
            peer.reason = Some("the session ended".into());
            peer.next_report = Some(now);
        }
    }

    /// Every peer's disk holds the image, chunk for chunk.
    pub fn assert_every_copy_is_the_image(&self) {
        for p in &self.peers {
            for (i, c) in p.disk.iter().enumerate() {
                assert_eq!(
                    c.as_deref(),
                    Some(&self.image.chunks[i][..]),
                    "peer {} chunk {i}",
                    p.task.0
                );
            }
        }
    }

    /// The stored bytes of the image sent once, over all symbols sent.
    pub fn efficiency(&self) -> f64 {
        let s = self.sender.stats();
        let payload = (s.sent_frames as f64) * SYMBOL_SIZE as f64;
        self.image.bytes() as f64 / payload
    }
}

fn sender_config(image: &Image, session: SessionId, rate_cap_bps: u64) -> SenderConfig {
    SenderConfig {
        session,
        image: image.id,
        chunks: image
            .ids
            .iter()
            .zip(&image.chunks)
            .map(|(id, c)| ChunkMeta {
                id: *id,
                len: c.len() as u32,
            })
            .collect(),
        symbol_size: SYMBOL_SIZE,
        rate_cap_bps,
    }
}
