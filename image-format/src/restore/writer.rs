//! Puts chunks where a [`Placement`] says they belong, in whatever order
//! they come: each chunk is decompressed and checked against its name and
//! length before a byte of it reaches the target.

use std::sync::atomic::{AtomicU64, Ordering};

use super::target::Target;
use crate::disk::is_zero;
use crate::error::{Error, Result};
use crate::id::ChunkId;
use crate::placement::{Segment, Slot};
use crate::store::decode_chunk;

const ZERO_STEP: u64 = 1 << 20;

/// Writes verified chunks and zero runs to a target, counting what it
/// wrote and what it found already in place.
pub struct Writer<'a> {
    target: &'a Target,
    placement: &'a crate::placement::Placement,
    written: AtomicU64,
    skipped: AtomicU64,
}

impl<'a> Writer<'a> {
    pub fn new(target: &'a Target, placement: &'a crate::placement::Placement) -> Self {
        Writer {
            target,
            placement,
            written: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }

    /// True when the target already holds `slot`'s chunk (the delta pass:
    /// an earlier restore of this image, or of one sharing the chunk, or an
    /// interrupted run). Counts the bytes as skipped. `buf` is scratch.
    pub fn in_place(&self, slot: &Slot, buf: &mut Vec<u8>) -> Result<bool> {
        // A blank sparse image file: nothing there to compare, and reading
        // and hashing its holes would cost as much as a disk of data. (A
        // chunk of zeros in a hole is then written again, which is right.)
        if self
            .placement
            .segments(slot)
            .iter()
            .all(|seg| self.target.is_hole(seg.offset, seg.len))
        {
            return Ok(false);
        }
        buf.resize(slot.len as usize, 0);
        let mut at = 0;
        for seg in self.placement.segments(slot) {
            self.target
                .read(&mut buf[at..at + seg.len as usize], seg.offset)?;
            at += seg.len as usize;
        }
        let there = ChunkId::of(buf) == slot.id;
        if there {
            self.skipped.fetch_add(slot.len as u64, Ordering::Relaxed);
        }
        Ok(there)
    }

    /// Decompresses `raw`, checks it hashes to the slots' chunk id and has
    /// their length, then writes it to every slot in `slots` (all of one
    /// chunk id). `source` names where `raw` came from, for the error.
    pub fn write(&self, slots: &[&Slot], raw: &[u8], source: &str) -> Result<()> {
        let Some(first) = slots.first() else {
            return Ok(());
        };
        let plain = decode_chunk(&first.id, raw, source)?;
        self.write_plain(slots, &plain, source)
    }

    /// Writes a chunk already verified against its name to every slot in
    /// `slots`, checking it has their length.
    pub fn write_plain(&self, slots: &[&Slot], plain: &[u8], source: &str) -> Result<()> {
        let Some(first) = slots.first() else {
            return Ok(());
        };
        if plain.len() != first.len as usize {
            return Err(Error::ChunkCorrupt {
                id: first.id,
                store: source.to_string(),
                detail: format!(
                    "holds {} bytes, the image expects {}",
                    plain.len(),
                    first.len
                ),
            });
        }
        for slot in slots {
            debug_assert_eq!(slot.id, first.id, "one chunk's slots");
            let mut at = 0;
            for seg in self.placement.segments(slot) {
                self.target
                    .write(&plain[at..at + seg.len as usize], seg.offset)?;
                at += seg.len as usize;
            }
            self.written.fetch_add(slot.len as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Makes `zero` read as zeros. With `delta`, only the parts that are
    /// not zero already are written.
    pub fn zero(&self, zero: &Segment, delta: bool) -> Result<()> {
        let (offset, len) = (zero.offset, zero.len);
        if !delta {
            self.target.zero(offset, len)?;
            self.written.fetch_add(len, Ordering::Relaxed);
            return Ok(());
        }
        if self.target.is_hole(offset, len) {
            self.skipped.fetch_add(len, Ordering::Relaxed);
            return Ok(());
        }
        let mut buf = vec![0u8; ZERO_STEP.min(len) as usize];
        let mut at = 0;
        while at < len {
            let n = (len - at).min(ZERO_STEP);
            self.target.read(&mut buf[..n as usize], offset + at)?;
            if is_zero(&buf[..n as usize]) {
                self.skipped.fetch_add(n, Ordering::Relaxed);
            } else {
                self.target.zero(offset + at, n)?;
                self.written.fetch_add(n, Ordering::Relaxed);
            }
            at += n;
        }
        Ok(())
    }

    /// Writes bytes that are not chunks (partition tables), counted as written.
    pub fn write_raw(&self, bytes: &[u8], offset: u64) -> Result<()> {
        self.target.write(bytes, offset)?;
        self.written
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Bytes found already in place so far.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
}
