//! The sender of a session, as a state machine on caller-supplied time:
//! [`Sender::handle_report`] takes a receiver's report and answers it,
//! [`Sender::poll_transmit`] says what to send next (which symbols of
//! which chunk, or an announce), [`Sender::poll_timeout`] when to ask
//! again. The driver turns a [`Transmit`] into frames with a
//! [`super::fec::ChunkEncoder`] and sends them; nothing here does I/O.
//!
//! The carousel walks the session's chunk table over and over. At each
//! chunk it asks whether a receiver still on multicast lacks it, going by
//! the receivers' reports, and sends only then: as many symbols as the
//! neediest of them is short of (K for one that holds none), plus a
//! margin for the room's loss. Symbols of a chunk never repeat: a later
//! pass sends fresh repair symbols (higher ESIs), so whatever a receiver
//! caught before still counts. A chunk just sent is not sent again until
//! a receiver that lacks it has reported since, so a short last pass does
//! not spin on one chunk.
//!
//! Receivers are never waited for. One that joins late is served when the
//! carousel comes round; one that loses heavily, hears nothing, or gets
//! corrupt chunks is told to fetch the rest over HTTP (the fallback rule,
//! [`fallback`]); the rate follows the room's median loss
//! ([`super::rate`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::rate::{median, room_loss, RateControl};
use super::wire::{source_symbols, Announce, AnnounceState, SessionId, MAX_ESI, SYMBOL_HEADER_LEN};
use crate::api::session::{Mode, ReceiverPhase, ReceiverReport, ReportReply, SessionState};
use marrow_ids::{ChunkId, ImageId, TaskId};

/// How often the sender announces itself.
pub const ANNOUNCE_EVERY: Duration = Duration::from_millis(500);
/// A receiver that has not reported for this long is not served (it
/// rebooted, or lost its link) until it reports again.
pub const AWAY_AFTER: Duration = Duration::from_secs(10);
/// A receiver silent for this long has left: the session may end without
/// it (it fetches what it lacks over HTTP when it comes back).
pub const LEAVE_AFTER: Duration = Duration::from_secs(120);
/// A chunk is sent again this long after it was last sent even when no
/// report came in between.
pub const RESEND_AFTER: Duration = Duration::from_secs(2);
/// A report must arrive this long after a chunk was sent to speak for it
/// (one built before the symbols arrived may still be in flight).
pub const REPORT_SLACK: Duration = Duration::from_millis(200);
/// How often the rate is adjusted.
pub const RATE_EVERY: Duration = Duration::from_secs(1);
/// With nothing to send, how long before the table is scanned again (a
/// report ends the wait at once).
pub const IDLE_RECHECK: Duration = Duration::from_millis(100);
/// Most symbols in one [`Transmit::Symbols`].
pub const MAX_BATCH: u32 = 16;
/// Frames the pacer may send back to back after a stall.
pub const BURST: u32 = 32;
/// Announces sent once the session ends.
pub const ENDING_ANNOUNCES: u32 = 3;
/// The fallback rule: a receiver losing more than this fraction of frames
/// over [`FALLBACK_WINDOWS`] report intervals in a row, each of at least
/// [`MIN_WINDOW_FRAMES`] frames, goes to unicast.
pub const FALLBACK_LOSS: f64 = 0.25;
pub const FALLBACK_WINDOWS: usize = 3;
pub const MIN_WINDOW_FRAMES: u64 = 100;
/// A receiver that says it hears nothing goes to unicast once it has said
/// so for this long to this sender (a sender that just started, as after
/// a server restart, gets its chance first).
pub const SILENT_GRACE: Duration = Duration::from_secs(5);
/// A receiver with this many chunks that failed verification goes to
/// unicast: something on the LAN sends frames that look like ours.
pub const CORRUPT_LIMIT: u64 = 3;
/// The loss FEC margins are sized for is capped here; above it a receiver
/// is on its way to the fallback.
pub const MAX_FEC_LOSS: f64 = 0.2;
/// IPv4 and UDP headers, counted in the rate.
const IP_UDP: u64 = 28;

/// A chunk of the session's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    pub id: ChunkId,
    /// Stored (compressed) length: RFC 6330's F.
    pub len: u32,
}

#[derive(Debug, Clone)]
pub struct SenderConfig {
    pub session: SessionId,
    pub image: ImageId,
    pub chunks: Vec<ChunkMeta>,
    pub symbol_size: u16,
    /// `--rate-cap`, bits per second at the IP layer.
    pub rate_cap_bps: u64,
}

