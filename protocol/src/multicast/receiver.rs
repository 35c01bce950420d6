//! A receiver of a session, as a state machine on caller-supplied time:
//! datagrams go in ([`Receiver::handle_datagram`]); out come chunks with
//! enough symbols to decode ([`Complete`]), the reasons frames were
//! refused ([`Ignored`], for the log), and the counters of its reports.
//!
//! A frame is kept only when its session, image and chunk (index and id)
//! are this receiver's, and its chunk length agrees with the first frame
//! of that chunk. Even then its bytes reach the disk only after the chunk
//! they decode to hashes to its id, which the caller checks (a chunk that
//! fails is [`Receiver::corrupt`]: its symbols are dropped and it is
//! collected again).
//!
//! Decoding and writing are the caller's (they are slow, and belong on
//! other threads): a [`Complete`] hands over the chunk's symbols, and the
//! caller answers with [`Receiver::mark_done`], [`Receiver::undecodable`]
//! or [`Receiver::corrupt`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use super::wire::{source_symbols, AnnounceState, Frame, SessionId};
use crate::error::FrameError;
use crate::multicast::RangeSet;
use marrow_ids::{ChunkId, ImageId};

/// No frame for this long while the session runs: the group does not
/// reach this receiver.
pub const SILENT_AFTER: Duration = Duration::from_secs(5);
/// Symbol bytes held for incomplete chunks, by default.
pub const DEFAULT_MEMORY_LIMIT: usize = 64 << 20;

#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    pub session: SessionId,
    pub image: ImageId,
    /// The session's chunk table: the image's distinct chunks in first-use
    /// order.
    pub chunks: Vec<ChunkId>,
    pub symbol_size: u16,
    /// Most symbol bytes held for incomplete chunks; past it the chunks
    /// with the fewest symbols are dropped (a later pass brings them).
    pub memory_limit: usize,
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    Malformed(FrameError),
    OtherSession(SessionId),
    OtherImage(ImageId),
    /// The index is past the table, or the table holds another chunk there.
    UnknownChunk {
        index: u32,
        id: ChunkId,
    },
    /// The chunk's length differs from the one its first frame gave.
    LengthConflict {
        index: u32,
        len: u32,
        first: u32,
    },
    SymbolSize {
        len: usize,
    },
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ignored::Malformed(e) => write!(f, "malformed frame: {e}"),
            Ignored::OtherSession(s) => write!(f, "frame of another session ({s})"),
            Ignored::OtherImage(i) => write!(f, "frame of another image ({})", i.short()),
            Ignored::UnknownChunk { index, id } => write!(
                f,
                "frame for chunk {} at index {index}, which is not that chunk in this session's table",
                id.short()
            ),
            Ignored::LengthConflict { index, len, first } => write!(
                f,
                "frame gives chunk {index} a length of {len} bytes, its first frame {first}"
            ),
            Ignored::SymbolSize { len } => {
                write!(f, "frame with {len}-byte symbols, not this session's size")
            }
        }
    }
}

/// A chunk with enough symbols to try decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complete {
    pub index: u32,
    /// Stored (compressed) length.
    pub len: u32,
    /// ESI and symbol, ESIs distinct.
    pub symbols: Vec<(u32, Vec<u8>)>,
}

/// What one datagram did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Kept, a duplicate, or an announce.
    Nothing,
    Complete(Complete),
    Ignored(Ignored),
}

struct Partial {
    len: u32,
    symbols: Vec<(u32, Vec<u8>)>,
    esis: HashSet<u32>,
    max_esi: u32,
    /// Symbols wanted before decoding is tried: K, one more after each
    /// failed attempt.
    threshold: u32,
}

/// The counters a report carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counters {
    pub partial: Vec<[u32; 3]>,
    pub received: u64,
    pub last_seq: u64,
    pub silent: bool,
    pub corrupt: u64,
    pub ignored: u64,
}

pub struct Receiver {
    cfg: ReceiverConfig,
    index_of: HashMap<ChunkId, u32>,
    done: RangeSet,
    partial: HashMap<u32, Partial>,
    /// Chunks handed out as [`Complete`] and not answered yet, with the
    /// symbols that came meanwhile.
    decoding: HashMap<u32, Vec<(u32, Vec<u8>)>>,
    /// The stored length of each chunk being decoded.
    decoding_len: HashMap<u32, u32>,
    /// Failed attempts per chunk, so a retry asks for one more symbol.
    attempts: HashMap<u32, u32>,
    held: usize,
    received: u64,
    last_seq: u64,
    corrupt: u64,
    ignored: u64,
    last_frame: Option<Instant>,
    listening_since: Option<Instant>,
    ending: bool,
}

