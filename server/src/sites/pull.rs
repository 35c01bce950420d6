//! `marrow sync pull`: what the site lacks of an upstream's images,
//! fetched in batches with several requests in flight, each chunk verified
//! against its name as it arrives, and each image version published only
//! when its signature checks against the site's trusted key and every
//! chunk it needs is here. Until then no listing shows it.
//!
//! Resuming is what the store already gives: chunks land one by one, so a
//! pull cut off by a broken link, a killed process or a closing window
//! leaves what arrived, and the next pull asks only for the rest. Within a
//! pull, a batch whose link broke is asked again for the chunks that had
//! not arrived, after a pause that doubles each time.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image_format::maintenance::referenced_chunks;
use image_format::manifest::Manifest;
use image_format::progress::Progress;
use image_format::store::{decode_chunk, LockMode, LockStore, ManifestStore, RefEntry, WriteStore};
use image_format::{ChunkId, ImageId};
use marrow_protocol::sync::{CatalogVersion, MAX_BATCH};
use serde::{Deserialize, Serialize};

use super::glob;
use super::signature::{PublicKey, SignatureFile};
use super::upstream::{Failure, Meter, Upstream};
use super::window::Window;
use crate::db::SiteRow;
use crate::error::{Error, Result};

/// Chunks per request: enough that a request's round trip is small beside
/// its bytes (64 chunks of 128 KiB average is 8 MiB).
pub const BATCH: usize = 64;
/// Requests in flight at once, each on its own connection: at 8 MiB per
/// batch, 8 in flight keep 64 MiB moving, which fills a 1 Gbit/s link at
/// 500 ms of round trip (docs/sync.md works this out).
pub const IN_FLIGHT: usize = 8;
/// How often a batch whose link broke is asked again before the pull
/// gives up (the waits double from 2 s to 60 s: about 4 minutes in all,
/// plus the read timeouts); the next pull resumes where it stopped.
const RETRIES: u32 = 6;
/// How often fetched chunks are made durable while a pull runs: a pull
/// killed or cut off keeps all but the last second of what arrived, and
/// the next one does not ask for it again.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Only images whose names match.
    pub images: Option<String>,
    /// Bits per second.
    pub bandwidth: Option<u64>,
    pub window: Option<Window>,
    /// Only this version (a read-through's background pull).
    pub version: Option<ImageId>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Published {
    pub image: String,
    pub id: String,
    pub chunks_fetched: u64,
    pub bytes_fetched: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failed {
    pub image: String,
    pub id: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PullReport {
    pub site: String,
    pub published: Vec<Published>,
    pub failed: Vec<Failed>,
    /// Versions the site had already.
    pub up_to_date: u64,
    /// Chunks fetched, and the stored bytes they carried.
    pub chunks_fetched: u64,
    pub bytes_fetched: u64,
    /// Chunks the site had already, of the versions pulled.
    pub chunks_present: u64,
    /// Bytes read from the upstream's sockets: TLS, HTTP and bodies.
    pub wire_bytes: u64,
    /// Bytes sent to it: handshakes and requests.
    pub sent_bytes: u64,
    /// Batches asked again after the link broke.
    pub retries: u64,
    /// Requests kept in flight.
    pub in_flight: usize,
    pub seconds: f64,
    /// Seconds spent waiting for the window to open.
    pub paused_seconds: f64,
}

/// What the caller hears while a pull runs.
pub trait Watch: Sync {
    /// The pull waits for its window (`true`) or goes on (`false`).
    fn paused(&self, paused: bool);
    /// Chunks and their stored bytes fetched so far, in all.
    fn fetched(&self, _chunks: u64, _bytes: u64) {}
}

/// A watcher that hears nothing.
pub struct Unwatched;

impl Watch for Unwatched {
    fn paused(&self, _paused: bool) {}
}

/// The window and the retry waits of one pull.
struct Pacing<'a> {
    window: Option<Window>,
    watch: &'a dyn Watch,
    waited: Mutex<Duration>,
    stop: &'a AtomicBool,
}

impl Pacing<'_> {
    /// Before a batch: waits while the window is closed.
    fn wait_for_window(&self) {
        let Some(w) = self.window else { return };
        let mut told = false;
        while !self.stop.load(Ordering::Relaxed) {
            let minute = local_minute();
            if w.is_open(minute) {
                break;
            }
            if !told {
                self.watch.paused(true);
                told = true;
                tracing::info!(
                    "outside the sync window {w}: paused for {} min",
                    w.minutes_until_open(minute)
                );
            }
            // Looked at each second, so a changed clock is noticed.
            std::thread::sleep(Duration::from_secs(1));
            *self.waited.lock().unwrap_or_else(|e| e.into_inner()) += Duration::from_secs(1);
        }
        if told {
            self.watch.paused(false);
        }
    }
}

