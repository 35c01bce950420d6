//! The TFTP codec, and a transfer fed the datagram as client input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marrow_protocol::tftp::{Limits, Packet, Transfer};
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let Ok(p) = Packet::parse(data) else { return };
    let _ = p.to_vec();
    if let Packet::Rrq(req) = p {
        let file: std::sync::Arc<[u8]> = vec![1u8; 3000].into();
        let Ok(mut t) = Transfer::new(&req, file, Limits::default()) else {
            return;
        };
        let mut buf = vec![0u8; 70000];
        let mut now = Instant::now();
        for _ in 0..8 {
            while t.poll_transmit(now, &mut buf).is_some() {}
            let _ = t.handle_input(now, data);
            now += Duration::from_secs(2);
        }
    }
});
