//! `marrow image`: capture, restore and manage images in a chunk store.
//! Works offline, on the store directory alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use image_format::capture::{capture, CaptureOptions};
use image_format::catalog::{self, ImageRef};
use image_format::disk::FileDisk;
use image_format::layout::TableKind;
use image_format::maintenance;
use image_format::manifest::{Manifest, RegionRole};
use image_format::plan::{RestoreOptions, RestorePlan};
use image_format::restore::{restore, Target};
use image_format::store::{LockMode, LockStore, ReadStore};
use image_format::{default_threads, human, ChunkParams, ImageId};
use serde_json::json;

use super::Global;
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::progress::Bar;
use crate::store::{Store, StoreSpec};

#[derive(Debug, clap::Args)]
pub struct StoreArg {
    /// Chunk store: a folder or s3://BUCKET/PREFIX (default: the
    /// configuration's `store`, else DATA_DIR/store).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX")]
    pub store: Option<String>,
}

impl StoreArg {
    pub fn spec(&self, global: &Global) -> Result<StoreSpec> {
        global.store_spec(self.store.as_deref())
    }

    /// The store, which must exist.
    pub fn open(&self, global: &Global) -> Result<Store> {
        self.spec(global)?.open()
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Capture a disk (block device or raw image file) as a new image version.
    Capture {
        source: PathBuf,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        store: StoreArg,
        /// zstd level for new chunks (default: 3 for chunks a local store
        /// packs together, 1 for chunks stored one by one).
        #[arg(long)]
        level: Option<i32>,
        /// Average chunk size in KiB (a power of two).
        #[arg(long, default_value_t = ChunkParams::DEFAULT.avg / 1024)]
        chunk_kib: usize,
        /// Keep the content of Windows' pagefile.sys, swapfile.sys and
        /// hiberfil.sys, which is otherwise recorded as zeros.
        #[arg(long)]
        keep_windows_temp: bool,
        #[arg(long)]
        json: bool,
    },
    /// Restore an image onto a disk or image file.
    Restore {
        image: String,
        target: PathBuf,
        #[command(flatten)]
        store: StoreArg,
        /// Print the plan and write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Extend the last partition to the end of a larger target.
        #[arg(long)]
        grow_last_partition: bool,
        /// Write every chunk instead of skipping those the target already holds.
        #[arg(long)]
        full: bool,
        #[arg(long)]
        json: bool,
    },
    /// Read and verify every chunk of an image.
    Verify {
        image: String,
        #[command(flatten)]
        store: StoreArg,
        #[arg(long)]
        json: bool,
    },
    /// List images.
    List {
        #[command(flatten)]
        store: StoreArg,
        #[arg(long)]
        json: bool,
    },
    /// Show an image's layout, filesystems, sizes and sharing.
    Inspect {
        image: String,
        #[command(flatten)]
        store: StoreArg,
        #[arg(long)]
        json: bool,
    },
    /// Export an image version as a read-only NBD disk (fixed newstyle),
    /// served from the store, until interrupted. qemu-img, qemu-io,
    /// qemu-system's `-drive file=nbd://…` and nbd-client read it.
    Serve {
        image: String,
        #[command(flatten)]
        store: StoreArg,
        /// Address and port to listen on; 127.0.0.1 keeps it to this
        /// machine, since NBD has no authentication.
        #[arg(long, default_value = "127.0.0.1:10809")]
        listen: std::net::SocketAddr,
        /// MiB of decompressed chunks kept between reads.
        #[arg(long, default_value_t = 256)]
        cache_mib: usize,
    },
    /// Delete an image name, or one version with NAME@ID.
    Delete {
        image: String,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Import a VM disk (qcow2, vmdk, vhdx, raw) through qemu-img.
    Import {
        file: PathBuf,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        store: StoreArg,
        #[arg(long)]
        json: bool,
    },
    /// Sign every version of NAME, or NAME@ID, with this server's key, so
    /// sites that trust it can pull them (images captured before signing
    /// came, or imported from elsewhere).
    Sign {
        image: String,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Export an image as a raw or qcow2 disk file.
    Export {
        image: String,
        file: PathBuf,
        #[command(flatten)]
        store: StoreArg,
        #[arg(long, value_enum, default_value = "raw")]
        format: ExportFormat,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Raw,
    Qcow2,
}

impl ImageCommand {
    /// Whether `--server` can run it (the others read or write local disks).
    pub fn remote_capable(&self) -> bool {
        matches!(
            self,
            ImageCommand::List { .. } | ImageCommand::Inspect { .. } | ImageCommand::Delete { .. }
        )
    }
}

pub fn run(global: &Global, cmd: ImageCommand) -> Result<()> {
    match cmd {
        ImageCommand::Capture {
            source,
            name,
            store,
            level,
            chunk_kib,
            keep_windows_temp,
            json,
        } => capture_cmd(
            &global.dirs(),
            &store.spec(global)?,
            &source,
            &name,
            &CaptureSettings {
                level,
                chunk_kib,
                keep_windows_temp,
                json,
                label: source.display().to_string(),
            },
        ),
        ImageCommand::Restore {
            image,
            target,
            store,
            dry_run,
            grow_last_partition,
            full,
            json,
        } => {
            let store = store.open(global)?;
            let opts = RestoreOptions {
                grow_last_partition,
                no_delta: full,
            };
            restore_cmd(&store, &image, &target, &opts, dry_run, json)
        }
        ImageCommand::Verify { image, store, json } => {
            verify_cmd(&store.open(global)?, &image, json)
        }
        ImageCommand::List { store, json } => list_cmd(global, &store, json),
        ImageCommand::Inspect { image, store, json } => inspect_cmd(global, &store, &image, json),
        ImageCommand::Delete { image, store } => delete_cmd(global, &store, &image),
        ImageCommand::Serve {
            image,
            store,
            listen,
            cache_mib,
        } => serve_cmd(store.open(global)?, &image, listen, cache_mib),
        ImageCommand::Import {
            file,
            name,
            store,
            json,
        } => import_cmd(&global.dirs(), &store.spec(global)?, &file, &name, json),
        ImageCommand::Sign { image, store } => {
            sign_cmd(&global.dirs(), &store.open(global)?, &image)
        }
        ImageCommand::Export {
            image,
            file,
            store,
            format,
        } => export_cmd(&store.open(global)?, &image, &file, format),
    }
}

fn verify_cmd(store: &Store, image: &str, json: bool) -> Result<()> {
    let (id, manifest) = open_image(store, image)?;
    let report = maintenance::verify_image(store, &manifest, &id, default_threads(), &Bar::new())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap());
    } else {
        println!(
            "image {image} ({}) verified: {} chunks, {} of data, all match their names",
            id.short(),
            report.chunks,
            human(report.bytes)
        );
    }
    Ok(())
}

/// A store named by `--store` is here; it cannot go with `--server`.
fn named_store(global: &Global, store: &StoreArg) -> Result<Option<StoreSpec>> {
    match (&store.store, &global.server) {
        (Some(_), Some(_)) => Err(Error::Usage(
            "--store names this machine's store; leave it out with --server".into(),
        )),
        (Some(_), None) => store.spec(global).map(Some),
        (None, _) => Ok(None),
    }
}

fn delete_cmd(global: &Global, store: &StoreArg, image: &str) -> Result<()> {
    let removed = match named_store(global, store)? {
        Some(spec) => {
            let mut db = crate::db::Db::open(&global.dirs().db())?;
            let ctx = crate::admin::Ctx::local(SystemClock.now());
            crate::admin::delete_image(&mut db, &ctx, &spec, image)?
        }
        None => global.backend()?.delete_image(image)?,
    };
    for id in &removed {
        println!("deleted {image} version {}", &id[..12.min(id.len())]);
    }
    println!("run `marrow store gc` to free chunks no other image uses");
    Ok(())
}

/// Converts a VM disk to a raw temporary in the store's tmp/ with
/// qemu-img, then captures that.
fn import_cmd(
    dirs: &crate::paths::DataDir,
    spec: &StoreSpec,
    file: &Path,
    name: &str,
    json: bool,
) -> Result<()> {
    // Check what can be checked before a store is made or a file converted.
    catalog::validate_name(name)?;
    if !file.is_file() {
        return Err(Error::Usage(format!(
            "{}: no such file for qemu-img to import",
            file.display()
        )));
    }
    let store = spec.create()?;
    // Named NAME.PID.N like the store's own temporaries, so a gc after a
    // crash knows its writer is gone.
    let scratch = store.scratch_dir(&dirs.root().join("tmp"));
    std::fs::create_dir_all(&scratch).map_err(Error::io(&scratch))?;
    let tmp = scratch.join(format!("import.raw.{}.0", std::process::id()));
    let _cleanup = RemoveOnDrop::new(tmp.clone());
    qemu_img(&[
        "convert",
        "-O",
        "raw",
        &file.display().to_string(),
        &tmp.display().to_string(),
    ])?;
    capture_cmd(
        dirs,
        spec,
        &tmp,
        name,
        &CaptureSettings {
            level: None,
            chunk_kib: ChunkParams::DEFAULT.avg / 1024,
            keep_windows_temp: false,
            json,
            label: file.display().to_string(),
        },
    )
}

/// Signs NAME's versions, or NAME@ID, with the data directory's key.
fn sign_cmd(dirs: &crate::paths::DataDir, store: &Store, image: &str) -> Result<()> {
    use image_format::store::ManifestStore;
    let identity = crate::sites::identity::Identity::load_or_create(dirs)?;
    let r = ImageRef::parse(image)?;
    let ids: Vec<ImageId> = match &r.version {
        Some(_) => vec![catalog::resolve(store, &r, &store.describe())?.id],
        None => {
            let history = store.history(&r.name)?;
            if history.is_empty() {
                return Err(image_format::Error::ImageNotFound {
                    name: r.name.clone(),
                    store: store.describe(),
                }
                .into());
            }
            history.iter().map(|e| e.id).collect()
        }
    };
    for id in &ids {
        store.put_signature(id, &identity.sign(id).to_bytes())?;
        println!(
            "signed {}@{} with {}",
            r.name,
            id.short(),
            identity.public()
        );
    }
    Ok(())
}

/// Restores into a new raw file (a temporary for qcow2, converted with
/// qemu-img); never overwrites, and removes a half-written export.
fn export_cmd(store: &Store, image: &str, file: &Path, format: ExportFormat) -> Result<()> {
    let (id, manifest) = open_image(store, image)?;
    let raw = match format {
        ExportFormat::Raw => file.to_path_buf(),
        ExportFormat::Qcow2 => file.with_extension("raw.tmp"),
    };
    if file.exists() {
        return Err(Error::Usage(format!(
            "{} already exists; remove it or export to another name",
            file.display()
        )));
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&raw)
        .map_err(Error::io(&raw))?;
    // The raw file is a temporary for qcow2, and a half-written
    // export is worse than none: remove it unless all went well.
    let mut cleanup = RemoveOnDrop::new(raw.clone());
    f.set_len(manifest.layout.size).map_err(Error::io(&raw))?;
    drop(f);
    let target = Target::open(&raw)?;
    let plan = RestorePlan::new(
        id,
        &manifest,
        &raw.display().to_string(),
        target.size(),
        &RestoreOptions::default(),
    )?;
    restore(
        &plan,
        &manifest,
        store,
        &target,
        default_threads(),
        &Bar::new(),
    )?;
    if let ExportFormat::Qcow2 = format {
        qemu_img(&[
            "convert",
            "-f",
            "raw",
            "-O",
            "qcow2",
            &raw.display().to_string(),
            &file.display().to_string(),
        ])?;
    } else {
        cleanup.keep();
    }
    println!("exported {image} ({}) to {}", id.short(), file.display());
    Ok(())
}

/// Removes a file when dropped, unless told to keep it.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn new(path: PathBuf) -> Self {
        RemoveOnDrop(Some(path))
    }

