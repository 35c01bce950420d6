//! The cpio newc reader must never panic, and whatever it accepts must write
//! back out and parse to the same entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marrow_initramfs::cpio::{self, Archive};

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = cpio::parse(data) {
        let mut archive = Archive::new();
        let mut all_added = true;
        for e in entries.iter().cloned() {
            // The reader accepts paths the writer refuses (absolute, "..").
            all_added &= archive.add(e).is_ok();
        }
        if all_added {
            let again = cpio::parse(&archive.to_bytes(0)).expect("written archive parses");
            assert_eq!(again.len(), entries.len());
        }
    }
});