fn local_minute() -> u32 {
    use chrono::Timelike;
    let now = chrono::Local::now();
    now.hour() * 60 + now.minute()
}

/// Pulls from `site` into `store`.
pub fn pull<S>(
    store: &S,
    site: &SiteRow,
    opts: &PullOptions,
    watch: &dyn Watch,
    progress: &dyn Progress,
) -> Result<PullReport>
where
    S: WriteStore + ManifestStore + LockStore,
{
    let started = Instant::now();
    let trusted: PublicKey = site.key.parse()?;
    let meter = Arc::new(Meter::new(opts.bandwidth));
    let upstream = Upstream::new(site, meter.clone())?;
    let stop = AtomicBool::new(false);
    let pacing = Pacing {
        window: opts.window,
        watch,
        waited: Mutex::new(Duration::ZERO),
        stop: &stop,
    };
    let mut report = PullReport {
        site: site.name.clone(),
        in_flight: IN_FLIGHT,
        ..Default::default()
    };
    let finish = |report: &mut PullReport, pacing: &Pacing<'_>| {
        report.wire_bytes = meter.read();
        report.sent_bytes = meter.written();
        report.seconds = started.elapsed().as_secs_f64();
        report.paused_seconds = pacing
            .waited
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_secs_f64();
    };
    pacing.wait_for_window();
    let catalog = upstream.catalog().map_err(Failure::into_error)?;
    let _lock = store.lock(LockMode::Shared)?;
    let totals = Totals::default();
    for image in &catalog.images {
        if let Some(p) = &opts.images {
            if !glob::matches(p, &image.name) {
                continue;
            }
        }
        if image_format::catalog::validate_name(&image.name).is_err() {
            report.failed.push(Failed {
                image: image.name.clone(),
                id: String::new(),
                reason: "the upstream lists a name this site cannot store".into(),
            });
            continue;
        }
        let have: HashSet<ImageId> = store.history(&image.name)?.iter().map(|e| e.id).collect();
        for v in &image.versions {
            let fail = |reason: String| Failed {
                image: image.name.clone(),
                id: v.id.clone(),
                reason,
            };
            let Some(id) = ImageId::from_hex(&v.id) else {
                report.failed.push(fail(
                    "the upstream lists an id that is not 64 hex digits".into(),
                ));
                continue;
            };
            if opts.version.is_some_and(|only| only != id) {
                continue;
            }
            if have.contains(&id) {
                report.up_to_date += 1;
                continue;
            }
            let job = Version {
                store,
                upstream: &upstream,
                name: &image.name,
                v,
                id,
                trusted: &trusted,
                pacing: &pacing,
                progress,
                totals: &totals,
            };
            match job.pull() {
                Ok(Outcome::Published(p, present)) => {
                    report.chunks_present += present;
                    tracing::info!(
                        "published {}@{} from {}: {} chunks fetched, {present} present",
                        image.name,
                        id.short(),
                        site.name,
                        p.chunks_fetched,
                    );
                    report.published.push(p);
                }
                Ok(Outcome::Refused(reason)) => {
                    tracing::warn!("not published: {}@{}: {reason}", image.name, id.short());
                    report.failed.push(fail(reason));
                }
                // The link or this store failed: later versions would too.
                Err(e) => {
                    totals.write_into(&mut report);
                    finish(&mut report, &pacing);
                    return Err(e);
                }
            }
        }
    }
    totals.write_into(&mut report);
    finish(&mut report, &pacing);
    Ok(report)
}

/// Counts over the whole pull, shared by the fetching threads.
struct Totals {
    chunks: AtomicU64,
    bytes: AtomicU64,
    retries: AtomicU64,
    /// When fetched chunks were last made durable.
    flushed: Mutex<Instant>,
}

impl Default for Totals {
    fn default() -> Self {
        Totals {
            chunks: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            flushed: Mutex::new(Instant::now()),
        }
    }
}

impl Totals {
    fn write_into(&self, r: &mut PullReport) {
        r.chunks_fetched = self.chunks.load(Ordering::Relaxed);
        r.bytes_fetched = self.bytes.load(Ordering::Relaxed);
        r.retries = self.retries.load(Ordering::Relaxed);
    }
}

enum Outcome {
    /// Published, with how many chunks were here already.
    Published(Published, u64),
    /// Refused, and why.
    Refused(String),
}

/// One version of one image.
struct Version<'a, S> {
    store: &'a S,
    upstream: &'a Upstream,
    name: &'a str,
    v: &'a CatalogVersion,
    id: ImageId,
    trusted: &'a PublicKey,
    pacing: &'a Pacing<'a>,
    progress: &'a dyn Progress,
    totals: &'a Totals,
}

