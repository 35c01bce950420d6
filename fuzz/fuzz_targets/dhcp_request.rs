//! Any datagram on port 67/4011: parse, decide in both modes (with a local
//! and a relayed pool), re-encode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marrow_protocol::dhcp::{
    decide, Arrival, BootFiles, Decision, Mode, Network, Packet, Pool, Request, Scope, Scopes,
    Site, Subnet,
};
use std::net::{Ipv4Addr, SocketAddrV4};

fn scope(subnet: &str, first: Ipv4Addr, last: Ipv4Addr, router: Option<Ipv4Addr>) -> Scope {
    let subnet = Subnet::parse(subnet).unwrap();
    Scope {
        subnet,
        pool: Pool::new(first, last),
        network: Network { subnet_mask: subnet.mask(), router, dns: vec![], lease_secs: 600 },
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(req) = Request::parse(data) else { return };
    for mode in [Mode::Full, Mode::Proxy] {
        let site = Site {
            mode,
            server_ip: Ipv4Addr::new(10, 0, 0, 1),
            interface_ip: Ipv4Addr::new(10, 0, 0, 1),
            http_base: "http://10.0.0.1:8080".into(),
            boot_files: BootFiles { bios: Some("undionly.kpxe".into()), uefi_x64: Some("ipxe.efi".into()), signed_x64: true, ..Default::default() },
            uefi: Default::default(),
        };
        let mut scopes = Scopes::new(vec![
            scope("10.0.0.0/24", Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 110), None),
            scope("10.9.0.0/16", Ipv4Addr::new(10, 9, 0, 100), Ipv4Addr::new(10, 9, 0, 110), None),
        ]);
        for port in [67, 4011] {
            let arrival = Arrival { port, source: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 68) };
            if let Decision::Reply(r) = decide(&req, &site, Some(&mut scopes), 1000, arrival) {
                Packet::parse(&r.packet.emit().unwrap()).unwrap();
            }
        }
    }
});
