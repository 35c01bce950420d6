//! Image manifests from arbitrary bytes.
#![no_main]

use image_format::manifest::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Manifest::parse(data, "fuzz", "fuzz");
});