/// What to send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Symbols `first_esi..first_esi + count` of chunk `index`, in frames
    /// numbered `first_seq..first_seq + count`.
    Symbols {
        index: u32,
        first_esi: u32,
        count: u32,
        first_seq: u64,
    },
    Announce(Announce),
}

/// One receiver, as its reports describe it.
#[derive(Debug, Clone)]
struct Member {
    mode: Mode,
    reason: Option<String>,
    last_report: Instant,
    /// `(received, last_seq)` of the previous report.
    counters: Option<(u64, u64)>,
    /// `(expected, got)` frames per report interval, newest last.
    windows: VecDeque<(u64, u64)>,
    /// The loss of the newest window not yet used by the rate control,
    /// and the rate at which it received in it (bits per second, IP
    /// layer).
    fresh_loss: Option<f64>,
    fresh_goodput: Option<u64>,
    partial: HashMap<u32, u32>,
    report: ReceiverReport,
    left: bool,
    /// Since when its reports say it hears nothing.
    silent_since: Option<Instant>,
}

impl Member {
    fn loss(&self) -> Option<f64> {
        let &(expected, got) = self.windows.back()?;
        (expected > 0).then(|| 1.0 - got.min(expected) as f64 / expected as f64)
    }

    /// Listening to the group and served by it.
    fn served(&self, now: Instant) -> bool {
        !self.left
            && self.mode == Mode::Multicast
            && matches!(
                self.report.phase,
                ReceiverPhase::Ready | ReceiverPhase::Receiving
            )
            && now.saturating_duration_since(self.last_report) < AWAY_AFTER
    }
}

/// A receiver's state for `marrow session show`.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberStatus {
    pub id: TaskId,
    pub phase: ReceiverPhase,
    pub mode: Mode,
    pub reason: Option<String>,
    /// Loss over the last report interval.
    pub loss: Option<f64>,
    pub multicast_bytes: u64,
    pub unicast_bytes: u64,
    pub done_bytes: u64,
    pub total_bytes: u64,
    /// Not reported for [`AWAY_AFTER`].
    pub away: bool,
    pub left: bool,
}

/// The sender's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// Datagram bytes sent (symbols and announces).
    pub sent_bytes: u64,
    pub sent_frames: u64,
    /// Repair symbols (ESI ≥ K) among them.
    pub repair_symbols: u64,
    /// Passes of the carousel begun.
    pub cycles: u32,
    pub rate_bps: u64,
}

struct Burst {
    index: u32,
    esi: u32,
    remaining: u32,
}

pub struct Sender {
    cfg: SenderConfig,
    k: Vec<u32>,
    next_esi: Vec<u32>,
    last_sent: Vec<Option<Instant>>,
    members: BTreeMap<TaskId, Member>,
    /// The carousel's position, never wrapped: chunk `pos % n`, pass
    /// `pos / n`.
    pos: u64,
    seq: u64,
    burst: Option<Burst>,
    rate: RateControl,
    next_send: Instant,
    next_announce: Instant,
    next_rate: Instant,
    idle_until: Option<Instant>,
    started: Instant,
    ending: Option<u32>,
    stats: SenderStats,
}

impl Sender {
    pub fn new(cfg: SenderConfig, now: Instant) -> Sender {
        let n = cfg.chunks.len();
        let k = cfg
            .chunks
            .iter()
            .map(|c| source_symbols(c.len, cfg.symbol_size))
            .collect();
        let rate = RateControl::new(cfg.rate_cap_bps);
        Sender {
            k,
            next_esi: vec![0; n],
            last_sent: vec![None; n],
            members: BTreeMap::new(),
            pos: 0,
            seq: 0,
            burst: None,
            stats: SenderStats {
                rate_bps: rate.rate(),
                ..SenderStats::default()
            },
            rate,
            next_send: now,
            next_announce: now,
            next_rate: now + RATE_EVERY,
            idle_until: None,
            started: now,
            ending: None,
            cfg,
        }
    }

    pub fn session(&self) -> SessionId {
        self.cfg.session
    }

    fn frame_bytes(&self) -> u64 {
        SYMBOL_HEADER_LEN as u64 + self.cfg.symbol_size as u64 + IP_UDP
    }

    fn frame_time(&self) -> Duration {
        Duration::from_nanos(
            (self.frame_bytes() * 8 * 1_000_000_000 / self.rate.rate().max(1)).max(1),
        )
    }

