//! DHCP policy against fixture requests (see `testdata/make-fixtures.py`):
//! golden replies, architecture dispatch, loop-break, relay, proxy and full
//! mode, and the named malformed inputs.

mod support;

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddrV4};

use marrow_protocol::dhcp::{
    code, decide, Arch, Arrival, BootFiles, ClientKind, Decision, IgnoreReason, MessageType, Mode,
    Network, Packet, Pool, Request, Scope, Scopes, Site, Subnet, UefiChain, IPXE_NO_PXEDHCP,
};
use marrow_protocol::DhcpError;
use support::{assert_malformed_refused, testdata, xorshift, Expectation};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const NOW: u64 = 1_800_000_000;

fn request(name: &str) -> Request {
    let bytes = std::fs::read(testdata(&format!("dhcp/requests/{name}.bin"))).unwrap();
    Request::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn site(mode: Mode) -> Site {
    Site {
        mode,
        server_ip: SERVER,
        http_base: "http://10.0.0.1:8080".into(),
        boot_files: BootFiles {
            bios: Some("undionly.kpxe".into()),
            uefi_ia32: None,
            uefi_x64: Some("ipxe.efi".into()),
            uefi_arm64: None,
            signed_x64: false,
        },
        uefi: UefiChain::Signed,
        interface_ip: SERVER,
    }
}

fn scope(subnet: &str, first: Ipv4Addr, last: Ipv4Addr, router: Ipv4Addr) -> Scope {
    let subnet = Subnet::parse(subnet).unwrap();
    Scope {
        subnet,
        pool: Pool::new(first, last),
        network: Network {
            subnet_mask: subnet.mask(),
            router: Some(router),
            dns: vec![SERVER],
            lease_secs: 3600,
        },
    }
}

/// The local pool on the server's subnet, and one for the relayed subnet
/// of `relayed_bios_discover` (giaddr 10.9.0.1).
fn pool() -> Scopes {
    Scopes::new(vec![
        scope(
            "10.0.0.0/24",
            Ipv4Addr::new(10, 0, 0, 100),
            Ipv4Addr::new(10, 0, 0, 199),
            SERVER,
        ),
        scope(
            "10.9.0.0/24",
            Ipv4Addr::new(10, 9, 0, 100),
            Ipv4Addr::new(10, 9, 0, 199),
            Ipv4Addr::new(10, 9, 0, 1),
        ),
    ])
}

/// The pool of the server's own subnet.
fn local(scopes: &mut Scopes) -> &mut Pool {
    &mut scopes.select(Ipv4Addr::UNSPECIFIED, SERVER).unwrap().pool
}

fn on_67() -> Arrival {
    Arrival {
        port: 67,
        source: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
    }
}

fn reply(d: Decision) -> marrow_protocol::dhcp::Reply {
    match d {
        Decision::Reply(r) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

/// A readable dump of a decision, for the golden files.
fn describe(d: &Decision) -> String {
    let mut s = String::new();
    match d {
        Decision::Ignore(r) => writeln!(s, "ignore: {r}").unwrap(),
        Decision::Release(l) => writeln!(s, "release: {} {}", l.mac, l.ip).unwrap(),
        Decision::Decline(l) => writeln!(s, "decline: {} {}", l.mac, l.ip).unwrap(),
        Decision::Reply(r) => {
            let p = &r.packet;
            writeln!(s, "to: {}", r.destination).unwrap();
            writeln!(s, "type: {:?}", p.message_type().unwrap()).unwrap();
            writeln!(
                s,
                "yiaddr: {} siaddr: {} giaddr: {} flags: {:#06x}",
                p.your_addr, p.next_server, p.relay_addr, p.flags
            )
            .unwrap();
            writeln!(s, "file: {}", String::from_utf8_lossy(&p.boot_file)).unwrap();
            for o in &p.options {
                writeln!(s, "option {}: {}", o.code, hex(&o.data)).unwrap();
            }
            if let Some(l) = r.commit {
                writeln!(s, "commit: {} {} until {}", l.mac, l.ip, l.expires).unwrap();
            }
            writeln!(s, "bytes: {}", hex(&p.emit().unwrap())).unwrap();
        }
    }
    s
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compares with `testdata/dhcp/golden/NAME.txt`; `MARROW_BLESS=1` rewrites.
fn golden(name: &str, actual: &str) {
    let path = testdata(&format!("dhcp/golden/{name}.txt"));
    if std::env::var_os("MARROW_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(actual, expected, "golden {name} differs");
}

#[test]
fn golden_replies_match_for_every_fixture_and_mode() {
    let cases: [(&str, Mode, u16); 10] = [
        ("ipxe_bios_discover", Mode::Full, 67),
        ("ipxe_bios_discover", Mode::Proxy, 67),
        ("edk2_x64_discover", Mode::Full, 67),
        ("edk2_x64_discover", Mode::Proxy, 67),
        ("ipxe_efi_discover", Mode::Full, 67),
        ("http_x64_discover", Mode::Full, 67),
        ("plain_discover", Mode::Full, 67),
        ("plain_discover", Mode::Proxy, 67),
        ("relayed_bios_discover", Mode::Full, 67),
        ("edk2_x64_request_4011", Mode::Proxy, 4011),
    ];
    for (name, mode, port) in cases {
        let req = request(name);
        let mut p = pool();
        let arrival = Arrival {
            port,
            source: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 100), 68),
        };
        let d = decide(&req, &site(mode), Some(&mut p), NOW, arrival);
        golden(&format!("{name}.{mode:?}").to_lowercase(), &describe(&d));
    }
}

#[test]
fn offers_undionly_to_a_bios_pxe_rom() {
    let req = request("relayed_bios_discover");
    assert_eq!(req.arch, Some(Arch::Bios));
    assert!(!req.is_ipxe);
    let r = reply(decide(
        &req,
        &site(Mode::Full),
        Some(&mut pool()),
        NOW,
        on_67(),
    ));
    assert_eq!(r.packet.boot_file, b"undionly.kpxe");
    assert_eq!(r.packet.next_server, SERVER);
}

#[test]
fn offers_ipxe_efi_to_uefi_x64_client() {
    let req = request("edk2_x64_discover");
    assert_eq!(req.arch, Some(Arch::UefiX64));
    assert_eq!(
        req.client_uuid.as_deref(),
        Some("12345678-1234-5678-9abc-def012345678")
    );
    let r = reply(decide(
        &req,
        &site(Mode::Full),
        Some(&mut pool()),
        NOW,
        on_67(),
    ));
    assert_eq!(r.packet.boot_file, b"ipxe.efi");
    assert_eq!(r.packet.your_addr, Ipv4Addr::new(10, 0, 0, 100));
}

#[test]
fn offers_snponly_when_configured_for_uefi_x64() {
    let mut s = site(Mode::Full);
    s.boot_files.uefi_x64 = Some("snponly.efi".into());
    let r = reply(decide(
        &request("edk2_x64_discover"),
        &s,
        Some(&mut pool()),
        NOW,
        on_67(),
    ));
    assert_eq!(r.packet.boot_file, b"snponly.efi");
}

#[test]
fn ignores_an_architecture_whose_binary_is_not_installed() {
    let mut req = request("edk2_x64_discover");
    req.arch = Some(Arch::UefiArm64);
    let d = decide(&req, &site(Mode::Full), Some(&mut pool()), NOW, on_67());
    assert!(matches!(
        d,
        Decision::Ignore(IgnoreReason::NoBootFile {
            arch: Arch::UefiArm64,
            ..
        })
    ));
}

#[test]
fn option_93_wins_over_a_conflicting_option_60_and_the_conflict_is_kept() {
    let mut req = request("edk2_x64_discover");
    for o in &mut req.packet.options {
        if o.code == code::VENDOR_CLASS {
            o.data = b"PXEClient:Arch:00000:UNDI:002001".to_vec();
        }
    }
    let again = Request::parse(&req.packet.emit().unwrap()).unwrap();
    assert_eq!(again.arch, Some(Arch::UefiX64));
    assert_eq!(again.arch_conflict, Some((7, 0)));
    assert_eq!(request("edk2_x64_discover").arch_conflict, None);
}

#[test]
fn falls_back_to_option_60_when_option_93_is_missing() {
    let mut req = request("edk2_x64_discover");
    req.packet.options.retain(|o| o.code != code::CLIENT_ARCH);
    let again = Request::parse(&req.packet.emit().unwrap()).unwrap();
    assert_eq!(again.arch, Some(Arch::UefiX64));
}

#[test]
fn http_boot_client_gets_a_url_and_httpclient_vendor_class() {
    let req = request("http_x64_discover");
    assert_eq!(req.kind, ClientKind::HttpBoot);
    let r = reply(decide(
        &req,
        &site(Mode::Full),
        Some(&mut pool()),
        NOW,
        on_67(),
    ));
    assert_eq!(r.packet.boot_file, b"http://10.0.0.1:8080/tftp/ipxe.efi");
    assert_eq!(
        r.packet.option(code::VENDOR_CLASS),
        Some(&b"HTTPClient"[..])
    );
}

#[test]
fn uefi_x64_gets_shim_when_the_signed_chain_is_installed_and_chosen() {
    let mut s = site(Mode::Full);
    s.boot_files.signed_x64 = true;
    let offer = |s: &Site, name: &str| {
        reply(decide(&request(name), s, Some(&mut pool()), NOW, on_67()))
            .packet
            .boot_file
    };
    assert_eq!(offer(&s, "edk2_x64_discover"), b"marrow/shimx64.efi");
    // UEFI HTTP boot keeps iPXE: shim and Debian's GRUB do not get
    // through it (docs/secure-boot.md).
    assert_eq!(
        offer(&s, "http_x64_discover"),
        b"http://10.0.0.1:8080/tftp/ipxe.efi"
    );
    // BIOS and iPXE itself are not concerned.
    assert!(offer(&s, "ipxe_bios_discover").starts_with(b"http://"));
    let mut bios = request("edk2_x64_discover");
    bios.arch = Some(Arch::Bios);
    let r = reply(decide(&bios, &s, Some(&mut pool()), NOW, on_67()));
    assert_eq!(r.packet.boot_file, b"undionly.kpxe");
    // A host set to iPXE gets iPXE.
    s.uefi = UefiChain::Ipxe;
    assert_eq!(offer(&s, "edk2_x64_discover"), b"ipxe.efi");
    // In proxy mode the offer is a PXE one (option 60, vendor options).
    let mut p = site(Mode::Proxy);
    p.boot_files.signed_x64 = true;
    let r = reply(decide(
        &request("edk2_x64_discover"),
        &p,
        None,
        NOW,
        on_67(),
    ));
    assert_eq!(r.packet.boot_file, b"marrow/shimx64.efi");
    assert_eq!(r.packet.option(code::VENDOR_CLASS), Some(&b"PXEClient"[..]));
}

#[test]
fn uefi_x64_gets_ipxe_while_the_signed_chain_is_not_installed() {
    let s = site(Mode::Full);
    assert_eq!(s.uefi, UefiChain::Signed);
    let r = reply(decide(
        &request("edk2_x64_discover"),
        &s,
        Some(&mut pool()),
        NOW,
        on_67(),
    ));
    assert_eq!(r.packet.boot_file, b"ipxe.efi");
}

#[test]
fn ipxe_client_gets_the_script_url_not_the_binary_again() {
    for name in ["ipxe_bios_discover", "ipxe_efi_discover"] {
        let req = request(name);
        assert!(req.is_ipxe, "{name}");
        let r = reply(decide(
            &req,
            &site(Mode::Full),
            Some(&mut pool()),
            NOW,
            on_67(),
        ));
        assert_eq!(
            r.packet.boot_file, b"http://10.0.0.1:8080/boot.ipxe?mac=52-54-00-12-34-56",
            "{name}"
        );
    }
}

#[test]
fn ipxe_is_recognised_by_option_175_alone() {
    let mut req = request("ipxe_bios_discover");
    req.packet.options.retain(|o| o.code != code::USER_CLASS);
    assert!(Request::parse(&req.packet.emit().unwrap()).unwrap().is_ipxe);
}

#[test]
fn full_mode_tells_ipxe_not_to_wait_for_proxydhcp_and_proxy_mode_does_not() {
    let req = request("ipxe_bios_discover");
    let full = reply(decide(
        &req,
        &site(Mode::Full),
        Some(&mut pool()),
        NOW,
        on_67(),
    ));
    assert_eq!(
        full.packet.option(code::IPXE_ENCAP),
        Some(&IPXE_NO_PXEDHCP[..])
    );
    let bytes = full.packet.emit().unwrap();
    assert!(bytes
        .windows(5)
        .any(|w| w == [0xaf, 0x03, 0xb0, 0x01, 0x01]));
    let proxy = reply(decide(&req, &site(Mode::Proxy), None, NOW, on_67()));
    assert_eq!(proxy.packet.option(code::IPXE_ENCAP), None);
}

#[test]
fn proxy_offer_to_ipxe_is_marked_pxeclient_so_ipxe_takes_it_as_proxydhcp() {
    let r = reply(decide(
        &request("ipxe_bios_discover"),
        &site(Mode::Proxy),
        None,
        NOW,
        on_67(),
    ));
    assert_eq!(r.packet.your_addr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(r.packet.option(code::VENDOR_CLASS), Some(&b"PXEClient"[..]));
    assert_eq!(
        r.packet.boot_file,
        b"http://10.0.0.1:8080/boot.ipxe?mac=52-54-00-12-34-56"
    );
}

#[test]
fn proxy_offer_carries_no_address_and_pxe_vendor_options() {
    let r = reply(decide(
        &request("edk2_x64_discover"),
        &site(Mode::Proxy),
        None,
        NOW,
        on_67(),
    ));
    assert_eq!(r.packet.your_addr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(r.packet.option(code::VENDOR_CLASS), Some(&b"PXEClient"[..]));
    assert_eq!(
        r.packet.option(code::VENDOR_SPECIFIC),
        Some(&[6, 1, 8, 255][..])
    );
    assert_eq!(r.packet.option(code::LEASE_TIME), None);
    assert_eq!(r.destination, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
}

#[test]
fn proxy_mode_ignores_plain_dhcp_clients() {
    let d = decide(
        &request("plain_discover"),
        &site(Mode::Proxy),
        None,
        NOW,
        on_67(),
    );
    assert!(matches!(
        d,
        Decision::Ignore(IgnoreReason::NotPxeInProxyMode { .. })
    ));
}

#[test]
fn answers_boot_server_requests_on_4011_to_the_sender() {
    let src = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 100), 4011);
    let d = decide(
        &request("edk2_x64_request_4011"),
        &site(Mode::Proxy),
        None,
        NOW,
        Arrival {
            port: 4011,
            source: src,
        },
    );
    let r = reply(d);
    assert_eq!(r.destination, src);
    assert_eq!(r.packet.message_type(), Some(MessageType::Ack));
    assert_eq!(r.packet.boot_file, b"ipxe.efi");
}

#[test]
fn relayed_request_is_answered_to_the_relay_on_port_67() {
    let r = reply(decide(
        &request("relayed_bios_discover"),
        &site(Mode::Full),
        Some(&mut pool()),
        NOW,
        on_67(),
    ));
    assert_eq!(
        r.destination,
        SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, 1), 67)
    );
    assert_eq!(r.packet.relay_addr, Ipv4Addr::new(10, 9, 0, 1));
}

#[test]
fn plain_client_gets_an_address_without_boot_information() {
    let mut p = pool();
    let r = reply(decide(
        &request("plain_discover"),
        &site(Mode::Full),
        Some(&mut p),
        NOW,
        on_67(),
    ));
    assert_eq!(r.packet.message_type(), Some(MessageType::Offer));
    assert_eq!(r.packet.your_addr, Ipv4Addr::new(10, 0, 0, 100));
    assert!(r.packet.boot_file.is_empty());
    assert_eq!(
        r.packet.option(code::LEASE_TIME),
        Some(&3600u32.to_be_bytes()[..])
    );
    assert_eq!(r.packet.option(code::ROUTER), Some(&[10, 0, 0, 1][..]));
}

#[test]
fn request_for_the_offered_address_is_acked_and_committed() {
    let mut p = pool();
    decide(
        &request("plain_discover"),
        &site(Mode::Full),
        Some(&mut p),
        NOW,
        on_67(),
    );
    let r = reply(decide(
        &request("plain_request"),
        &site(Mode::Full),
        Some(&mut p),
        NOW,
        on_67(),
    ));
    assert_eq!(r.packet.message_type(), Some(MessageType::Ack));
    let lease = r.commit.expect("an ACK commits the lease");
    assert_eq!(lease.ip, Ipv4Addr::new(10, 0, 0, 100));
    assert_eq!(lease.expires, NOW + 3600);
}

#[test]
fn request_for_an_address_held_by_another_mac_is_naked() {
    let mut p = pool();
    let other = "52:54:00:99:99:99".parse().unwrap();
    local(&mut p)
        .commit(other, Ipv4Addr::new(10, 0, 0, 100), NOW, 3600)
        .unwrap();
    let r = reply(decide(
        &request("plain_request"),
        &site(Mode::Full),
        Some(&mut p),
        NOW,
        on_67(),
    ));
    assert_eq!(r.packet.message_type(), Some(MessageType::Nak));
    assert_eq!(r.destination, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
    assert!(r.commit.is_none());
}

#[test]
fn request_naming_another_server_is_ignored() {
    let mut req = request("plain_request");
    for o in &mut req.packet.options {
        if o.code == code::SERVER_ID {
            o.data = vec![10, 0, 0, 2];
        }
    }
    let req = Request::parse(&req.packet.emit().unwrap()).unwrap();
    let d = decide(&req, &site(Mode::Full), Some(&mut pool()), NOW, on_67());
    assert!(matches!(
        d,
        Decision::Ignore(IgnoreReason::OtherServer { .. })
    ));
}

#[test]
fn exhausted_pool_is_an_ignore_with_reason() {
    let mut p = Scopes::new(vec![scope(
        "10.0.0.0/24",
        Ipv4Addr::new(10, 0, 0, 100),
        Ipv4Addr::new(10, 0, 0, 100),
        SERVER,
    )]);
    local(&mut p)
        .commit(
            "52:54:00:99:99:99".parse().unwrap(),
            Ipv4Addr::new(10, 0, 0, 100),
            NOW,
            3600,
        )
        .unwrap();
    let d = decide(
        &request("plain_discover"),
        &site(Mode::Full),
        Some(&mut p),
        NOW,
        on_67(),
    );
    assert!(matches!(
        d,
        Decision::Ignore(IgnoreReason::PoolExhausted { .. })
    ));
}

/// Each file under `testdata/dhcp/malformed/` names its defect; this is the
/// reason it must be refused with.
#[test]
fn malformed_packets_are_refused_with_the_expected_reason() {
    let expected: &[Expectation<DhcpError>] = &[
        ("empty", |e| matches!(e, DhcpError::Truncated { len: 0 })),
        ("truncated_header", |e| {
            matches!(e, DhcpError::Truncated { len: 100 })
        }),
        ("truncated_before_magic_cookie", |e| {
            matches!(e, DhcpError::Truncated { len: 238 })
        }),
        ("bad_magic_cookie", |e| {
            matches!(e, DhcpError::BadMagic { .. })
        }),
        ("option_length_past_end", |e| {
            matches!(e, DhcpError::Options { .. })
        }),
        ("option_without_length_byte", |e| {
            matches!(e, DhcpError::Options { .. })
        }),
        ("missing_end_option", |e| {
            matches!(e, DhcpError::Options { .. })
        }),
        ("bootreply_not_request", |e| {
            matches!(e, DhcpError::NotRequest { op: 2 })
        }),
        ("token_ring_htype", |e| {
            matches!(e, DhcpError::NotEthernet { htype: 6, .. })
        }),
        ("zero_hlen", |e| {
            matches!(e, DhcpError::NotEthernet { hlen: 0, .. })
        }),
        ("option_overload", |e| {
            matches!(e, DhcpError::Overload { value: 3 })
        }),
        ("no_message_type", |e| matches!(e, DhcpError::NoMessageType)),
    ];
    assert_malformed_refused("dhcp/malformed", expected, |b| {
        Request::parse(b).map(|p| format!("{p:?}"))
    });
}

/// Stable stand-in for the fuzz target (no nightly here): every fixture,
/// every truncation of it, and many seeded mutations go through parse and
/// decide without a panic.
#[test]
fn parse_and_decide_never_panic_on_mutated_inputs() {
    let mut inputs = Vec::new();
    for dir in ["dhcp/requests", "dhcp/malformed", "dhcp/captured"] {
        for e in std::fs::read_dir(testdata(dir)).unwrap() {
            inputs.push(std::fs::read(e.unwrap().path()).unwrap());
        }
    }
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
    let check = |bytes: &[u8]| {
        if let Ok(req) = Request::parse(bytes) {
            for mode in [Mode::Full, Mode::Proxy] {
                for port in [67, 4011] {
                    let mut p = pool();
                    let arrival = Arrival {
                        port,
                        source: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 68),
                    };
                    if let Decision::Reply(r) =
                        decide(&req, &site(mode), Some(&mut p), NOW, arrival)
                    {
                        Packet::parse(&r.packet.emit().unwrap()).unwrap();
                    }
                }
            }
        }
    };
    for input in &inputs {
        for cut in 0..input.len() {
            check(&input[..cut]);
        }
        for _ in 0..2000 {
            let mut m = input.clone();
            if m.is_empty() {
                m.push(0);
            }
            for _ in 0..(1 + next() % 4) {
                let at = (next() as usize) % m.len();
                m[at] = next() as u8;
            }
            check(&m);
        }
    }
}

/// Real firmware, captured on a lab bridge (see `testdata/README.md`):
/// replaying the six requests in order through `decide` gives back the
/// exact bytes Marrow sent, and the parsed fields are what the firmware is
/// known to send.
#[test]
fn captured_firmware_requests_replay_to_the_captured_replies() {
    let server = Ipv4Addr::new(10, 95, 0, 1);
    let mut s = site(Mode::Full);
    s.server_ip = server;
    s.http_base = "http://10.95.0.1:8080".into();
    s.interface_ip = server;
    let mut p = Scopes::new(vec![Scope {
        subnet: Subnet::parse("10.95.0.0/24").unwrap(),
        pool: Pool::new(Ipv4Addr::new(10, 95, 0, 100), Ipv4Addr::new(10, 95, 0, 150)),
        network: Network {
            subnet_mask: Ipv4Addr::new(255, 255, 255, 0),
            router: None,
            dns: vec![],
            lease_secs: 3600,
        },
    }]);
    let names = [
        ("qemu_ipxe_bios_discover", Arch::Bios, true, "undionly"),
        ("qemu_ipxe_bios_request", Arch::Bios, true, "boot.ipxe"),
        ("ovmf_edk2_x64_discover", Arch::UefiX64, false, "ipxe.efi"),
        ("ovmf_edk2_x64_request", Arch::UefiX64, false, "ipxe.efi"),
        ("ipxe_efi_x64_discover", Arch::UefiX64, true, "boot.ipxe"),
        ("ipxe_efi_x64_request", Arch::UefiX64, true, "boot.ipxe"),
    ];
    for (name, arch, ipxe, _) in names {
        let bytes = std::fs::read(testdata(&format!("dhcp/captured/{name}.bin"))).unwrap();
        let req = Request::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(req.arch, Some(arch), "{name}");
        assert_eq!(req.is_ipxe, ipxe, "{name}");
        assert_eq!(req.kind, ClientKind::Pxe, "{name}");
        let r = reply(decide(&req, &s, Some(&mut p), NOW, on_67()));
        let expected = std::fs::read(testdata(&format!("dhcp/captured/{name}.reply.bin"))).unwrap();
        assert_eq!(
            hex(&r.packet.emit().unwrap()),
            hex(&expected),
            "{name}: reply differs from the capture"
        );
    }
}

/// `plain_request` turned into another message type, as a client would
/// send it.
fn request_as(message_type: MessageType) -> Request {
    let mut req = request("plain_request");
    req.message_type = message_type;
    for o in &mut req.packet.options {
        if o.code == code::MESSAGE_TYPE {
            o.data = vec![message_type.to_byte()];
        }
    }
    req
}

#[test]
fn decline_drops_the_lease_and_keeps_the_address_out_of_offers() {
    let mut p = pool();
    let site = site(Mode::Full);
    decide(
        &request("plain_discover"),
        &site,
        Some(&mut p),
        NOW,
        on_67(),
    );
    let ack = reply(decide(
        &request("plain_request"),
        &site,
        Some(&mut p),
        NOW,
        on_67(),
    ));
    let ip = ack.commit.unwrap().ip;
    let declined = decide(
        &request_as(MessageType::Decline),
        &site,
        Some(&mut p),
        NOW,
        on_67(),
    );
    match declined {
        Decision::Decline(lease) => assert_eq!(lease.ip, ip),
        other => panic!("expected the decline to be taken, got {other:?}"),
    }
    // The same client asks again: it gets another address.
    let offer = reply(decide(
        &request("plain_discover"),
        &site,
        Some(&mut p),
        NOW + 1,
        on_67(),
    ));
    assert_ne!(offer.packet.your_addr, ip);
    // A second DECLINE for an address it no longer holds is not answered.
    assert!(matches!(
        decide(
            &request_as(MessageType::Decline),
            &site,
            Some(&mut p),
            NOW + 2,
            on_67()
        ),
        Decision::Ignore(IgnoreReason::Unanswered { .. })
    ));
}

#[test]
fn inform_is_answered_with_configuration_and_no_address_or_lease() {
    let mut p = pool();
    let mut req = request_as(MessageType::Inform);
    let own = Ipv4Addr::new(10, 0, 0, 50);
    req.packet.client_addr = own;
    let r = reply(decide(&req, &site(Mode::Full), Some(&mut p), NOW, on_67()));
    assert_eq!(r.packet.message_type(), Some(MessageType::Ack));
    assert_eq!(r.packet.your_addr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(r.packet.option(code::LEASE_TIME), None);
    assert_eq!(r.packet.option(code::RENEWAL_TIME), None);
    assert_eq!(r.packet.option(code::ROUTER), Some(&[10, 0, 0, 1][..]));
    assert_eq!(r.packet.option(code::SERVER_ID), Some(&SERVER.octets()[..]));
    assert_eq!(
        r.destination,
        SocketAddrV4::new(own, 68),
        "unicast to ciaddr"
    );
    assert!(r.commit.is_none());
    assert!(
        local(&mut p).lease(req.mac).is_none(),
        "INFORM leases nothing"
    );
}

/// RFC 2131 §4.1: without the broadcast bit, `giaddr` or `ciaddr`, an OFFER
/// and an ACK go to `yiaddr` and the client's MAC; with the bit, to all.
#[test]
fn offers_are_unicast_to_yiaddr_unless_the_client_asks_for_broadcast() {
    let mut req = request("plain_discover");
    req.packet.flags = 0;
    let mut p = pool();
    let r = reply(decide(&req, &site(Mode::Full), Some(&mut p), NOW, on_67()));
    assert_eq!(
        r.destination,
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 100), 68)
    );
    assert_eq!(r.unicast_to, Some(req.mac));
    let mut ack_req = request("plain_request");
    ack_req.packet.flags = 0;
    let ack = reply(decide(
        &ack_req,
        &site(Mode::Full),
        Some(&mut p),
        NOW,
        on_67(),
    ));
    assert_eq!(ack.packet.message_type(), Some(MessageType::Ack));
    assert_eq!(
        ack.destination,
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 100), 68)
    );

    let broadcast = reply(decide(
        &request("plain_discover"),
        &site(Mode::Full),
        Some(&mut pool()),
        NOW,
        on_67(),
    ));
    assert_eq!(
        broadcast.destination,
        SocketAddrV4::new(Ipv4Addr::BROADCAST, 68)
    );
    assert_eq!(broadcast.unicast_to, None);

    // A NAK goes to everyone whatever the flags: the client has no address.
    let other = "52:54:00:99:99:99".parse().unwrap();
    let mut taken = pool();
    local(&mut taken)
        .commit(other, Ipv4Addr::new(10, 0, 0, 100), NOW, 3600)
        .unwrap();
    let nak = reply(decide(
        &ack_req,
        &site(Mode::Full),
        Some(&mut taken),
        NOW,
        on_67(),
    ));
    assert_eq!(nak.packet.message_type(), Some(MessageType::Nak));
    assert_eq!(nak.destination, SocketAddrV4::new(Ipv4Addr::BROADCAST, 68));
    assert_eq!(nak.unicast_to, None);
}

