//! The NBD server state machine: golden bytes of the handshake and replies
//! (laid out as doc/proto.md of the NBD project gives them), a client that
//! sends one byte at a time, and named bad inputs.

use marrow_protocol::nbd::wire::*;
use marrow_protocol::nbd::{read_reply, Action, Export, Server};
use marrow_protocol::NbdError;

fn server() -> Server {
    Server::new(vec![
        Export {
            name: "lab@0123abcd".into(),
            size: 1 << 20,
        },
        Export {
            name: "other".into(),
            size: 4096,
        },
    ])
    .0
}

fn option(opt: u32, data: &[u8]) -> Vec<u8> {
    let mut b = IHAVEOPT.to_be_bytes().to_vec();
    b.extend_from_slice(&opt.to_be_bytes());
    b.extend_from_slice(&(data.len() as u32).to_be_bytes());
    b.extend_from_slice(data);
    b
}

fn go(name: &str, requests: &[u16]) -> Vec<u8> {
    let mut d = (name.len() as u32).to_be_bytes().to_vec();
    d.extend_from_slice(name.as_bytes());
    d.extend_from_slice(&(requests.len() as u16).to_be_bytes());
    for r in requests {
        d.extend_from_slice(&r.to_be_bytes());
    }
    option(OPT_GO, &d)
}

fn request(kind: u16, cookie: u64, offset: u64, len: u32) -> Vec<u8> {
    let mut b = REQUEST_MAGIC.to_be_bytes().to_vec();
    b.extend_from_slice(&0u16.to_be_bytes());
    b.extend_from_slice(&kind.to_be_bytes());
    b.extend_from_slice(&cookie.to_be_bytes());
    b.extend_from_slice(&offset.to_be_bytes());
    b.extend_from_slice(&len.to_be_bytes());
    b
}

