//! The multicast frame codec against frames built from the documented
//! layout (golden), the named malformed frames, and a never-panic sweep
//! standing in for the fuzz target.

mod support;

use marrow_protocol::multicast::wire::MAX_DATAGRAM;
use marrow_protocol::multicast::{AnnounceState, Frame, SessionId};
use marrow_protocol::FrameError;
use support::{assert_malformed_refused, testdata, xorshift, Expectation};

fn golden(name: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("multicast/golden/{name}.bin"))).unwrap()
}

#[test]
fn a_golden_symbol_frame_parses_to_its_fields_and_emits_the_same_bytes() {
    let bytes = golden("symbol");
    let Frame::Symbol(s) = Frame::parse(&bytes).unwrap() else {
        panic!("not a symbol frame")
    };
    assert_eq!(s.session, SessionId(0x0102_0304_0506_0708));
    assert_eq!(s.image.0, std::array::from_fn::<u8, 32, _>(|i| i as u8));
    assert_eq!(s.chunk_index, 7);
    assert_eq!(
        s.chunk.0,
        std::array::from_fn::<u8, 32, _>(|i| 100 + i as u8)
    );
    assert_eq!(s.chunk_len, 3000);
    assert_eq!(s.esi, 2);
    assert_eq!(s.seq, 99);
    assert_eq!(s.symbol.len(), 1368);
    assert!(bytes.len() <= MAX_DATAGRAM);
    assert_eq!(Frame::Symbol(s).to_vec(), bytes);
}

#[test]
fn a_golden_announce_parses_to_its_fields_and_emits_the_same_bytes() {
    let bytes = golden("announce_ending");
    let Frame::Announce(a) = Frame::parse(&bytes).unwrap() else {
        panic!("not an announce")
    };
    assert_eq!(a.seq, 1234);
    assert_eq!(a.cycle, 3);
    assert_eq!(a.chunk_count, 500);
    assert_eq!(a.symbol_size, 1368);
    assert_eq!(a.state, AnnounceState::Ending);
    assert_eq!(a.rate_kbit, 400_000);
    assert_eq!(Frame::Announce(a).to_vec(), bytes);
}

#[test]
fn malformed_frames_are_refused_with_the_expected_reason() {
    let expected: &[Expectation<FrameError>] = &[
        ("empty", |e| {
            matches!(e, FrameError::Truncated { len: 0, .. })
        }),
        ("truncated_head", |e| {
            matches!(e, FrameError::Truncated { len: 47, need: 48 })
        }),
        ("bad_magic", |e| matches!(e, FrameError::BadMagic { .. })),
        ("version_2", |e| {
            matches!(e, FrameError::UnsupportedVersion { version: 2 })
        }),
        ("unknown_kind_3", |e| {
            matches!(e, FrameError::UnknownKind { kind: 3 })
        }),
        ("flags_set", |e| {
            matches!(e, FrameError::FlagsSet { flags: 1 })
        }),
        ("symbol_without_payload", |e| {
            matches!(e, FrameError::Truncated { len: 100, .. })
        }),
        ("symbol_not_aligned", |e| {
            matches!(e, FrameError::BadSymbolLength { len: 13 })
        }),
        ("zero_chunk_length", |e| {
            matches!(e, FrameError::BadChunkLength { len: 0 })
        }),
        ("chunk_over_4_mib", |e| {
            matches!(e, FrameError::BadChunkLength { .. })
        }),
        ("too_many_source_symbols", |e| {
            matches!(e, FrameError::TooManySymbols { symbol_size: 8, .. })
        }),
        ("esi_over_24_bits", |e| {
            matches!(e, FrameError::BadEsi { .. })
        }),
        ("announce_too_long", |e| {
            matches!(e, FrameError::BadAnnounceLength { len: 73 })
        }),
        ("announce_state_0", |e| {
            matches!(e, FrameError::BadAnnounceState { state: 0 })
        }),
        ("announce_reserved_set", |e| {
            matches!(e, FrameError::FlagsSet { flags: 1 })
        }),
        ("announce_symbol_size_0", |e| {
            matches!(e, FrameError::BadSymbolLength { len: 0 })
        }),
    ];
    assert_malformed_refused("multicast/malformed", expected, |b| {
        Frame::parse(b).map(|f| format!("{f:?}"))
    });
}

#[test]
fn mutated_frames_never_panic_and_what_parses_round_trips() {
    let seeds = [golden("symbol"), golden("announce_ending")];
    let mut rng = xorshift(0x6d75_6c74);
    for round in 0..20_000 {
        let mut b = seeds[round % 2].clone();
        for _ in 0..1 + rng() % 4 {
            let at = (rng() % b.len() as u64) as usize;
            b[at] = rng() as u8;
        }
        if rng().is_multiple_of(5) {
            b.truncate((rng() % b.len() as u64) as usize);
        }
        if let Ok(f) = Frame::parse(&b) {
            assert_eq!(f.to_vec(), b, "round {round}");
        }
    }
}