impl<S: WriteStore + ManifestStore> Version<'_, S> {
    /// Signature, manifest, its pieces, then its data chunks; published
    /// when all are here.
    fn pull(&self) -> Result<Outcome> {
        let refused = |why: String| Ok(Outcome::Refused(why));
        let (manifest, bytes, sig_text) =
            match checked_manifest(self.upstream, self.v, &self.id, self.trusted)? {
                Ok(m) => m,
                Err(why) => return refused(why),
            };
        let (before_chunks, before_bytes) = (
            self.totals.chunks.load(Ordering::Relaxed),
            self.totals.bytes.load(Ordering::Relaxed),
        );
        // The pieces (chunk lists) are named in the manifest; the data
        // chunks only in the pieces, which must be here to be read.
        let mut pieces = HashSet::new();
        for r in &manifest.regions {
            pieces.extend(r.extents.iter().copied());
            pieces.extend(r.chunks.iter().copied());
        }
        let mut present = 0;
        if let Err(why) = self.fetch_missing(&pieces, &mut present)? {
            return refused(why);
        }
        let mut all = HashSet::new();
        if let Err(e) = referenced_chunks(&manifest, self.store, &mut all) {
            return refused(e.to_string());
        }
        let data: HashSet<ChunkId> = all.difference(&pieces).copied().collect();
        if let Err(why) = self.fetch_missing(&data, &mut present)? {
            return refused(why);
        }
        if let Err(problem) = image_format::validate::pieces(&manifest, self.store)? {
            return refused(problem.to_string());
        }
        // Durable before the name points at them.
        self.store.flush()?;
        let ids: Vec<ChunkId> = all.iter().copied().collect();
        if let Some(pos) = self.store.has_many(&ids)?.iter().position(|h| !h) {
            return refused(format!("chunk {} is still missing", ids[pos]));
        }
        self.store.put_manifest(&bytes)?;
        self.store.put_signature(&self.id, sig_text.as_bytes())?;
        self.store.push_ref(
            self.name,
            RefEntry {
                id: self.id,
                created: self.v.created,
            },
        )?;
        Ok(Outcome::Published(
            Published {
                image: self.name.to_string(),
                id: self.id.to_hex(),
                chunks_fetched: self.totals.chunks.load(Ordering::Relaxed) - before_chunks,
                bytes_fetched: self.totals.bytes.load(Ordering::Relaxed) - before_bytes,
            },
            present,
        ))
    }

    /// Fetches those of `ids` the store lacks, counting the others into
    /// `present`. `Ok(Err)`: a chunk was refused, and the version with it.
    fn fetch_missing(
        &self,
        ids: &HashSet<ChunkId>,
        present: &mut u64,
    ) -> Result<std::result::Result<(), String>> {
        let ids: Vec<ChunkId> = ids.iter().copied().collect();
        let here = self.store.has_many(&ids)?;
        let missing: Vec<ChunkId> = ids
            .iter()
            .zip(&here)
            .filter(|(_, h)| !**h)
            .map(|(c, _)| *c)
            .collect();
        *present += (ids.len() - missing.len()) as u64;
        self.fetch(&missing)
    }

    /// Fetches `missing` in batches, [`IN_FLIGHT`] at once. A chunk that
    /// does not match its name refuses the version (`Ok(Err)`); a link that
    /// stays broken, or a store that fails, fails the pull (`Err`).
    fn fetch(&self, missing: &[ChunkId]) -> Result<std::result::Result<(), String>> {
        if missing.is_empty() {
            return Ok(Ok(()));
        }
        self.progress
            .start(&format!("fetch {}", self.name), missing.len() as u64);
        let queue: Mutex<VecDeque<&[ChunkId]>> =
            Mutex::new(missing.chunks(BATCH.min(MAX_BATCH)).collect());
        let first: Mutex<Option<Error>> = Mutex::new(None);
        // A chunk that did not match its name: the version's refusal.
        let bad: Mutex<Option<String>> = Mutex::new(None);
        let workers = IN_FLIGHT.min(queue.lock().unwrap().len());
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    while let Some(batch) = self.next_batch(&queue) {
                        if let Err(e) = self.fetch_batch(batch, &bad) {
                            self.pacing.stop.store(true, Ordering::Relaxed);
                            first
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .get_or_insert(e);
                            return;
                        }
                    }
                });
            }
        });
        self.progress.finish();
        // The stop was for this version's threads only.
        self.pacing.stop.store(false, Ordering::Relaxed);
        match (
            bad.into_inner().unwrap_or_else(|e| e.into_inner()),
            first.into_inner().unwrap_or_else(|e| e.into_inner()),
        ) {
            (Some(why), _) => Ok(Err(why)),
            (None, Some(e)) => Err(e),
            (None, None) => Ok(Ok(())),
        }
    }

    fn next_batch<'q>(&self, queue: &Mutex<VecDeque<&'q [ChunkId]>>) -> Option<&'q [ChunkId]> {
        if self.pacing.stop.load(Ordering::Relaxed) {
            return None;
        }
        queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
    }

    /// Makes what arrived durable, once each [`FLUSH_EVERY`].
    fn flush_now_and_then(&self) -> Result<()> {
        let mut last = self
            .totals
            .flushed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if last.elapsed() >= FLUSH_EVERY {
            self.store.flush()?;
            *last = Instant::now();
        }
        Ok(())
    }

    /// One batch, asked again (for what had not arrived) while the link
    /// fails, up to [`RETRIES`] times.
    fn fetch_batch(&self, batch: &[ChunkId], bad: &Mutex<Option<String>>) -> Result<()> {
        let describe = format!("site {}", self.upstream.name());
        let mut left: Vec<ChunkId> = batch.to_vec();
        let mut attempt = 0;
        loop {
            self.pacing.wait_for_window();
            // What arrived meanwhile (a restore reading through, another
            // pull) is not asked for again.
            let here = self.store.has_many(&left)?;
            let mut i = 0;
            left.retain(|_| {
                i += 1;
                !here[i - 1]
            });
            if left.is_empty() {
                return Ok(());
            }
            let mut got = 0;
            let mut keep = |id: ChunkId, raw: Vec<u8>| -> Result<()> {
                // Verified before it is kept: a chunk altered upstream or
                // on the way never enters the store.
                if let Err(why) = keep_verified(self.store, &describe, &id, &raw)? {
                    bad.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(why);
                    return Err(Error::Site {
                        site: describe.clone(),
                        detail: format!("chunk {id} refused"),
                    });
                }
                self.flush_now_and_then()?;
                got += 1;
                let chunks = self.totals.chunks.fetch_add(1, Ordering::Relaxed) + 1;
                let bytes = self
                    .totals
                    .bytes
                    .fetch_add(raw.len() as u64, Ordering::Relaxed)
                    + raw.len() as u64;
                self.pacing.watch.fetched(chunks, bytes);
                self.progress.advance(1);
                Ok(())
            };
            match self.upstream.chunks(&left, &mut keep) {
                Ok(()) => return Ok(()),
                Err(Failure::Final(e) | Failure::Missing(e)) => return Err(e),
                Err(Failure::Link(e)) => {
                    left.drain(..got);
                    attempt += 1;
                    if attempt > RETRIES || self.pacing.stop.load(Ordering::Relaxed) {
                        return Err(e);
                    }
                    let wait = Duration::from_secs((1u64 << attempt).min(60));
                    tracing::warn!(
                        "{e}; asking again for {} chunks in {} s (attempt {attempt} of {RETRIES})",
                        left.len(),
                        wait.as_secs()
                    );
                    self.totals.retries.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(wait);
                }
            }
        }
    }
}

