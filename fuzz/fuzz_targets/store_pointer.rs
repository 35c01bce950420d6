//! A chunk file read from a local store: a pack pointer or a zstd frame.
#![no_main]

use image_format::store::decode_chunk;
use image_format::store::pack::Pointer;
use image_format::ChunkId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let id = ChunkId::of(b"fuzz");
    if Pointer::is_pointer(data) {
        if let Ok(p) = Pointer::parse(data, &id, "fuzz") {
            assert_eq!(&p.encode()[..], data, "a parsed pointer encodes back");
        }
    } else {
        let _ = decode_chunk(&id, data, "fuzz");
    }
});
