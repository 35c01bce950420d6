//! The driver of a running session's [`Sender`]: a thread that asks the
//! state machine what to send, turns each answer into frames with the
//! chunk's encoder, and sends them to the group, paced by the machine's
//! own clock reading. Reports reach the machine from the HTTP handlers
//! through the same lock.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use marrow_protocol::api::session::Channel;
use marrow_protocol::multicast::sender::{Sender, SenderStats, Transmit};
use marrow_protocol::multicast::wire::{SymbolFrame, MAX_DATAGRAM, SYMBOL_SIZE};
use marrow_protocol::multicast::{Frame, SessionId};
use marrow_protocol::{ImageId, TaskId};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tracing::{info, warn};

use super::table::{Symbols, Table};
use crate::error::{Error, Result};
use crate::serve::metrics::Metrics;
use crate::serve::state::Shared;

/// Longest sleep between looks at the state machine (a stop or a report
/// is noticed within it).
const MAX_SLEEP: Duration = Duration::from_millis(20);
/// Transmits taken under one hold of the lock.
const PER_LOCK: usize = 64;

/// A running session as the service holds it.
pub(crate) struct Live {
    pub id: i64,
    pub wire_id: SessionId,
    pub manifest: ImageId,
    pub channel: Channel,
    pub table: Arc<Table>,
    pub sender: Mutex<Sender>,
    /// The sender's totals before this run (a session outlives a restart).
    pub base: SenderStats,
    stop: AtomicBool,
    ended: AtomicBool,
    /// Why sending failed, when it did.
    pub failure: Mutex<Option<String>>,
    /// When each receiver last reported, for the rate limit.
    pub last_report: Mutex<HashMap<TaskId, Instant>>,
    /// When the statuses were last stored.
    recorded: Mutex<Option<Instant>>,
}

impl Live {
    pub fn new(
        id: i64,
        wire_id: SessionId,
        manifest: ImageId,
        channel: Channel,
        table: Arc<Table>,
        sender: Sender,
        base: SenderStats,
    ) -> Live {
        Live {
            id,
            wire_id,
            manifest,
            channel,
            table,
            sender: Mutex::new(sender),
            base,
            stop: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            failure: Mutex::new(None),
            last_report: Mutex::new(HashMap::new()),
            recorded: Mutex::new(None),
        }
    }

    /// True, once per `every`, when the statuses are to be stored (and
    /// always once the session is over, so its last state is kept).
    pub fn record_due(&self, every: Duration) -> bool {
        let mut last = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < every) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// Ends the session: the thread sends the ending announces and stops.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The thread has stopped.
    pub fn ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// Totals over the session's life: this run's on top of the stored.
    pub fn totals(&self) -> (u64, u64, u64) {
        let s = self
            .sender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stats();
        (
            self.base.sent_bytes + s.sent_bytes,
            self.base.cycles as u64 + s.cycles as u64,
            self.base.repair_symbols + s.repair_symbols,
        )
    }
}

fn socket(iface: Ipv4Addr, ttl: u32, to: SocketAddrV4) -> Result<Socket> {
    let what = format!("multicast socket on {iface} to {to}");
    let sock =
        Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(Error::io(&what))?;
    sock.set_multicast_if_v4(&iface).map_err(Error::io(&what))?;
    sock.set_multicast_ttl_v4(ttl).map_err(Error::io(&what))?;
    // A burst of the pacer must not overflow the send queue.
    let _ = sock.set_send_buffer_size(4 << 20);
    sock.bind(&SockAddr::from(SocketAddrV4::new(iface, 0)))
        .map_err(Error::io(&what))?;
    sock.connect(&SockAddr::from(to))
        .map_err(Error::io(&what))?;
    Ok(sock)
}

/// Starts the thread of `live`, sending from `iface`.
pub(crate) fn spawn(live: Arc<Live>, shared: Arc<Shared>, iface: Ipv4Addr) -> Result<()> {
    let store = shared.store()?;
    let ttl = shared.config.multicast.ttl;
    let to = SocketAddrV4::new(live.channel.group, live.channel.port);
    let sock = socket(iface, ttl, to)?;
    let name = format!("session-{}", live.id);
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let symbols = Symbols::new(store, live.table.clone(), SYMBOL_SIZE);
            if let Err(e) = run(&live, &sock, symbols, &shared.metrics) {
                warn!(session = live.id, "sending stopped: {e}");
                *live.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
            }
            live.ended.store(true, Ordering::SeqCst);
            info!(session = live.id, "sender stopped");
        })
        .map_err(Error::io(name))?;
    Ok(())
}

fn run(live: &Live, sock: &Socket, mut symbols: Symbols, metrics: &Metrics) -> Result<()> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut sym = vec![0u8; SYMBOL_SIZE as usize];
    let mut batch = Vec::with_capacity(PER_LOCK);
    let mut last = SenderStats::default();
    let mut send_errors = 0u64;
    loop {
        let now = Instant::now();
        let (ended, next, stats) = {
            let mut s = live.sender.lock().unwrap_or_else(|e| e.into_inner());
            if live.stop.load(Ordering::SeqCst) {
                s.end(now);
            }
            while batch.len() < PER_LOCK {
                match s.poll_transmit(now) {
                    Some(t) => batch.push(t),
                    None => break,
                }
            }
            (s.ended(), s.poll_timeout(), s.stats())
        };
        for t in batch.drain(..) {
            match t {
                Transmit::Announce(a) => {
                    let n = Frame::Announce(a)
                        .emit(&mut buf)
                        .expect("sized for any frame");
                    send(sock, &buf[..n], &mut send_errors);
                }
                Transmit::Symbols {
                    index,
                    first_esi,
                    count,
                    first_seq,
                } => {
                    let meta = live.table.chunks[index as usize];
                    let enc = symbols.encoder(index)?;
                    for i in 0..count {
                        enc.symbol(first_esi + i, &mut sym);
                        let f = Frame::Symbol(SymbolFrame {
                            session: live.wire_id,
                            image: live.manifest,
                            chunk_index: index,
                            chunk: meta.id,
                            chunk_len: meta.len,
                            esi: first_esi + i,
                            seq: first_seq + i as u64,
                            symbol: &sym,
                        });
                        let n = f.emit(&mut buf).expect("sized for any frame");
                        send(sock, &buf[..n], &mut send_errors);
                    }
                }
            }
        }
        metrics.multicast_sent(
            stats.sent_bytes - last.sent_bytes,
            (stats.cycles - last.cycles) as u64,
            stats.repair_symbols - last.repair_symbols,
        );
        last = stats;
        if ended {
            return Ok(());
        }
        let wait = next
            .saturating_duration_since(Instant::now())
            .min(MAX_SLEEP);
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// Sends one frame. A full send queue (ENOBUFS) waits a little and tries
/// once more; a frame that still does not go is lost like any other, and
/// FEC and the reports make up for it.
fn send(sock: &Socket, frame: &[u8], errors: &mut u64) {
    for attempt in 0..2 {
        match sock.send(frame) {
            Ok(_) => return,
            Err(e) if attempt == 0 && e.raw_os_error() == Some(nix::libc::ENOBUFS) => {
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(e) => {
                *errors += 1;
                if errors.is_power_of_two() {
                    warn!("multicast send failed ({errors} so far): {e}");
                }
                return;
            }
        }
    }
}