    /// Takes receiver `id`'s report and says how it is to carry on. A
    /// receiver the sender does not know (a late joiner, or any receiver
    /// after a server restart) is added.
    pub fn handle_report(
        &mut self,
        now: Instant,
        id: TaskId,
        report: &ReceiverReport,
    ) -> ReportReply {
        let n = self.k.len() as u32;
        let frame_bits = self.frame_bytes() * 8;
        let m = self.members.entry(id).or_insert_with(|| Member {
            mode: Mode::Multicast,
            reason: None,
            last_report: now,
            counters: None,
            windows: VecDeque::new(),
            fresh_loss: None,
            fresh_goodput: None,
            partial: HashMap::new(),
            report: report.clone(),
            left: false,
            silent_since: None,
        });
        m.left = false;
        let interval = now.saturating_duration_since(m.last_report);
        m.last_report = now;
        // Loss over the interval since the last report: frames sent in it
        // (by sequence number) against frames this receiver got. A
        // receiver that restarted counts from zero again. The interval
        // counts only when the receiver had frames at its start: before
        // its first frame its last sequence number is 0, not where the
        // sender was, so every frame sent before it joined the group would
        // count as lost and the time before as idle. A whole room joining
        // just after the start made the sender back off from 400 to 26
        // Mbit/s in its first second (measured with 8 receivers).
        match m.counters {
            Some((received, last_seq))
                if received > 0 && report.received >= received && report.last_seq >= last_seq =>
            {
                let expected = report.last_seq - last_seq;
                let got = report.received - received;
                if expected > 0 {
                    m.windows.push_back((expected, got));
                    while m.windows.len() > FALLBACK_WINDOWS {
                        m.windows.pop_front();
                    }
                    m.fresh_loss = m.loss();
                    let secs = interval.as_secs_f64();
                    m.fresh_goodput =
                        (secs > 0.05).then(|| (got as f64 * frame_bits as f64 / secs) as u64);
                }
            }
            _ => m.windows.clear(),
        }
        m.counters = Some((report.received, report.last_seq));
        m.partial.clear();
        for &[index, have, max_esi] in report.partial.iter().take(crate::api::session::MAX_PARTIAL)
        {
            if index < n {
                m.partial.insert(index, have);
                // Later symbols must be new to every receiver, also after
                // a restart of the server, which forgets what it sent.
                let next = &mut self.next_esi[index as usize];
                *next = (*next).max(max_esi.saturating_add(1)).min(MAX_ESI);
            }
        }
        m.report = report.clone();
        m.silent_since = match report.silent {
            true => Some(m.silent_since.unwrap_or(now)),
            false => None,
        };
        if m.mode == Mode::Multicast {
            if let Some(reason) = fallback(m, now) {
                m.mode = Mode::Unicast;
                m.reason = Some(reason);
            }
        }
        self.idle_until = None;
        ReportReply {
            state: if self.ending.is_some() {
                SessionState::Done
            } else {
                SessionState::Running
            },
            channel: None,
            mode: m.mode,
            reason: m.reason.clone(),
        }
    }

    /// Receiver `id`'s task ended (done, failed, cancelled): it is no
    /// longer served or waited for.
    pub fn leave(&mut self, id: TaskId) {
        if let Some(m) = self.members.get_mut(&id) {
            m.left = true;
        }
    }

    /// Every receiver has finished or left (and, with none heard of at all,
    /// [`LEAVE_AFTER`] has passed since the start, as after a server
    /// restart that no receiver survived).
    pub fn is_finished(&self, now: Instant) -> bool {
        if self.members.is_empty() {
            return now.saturating_duration_since(self.started) >= LEAVE_AFTER;
        }
        self.members.values().all(|m| {
            m.left
                || m.report.phase == ReceiverPhase::Done
                || now.saturating_duration_since(m.last_report) >= LEAVE_AFTER
        })
    }

    /// Ends the session: no more symbols, and [`ENDING_ANNOUNCES`]
    /// announces that say so.
    pub fn end(&mut self, now: Instant) {
        if self.ending.is_none() {
            self.ending = Some(0);
            self.burst = None;
            self.next_announce = now;
        }
    }

    /// The ending announces are out: the driver may stop.
    pub fn ended(&self) -> bool {
        self.ending.is_some_and(|sent| sent >= ENDING_ANNOUNCES)
    }