impl Receiver {
    pub fn new(cfg: ReceiverConfig) -> Receiver {
        let index_of = cfg
            .chunks
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i as u32))
            .collect();
        Receiver {
            cfg,
            index_of,
            done: RangeSet::new(),
            partial: HashMap::new(),
            decoding: HashMap::new(),
            decoding_len: HashMap::new(),
            attempts: HashMap::new(),
            held: 0,
            received: 0,
            last_seq: 0,
            corrupt: 0,
            ignored: 0,
            last_frame: None,
            listening_since: None,
            ending: false,
        }
    }

    /// The table index of chunk `id`.
    pub fn index_of(&self, id: &ChunkId) -> Option<u32> {
        self.index_of.get(id).copied()
    }

    pub fn chunk_count(&self) -> u32 {
        self.cfg.chunks.len() as u32
    }

    pub fn chunk(&self, index: u32) -> Option<&ChunkId> {
        self.cfg.chunks.get(index as usize)
    }

    /// The session runs and this receiver listens from `now`: silence is
    /// counted from here.
    pub fn listen(&mut self, now: Instant) {
        self.listening_since.get_or_insert(now);
    }

    fn refuse(&mut self, why: Ignored) -> Event {
        self.ignored += 1;
        Event::Ignored(why)
    }

    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) -> Event {
        let frame = match Frame::parse(bytes) {
            Ok(f) => f,
            Err(e) => return self.refuse(Ignored::Malformed(e)),
        };
        let (session, image) = match &frame {
            Frame::Symbol(s) => (s.session, s.image),
            Frame::Announce(a) => (a.session, a.image),
        };
        if session != self.cfg.session {
            return self.refuse(Ignored::OtherSession(session));
        }
        if image != self.cfg.image {
            return self.refuse(Ignored::OtherImage(image));
        }
        let s = match frame {
            Frame::Announce(a) => {
                if a.symbol_size != self.cfg.symbol_size {
                    return self.refuse(Ignored::SymbolSize {
                        len: a.symbol_size as usize,
                    });
                }
                self.last_frame = Some(now);
                self.ending |= a.state == AnnounceState::Ending;
                return Event::Nothing;
            }
            Frame::Symbol(s) => s,
        };
        if s.symbol.len() != self.cfg.symbol_size as usize {
            return self.refuse(Ignored::SymbolSize {
                len: s.symbol.len(),
            });
        }
        if self.cfg.chunks.get(s.chunk_index as usize) != Some(&s.chunk) {
            return self.refuse(Ignored::UnknownChunk {
                index: s.chunk_index,
                id: s.chunk,
            });
        }
        if let Some(p) = self.partial.get(&s.chunk_index) {
            if p.len != s.chunk_len {
                let first = p.len;
                return self.refuse(Ignored::LengthConflict {
                    index: s.chunk_index,
                    len: s.chunk_len,
                    first,
                });
            }
        }
        self.last_frame = Some(now);
        self.received += 1;
        self.last_seq = self.last_seq.max(s.seq);
        let index = s.chunk_index;
        if self.done.contains(index) {
            return Event::Nothing;
        }
        if let Some(extra) = self.decoding.get_mut(&index) {
            if !extra.iter().any(|(e, _)| *e == s.esi) {
                extra.push((s.esi, s.symbol.to_vec()));
                self.held += s.symbol.len();
            }
            return Event::Nothing;
        }
        let k = source_symbols(s.chunk_len, self.cfg.symbol_size);
        let threshold = k + self.attempts.get(&index).copied().unwrap_or(0);
        let p = self.partial.entry(index).or_insert_with(|| Partial {
            len: s.chunk_len,
            symbols: Vec::with_capacity(k as usize),
            esis: HashSet::new(),
            max_esi: 0,
            threshold,
        });
        if !p.esis.insert(s.esi) {
            return Event::Nothing;
        }
        p.symbols.push((s.esi, s.symbol.to_vec()));
        p.max_esi = p.max_esi.max(s.esi);
        self.held += s.symbol.len();
        if p.symbols.len() as u32 >= p.threshold {
            let p = self.partial.remove(&index).expect("just looked up");
            return Event::Complete(self.hand_out(index, p));
        }
        self.shed(index);
        Event::Nothing
    }

    /// The symbols leave the receiver's keeping (and its memory count)
    /// until the caller answers.
    fn hand_out(&mut self, index: u32, p: Partial) -> Complete {
        self.release(&p.symbols);
        self.decoding.insert(index, Vec::new());
        self.decoding_len.insert(index, p.len);
        Complete {
            index,
            len: p.len,
            symbols: p.symbols,
        }
    }

    /// Drops the incomplete chunks with the fewest symbols while more than
    /// the memory limit is held, keeping `keep`.
    fn shed(&mut self, keep: u32) {
        while self.held > self.cfg.memory_limit {
            let victim = self
                .partial
                .iter()
                .filter(|(&i, _)| i != keep)
                .min_by_key(|(_, p)| p.symbols.len())
                .map(|(&i, _)| i);
            let Some(i) = victim else { return };
            let p = self.partial.remove(&i).expect("found above");
            self.held -= p.symbols.iter().map(|(_, s)| s.len()).sum::<usize>();
        }
    }

    fn release(&mut self, symbols: &[(u32, Vec<u8>)]) {
        self.held -= symbols.iter().map(|(_, s)| s.len()).sum::<usize>();
    }

    /// Chunk `index` is written and verified (decoded, fetched, or found
    /// already in place).
    pub fn mark_done(&mut self, index: u32) {
        if let Some(p) = self.partial.remove(&index) {
            self.release(&p.symbols);
        }
        if let Some(extra) = self.decoding.remove(&index) {
            self.release(&extra);
        }
        self.decoding_len.remove(&index);
        self.attempts.remove(&index);
        self.done.insert(index);
    }

    /// Decoding `c` failed for want of symbols (RaptorQ leaves a small
    /// chance at K): keep them, and try again with one more. Returns the
    /// chunk again at once when the symbols that came meanwhile suffice.
    pub fn undecodable(&mut self, c: Complete) -> Option<Complete> {
        let extra = self.decoding.remove(&c.index).unwrap_or_default();
        self.decoding_len.remove(&c.index);
        let tries = self.attempts.entry(c.index).or_insert(0);
        *tries += 1;
        let k = source_symbols(c.len, self.cfg.symbol_size);
        self.held += c.symbols.iter().map(|(_, s)| s.len()).sum::<usize>();
        let mut p = Partial {
            len: c.len,
            esis: c.symbols.iter().map(|(e, _)| *e).collect(),
            max_esi: c.symbols.iter().map(|(e, _)| *e).max().unwrap_or(0),
            symbols: c.symbols,
            threshold: k + *tries,
        };
        for (esi, s) in extra {
            if p.esis.insert(esi) {
                p.max_esi = p.max_esi.max(esi);
                p.symbols.push((esi, s));
            } else {
                self.held -= s.len();
            }
        }
        if p.symbols.len() as u32 >= p.threshold {
            return Some(self.hand_out(c.index, p));
        }
        self.partial.insert(c.index, p);
        None
    }

    /// Chunk `index` decoded to bytes that are not the chunk: its symbols
    /// are dropped (one of them did not belong), and it is collected anew.
    pub fn corrupt(&mut self, index: u32) {
        self.corrupt += 1;
        if let Some(extra) = self.decoding.remove(&index) {
            self.release(&extra);
        }
        self.decoding_len.remove(&index);
        self.attempts.remove(&index);
    }

    pub fn is_done(&self, index: u32) -> bool {
        self.done.contains(index)
    }

    pub fn done(&self) -> &RangeSet {
        &self.done
    }

    /// Every chunk written and verified.
    pub fn finished(&self) -> bool {
        self.done.covers(self.chunk_count())
    }

    /// Chunks neither done nor being decoded, in table order.
    pub fn missing(&self) -> Vec<u32> {
        self.done
            .missing(self.chunk_count())
            .filter(|i| !self.decoding.contains_key(i))
            .collect()
    }

    /// The sender said the session ends.
    pub fn ending(&self) -> bool {
        self.ending
    }

    /// Listening, yet no frame of the session for [`SILENT_AFTER`].
    pub fn silent(&self, now: Instant) -> bool {
        let Some(since) = self.listening_since else {
            return false;
        };
        let last = self.last_frame.map_or(since, |f| f.max(since));
        now.saturating_duration_since(last) >= SILENT_AFTER
    }

    /// Symbol bytes held for incomplete chunks.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    pub fn counters(&self, now: Instant) -> Counters {
        // "Have" is what the sender subtracts from K: the symbols held,
        // less the extra ones a failed decode asked for, so that the
        // sender sends what this receiver still needs; a chunk being
        // decoded needs nothing now.
        let mut partial: Vec<[u32; 3]> = self
            .partial
            .iter()
            .map(|(&i, p)| {
                let k = source_symbols(p.len, self.cfg.symbol_size);
                let extra = p.threshold.saturating_sub(k);
                [i, (p.symbols.len() as u32).saturating_sub(extra), p.max_esi]
            })
            .chain(self.decoding.keys().map(|&i| {
                let len = self.decoding_len.get(&i).copied().unwrap_or(0);
                [i, source_symbols(len, self.cfg.symbol_size), 0]
            }))
            .collect();
        // The fullest first: the sender finishes those with the fewest
        // symbols, and a report lists a bounded number.
        partial.sort_by(|a, b| b[1].cmp(&a[1]).then(a[0].cmp(&b[0])));
        partial.truncate(crate::api::session::MAX_PARTIAL);
        Counters {
            partial,
            received: self.received,
            last_seq: self.last_seq,
            silent: self.silent(now),
            corrupt: self.corrupt,
            ignored: self.ignored,
        }
    }
}
