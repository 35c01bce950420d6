//! The DHCP codec: whatever parses must re-encode and parse to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marrow_protocol::dhcp::Packet;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Packet::parse(data) {
        if let Ok(bytes) = p.emit() {
            let mut again = Packet::parse(&bytes).expect("emitted packet parses");
            again.options.iter_mut().for_each(|o| o.data.truncate(255));
            let mut orig = p.clone();
            orig.options.iter_mut().for_each(|o| o.data.truncate(255));
            assert_eq!(orig, again);
        }
    }
});
