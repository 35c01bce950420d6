//! TFTP codec against the named malformed inputs, and a stable never-panic
//! sweep standing in for the fuzz target.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use marrow_protocol::tftp::{Limits, Packet, Transfer};
use marrow_protocol::TftpError;
use support::{assert_malformed_refused, testdata, xorshift, Expectation};

#[test]
fn malformed_packets_are_refused_with_the_expected_reason() {
    let expected: &[Expectation<TftpError>] = &[
        ("empty", |e| matches!(e, TftpError::Truncated { len: 0 })),
        ("one_byte", |e| matches!(e, TftpError::Truncated { len: 1 })),
        ("unknown_opcode_9", |e| {
            matches!(e, TftpError::BadOpcode { opcode: 9 })
        }),
        ("rrq_unterminated_filename", |e| {
            matches!(e, TftpError::Unterminated { field: "filename" })
        }),
        ("rrq_unterminated_mode", |e| {
            matches!(e, TftpError::Unterminated { field: "mode" })
        }),
        ("rrq_mail_mode", |e| matches!(e, TftpError::BadMode { .. })),
        ("rrq_duplicate_option", |e| {
            matches!(e, TftpError::DuplicateOption { .. })
        }),
        ("rrq_option_without_value", |e| {
            matches!(
                e,
                TftpError::Unterminated {
                    field: "option name"
                }
            )
        }),
        ("rrq_non_utf8_filename", |e| {
            matches!(e, TftpError::NotText { field: "filename" })
        }),
        ("ack_truncated", |e| {
            matches!(e, TftpError::Truncated { len: 3 })
        }),
        ("data_truncated", |e| {
            matches!(e, TftpError::Truncated { len: 3 })
        }),
    ];
    assert_malformed_refused("tftp/malformed", expected, |b| {
        Packet::parse(b).map(|p| format!("{p:?}"))
    });
}

#[test]
fn parse_and_transfer_never_panic_on_mutated_inputs() {
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(testdata("tftp/malformed"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .chain([
            b"\x00\x01undionly.kpxe\x00octet\x00blksize\x001432\x00tsize\x000\x00".to_vec(),
            b"\x00\x01ipxe.efi\x00octet\x00blksize\x001468\x00windowsize\x004\x00".to_vec(),
            b"\x00\x04\x00\x01".to_vec(),
            b"\x00\x05\x00\x08abort\x00".to_vec(),
            b"\x00\x06tsize\x0012\x00".to_vec(),
        ])
        .collect();
    let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
    let data: Arc<[u8]> = vec![7u8; 5000].into();
    let t0 = Instant::now();
    let mut buf = vec![0u8; 70000];
    for seed in &seeds {
        for _ in 0..3000 {
            let mut m = seed.clone();
            if m.is_empty() {
                m.push(0);
            }
            for _ in 0..(1 + next() % 4) {
                let at = (next() as usize) % m.len();
                m[at] = next() as u8;
            }
            if let Ok(Packet::Rrq(req)) = Packet::parse(&m) {
                let Ok(mut t) = Transfer::new(&req, data.clone(), Limits::default()) else {
                    continue;
                };
                let mut now = t0;
                for step in 0..50u16 {
                    while t.poll_transmit(now, &mut buf).is_some() {}
                    let input = if step % 3 == 0 {
                        m.clone()
                    } else {
                        vec![0, 4, (step >> 8) as u8, step as u8]
                    };
                    let _ = t.handle_input(now, &input);
                    now += Duration::from_millis(400);
                }
            }
        }
    }
}

/// OVMF's EDK2 PXE, captured (see `testdata/README.md`): a probe asking for
/// `tsize` (with blksize and windowsize), then the real request.
#[test]
fn captured_edk2_requests_parse_to_the_options_it_sends() {
    for name in ["ovmf_edk2_rrq_tsize_probe", "ovmf_edk2_rrq"] {
        let bytes = std::fs::read(testdata(&format!("tftp/captured/{name}.bin"))).unwrap();
        let Packet::Rrq(req) = Packet::parse(&bytes).unwrap() else {
            panic!("{name} is not an RRQ")
        };
        assert_eq!(req.filename, "ipxe.efi");
        assert_eq!(req.options.block_size, Some(1468), "{name}");
        assert_eq!(req.options.window_size, Some(4), "{name}");
        assert_eq!(
            req.options.transfer_size.is_some(),
            name.ends_with("probe"),
            "{name}"
        );
        // Options are emitted in a fixed order (EDK2 sends tsize first), so
        // the round trip is checked on values.
        let again = Packet::Rrq(req.clone()).to_vec();
        assert_eq!(
            Packet::parse(&again).unwrap(),
            Packet::Rrq(req),
            "{name} round-trips"
        );
    }
}