    fn keep(&mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn qemu_img(args: &[&str]) -> Result<()> {
    let out = Command::new("qemu-img")
        .args(args)
        .output()
        .map_err(|e| Error::Command {
            command: "qemu-img".into(),
            detail: format!("could not start it ({e}); install the qemu-utils package"),
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("qemu-img {}", args.join(" ")),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// `marrow image serve`: one export, named `NAME@SHORTID` (and the
/// default export, for clients that name none).
fn serve_cmd(
    store: Store,
    reference: &str,
    listen: std::net::SocketAddr,
    cache_mib: usize,
) -> Result<()> {
    let (name, view) =
        crate::nbd::open_export(std::sync::Arc::new(store), reference, cache_mib << 20)?;
    let size = view.size();
    // Connections and failed reads are logged on standard error.
    super::log_to_stderr();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::io("tokio runtime"))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(Error::io(format!("NBD listen address {listen}")))?;
        let exports = std::sync::Arc::new(crate::nbd::Exports::fixed(vec![crate::nbd::Exported {
            name: name.clone(),
            view: std::sync::Arc::new(view),
            expires: None,
        }]));
        println!(
            "serving   nbd://{listen}/{name} (read-only, {}); Ctrl-C stops",
            human(size)
        );
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(Error::io("SIGTERM handler"))?;
        tokio::select! {
            () = crate::nbd::serve(listener, exports) => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        Ok::<(), Error>(())
    })?;
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    Ok(())
}

pub fn open_image(store: &Store, reference: &str) -> Result<(ImageId, Manifest)> {
    let r = ImageRef::parse(reference)?;
    let entry = catalog::resolve(store, &r, &store.describe())?;
    let manifest = catalog::load(store, &entry.id, &store.describe())?;
    Ok((entry.id, manifest))
}

/// How a capture chunks and compresses, and how it reports.
struct CaptureSettings {
    /// Both levels (single chunks and packs), when given.
    level: Option<i32>,
    chunk_kib: usize,
    keep_windows_temp: bool,
    json: bool,
    /// What the report calls the source (an imported file's own name).
    label: String,
}

/// Captures `source` into the store as a new version of `name`, signed by
/// this data directory's key.
fn capture_cmd(
    dirs: &crate::paths::DataDir,
    spec: &StoreSpec,
    source: &Path,
    name: &str,
    settings: &CaptureSettings,
) -> Result<()> {
    let CaptureSettings {
        level,
        chunk_kib,
        keep_windows_temp,
        json,
        label: source_label,
    } = settings;
    let (level, chunk_kib, json) = (*level, *chunk_kib, *json);
    catalog::validate_name(name)?;
    if !chunk_kib.is_power_of_two() || !(16..=1024).contains(&chunk_kib) {
        return Err(Error::Usage(format!(
            "--chunk-kib {chunk_kib}: must be a power of two from 16 to 1024"
        )));
    }
    if let Some(level) = level.filter(|l| !(-7..=22).contains(l)) {
        return Err(Error::Usage(format!(
            "--level {level}: zstd levels run from -7 to 22"
        )));
    }
    let disk = FileDisk::open(source)?;
    // Only now, with every input checked, may the store be created.
    let store = &spec.create()?;
    let signer = crate::sites::signer(dirs)?;
    let defaults = CaptureOptions::default();
    let opts = CaptureOptions {
        params: ChunkParams::with_avg(chunk_kib * 1024),
        level: level.unwrap_or(defaults.level),
        pack_level: level.unwrap_or(defaults.pack_level),
        threads: default_threads(),
        keep_windows_temp: *keep_windows_temp,
    };
    let started = std::time::Instant::now();
    let lock = store.lock(LockMode::Shared)?;
    let (manifest, stats) = capture(&disk, store, &opts, &Bar::new())?;
    let id = catalog::commit_signed(
        store,
        name,
        &manifest,
        SystemClock.now() as u64,
        &crate::sites::signing(signer.as_ref()),
    )?;
    drop(lock);
    let secs = started.elapsed().as_secs_f64();
    let dedup = if stats.new_bytes == 0 {
        f64::INFINITY
    } else {
        stats.data_bytes as f64 / stats.new_bytes as f64
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "image": id.to_hex(),
                "name": name,
                "source": source_label,
                "logical_bytes": stats.logical_bytes,
                "used_bytes": stats.used_bytes,
                "data_bytes": stats.data_bytes,
                "chunks": stats.chunks,
                "new_chunks": stats.new_chunks,
                "new_bytes": stats.new_bytes,
                "skipped": manifest.regions.iter().flat_map(|r| r.skipped.iter().map(move |f| json!({
                    "region": r.label(),
                    "path": f.path,
                    "bytes": f.bytes,
                }))).collect::<Vec<_>>(),
                "dedup_ratio": if dedup.is_finite() { json!(dedup) } else { json!(null) },
                "seconds": secs,
            }))
            .unwrap()
        );
    } else {
        println!("image     {name}@{}", id.short());
        println!("id        {id}");
        println!(
            "logical   {} ({} bytes)",
            human(stats.logical_bytes),
            stats.logical_bytes
        );
        println!(
            "used      {} ({} of data, {} of zeros)",
            human(stats.used_bytes),
            human(stats.data_bytes),
            human(stats.used_bytes - stats.data_bytes)
        );
        for r in &manifest.regions {
            for f in &r.skipped {
                println!(
                    "skipped   {} on {} ({}, kept as zeros; --keep-windows-temp keeps it)",
                    f.path,
                    r.label(),
                    human(f.bytes)
                );
            }
        }
        println!(
            "stored    {} new in {} new chunks of {}",
            human(stats.new_bytes),
            stats.new_chunks,
            stats.chunks
        );
        if dedup.is_finite() {
            println!("dedup     {dedup:.2}x (data bytes per new stored byte)");
        } else {
            println!("dedup     every chunk was already in the store");
        }
        println!("time      {secs:.1} s");
    }
    Ok(())
}

