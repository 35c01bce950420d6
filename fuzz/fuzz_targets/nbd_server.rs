//! The NBD server state machine on arbitrary client bytes, fed in pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marrow_protocol::nbd::{Export, Server};

fuzz_target!(|data: &[u8]| {
    let (mut server, _) = Server::new(vec![Export {
        name: "x".into(),
        size: 1 << 20,
    }]);
    // The first byte decides how the rest is cut, as reads would cut it.
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    for piece in rest.chunks(cut as usize + 1) {
        if server.receive(piece).is_err() {
            return;
        }
    }
});
