//! A task's work on its disk: capture to the server, or restore from it
//! (then inject drivers when the task asks), with progress sent to the
//! server about once a second.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image_format::capture::{capture, CaptureOptions};
use image_format::disk::FileDisk;
use image_format::manifest::Manifest;
use image_format::plan::{RestoreOptions, RestorePlan};
use image_format::restore::{restore, Target};
use image_format::store::Counting;
use image_format::ImageId;
use marrow_protocol::api::{Progress, Report, TaskInfo, TaskKind};

use crate::api::Client;
use crate::remote_store::HttpStore;
use crate::session::{self, SessionRestore};
use crate::{inject, post, Error, Result};
use driver_store::{Arch, TargetOs};

/// Parallel transfers: a remote store hides its round trips behind them,
/// so there are at least four whatever the CPU count.
fn net_threads() -> usize {
    image_format::default_threads().max(4)
}

/// Where progress lines go besides the server.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// Boot mode: a line every few seconds on the console.
    Lines,
    /// A shell on a terminal: one line redrawn in place on stderr.
    Terminal,
    /// A pipe: nothing.
    Quiet,
}

/// Collects the engine's progress; a reporter thread reads it.
struct Meter {
    phase: Mutex<String>,
    total: AtomicU64,
    done: AtomicU64,
}

impl image_format::progress::Progress for Meter {
    fn start(&self, phase: &str, total: u64) {
        *self.phase.lock().unwrap() = phase.to_owned();
        self.total.store(total, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
    }
    fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }
}

fn mib(n: u64) -> f64 {
    n as f64 / (1024.0 * 1024.0)
}

/// Runs `work` while a thread sends the meter's state to the server every
/// second and shows it on `console`.
fn with_progress<T>(
    client: &Client,
    console: Console,
    work: impl FnOnce(&Meter) -> Result<T>,
) -> Result<T> {
    let meter = Meter {
        phase: Mutex::new("starting".into()),
        total: AtomicU64::new(0),
        done: AtomicU64::new(0),
    };
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut last = (Instant::now(), 0u64);
            let mut shown = Instant::now();
            let mut warned = false;
            let mut ticks = 0u32;
            while !stop.load(Ordering::Relaxed) {
                // Sleep in short steps so the end is not delayed a second.
                std::thread::sleep(Duration::from_millis(100));
                ticks += 1;
                if !ticks.is_multiple_of(10) {
                    continue;
                }
                let done = meter.done.load(Ordering::Relaxed);
                let total = meter.total.load(Ordering::Relaxed);
                let now = Instant::now();
                let secs = now.duration_since(last.0).as_secs_f64().max(0.001);
                let rate = (done.saturating_sub(last.1) as f64 / secs) as u64;
                last = (now, done);
                let p = Progress {
                    phase: meter.phase.lock().unwrap().clone(),
                    done_bytes: done,
                    total_bytes: total,
                    rate,
                    eta_secs: (rate > 0).then(|| total.saturating_sub(done) / rate),
                };
                if let Err(e) = client.progress(&p) {
                    if !warned {
                        eprintln!("marrow-client: progress report failed (carrying on): {e}");
                        warned = true;
                    }
                }
                let line = format!(
                    "{} {:.1}/{:.1} MiB, {:.1} MiB/s{}",
                    p.phase,
                    mib(done),
                    mib(total),
                    mib(rate),
                    p.eta_secs
                        .map(|e| format!(", {e} s left"))
                        .unwrap_or_default()
                );
                match console {
                    Console::Terminal => eprint!("\r\x1b[K{line}"),
                    Console::Lines if shown.elapsed() >= Duration::from_secs(5) => {
                        println!("marrow-client: {line}");
                        shown = Instant::now();
                    }
                    _ => {}
                }
            }
            if console == Console::Terminal {
                eprint!("\r\x1b[K");
            }
        });
        let result = work(&meter);
        stop.store(true, Ordering::Relaxed);
        result
    })
}

/// Runs the claimed `task` on `disk` and returns the report to send.
/// Failures come back as `Err`; the caller reports them. A report with
/// `error` set (a post-deploy script that failed) fails the task too,
/// with the script's output kept.
pub fn run(client: &Arc<Client>, task: &TaskInfo, disk: &Path, console: Console) -> Result<Report> {
    run_on(client, task, disk, console, None)
}

