//! The Wake-on-LAN magic packet (AMD's "Magic Packet Technology" white
//! paper, 1995): six 0xFF bytes, then the target's MAC sixteen times. NICs
//! look for that pattern anywhere in a frame; it goes out as a UDP
//! broadcast to port 9 (discard), which every NIC that wakes on it sees.

use crate::MacAddr;

/// The UDP port magic packets are sent to.
pub const PORT: u16 = 9;

/// The 102-byte magic packet that wakes `mac`.
pub fn magic_packet(mac: MacAddr) -> [u8; 102] {
    let mut p = [0xFF; 102];
    for copy in p[6..].chunks_exact_mut(6) {
        copy.copy_from_slice(&mac.0);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_ff_then_the_mac_sixteen_times() {
        let mac: MacAddr = "52:54:00:12:34:56".parse().unwrap();
        let p = magic_packet(mac);
        assert_eq!(&p[..6], &[0xFF; 6]);
        for i in 0..16 {
            assert_eq!(&p[6 + 6 * i..12 + 6 * i], &mac.0, "copy {i}");
        }
    }
}