fn sent(actions: &[Action]) -> Vec<u8> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(b) => Some(b.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn greeting_is_nbdmagic_ihaveopt_and_fixed_newstyle_without_zeroes() {
    let (_, greeting) = Server::new(vec![]);
    assert_eq!(hex(&greeting), "4e42444d4147494349484156454f50540003");
}

#[test]
fn go_with_a_block_size_request_answers_info_then_ack_and_enters_transmission() {
    let mut s = server();
    let mut input = (CLIENT_FIXED_NEWSTYLE | CLIENT_NO_ZEROES)
        .to_be_bytes()
        .to_vec();
    input.extend(go("lab@0123abcd", &[INFO_BLOCK_SIZE]));
    let out = s.receive(&input).unwrap();
    assert_eq!(
        hex(&sent(&out)),
        concat!(
            // NBD_REP_INFO, NBD_INFO_EXPORT: size 1 MiB, flags 0x0107
            "0003e889045565a9",
            "00000007",
            "00000003",
            "0000000c",
            "0000",
            "0000000000100000",
            "0107",
            // NBD_REP_INFO, NBD_INFO_BLOCK_SIZE: 1, 4096, 32 MiB
            "0003e889045565a9",
            "00000007",
            "00000003",
            "0000000e",
            "0003",
            "00000001",
            "00001000",
            "02000000",
            // NBD_REP_ACK
            "0003e889045565a9",
            "00000007",
            "00000001",
            "00000000",
        )
    );
    assert_eq!(s.export().unwrap().name, "lab@0123abcd");
    let out = s.receive(&request(CMD_READ, 7, 4096, 512)).unwrap();
    assert_eq!(
        out,
        [Action::Read {
            cookie: 7,
            offset: 4096,
            len: 512
        }]
    );
    assert_eq!(
        hex(&read_reply(7, Ok(vec![0xab, 0xcd]))),
        "67446698000000000000000000000007abcd"
    );
    assert_eq!(
        hex(&read_reply(7, Err(EIO))),
        "67446698000000050000000000000007"
    );
}

#[test]
fn list_names_every_export_then_acks() {
    let mut s = server();
    let mut input = CLIENT_FIXED_NEWSTYLE.to_be_bytes().to_vec();
    input.extend(option(OPT_LIST, &[]));
    let out = sent(&s.receive(&input).unwrap());
    let mut want = option_reply(OPT_LIST, REP_SERVER, b"\0\0\0\x0clab@0123abcd");
    want.extend(option_reply(OPT_LIST, REP_SERVER, b"\0\0\0\x05other"));
    want.extend(option_reply(OPT_LIST, REP_ACK, &[]));
    assert_eq!(out, want);
}

#[test]
fn an_unlisted_server_refuses_list_by_policy_and_still_serves_a_named_export() {
    let (mut s, _) = Server::unlisted(vec![Export {
        name: "secret".into(),
        size: 512,
    }]);
    let mut input = CLIENT_NO_ZEROES.to_be_bytes().to_vec();
    input.extend(option(OPT_LIST, &[]));
    input.extend(go("secret", &[]));
    let out = sent(&s.receive(&input).unwrap());
    assert_eq!(be32(&out, 12), REP_ERR_POLICY);
    assert!(!String::from_utf8_lossy(&out).contains("secret"));
    assert_eq!(s.export().unwrap().name, "secret");
}

#[test]
fn export_name_replies_size_and_flags_with_zeroes_unless_the_client_declined_them() {
    for (flags, len) in [
        (CLIENT_FIXED_NEWSTYLE, 10 + 124),
        (CLIENT_FIXED_NEWSTYLE | CLIENT_NO_ZEROES, 10),
    ] {
        let mut s = server();
        let mut input = flags.to_be_bytes().to_vec();
        input.extend(option(OPT_EXPORT_NAME, b"other"));
        let out = sent(&s.receive(&input).unwrap());
        assert_eq!(out.len(), len);
        assert_eq!(hex(&out[..10]), "00000000000010000107");
    }
    // An empty name is the first export.
    let mut s = server();
    let mut input = 0u32.to_be_bytes().to_vec();
    input.extend(option(OPT_EXPORT_NAME, b""));
    s.receive(&input).unwrap();
    assert_eq!(s.export().unwrap().size, 1 << 20);
}

#[test]
fn one_byte_at_a_time_gives_the_same_replies() {
    let mut input = CLIENT_NO_ZEROES.to_be_bytes().to_vec();
    input.extend(option(OPT_LIST, &[]));
    input.extend(go("other", &[]));
    input.extend(request(CMD_READ, 1, 0, 4096));
    input.extend(request(CMD_FLUSH, 2, 0, 0));
    input.extend(request(CMD_DISC, 3, 0, 0));
    let whole = server().receive(&input).unwrap();
    let mut s = server();
    let mut bytewise = Vec::new();
    for b in &input {
        bytewise.extend(s.receive(&[*b]).unwrap());
    }
    assert_eq!(sent(&whole), sent(&bytewise));
    assert_eq!(whole.last(), Some(&Action::Close));
    assert!(whole.contains(&Action::Read {
        cookie: 1,
        offset: 0,
        len: 4096
    }));
}

fn in_transmission() -> Server {
    let mut s = server();
    let mut input = CLIENT_NO_ZEROES.to_be_bytes().to_vec();
    input.extend(go("other", &[]));
    s.receive(&input).unwrap();
    s
}

#[test]
fn a_write_is_refused_and_its_payload_skipped_even_split_across_reads() {
    let mut s = in_transmission();
    let mut input = request(CMD_WRITE, 9, 0, 10);
    input.extend_from_slice(b"0123");
    let out = s.receive(&input).unwrap();
    assert_eq!(sent(&out), simple_reply(EPERM, 9));
    // The rest of the payload, then a read that must parse cleanly.
    let mut rest = b"456789".to_vec();
    rest.extend(request(CMD_READ, 10, 0, 16));
    let out = s.receive(&rest).unwrap();
    assert_eq!(
        out,
        [Action::Read {
            cookie: 10,
            offset: 0,
            len: 16
        }]
    );
}

#[test]
fn reads_outside_the_export_or_too_large_get_einval() {
    let mut s = in_transmission();
    for (offset, len) in [
        (4096, 1),
        (4000, 200),
        (u64::MAX, 2),
        (0, 0),
        (0, MAX_READ + 1),
    ] {
        let out = s.receive(&request(CMD_READ, 5, offset, len)).unwrap();
        assert_eq!(sent(&out), simple_reply(EINVAL, 5), "{offset} {len}");
    }
    let out = s.receive(&request(4, 6, 0, 512)).unwrap();
    assert_eq!(sent(&out), simple_reply(EPERM, 6), "trim");
}

#[test]
fn unknown_exports_and_options_get_error_replies_not_a_hangup() {
    let mut s = server();
    let mut input = 0u32.to_be_bytes().to_vec();
    input.extend(go("nope", &[]));
    input.extend(option(8, &[])); // NBD_OPT_STRUCTURED_REPLY
    input.extend(option(OPT_GO, &[0, 0, 0, 9, b'x'])); // name runs past the data
    let out = sent(&s.receive(&input).unwrap());
    let kinds: Vec<u32> = {
        let mut at = 0;
        let mut v = Vec::new();
        while at < out.len() {
            v.push(be32(&out, at + 12));
            at += 20 + be32(&out, at + 16) as usize;
        }
        v
    };
    assert_eq!(kinds, [REP_ERR_UNKNOWN, REP_ERR_UNSUP, REP_ERR_INVALID]);
    assert!(s.export().is_none());
}

#[test]
fn named_bad_inputs_end_the_connection() {
    let cases: Vec<(&str, Vec<u8>, NbdError)> = vec![
        (
            "client_flags_unknown_bit",
            0x80u32.to_be_bytes().to_vec(),
            NbdError::UnknownClientFlags { flags: 0x80 },
        ),
        (
            "option_magic_wrong",
            [0u32.to_be_bytes().to_vec(), vec![0; 16]].concat(),
            NbdError::BadOptionMagic { found: 0 },
        ),
        (
            "option_too_long",
            [0u32.to_be_bytes().to_vec(), {
                let mut b = IHAVEOPT.to_be_bytes().to_vec();
                b.extend_from_slice(&OPT_GO.to_be_bytes());
                b.extend_from_slice(&100_000u32.to_be_bytes());
                b
            }]
            .concat(),
            NbdError::OptionTooLong {
                option: OPT_GO,
                len: 100_000,
                max: 8192,
            },
        ),
        (
            "export_name_unknown",
            [
                0u32.to_be_bytes().to_vec(),
                option(OPT_EXPORT_NAME, b"nope"),
            ]
            .concat(),
            NbdError::UnknownExport {
                name: "nope".into(),
            },
        ),
    ];
    for (name, input, want) in cases {
        assert_eq!(server().receive(&input).unwrap_err(), want, "{name}");
    }
    let mut s = in_transmission();
    let mut bad = request(CMD_READ, 1, 0, 1);
    bad[0] = 0;
    assert_eq!(
        s.receive(&bad).unwrap_err(),
        NbdError::BadRequestMagic { found: 0x0060_9513 }
    );
}

#[test]
fn abort_acks_and_closes() {
    let mut s = server();
    let mut input = 0u32.to_be_bytes().to_vec();
    input.extend(option(OPT_ABORT, &[]));
    let out = s.receive(&input).unwrap();
    assert_eq!(out.last(), Some(&Action::Close));
    assert_eq!(sent(&out), option_reply(OPT_ABORT, REP_ACK, &[]));
    assert!(s.receive(&request(CMD_READ, 1, 0, 1)).unwrap().is_empty());
}

/// What the fuzz target (`fuzz/fuzz_targets/nbd_server.rs`) does, on
/// stable and deterministically: random bytes after no handshake, after a
/// complete one, and after a request header, in random pieces; the server
/// may refuse them but never panics.
#[test]
fn random_input_in_random_pieces_never_panics() {
    let mut next = marrow_test_support::xorshift(0x6e62_6421);
    let mut ready = CLIENT_NO_ZEROES.to_be_bytes().to_vec();
    ready.extend(go("other", &[INFO_BLOCK_SIZE]));
    let prefixes = [
        Vec::new(),
        ready.clone(),
        [ready, request(CMD_WRITE, 1, 0, 40)].concat(),
    ];
    for round in 0..3000 {
        let mut input = prefixes[round % 3].clone();
        let len = (next() % 300) as usize;
        input.extend((0..len).map(|_| next() as u8));
        let mut s = server();
        let cut = 1 + (next() % 40) as usize;
        for piece in input.chunks(cut) {
            if s.receive(piece).is_err() {
                break;
            }
        }
    }
}
