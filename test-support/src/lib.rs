//! Helpers for Marrow's tests, used only as a dev-dependency.
//!
//! The parsers' no-panic tests mutate real inputs with a seeded generator
//! so that every run tries the same inputs (the stable stand-ins for the
//! `fuzz/` targets, which need nightly). They all share the generator here.

#![forbid(unsafe_code)]

/// xorshift64 (Marsaglia 2003) from `seed`, which must not be zero: the
/// same seed gives the same numbers on every run.
pub fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
    assert_ne!(state, 0, "xorshift needs a non-zero seed");
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// `len` bytes from `xorshift(seed)`, one low byte per step: content that
/// is neither compressible nor periodic, so a dropped or reordered block
/// cannot go unnoticed.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut next = xorshift(seed);
    (0..len).map(|_| next() as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let (mut a, mut b) = (xorshift(7), xorshift(7));
        let first: Vec<u64> = (0..5).map(|_| a()).collect();
        assert_eq!(first, (0..5).map(|_| b()).collect::<Vec<_>>());
        // 1 → 1 ^ 1<<13 = 8193 → ^ 8193>>7 = 8257 → ^ 8257<<17.
        assert_eq!(xorshift(1)(), 8257 ^ (8257 << 17));
        assert_eq!(noise(3, 4).len(), 4);
    }
}
