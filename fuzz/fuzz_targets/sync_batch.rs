//! Fuzzes site sync's chunk batch reader: any bytes, fed in any split,
//! give records or a named error, never a panic, and a record never
//! claims more bytes than arrived.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marrow_protocol::sync::BatchReader;

fuzz_target!(|data: &[u8]| {
    let step = 1 + data.first().copied().unwrap_or(0) as usize;
    let mut r = BatchReader::new();
    let mut taken = 0usize;
    for piece in data.chunks(step) {
        r.push(piece);
        loop {
            match r.next_record() {
                Ok(Some((_, bytes))) => {
                    taken += 36 + bytes.len();
                    assert!(taken <= data.len());
                }
                Ok(None) | Err(_) => break,
            }
        }
    }
    let _ = r.finish();
});
