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

/// Unix seconds of a local civil time, by the C library's `mktime(3)`,
/// which knows the machine's zone and its daylight-saving rules; `None`
/// when the time does not exist there.
pub fn local_time(year: i32, month: u32, day: u32, hour: u32, min: u32, sec: u32) -> Option<i64> {
    // SAFETY: `tm` is a plain C struct for which all-zero bytes are a
    // valid value; mktime reads and normalizes the one we own and keeps
    // no pointer to it.
    let t = unsafe {
        let mut tm: nix::libc::tm = std::mem::zeroed();
        tm.tm_year = year - 1900;
        tm.tm_mon = month as i32 - 1;
        tm.tm_mday = day as i32;
        tm.tm_hour = hour as i32;
        tm.tm_min = min as i32;
        tm.tm_sec = sec as i32;
        tm.tm_isdst = -1;
        nix::libc::mktime(&mut tm)
    };
    (t != -1).then_some(t)
}
