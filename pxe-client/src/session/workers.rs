//! The receiver's slow work, off its receive loop: the delta scan of each
//! chunk, RaptorQ decoding, verification and writing, and fetching over
//! HTTP. Jobs come in on one queue; every outcome goes back to the loop,
//! which alone holds the receiver's state.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver as Rx, Sender as Tx};
use std::sync::Mutex;

use image_format::placement::{Placement, Slot};
use image_format::restore::Writer;
use image_format::store::ReadStore;
use image_format::{ChunkId, Error as ImageError};
use marrow_protocol::multicast::fec::decode;
use marrow_protocol::multicast::receiver::Complete;

pub enum Job {
    /// Is chunk `index` already on the disk, in every slot?
    Scan(u32),
    Decode(Complete),
    Fetch(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    InPlace,
    Multicast,
    Unicast,
}

pub enum Outcome {
    /// Written and verified (or found in place): `stored` bytes came.
    Done {
        index: u32,
        stored: u64,
        via: Via,
    },
    /// The scan found it missing.
    Missing,
    /// Not enough symbols to decode yet.
    Undecodable(Complete),
    /// The symbols decoded to bytes that are not the chunk.
    Corrupt(u32),
    Failed(crate::Error),
}

/// What the workers share.
pub struct Work<'a> {
    pub table: &'a [ChunkId],
    pub slots: &'a HashMap<ChunkId, Vec<usize>>,
    pub placement: &'a Placement,
    pub writer: &'a Writer<'a>,
    pub store: &'a dyn ReadStore,
    pub symbol_size: u16,
    pub source: String,
}

impl Work<'_> {
    fn slots_of(&self, index: u32) -> Vec<&Slot> {
        let all = self.placement.slots();
        self.slots[&self.table[index as usize]]
            .iter()
            .map(|&i| &all[i])
            .collect()
    }

    fn one(&self, job: Job, buf: &mut Vec<u8>) -> Outcome {
        match job {
            Job::Scan(index) => {
                let mut all = true;
                for slot in self.slots_of(index) {
                    match self.writer.in_place(slot, buf) {
                        Ok(true) => {}
                        Ok(false) => all = false,
                        Err(e) => return Outcome::Failed(e.into()),
                    }
                }
                match all {
                    true => Outcome::Done {
                        index,
                        stored: 0,
                        via: Via::InPlace,
                    },
                    false => Outcome::Missing,
                }
            }
            Job::Decode(c) => {
                let Some(raw) = decode(c.len, self.symbol_size, &c.symbols) else {
                    return Outcome::Undecodable(c);
                };
                let slots = self.slots_of(c.index);
                match self.writer.write(&slots, &raw, &self.source) {
                    Ok(()) => Outcome::Done {
                        index: c.index,
                        stored: raw.len() as u64,
                        via: Via::Multicast,
                    },
                    Err(ImageError::ChunkCorrupt { .. }) => Outcome::Corrupt(c.index),
                    Err(e) => Outcome::Failed(e.into()),
                }
            }
            Job::Fetch(index) => {
                let id = &self.table[index as usize];
                let done = self.store.get_raw(id).and_then(|raw| {
                    self.writer
                        .write(&self.slots_of(index), &raw, &self.store.describe())
                        .map(|()| raw.len() as u64)
                });
                match done {
                    Ok(stored) => Outcome::Done {
                        index,
                        stored,
                        via: Via::Unicast,
                    },
                    Err(e) => Outcome::Failed(e.into()),
                }
            }
        }
    }

    /// A worker: jobs until the queue closes.
    pub fn run(&self, jobs: &Mutex<Rx<Job>>, out: Tx<Outcome>) {
        let mut buf = Vec::new();
        loop {
            let job = match jobs.lock().unwrap().recv() {
                Ok(j) => j,
                Err(_) => return,
            };
            if out.send(self.one(job, &mut buf)).is_err() {
                return;
            }
        }
    }
}