/// The signature of version `v` checked against `trusted`, then its
/// manifest fetched and checked against its id and parsed: the manifest,
/// its bytes and the signature file; `Ok(Err)` says why it is refused.
/// Nothing of an untrusted version is fetched.
#[allow(clippy::type_complexity)]
pub(super) fn checked_manifest(
    upstream: &Upstream,
    v: &CatalogVersion,
    id: &ImageId,
    trusted: &PublicKey,
) -> Result<std::result::Result<(Manifest, Vec<u8>, String), String>> {
    let Some(sig_text) = &v.signature else {
        return Ok(Err(
            "unsigned: the upstream has no signature for this version".into(),
        ));
    };
    let sig = match SignatureFile::parse(sig_text.as_bytes()) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e.to_string())),
    };
    if let Err(why) = sig.verify(id, std::slice::from_ref(trusted)) {
        return Ok(Err(why));
    }
    let bytes = match upstream.manifest(id) {
        Ok(b) => b,
        Err(Failure::Final(e) | Failure::Missing(e)) => return Ok(Err(e.to_string())),
        Err(Failure::Link(e)) => return Err(e),
    };
    if ImageId::of(&bytes) != *id {
        return Ok(Err(format!(
            "its manifest hashes to {}, not to its id",
            ImageId::of(&bytes).short()
        )));
    }
    let describe = format!("site {}", upstream.name());
    match Manifest::parse(&bytes, &id.to_hex(), &describe) {
        Ok(m) => Ok(Ok((m, bytes, sig_text.clone()))),
        Err(e) => Ok(Err(e.to_string())),
    }
}

/// Keeps a chunk that arrived from `describe` when it is what its name
/// says; `Ok(Err)` says why it was refused.
pub(super) fn keep_verified<S: WriteStore>(
    store: &S,
    describe: &str,
    id: &ChunkId,
    raw: &[u8],
) -> Result<std::result::Result<(), String>> {
    if let Err(e) = decode_chunk(id, raw, describe) {
        return Ok(Err(e.to_string()));
    }
    store.put(id, raw)?;
    Ok(Ok(()))
}
