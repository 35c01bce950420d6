//! The smallest piece of IPv6 Neighbor Discovery (RFC 4861) a boot server
//! needs: recognise a Router Solicitation and answer with a Router
//! Advertisement that ends the client's IPv6 autoconfiguration at once.
//!
//! Why: iPXE configures IPv6 alongside DHCPv4 and, on a segment with no
//! router, waits about 13 s for an advertisement before running its script
//! (measured with QEMU's iPXE ROM: DHCPACK at +3 s, script fetched at
//! +18 s). An advertisement with router lifetime 0 (not a default router),
//! no prefixes and the M and O flags clear tells iPXE there is nothing
//! more to configure (iPXE `net/ndp.c`: without M or O it finishes), and
//! tells other hosts nothing they would act on.
//!
//! Bytes here are ICMPv6 messages as a raw ICMPv6 socket sees them: no IPv6
//! header, and the kernel fills in the checksum on send (RFC 3542 §3.1).

use crate::MacAddr;

/// ICMPv6 type of a Router Solicitation (RFC 4861 §4.1).
pub const ROUTER_SOLICITATION: u8 = 133;
/// ICMPv6 type of a Router Advertisement (RFC 4861 §4.2).
pub const ROUTER_ADVERTISEMENT: u8 = 134;

/// True for a well-formed Router Solicitation: type 133, code 0, at least
/// the 8-byte header (RFC 4861 §6.1.1 validity checks that the kernel has
/// not already done; hop limit 255 is checked by the caller, which sees it).
pub fn is_router_solicitation(icmp: &[u8]) -> bool {
    icmp.len() >= 8 && icmp[0] == ROUTER_SOLICITATION && icmp[1] == 0
}

/// A Router Advertisement that configures nothing: hop limit unspecified,
/// M and O clear, router lifetime 0, reachable and retransmit timers
/// unspecified, and a source link-layer address option (RFC 4861 §4.6.1)
/// so clients need not resolve us.
pub fn null_router_advertisement(source: MacAddr) -> Vec<u8> {
    let mut ra = vec![ROUTER_ADVERTISEMENT, 0, 0, 0];
    ra.extend_from_slice(&[0, 0]); // cur hop limit, flags (M=0, O=0)
    ra.extend_from_slice(&0u16.to_be_bytes()); // router lifetime: not a default router
    ra.extend_from_slice(&0u32.to_be_bytes()); // reachable time
    ra.extend_from_slice(&0u32.to_be_bytes()); // retrans timer
    ra.extend_from_slice(&[1, 1]); // option 1, length 1 (8 bytes)
    ra.extend_from_slice(&source.0);
    ra
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_a_router_solicitation_and_nothing_else() {
        // As iPXE sends it: type 133, code 0, checksum, reserved, SLLA option.
        let rs = [
            133, 0, 0x12, 0x34, 0, 0, 0, 0, 1, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56,
        ];
        assert!(is_router_solicitation(&rs));
        assert!(!is_router_solicitation(&rs[..7]));
        assert!(!is_router_solicitation(&[134, 0, 0, 0, 0, 0, 0, 0]));
        assert!(!is_router_solicitation(&[133, 1, 0, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn null_advertisement_is_not_a_router_and_sets_no_flags() {
        let ra = null_router_advertisement("52:54:00:aa:bb:cc".parse().unwrap());
        assert_eq!(
            ra,
            [
                134, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x52, 0x54, 0, 0xaa, 0xbb,
                0xcc
            ]
        );
    }
}