/// RFC 2131 §4.3.1: a relayed client gets an address from the subnet of
/// `giaddr`, with that subnet's mask and router; a relay from a subnet no
/// pool serves gets no answer.
#[test]
fn relayed_clients_get_the_pool_of_their_relay_subnet() {
    let req = request("relayed_bios_discover");
    let r = reply(decide(
        &req,
        &site(Mode::Full),
        Some(&mut pool()),
        NOW,
        on_67(),
    ));
    assert_eq!(r.packet.your_addr, Ipv4Addr::new(10, 9, 0, 100));
    assert_eq!(r.packet.option(code::ROUTER), Some(&[10, 9, 0, 1][..]));
    assert_eq!(
        r.packet.option(code::SUBNET_MASK),
        Some(&[255, 255, 255, 0][..])
    );

    // Without a router of its own, a relayed subnet is told the relay's.
    let mut unrouted = Scopes::new(
        pool()
            .iter()
            .cloned()
            .map(|mut s| {
                s.network.router = None;
                s
            })
            .collect(),
    );
    let r = reply(decide(
        &req,
        &site(Mode::Full),
        Some(&mut unrouted),
        NOW,
        on_67(),
    ));
    assert_eq!(r.packet.option(code::ROUTER), Some(&[10, 9, 0, 1][..]));

    let mut stranger = req.clone();
    stranger.packet.relay_addr = Ipv4Addr::new(192, 168, 7, 1);
    let d = decide(
        &stranger,
        &site(Mode::Full),
        Some(&mut pool()),
        NOW,
        on_67(),
    );
    match d {
        Decision::Ignore(reason @ IgnoreReason::NoPool { .. }) => {
            assert!(reason.to_string().contains("192.168.7.1"), "{reason}")
        }
        other => panic!("expected no pool, got {other:?}"),
    }
}

/// A client that moves from one relayed room to another keeps one lease:
/// the ACK in the new subnet drops the old one.
#[test]
fn an_ack_in_one_subnet_drops_the_lease_in_another() {
    let mut p = pool();
    let s = site(Mode::Full);
    let local_ack = reply(decide(
        &request("plain_request"),
        &s,
        Some(&mut p),
        NOW,
        on_67(),
    ));
    let mac = local_ack.commit.expect("committed locally").mac;
    assert!(local(&mut p).lease(mac).is_some());

    let mut relayed = request_as(MessageType::Request);
    relayed.packet.relay_addr = Ipv4Addr::new(10, 9, 0, 1);
    relayed.requested_ip = Some(Ipv4Addr::new(10, 9, 0, 120));
    let ack = reply(decide(&relayed, &s, Some(&mut p), NOW + 5, on_67()));
    assert_eq!(ack.packet.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.commit.map(|l| l.ip), Some(Ipv4Addr::new(10, 9, 0, 120)));
    assert!(
        local(&mut p).lease(mac).is_none(),
        "the old subnet's lease is gone"
    );
}
