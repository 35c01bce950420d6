//! Any datagram on port 67/4011: parse, decide in both modes, re-encode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marrow_protocol::dhcp::{decide, Arrival, BootFiles, Decision, Mode, Network, Packet, Pool, Request, Site};
use std::net::{Ipv4Addr, SocketAddrV4};

fuzz_target!(|data: &[u8]| {
    let Ok(req) = Request::parse(data) else { return };
    for mode in [Mode::Full, Mode::Proxy] {
        let site = Site {
            mode,
            server_ip: Ipv4Addr::new(10, 0, 0, 1),
            http_base: "http://10.0.0.1:8080".into(),
            boot_files: BootFiles { bios: Some("undionly.kpxe".into()), uefi_x64: Some("ipxe.efi".into()), signed_x64: true, ..Default::default() },
            uefi: Default::default(),
            network: Some(Network { subnet_mask: Ipv4Addr::new(255, 255, 255, 0), router: None, dns: vec![], lease_secs: 600 }),
        };
        let mut pool = Pool::new(Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 110));
        for port in [67, 4011] {
            let arrival = Arrival { port, source: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 68) };
            if let Decision::Reply(r) = decide(&req, &site, Some(&mut pool), 1000, arrival) {
                Packet::parse(&r.packet.emit().unwrap()).unwrap();
            }
        }
    }
});