fn restore_cmd(
    store: &Store,
    reference: &str,
    target_path: &Path,
    opts: &RestoreOptions,
    dry_run: bool,
    json: bool,
) -> Result<()> {
    let (id, manifest) = open_image(store, reference)?;
    let target = Target::open(target_path)?;
    let plan = RestorePlan::new(
        id,
        &manifest,
        &target_path.display().to_string(),
        target.size(),
        opts,
    )?;
    if dry_run {
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "image": id.to_hex(),
                    "target": plan.target,
                    "target_bytes": plan.target_size,
                    "needed_bytes": plan.needed,
                    "data_bytes": plan.data_bytes(),
                    "zero_bytes": plan.zero_bytes(),
                    "delta": plan.delta,
                    "grow": plan.growth.as_ref().map(|g| json!({"partition": g.partition, "old_bytes": g.old_size, "new_bytes": g.new_size})),
                    "table_writes": plan.table_writes.iter().map(|w| json!({"what": w.what, "offset": w.offset, "bytes": w.bytes.len()})).collect::<Vec<_>>(),
                }))
                .unwrap()
            );
        } else {
            println!("{plan}");
        }
        return Ok(());
    }
    let started = std::time::Instant::now();
    let lock = store.lock(LockMode::Shared)?;
    let stats = restore(
        &plan,
        &manifest,
        store,
        &target,
        default_threads(),
        &Bar::new(),
    )?;
    drop(lock);
    // The tools open the disk themselves: close it first.
    drop(target);
    let grown = image_format::grow::after_restore(
        &plan,
        &manifest,
        target_path,
        &image_format::grow::PathTools,
        &std::env::temp_dir(),
    );
    let secs = started.elapsed().as_secs_f64();
    if json {
        let mut v = serde_json::to_value(&stats).unwrap();
        v["image"] = json!(id.to_hex());
        v["seconds"] = json!(secs);
        if let Some(g) = &grown {
            v["filesystem_grow"] = serde_json::to_value(g).unwrap();
        }
        println!("{}", serde_json::to_string_pretty(&v).unwrap());
    } else {
        println!(
            "restored  {reference} ({}) to {}",
            id.short(),
            target_path.display()
        );
        println!(
            "data      {} in {} chunks; {} already in place",
            human(stats.data_bytes),
            stats.chunks,
            human(stats.skipped_bytes)
        );
        println!(
            "written   {} ; fetched {} in {} chunks, each verified",
            human(stats.written_bytes),
            human(stats.fetched_bytes),
            stats.fetched_chunks
        );
        if let Some(g) = &plan.growth {
            println!(
                "grown     partition {} from {} to {}",
                g.partition,
                human(g.old_size),
                human(g.new_size)
            );
        }
        if let Some(g) = &grown {
            if g.grown {
                println!(
                    "          its {} filesystem from {} to {} ({})",
                    g.fs,
                    human(g.from),
                    human(g.to),
                    g.detail
                );
            } else {
                println!("          its {} filesystem: {}", g.fs, g.detail);
            }
        }
        println!("time      {secs:.1} s");
    }
    Ok(())
}

