//! The multicast frame codec, and a receiver fed the datagram: nothing a
//! datagram holds may panic either, and what parses emits the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marrow_protocol::multicast::receiver::{Receiver, ReceiverConfig};
use marrow_protocol::multicast::wire::SYMBOL_SIZE;
use marrow_protocol::multicast::{Frame, SessionId};
use marrow_protocol::{ChunkId, ImageId};
use std::time::Instant;

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = Frame::parse(data) {
        assert_eq!(f.to_vec(), data);
    }
    // A receiver whose session, image and chunk 0 are those of the input,
    // so the fuzzer reaches the checks past the header.
    let mut rx = Receiver::new(ReceiverConfig {
        session: SessionId(data.get(8..16).map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap()))),
        image: ImageId(data.get(16..48).map_or([0; 32], |b| b.try_into().unwrap())),
        chunks: vec![ChunkId(data.get(52..84).map_or([0; 32], |b| b.try_into().unwrap()))],
        symbol_size: SYMBOL_SIZE,
        memory_limit: 1 << 20,
    });
    let now = Instant::now();
    for _ in 0..3 {
        let _ = rx.handle_datagram(now, data);
    }
    let _ = rx.counters(now);
});
