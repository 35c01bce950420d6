//! What the stored size of an image would be with other compression units
//! and zstd levels, for `scripts/bench-image --units`.
//!
//! It walks an image's chunks in disk order, each distinct chunk once (as
//! the store keeps them), and compresses the same bytes several ways:
//! - `chunk:L`: each chunk on its own at level L, which is what the store
//!   does (at the default level its total is the capture's stored bytes);
//! - `dict:L`: each chunk on its own with a dictionary trained on a sample
//!   of the image's chunks (a dictionary per store);
//! - `pack-K:L`: consecutive distinct chunks packed into units of K KiB,
//!   one zstd frame per unit (packing chunks together; reading one chunk
//!   then means decompressing its pack up to it).
//!
//! Each line gives the total and the rate of one core, so the cost in
//! capture time of each choice can be told beside its size.
//!
//!   compression_units STORE IMAGE[@ID] [chunk:1 pack-4096:3 dict:1 ...]

use std::collections::HashSet;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use image_format::catalog::{load, resolve, ImageRef};
use image_format::store::{LocalStore, ReadStore};
use image_format::table::PieceReader;

const DEFAULT_UNITS: &[&str] = &[
    "chunk:1",
    "chunk:3",
    "chunk:6",
    "chunk:9",
    "dict:1",
    "dict:3",
    "pack-1024:3",
    "pack-4096:1",
    "pack-4096:3",
    "pack-4096:5",
];

/// zstd's default dictionary size, trained on every 16th chunk.
const DICT_BYTES: usize = 112 << 10;
const DICT_SAMPLE_EVERY: usize = 16;

enum Unit {
    Chunk,
    Dict,
    Pack(usize),
}

struct Config {
    label: String,
    unit: Unit,
    level: i32,
    /// zstd's window log, when not the level's own.
    window_log: Option<u32>,
}

fn parse(spec: &str) -> Result<Config, String> {
    let bad = || {
        format!("{spec:?}: expected chunk:LEVEL, dict:LEVEL or pack-KIB:LEVEL, LEVEL optionally followed by wLOG (window log)")
    };
    let (unit, level) = spec.split_once(':').ok_or_else(bad)?;
    let (level, window_log) = match level.split_once('w') {
        Some((l, w)) => (l, Some(w.parse::<u32>().map_err(|_| bad())?)),
        None => (level, None),
    };
    let level: i32 = level.parse().map_err(|_| bad())?;
    let unit = match unit {
        "chunk" => Unit::Chunk,
        "dict" => Unit::Dict,
        _ => {
            let kib: usize = unit
                .strip_prefix("pack-")
                .and_then(|k| k.parse().ok())
                .filter(|k| *k > 0)
                .ok_or_else(bad)?;
            Unit::Pack(kib << 10)
        }
    };
    Ok(Config {
        label: spec.to_string(),
        unit,
        level,
        window_log,
    })
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compression_units: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, image, specs @ ..] = args.as_slice() else {
        return Err("usage: compression_units STORE IMAGE[@ID] [UNIT:LEVEL ...]".into());
    };
    let specs: Vec<&str> = if specs.is_empty() {
        DEFAULT_UNITS.to_vec()
    } else {
        specs.iter().map(String::as_str).collect()
    };
    let configs = specs
        .iter()
        .map(|s| parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let chunks = distinct_chunks(Path::new(store), image).map_err(|e| e.to_string())?;
    let plain: usize = chunks.iter().map(Vec::len).sum();
    println!(
        "{} distinct chunks, {:.1} MiB",
        chunks.len(),
        mib(plain as u64)
    );
    let dict = if configs.iter().any(|c| matches!(c.unit, Unit::Dict)) {
        let t = Instant::now();
        let samples: Vec<&Vec<u8>> = chunks.iter().step_by(DICT_SAMPLE_EVERY).collect();
        let d = zstd::dict::from_samples(&samples, DICT_BYTES)
            .map_err(|e| format!("training the dictionary: {e}"))?;
        println!(
            "dictionary: {} KiB from {} chunks in {:.1} s",
            d.len() >> 10,
            samples.len(),
            t.elapsed().as_secs_f64()
        );
        d
    } else {
        Vec::new()
    };
    println!("{:<14} {:>12} {:>18}", "unit:level", "stored", "one core");
    for c in &configs {
        let (bytes, took) = compress(&chunks, c, &dict)?;
        println!(
            "{:<14} {:>8.1} MiB {:>12.0} MiB/s",
            c.label,
            mib(bytes),
            mib(plain as u64) / took.as_secs_f64().max(1e-9)
        );
    }
    Ok(())
}

/// The image's chunks in disk order, each distinct one once.
fn distinct_chunks(root: &Path, image: &str) -> image_format::Result<Vec<Vec<u8>>> {
    let store = LocalStore::open(root)?;
    let name = root.display().to_string();
    let entry = resolve(&store, &ImageRef::parse(image)?, &name)?;
    let manifest = load(&store, &entry.id, &name)?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for region in &manifest.regions {
        for c in PieceReader::chunks(&store, &region.chunks) {
            let c = c?;
            if seen.insert(c.id) {
                out.push(store.get(&c.id)?);
            }
        }
    }
    Ok(out)
}

/// Total compressed bytes and the time compression alone took.
fn compress(chunks: &[Vec<u8>], c: &Config, dict: &[u8]) -> Result<(u64, Duration), String> {
    let fail = |e: std::io::Error| format!("{}: zstd: {e}", c.label);
    let mut z = match c.unit {
        Unit::Dict => zstd::bulk::Compressor::with_dictionary(c.level, dict),
        _ => zstd::bulk::Compressor::new(c.level),
    }
    .map_err(fail)?;
    if let Some(w) = c.window_log {
        z.set_parameter(zstd::zstd_safe::CParameter::WindowLog(w))
            .map_err(fail)?;
    }
    let mut total = 0u64;
    let mut took = Duration::ZERO;
    let mut one = |bytes: &[u8]| -> Result<(), String> {
        let t = Instant::now();
        let out = z.compress(bytes).map_err(fail)?;
        took += t.elapsed();
        total += out.len() as u64;
        Ok(())
    };
    match c.unit {
        Unit::Chunk | Unit::Dict => {
            for chunk in chunks {
                one(chunk)?;
            }
        }
        Unit::Pack(size) => {
            let mut pack = Vec::with_capacity(size + (1 << 20));
            for chunk in chunks {
                pack.extend_from_slice(chunk);
                if pack.len() >= size {
                    one(&pack)?;
                    pack.clear();
                }
            }
            if !pack.is_empty() {
                one(&pack)?;
            }
        }
    }
    Ok((total, took))
}

fn mib(n: u64) -> f64 {
    n as f64 / 1048576.0
}