fn list_cmd(global: &Global, store: &StoreArg, json: bool) -> Result<()> {
    let rows = match named_store(global, store)? {
        Some(spec) => {
            // Name a missing store, as every other command on it does.
            spec.open()?;
            crate::admin::list_images(&spec)?
        }
        None => global.backend()?.images()?,
    };
    if json {
        return super::print_json(&rows);
    }
    if rows.is_empty() {
        println!("no images");
        return Ok(());
    }
    println!(
        "{:<24} {:<12} {:>8} {:>10} {:>10} {:>8}",
        "NAME", "ID", "VERSIONS", "DISK", "DATA", "TABLE"
    );
    for r in rows {
        println!(
            "{:<24} {:<12} {:>8} {:>10} {:>10} {:>8}",
            r.name,
            &r.id[..12.min(r.id.len())],
            r.versions,
            human(r.logical_bytes),
            human(r.data_bytes),
            r.table
        );
    }
    Ok(())
}

fn inspect_cmd(global: &Global, store: &StoreArg, reference: &str, json: bool) -> Result<()> {
    let v = match named_store(global, store)? {
        Some(spec) => crate::admin::inspect_image(&spec, reference)?,
        None => global.backend()?.inspect_image(reference)?,
    };
    if json {
        return super::print_json(&v);
    }
    let l = &v.layout;
    println!("image     {reference} ({})", v.image);
    println!(
        "disk      {} ({} bytes), {}, {}-byte sectors",
        human(l.size),
        l.size,
        match l.table {
            TableKind::Gpt => "GPT",
            TableKind::Mbr => "MBR",
            TableKind::None => "no partition table",
        },
        l.sector_size
    );
    match &v.signed_by {
        Some(key) => println!("signed    by {key}"),
        None => println!("signed    {}", v.signature),
    }
    for w in &l.warnings {
        println!("warning   {w}");
    }
    for p in &l.partitions {
        println!(
            "  part {:>2}  start {:>12}  size {:>10}  type {}{}",
            p.number,
            p.start,
            human(p.size),
            p.type_id,
            if p.name.is_empty() {
                String::new()
            } else {
                format!("  \"{}\"", p.name)
            }
        );
    }
    println!("regions");
    for r in &v.regions {
        let label = match (r.role, r.partition) {
            (RegionRole::Partition, Some(n)) => format!("partition {n}"),
            (RegionRole::Partition, None) => "partition".into(),
            (RegionRole::BootArea, _) => "boot area".into(),
            (RegionRole::Gap, _) => "gap".into(),
            (RegionRole::WholeDisk, _) => "whole disk".into(),
        };
        println!(
            "  {:<12} {:<8} data {:>10}  zeros {:>10}  chunks {}",
            label,
            r.fs.name(),
            human(r.data_bytes),
            human(r.zero_bytes),
            r.chunks
        );
        for f in &r.skipped {
            println!(
                "    skipped {} ({}, restores as zeros)",
                f.path,
                human(f.bytes)
            );
        }
    }
    println!(
        "sizes     used {}, data {}, stored {} in {} unique chunks",
        human(v.used_bytes),
        human(v.data_bytes),
        human(v.stored_bytes),
        v.unique_chunks
    );
    if v.shared.is_empty() {
        println!("shared    no chunks shared with other images");
    }
    for s in &v.shared {
        println!(
            "shared    {} chunks ({}) with {}",
            s.chunks,
            human(s.stored_bytes),
            s.image
        );
    }
    Ok(())
}