/// [`run`], joining a session's group on `interface` when given (else on
/// the interface that routes to the server).
pub fn run_on(
    client: &Arc<Client>,
    task: &TaskInfo,
    disk: &Path,
    console: Console,
    interface: Option<&str>,
) -> Result<Report> {
    let started = Instant::now();
    let mut report = match task.kind {
        TaskKind::Capture => run_capture(client, task, disk, console)?,
        TaskKind::Restore => run_restore(client, task, disk, console, interface)?,
    };
    report.disk = Some(disk.display().to_string());
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

fn run_capture(
    client: &Arc<Client>,
    task: &TaskInfo,
    disk: &Path,
    console: Console,
) -> Result<Report> {
    let source = FileDisk::open(disk)?;
    let store = Counting::new(HttpStore::new(client.clone(), &task.image));
    let opts = CaptureOptions {
        threads: net_threads(),
        ..CaptureOptions::default()
    };
    let (manifest, stats) = with_progress(client, console, |meter| {
        Ok(capture(&source, &store, &opts, meter)?)
    })?;
    // Last: until the manifest is committed no image exists, and a rerun
    // skips the chunks already uploaded.
    let committed = client.commit(&task.image, &manifest.to_canonical())?;
    Ok(Report {
        image_id: Some(committed.id),
        read_bytes: stats.used_bytes,
        uploaded_bytes: store.counts.bytes(),
        uploaded_chunks: store.counts.stored(),
        known_chunks: store.counts.known(),
        ..Report::default()
    })
}

fn run_restore(
    client: &Arc<Client>,
    task: &TaskInfo,
    disk: &Path,
    console: Console,
    interface: Option<&str>,
) -> Result<Report> {
    let want: ImageId = task
        .manifest
        .ok_or_else(|| Error::Usage(format!("restore task {} names no manifest", task.id)))?;
    let bytes = client.get_manifest(&task.image)?;
    let manifest = Manifest::parse(&bytes, &want.to_hex(), client.base())?;
    // The manifest's id is the hash of its canonical form: what arrived is
    // what the task named, or nothing is written.
    if manifest.id() != want {
        return Err(Error::Usage(format!(
            "manifest of image {} from {} hashes to {}, not {want}",
            task.image,
            client.base(),
            manifest.id()
        )));
    }
    let target = Target::open(disk)?;
    let plan = RestorePlan::new(
        want,
        &manifest,
        &disk.display().to_string(),
        target.size(),
        &RestoreOptions {
            grow_last_partition: task.grow_last_partition,
            no_delta: false,
        },
    )?;
    let mut report = match task.session {
        Some(_) => with_progress(client, console, |meter| {
            let stats = session::restore(&SessionRestore {
                client,
                image: &task.image,
                manifest: &manifest,
                plan: &plan,
                target: &target,
                interface,
                threads: net_threads(),
                progress: meter,
            })?;
            Ok(Report {
                written_bytes: stats.written_bytes,
                skipped_bytes: stats.skipped_bytes,
                fetched_bytes: stats.multicast_bytes + stats.unicast_bytes,
                fetched_chunks: stats.multicast_chunks + stats.unicast_chunks,
                multicast_bytes: stats.multicast_bytes,
                unicast_bytes: stats.unicast_bytes,
                ..Report::default()
            })
        })?,
        None => unicast_restore(client, task, &manifest, &plan, &target, console)?,
    };
    drop(target);
    report.image_id = Some(want);
    // The delta pass reads every data range before deciding to write it.
    report.read_bytes = if plan.delta { plan.data_bytes() } else { 0 };
    report.drivers = match &task.inject_drivers {
        Some(os) => Some(inject::after_restore(client, &manifest, disk, os)?),
        None => None,
    };
    let arch = match &task.inject_drivers {
        Some(os) => os.parse::<TargetOs>()?.arch,
        None => Arch::Amd64,
    };
    let done = post::after_restore(&task.post, &manifest, disk, arch, client.base())?;
    report.hostname = done.hostname;
    // A failing script fails the task; its output stays in the report.
    if let Some(s) = done.script.as_ref().filter(|s| !s.succeeded()) {
        report.error = Some(format!("post-script {} {}", s.name, s.status));
    }
    report.post_script = done.script;
    // Last, after the edits above went in through ntfs-3g: ntfsresize
    // leaves an NTFS volume marked for Windows' check at its next boot.
    report.filesystem_grow = image_format::grow::after_restore(
        &plan,
        &manifest,
        disk,
        &crate::mount::ClientTools,
        &std::env::temp_dir(),
    )
    .map(|g| marrow_protocol::api::post::GrowReport {
        partition: g.partition,
        fs: g.fs,
        from: g.from,
        to: g.to,
        grown: g.grown,
        detail: g.detail,
    });
    Ok(report)
}

fn unicast_restore(
    client: &Arc<Client>,
    task: &TaskInfo,
    manifest: &Manifest,
    plan: &RestorePlan,
    target: &Target,
    console: Console,
) -> Result<Report> {
    let store = HttpStore::new(client.clone(), &task.image);
    let stats = with_progress(client, console, |meter| {
        Ok(restore(
            plan,
            manifest,
            &store,
            target,
            net_threads(),
            meter,
        )?)
    })?;
    Ok(Report {
        written_bytes: stats.written_bytes,
        skipped_bytes: stats.skipped_bytes,
        fetched_bytes: stats.fetched_bytes,
        fetched_chunks: stats.fetched_chunks,
        ..Report::default()
    })
}