    fn announce(&self) -> Announce {
        Announce {
            session: self.cfg.session,
            image: self.cfg.image,
            seq: self.seq,
            cycle: self.stats.cycles,
            chunk_count: self.k.len() as u32,
            symbol_size: self.cfg.symbol_size,
            state: if self.ending.is_some() {
                AnnounceState::Ending
            } else {
                AnnounceState::Running
            },
            rate_kbit: (self.rate.rate() / 1000).min(u32::MAX as u64) as u32,
        }
    }

    fn update_rate(&mut self, now: Instant) {
        if now < self.next_rate {
            return;
        }
        self.next_rate = now + RATE_EVERY;
        let (losses, goodputs): (Vec<f64>, Vec<Option<u64>>) = self
            .members
            .values_mut()
            .filter(|m| {
                !m.left
                    && m.mode == Mode::Multicast
                    && now.saturating_duration_since(m.last_report) < AWAY_AFTER
            })
            .filter_map(|m| Some((m.fresh_loss.take()?, m.fresh_goodput.take())))
            .unzip();
        let goodput = median(goodputs.into_iter().flatten().collect());
        self.rate.update(room_loss(losses).map(|l| (l, goodput)));
        self.stats.rate_bps = self.rate.rate();
    }

    /// The loss FEC margins cover: the worst of the served receivers',
    /// capped at [`MAX_FEC_LOSS`]; 1 % before anyone reported.
    fn fec_loss(&self, now: Instant) -> f64 {
        self.members
            .values()
            .filter(|m| m.served(now))
            .filter_map(Member::loss)
            .fold(None, |a: Option<f64>, l| Some(a.map_or(l, |a| a.max(l))))
            .unwrap_or(0.01)
            .min(MAX_FEC_LOSS)
    }

    /// How many symbols of chunk `i` to send now, or `None` when no served
    /// receiver needs it (or every one that does has not reported since it
    /// was last sent).
    fn demand(&self, i: u32, now: Instant) -> Option<u32> {
        let k = self.k[i as usize];
        let last = self.last_sent[i as usize];
        let mut need = None;
        for m in self.members.values().filter(|m| m.served(now)) {
            if m.report.done.contains(i) {
                continue;
            }
            if let Some(sent) = last {
                let spoke_since = m.last_report >= sent + REPORT_SLACK;
                if !spoke_since && now.saturating_duration_since(sent) < RESEND_AFTER {
                    continue;
                }
            }
            let have = m.partial.get(&i).copied().unwrap_or(0).min(k);
            if have == k {
                // It holds enough and is decoding.
                continue;
            }
            need = Some(need.unwrap_or(0).max(k - have));
        }
        let need = need?.max(1);
        let p = self.fec_loss(now);
        // Enough that the expected arrivals cover the need, with two
        // standard deviations and one symbol to spare.
        let n = need as f64 / (1.0 - p) + 2.0 * (need as f64 * p).sqrt() + 1.0;
        Some(n.ceil() as u32)
    }

    /// The next chunk the carousel finds a demand for, from its position.
    fn next_burst(&mut self, now: Instant) -> Option<Burst> {
        let n = self.k.len() as u64;
        for step in 0..n {
            let p = self.pos + step;
            let i = (p % n) as u32;
            if let Some(count) = self.demand(i, now) {
                self.pos = p + 1;
                self.stats.cycles = self.stats.cycles.max((p / n) as u32 + 1);
                let mut esi = self.next_esi[i as usize];
                if esi as u64 + count as u64 > MAX_ESI as u64 {
                    // 16 M symbols of one chunk: start the repair ESIs over.
                    esi = self.k[i as usize];
                }
                return Some(Burst {
                    index: i,
                    esi,
                    remaining: count,
                });
            }
        }
        None
    }

