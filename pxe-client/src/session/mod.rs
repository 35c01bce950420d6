//! A restore that belongs to a multicast session: the chunks come from
//! the session's group, in the sender's order, each verified before it is
//! written wherever the image's placement puts it; what the group does
//! not bring, HTTP does.
//!
//! 1. Join the session (the server says its group once it runs).
//! 2. The delta pass: a chunk already on the disk in every slot is done
//!    (an interrupted run, or an older image sharing it, resumes here).
//! 3. Listen to the group and report, about once a second, which chunks
//!    are done and which partly received; the sender sends what the room
//!    lacks.
//! 4. When the server says so (heavy loss, no multicast at all, corrupt
//!    chunks), or the session ends first, fetch the rest over HTTP.
//!
//! The receive loop alone holds the [`Receiver`] state machine; scanning,
//! decoding, writing and fetching run on workers ([`workers`]) and
//! reports on their own thread ([`reporter`]).

mod group;
mod reporter;
mod workers;

use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image_format::manifest::Manifest;
use image_format::placement::Placement;
use image_format::plan::RestorePlan;
use image_format::progress::Progress;
use image_format::restore::{Target, Writer};
use marrow_protocol::api::session::{
    Channel, Join, Mode, ReceiverPhase, ReceiverReport, SessionState,
};
use marrow_protocol::multicast::receiver::{Event, Receiver, ReceiverConfig, DEFAULT_MEMORY_LIMIT};
use marrow_protocol::multicast::wire::MAX_DATAGRAM;
use std::net::UdpSocket;

use crate::api::Client;
use crate::remote_store::HttpStore;
use crate::{Error, Result};
use reporter::Reporter;
use workers::{Job, Outcome, Via, Work};

/// What a session restore did.
#[derive(Debug, Clone, Default)]
pub struct SessionStats {
    pub written_bytes: u64,
    pub skipped_bytes: u64,
    /// Stored bytes that came from the group, and over HTTP.
    pub multicast_bytes: u64,
    pub unicast_bytes: u64,
    pub multicast_chunks: u64,
    pub unicast_chunks: u64,
    /// Why the rest came over HTTP, when it did.
    pub unicast_reason: Option<String>,
    /// Frames refused (another session's or image's, malformed).
    pub ignored_frames: u64,
}

pub struct SessionRestore<'a> {
    pub client: &'a Arc<Client>,
    /// The image name of the task's paths.
    pub image: &'a str,
    pub manifest: &'a Manifest,
    pub plan: &'a RestorePlan,
    pub target: &'a Target,
    /// Join the group on this interface instead of the one that routes
    /// to the server.
    pub interface: Option<&'a str>,
    pub threads: usize,
    pub progress: &'a dyn Progress,
}

/// Frames read per turn of the loop before it looks at outcomes.
const PER_TURN: usize = 256;
/// How long the loop naps once the socket's queue is empty, so frames
/// gather in the receive buffer (16 MiB; at 1 Gbit/s this is about 250
/// KB) and are read in a run. Waking once per frame instead cost more
/// than the frame: measured with 8 receivers at 400 Mbit/s on 2 cores, a
/// receiver spent 9.7 CPU seconds against 4.3 alone, most of it in
/// wakeups and context switches, its own and the sender's.
const GATHER: Duration = Duration::from_millis(2);
/// Refusals of one kind printed before they are only counted.
const LOGGED_REFUSALS: u32 = 5;

pub fn restore(s: &SessionRestore<'_>) -> Result<SessionStats> {
    let join = s.client.session_join()?;
    if join.manifest != s.manifest.id() {
        return Err(Error::Usage(format!(
            "session {} restores image {}, but the task's manifest is {}",
            join.id,
            join.manifest,
            s.manifest.id()
        )));
    }
    let store = HttpStore::new(s.client.clone(), s.image);
    let placement = Placement::new(&s.manifest.regions, &store)?;
    let table = placement.distinct();
    if table.len() as u32 != join.chunk_count {
        return Err(Error::Usage(format!(
            "session {} has {} chunks in its table, the manifest {}",
            join.id,
            join.chunk_count,
            table.len()
        )));
    }
    let slots = placement.by_chunk();
    let plain: Vec<u64> = table
        .iter()
        .map(|id| {
            slots[id]
                .iter()
                .map(|&i| placement.slots()[i].len as u64)
                .sum()
        })
        .collect();
    let writer = Writer::new(s.target, &placement);
    let work = Work {
        table: &table,
        slots: &slots,
        placement: &placement,
        writer: &writer,
        store: &store,
        symbol_size: join.symbol_size,
        source: format!("session {} on {}", join.id, s.client.base()),
    };
    s.progress
        .start("restore", s.plan.data_bytes() + s.plan.zero_bytes());
    let reporter = Arc::new(Reporter::default());
    let (job_tx, job_rx) = mpsc::channel::<Job>();
    let job_rx = Mutex::new(job_rx);
    let (out_tx, out_rx) = mpsc::channel::<Outcome>();
    let mut stats = std::thread::scope(|scope| -> Result<SessionStats> {
        let zeros = scope.spawn(|| -> Result<()> {
            for z in placement.zeros() {
                writer.zero(z, s.plan.delta)?;
                s.progress.advance(z.len);
            }
            Ok(())
        });
        for _ in 0..s.threads.max(2) {
            let tx = out_tx.clone();
            let (work, jobs) = (&work, &job_rx);
            scope.spawn(move || work.run(jobs, tx));
        }
        let r = reporter.clone();
        let client = s.client.clone();
        scope.spawn(move || r.run(&client));
        let mut room = Room {
            s,
            join: &join,
            plain: &plain,
            rx: Receiver::new(ReceiverConfig {
                session: join.wire_id,
                image: join.manifest,
                chunks: table.clone(),
                symbol_size: join.symbol_size,
                memory_limit: DEFAULT_MEMORY_LIMIT,
            }),
            jobs: job_tx,
            outcomes: out_rx,
            reporter: &reporter,
            in_flight: 0,
            fetching: HashSet::new(),
            mode: Mode::Multicast,
            sock: None,
            stats: SessionStats::default(),
            refusals: HashMap::new(),
            done_bytes: 0,
        };
        let result = room.run();
        reporter.stop();
        drop(room.jobs);
        let zeroed = zeros.join().expect("zero writer does not panic");
        let stats = result?;
        zeroed?;
        Ok(stats)
    })?;
    for w in &s.plan.table_writes {
        writer.write_raw(&w.bytes, w.offset)?;
    }
    s.target.sync()?;
    s.progress.finish();
    stats.written_bytes = writer.written();
    stats.skipped_bytes = writer.skipped();
    Ok(stats)
}

