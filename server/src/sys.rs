//! The one place this crate calls the C library itself.

#![allow(unsafe_code)]

use std::ffi::c_int;

extern "C" {
    /// glibc's `malloc_trim(3)`.
    fn malloc_trim(pad: usize) -> c_int;
}

/// Gives the heap's free pages back to the kernel. glibc keeps freed
/// memory in its arenas for reuse, and after a burst of large request
/// bodies that is the burst's high-water mark, for good; the server calls
/// this when such a burst is over.
pub fn release_free_memory() {
    // SAFETY: malloc_trim takes no pointers and only returns pages no
    // allocation uses; glibc takes each arena's lock while it works, so it
    // is safe to call from any thread at any time.
    unsafe {
        malloc_trim(0);
    }
}
