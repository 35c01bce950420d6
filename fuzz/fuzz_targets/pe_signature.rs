//! The PE certificate-table reader must never panic, and a size it returns
//! lies inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marrow_initramfs::signed::authenticode_bytes;

fuzz_target!(|data: &[u8]| {
    if let Some(size) = authenticode_bytes(data) {
        assert!(size as usize <= data.len());
    }
});