struct Room<'a, 's> {
    s: &'a SessionRestore<'s>,
    join: &'a Join,
    plain: &'a [u64],
    rx: Receiver,
    jobs: mpsc::Sender<Job>,
    outcomes: mpsc::Receiver<Outcome>,
    reporter: &'a Reporter,
    in_flight: usize,
    fetching: HashSet<u32>,
    mode: Mode,
    sock: Option<UdpSocket>,
    stats: SessionStats,
    refusals: HashMap<String, u32>,
    done_bytes: u64,
}

impl Room<'_, '_> {
    fn send(&mut self, job: Job) {
        self.in_flight += 1;
        // The workers outlive the loop, so the queue is open.
        let _ = self.jobs.send(job);
    }

    fn finished(&self) -> bool {
        self.rx.finished() && self.in_flight == 0
    }

    fn phase(&self, scanning: bool) -> ReceiverPhase {
        if self.finished() {
            ReceiverPhase::Done
        } else if scanning {
            ReceiverPhase::Scanning
        } else if self.mode == Mode::Unicast {
            ReceiverPhase::Unicast
        } else if self.sock.is_some() {
            ReceiverPhase::Receiving
        } else {
            ReceiverPhase::Ready
        }
    }

    fn report(&self, scanning: bool) -> ReceiverReport {
        let c = self.rx.counters(Instant::now());
        ReceiverReport {
            phase: self.phase(scanning),
            done: self.rx.done().clone(),
            partial: c.partial,
            received: c.received,
            last_seq: c.last_seq,
            multicast_bytes: self.stats.multicast_bytes,
            unicast_bytes: self.stats.unicast_bytes,
            done_bytes: self.done_bytes,
            total_bytes: self.plain.iter().sum(),
            silent: c.silent,
            corrupt: c.corrupt,
            ignored: c.ignored,
        }
    }

    fn run(&mut self) -> Result<SessionStats> {
        let n = self.rx.chunk_count();
        let mut scan_left = 0u32;
        if self.s.plan.delta {
            for i in 0..n {
                self.send(Job::Scan(i));
            }
            scan_left = n;
        }
        let every = Duration::from_millis(self.join.report_ms.max(250) as u64);
        let mut next_report = Instant::now();
        let mut buf = vec![0u8; MAX_DATAGRAM + 64];
        loop {
            if let Some(why) = self.reporter.gone() {
                return Err(Error::Usage(format!(
                    "the server no longer knows this task (cancelled?): {why}"
                )));
            }
            let waited = self.intake(&mut buf);
            self.outcomes(waited, &mut scan_left)?;
            if scan_left == 0 {
                self.follow_server()?;
            }
            if self.finished() {
                // The last word, at once: the sender stops serving this
                // receiver, and `session show` says done.
                let _ = self.s.client.session_report(&self.report(false));
                self.stats.ignored_frames = self.rx.counters(Instant::now()).ignored;
                return Ok(std::mem::take(&mut self.stats));
            }
            let now = Instant::now();
            if now >= next_report {
                let report = self.report(scan_left > 0);
                // Ready and waiting for the start: ask more often, so the
                // group is joined soon after the session starts (the
                // server takes one report per half interval).
                let wait = match report.phase {
                    ReceiverPhase::Ready => every * 6 / 10,
                    _ => every,
                };
                self.reporter.post(report);
                next_report = now + wait;
            }
        }
    }

