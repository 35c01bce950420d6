//! Content-defined chunking: FastCDC (Xia et al., USENIX ATC 2016) with
//! normalized chunking level 1. Boundaries depend only on the bytes around
//! them, so an insertion shifts data without changing later chunks.
//!
//! The gear table and masks are part of the image format: changing them
//! changes every chunk boundary and so loses dedup against older images.

use std::sync::OnceLock;

/// Chunk size bounds, in bytes. `avg` must be a power of two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChunkParams {
    pub min: usize,
    pub avg: usize,
    pub max: usize,
}

impl ChunkParams {
    /// Average 128 KiB: half the per-chunk cost of 64 KiB for a little
    /// less dedup (docs/image-format.md has the measurements).
    pub const DEFAULT: ChunkParams = ChunkParams::with_avg(128 * 1024);

    pub const fn with_avg(avg: usize) -> ChunkParams {
        ChunkParams {
            min: avg / 4,
            avg,
            max: avg * 4,
        }
    }

    fn masks(&self) -> (u64, u64) {
        let bits = self.avg.trailing_zeros();
        // A left-shifting gear hash mixes the most bytes into its top bits,
        // so the masks take bits from the top.
        let top = |n: u32| !0u64 << (64 - n);
        (top(bits + 1), top(bits - 1))
    }
}

impl Default for ChunkParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// 256 pseudo-random words: the BLAKE3 XOF of a fixed label, so the table is
/// reproducible from its description alone.
fn gear() -> &'static [u64; 256] {
    static GEAR: OnceLock<[u64; 256]> = OnceLock::new();
    GEAR.get_or_init(|| {
        let mut bytes = [0u8; 2048];
        blake3::Hasher::new()
            .update(b"marrow fastcdc gear table v1")
            .finalize_xof()
            .fill(&mut bytes);
        let mut table = [0u64; 256];
        for (i, w) in table.iter_mut().enumerate() {
            *w = u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
        }
        table
    })
}

/// Length of the first chunk of `data`. When `data` is shorter than `max`
/// and more input may follow, the caller must not cut at the returned
/// length unless it equals a real boundary; `cut` reports that with `None`.
pub fn cut(data: &[u8], params: &ChunkParams, at_end: bool) -> Option<usize> {
    let len = data.len();
    if len <= params.min {
        return at_end.then_some(len);
    }
    let (mask_s, mask_l) = params.masks();
    let gear = gear();
    let limit = len.min(params.max);
    let normal = params.avg.min(limit);
    let mut hash = 0u64;
    let mut i = params.min;
    while i < normal {
        hash = (hash << 1).wrapping_add(gear[data[i] as usize]);
        if hash & mask_s == 0 {
            return Some(i + 1);
        }
        i += 1;
    }
    while i < limit {
        hash = (hash << 1).wrapping_add(gear[data[i] as usize]);
        if hash & mask_l == 0 {
            return Some(i + 1);
        }
        i += 1;
    }
    if limit == params.max || at_end {
        Some(limit)
    } else {
        None
    }
}

/// Splits a whole buffer into chunk lengths (tests and small inputs).
pub fn split(data: &[u8], params: &ChunkParams) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = cut(rest, params, true).expect("at_end always cuts");
        out.push(n);
        rest = &rest[n..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(len: usize, seed: u8) -> Vec<u8> {
        let mut out = vec![0u8; len];
        blake3::Hasher::new()
            .update(&[seed])
            .finalize_xof()
            .fill(&mut out);
        out
    }

    #[test]
    fn chunks_respect_bounds_and_cover_input() {
        let p = ChunkParams::with_avg(4096);
        let data = noise(1 << 20, 1);
        let lens = split(&data, &p);
        assert_eq!(lens.iter().sum::<usize>(), data.len());
        for &l in &lens[..lens.len() - 1] {
            assert!(l >= p.min && l <= p.max, "chunk of {l}");
        }
        let avg = data.len() / lens.len();
        assert!(avg > 2048 && avg < 8192, "average {avg}");
    }

    #[test]
    fn insertion_only_changes_nearby_chunks() {
        let p = ChunkParams::with_avg(4096);
        let data = noise(1 << 19, 2);
        let mut edited = data[..100_000].to_vec();
        edited.extend_from_slice(b"inserted bytes");
        edited.extend_from_slice(&data[100_000..]);
        let ids = |d: &[u8]| {
            let mut at = 0;
            split(d, &p)
                .into_iter()
                .map(|l| {
                    let id = blake3::hash(&d[at..at + l]);
                    at += l;
                    id
                })
                .collect::<std::collections::HashSet<_>>()
        };
        let (a, b) = (ids(&data), ids(&edited));
        let shared = a.intersection(&b).count();
        assert!(shared + 3 >= a.len(), "{shared} of {} shared", a.len());
    }

    #[test]
    fn gear_table_is_stable() {
        // Pinned: a change here silently breaks dedup against stored images.
        assert_eq!(gear()[0], 0x44f3_d655_12b9_49fa, "{:#x}", gear()[0]);
    }

    #[test]
    fn waits_for_more_input_before_cutting_short_buffer() {
        let p = ChunkParams::with_avg(4096);
        let zeros = vec![0u8; 5000];
        // All-zero data never matches the mask early; mid-stream it must wait.
        if cut(&zeros, &p, false).is_some() {
            assert!(cut(&zeros, &p, false).unwrap() <= 5000);
        } else {
            assert_eq!(cut(&zeros, &p, true), Some(5000));
        }
    }
}