    /// What to send now, if anything: an announce when one is due, else
    /// the next symbols the pacer allows.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        self.update_rate(now);
        if now >= self.next_announce {
            self.next_announce = now + ANNOUNCE_EVERY;
            if let Some(sent) = self.ending.as_mut() {
                if *sent >= ENDING_ANNOUNCES {
                    return None;
                }
                *sent += 1;
            }
            let a = self.announce();
            self.stats.sent_frames += 1;
            self.stats.sent_bytes += super::wire::ANNOUNCE_LEN as u64;
            return Some(Transmit::Announce(a));
        }
        if self.ending.is_some() || self.k.is_empty() {
            return None;
        }
        let ft = self.frame_time();
        if let Some(earliest) = now.checked_sub(ft * BURST) {
            if self.next_send < earliest {
                self.next_send = earliest;
            }
        }
        if self.next_send > now {
            return None;
        }
        if self.burst.is_none() {
            if self.idle_until.is_some_and(|t| now < t) {
                return None;
            }
            match self.next_burst(now) {
                Some(b) => self.burst = Some(b),
                None => {
                    self.idle_until = Some(now + IDLE_RECHECK);
                    return None;
                }
            }
        }
        let allowed = (now.duration_since(self.next_send).as_nanos() / ft.as_nanos()) as u32 + 1;
        let b = self.burst.as_mut().expect("set above");
        let count = b.remaining.min(MAX_BATCH).min(allowed);
        let k = self.k[b.index as usize];
        let t = Transmit::Symbols {
            index: b.index,
            first_esi: b.esi,
            count,
            first_seq: self.seq + 1,
        };
        let repair = (b.esi..b.esi + count).filter(|&e| e >= k).count() as u64;
        b.esi += count;
        b.remaining -= count;
        let (index, next) = (b.index, b.esi);
        if b.remaining == 0 {
            self.burst = None;
            self.last_sent[index as usize] = Some(now);
        }
        self.next_esi[index as usize] = next;
        self.seq += count as u64;
        self.next_send += ft * count;
        let frame = SYMBOL_HEADER_LEN as u64 + self.cfg.symbol_size as u64;
        self.stats.sent_frames += count as u64;
        self.stats.sent_bytes += frame * count as u64;
        self.stats.repair_symbols += repair;
        Some(t)
    }

    /// When to call [`Sender::poll_transmit`] next.
    pub fn poll_timeout(&self) -> Instant {
        let mut at = self.next_announce;
        if self.ending.is_none() {
            let work = match (&self.burst, self.idle_until) {
                (Some(_), _) | (None, None) => Some(self.next_send),
                (None, Some(idle)) => Some(idle.max(self.next_send)),
            };
            if let Some(w) = work {
                at = at.min(w);
            }
        }
        at
    }

    pub fn stats(&self) -> SenderStats {
        self.stats
    }

    /// Every receiver heard of, by task.
    pub fn members(&self, now: Instant) -> Vec<MemberStatus> {
        self.members
            .iter()
            .map(|(&id, m)| MemberStatus {
                id,
                phase: m.report.phase,
                mode: m.mode,
                reason: m.reason.clone(),
                loss: m.loss(),
                multicast_bytes: m.report.multicast_bytes,
                unicast_bytes: m.report.unicast_bytes,
                done_bytes: m.report.done_bytes,
                total_bytes: m.report.total_bytes,
                away: now.saturating_duration_since(m.last_report) >= AWAY_AFTER,
                left: m.left,
            })
            .collect()
    }
}

/// The fallback rule: why a receiver on multicast should fetch the rest
/// over HTTP instead, or `None` to keep it on multicast.
fn fallback(m: &Member, now: Instant) -> Option<String> {
    let r = &m.report;
    if r.phase == ReceiverPhase::Unicast {
        return Some("the receiver chose to".into());
    }
    let deaf = m
        .silent_since
        .is_some_and(|since| now.saturating_duration_since(since) >= SILENT_GRACE);
    if deaf && r.phase == ReceiverPhase::Receiving {
        return Some(
            "no multicast frame reached it while the session ran: the switch may not forward the group (IGMP snooping without a querier?), or a firewall drops it"
                .into(),
        );
    }
    if r.corrupt >= CORRUPT_LIMIT {
        return Some(format!(
            "{} chunks it decoded failed verification: is another sender using the group?",
            r.corrupt
        ));
    }
    let lossy = m.windows.len() == FALLBACK_WINDOWS
        && m.windows.iter().all(|&(expected, got)| {
            expected >= MIN_WINDOW_FRAMES
                && 1.0 - got.min(expected) as f64 / expected as f64 > FALLBACK_LOSS
        });
    if lossy {
        let (e, g) = m
            .windows
            .iter()
            .fold((0, 0), |(e, g), &(we, wg)| (e + we, g + wg.min(we)));
        return Some(format!(
            "it lost {:.0} % of the multicast frames over its last {FALLBACK_WINDOWS} reports",
            100.0 * (1.0 - g as f64 / e as f64)
        ));
    }
    None
}