    /// Reads what the group brought; true when it waited for nothing
    /// (no socket yet), so the outcomes may be waited for instead.
    fn intake(&mut self, buf: &mut [u8]) -> bool {
        let Some(sock) = self.sock.take() else {
            return true;
        };
        self.take_frames(&sock, buf);
        // Unless the frames moved the receiver to unicast meanwhile.
        if self.mode == Mode::Multicast {
            self.sock = Some(sock);
        }
        false
    }

    fn take_frames(&mut self, sock: &UdpSocket, buf: &mut [u8]) {
        for _ in 0..PER_TURN {
            let n = match sock.recv(buf) {
                Ok(n) => n,
                // The queue is empty (or the socket failed, which the
                // silence counters and the server's fallback catch).
                Err(_) => {
                    std::thread::sleep(GATHER);
                    return;
                }
            };
            match self.rx.handle_datagram(Instant::now(), &buf[..n]) {
                Event::Nothing => {}
                // In unicast mode the HTTP fetch covers it.
                Event::Complete(_) if self.mode == Mode::Unicast => {}
                Event::Complete(c) => self.send(Job::Decode(c)),
                Event::Ignored(why) => {
                    let text = why.to_string();
                    let kind = text.split(" (").next().unwrap_or(&text).to_string();
                    let seen = self.refusals.entry(kind).or_insert(0);
                    *seen += 1;
                    if *seen <= LOGGED_REFUSALS {
                        eprintln!("marrow-client: ignored a {text}");
                    }
                }
            }
        }
    }

    fn fetch(&mut self, index: u32) {
        if self.fetching.insert(index) {
            self.send(Job::Fetch(index));
        }
    }

    fn outcomes(&mut self, wait: bool, scan_left: &mut u32) -> Result<()> {
        let mut first = match wait {
            true => self.outcomes.recv_timeout(Duration::from_millis(20)).ok(),
            false => None,
        };
        loop {
            let o = match first.take() {
                Some(o) => o,
                None => match self.outcomes.try_recv() {
                    Ok(o) => o,
                    Err(_) => return Ok(()),
                },
            };
            self.in_flight -= 1;
            match o {
                Outcome::Done { index, stored, via } => {
                    if via == Via::InPlace {
                        *scan_left -= 1;
                    }
                    if !self.rx.is_done(index) {
                        self.rx.mark_done(index);
                        self.done_bytes += self.plain[index as usize];
                        self.s.progress.advance(self.plain[index as usize]);
                        match via {
                            Via::Multicast => {
                                self.stats.multicast_bytes += stored;
                                self.stats.multicast_chunks += 1;
                            }
                            Via::Unicast => {
                                self.stats.unicast_bytes += stored;
                                self.stats.unicast_chunks += 1;
                            }
                            Via::InPlace => {}
                        }
                    }
                }
                Outcome::Missing => *scan_left -= 1,
                Outcome::Undecodable(c) => {
                    let index = c.index;
                    match self.rx.undecodable(c) {
                        _ if self.mode == Mode::Unicast => self.fetch(index),
                        Some(again) => self.send(Job::Decode(again)),
                        None => {}
                    }
                }
                Outcome::Corrupt(index) => {
                    self.rx.corrupt(index);
                    eprintln!(
                        "marrow-client: chunk {index} of the session decoded to bytes that are not the chunk; collecting it again"
                    );
                    if self.mode == Mode::Unicast {
                        self.fetch(index);
                    }
                }
                Outcome::Failed(e) => return Err(e),
            }
        }
    }

    /// Acts on the server's newest answer and the sender's announces:
    /// join the group once it runs, or fetch the rest over HTTP.
    fn follow_server(&mut self) -> Result<()> {
        if let Some(reply) = self.reporter.take_reply() {
            if reply.mode == Mode::Unicast {
                let why = reply
                    .reason
                    .unwrap_or_else(|| "the server said so".to_string());
                self.go_unicast(why);
            } else if reply.state == SessionState::Running && self.sock.is_none() {
                if let Some(Channel { group, port }) = reply.channel {
                    self.listen(group, port)?;
                }
            }
        }
        if self.rx.ending() && !self.rx.finished() && self.mode == Mode::Multicast {
            self.go_unicast("the sender ended the session first".to_string());
        }
        Ok(())
    }

    fn listen(&mut self, group: std::net::Ipv4Addr, port: u16) -> Result<()> {
        let local = match self.s.interface {
            Some(name) => group::address_of(name)?,
            None => group::address_towards(self.s.client.base())?,
        };
        self.sock = Some(group::join(group, port, local)?);
        self.rx.listen(Instant::now());
        eprintln!(
            "marrow-client: listening to session {} on {group}:{port} from {local}",
            self.join.id
        );
        Ok(())
    }

    /// Leaves the group and fetches every chunk not done or decoding.
    fn go_unicast(&mut self, why: String) {
        if self.mode == Mode::Unicast {
            return;
        }
        eprintln!("marrow-client: taking the rest over HTTP: {why}");
        self.mode = Mode::Unicast;
        self.stats.unicast_reason = Some(why);
        self.sock = None;
        for i in self.rx.missing() {
            self.fetch(i);
        }
    }
}
