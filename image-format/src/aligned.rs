//! A byte buffer whose start is aligned for direct I/O: Linux's `O_DIRECT`
//! reads need the buffer, offset and length aligned to the device's logical
//! block size (512 or 4096 bytes; open(2), "O_DIRECT"). `Vec<u8>` gives no
//! such promise: glibc puts a 16-byte header before large allocations.

use std::ops::{Deref, DerefMut};

/// Enough for every logical block size in use.
pub const ALIGN: usize = 4096;

pub struct AlignedBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// A buffer that can hold up to `capacity` bytes; it starts empty.
    pub fn with_capacity(capacity: usize) -> Self {
        let raw = vec![0u8; capacity + ALIGN];
        let start = raw.as_ptr().align_offset(ALIGN);
        AlignedBuf { raw, start, len: 0 }
    }

    pub fn capacity(&self) -> usize {
        self.raw.len() - self.start
    }

    /// Sets the length; the bytes are whatever the buffer held before.
    ///
    /// # Panics
    /// When `len` exceeds the capacity, which is a caller's bug.
    pub fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.capacity(),
            "{len} bytes exceed the aligned buffer"
        );
        self.len = len;
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_aligned_and_holds_its_capacity() {
        for cap in [0, 1, 4095, 4 << 20] {
            let mut b = AlignedBuf::with_capacity(cap);
            assert!(b.capacity() >= cap);
            b.set_len(cap);
            assert_eq!(b.len(), cap);
            assert_eq!(b.as_ptr() as usize % ALIGN, 0);
        }
    }

    #[test]
    #[should_panic(expected = "exceed the aligned buffer")]
    fn refuses_to_grow_past_its_capacity() {
        AlignedBuf::with_capacity(10).set_len(ALIGN + 11);
    }
}
