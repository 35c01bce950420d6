//! Rooms on virtual time (see `room/`): the sender and receivers under
//! loss, reordering, duplication, late joins, restarts of either side and
//! frames from elsewhere. Every copy must be the image, chunk for chunk.

mod room;

use std::time::Duration;

use marrow_protocol::api::session::Mode;
use marrow_protocol::multicast::wire::{SymbolFrame, SYMBOL_SIZE};
use marrow_protocol::multicast::{Frame, SessionId};
use marrow_protocol::{ChunkId, ImageId};
use room::{image, Plan, Room};

/// 20 Mbit/s: the 120-chunk image takes about 1.2 s on the wire.
const CAP: u64 = 20_000_000;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn plans(n: usize, plan: Plan) -> Vec<Plan> {
    vec![plan; n]
}

/// How long the lossless room of `n` takes, the yardstick of the others.
fn clean_room_time(n: usize) -> Duration {
    let mut room = Room::new(image(1, 120), CAP, plans(n, Plan::default()));
    room.run();
    room.peers.iter().map(|p| p.done_at.unwrap()).max().unwrap()
}

#[test]
fn four_receivers_without_loss_take_the_image_once() {
    let mut room = Room::new(image(1, 120), CAP, plans(4, Plan::default()));
    room.run();
    room.assert_every_copy_is_the_image();
    for p in &room.peers {
        assert_eq!(p.mode, Mode::Multicast, "peer {} fell back", p.task.0);
        assert_eq!(p.unicast_bytes, 0);
        assert_eq!(p.multicast_bytes, room.image.bytes());
    }
    // The FEC margin for the assumed 1 % loss, and the padding of each
    // chunk's last symbol, are all that is sent beyond the image.
    let eff = room.efficiency();
    assert!(eff > 0.85, "only {eff:.2} of the symbols were needed");
}

#[test]
fn chunks_being_decoded_are_not_sent_again() {
    let plan = Plan {
        decode_delay: Duration::from_millis(400),
        ..Plan::default()
    };
    let mut room = Room::new(image(9, 120), CAP, plans(4, plan));
    room.run();
    room.assert_every_copy_is_the_image();
    let eff = room.efficiency();
    assert!(eff > 0.85, "only {eff:.2} of the symbols were needed");
}

#[test]
fn two_percent_loss_everywhere_with_reordering_and_duplicates() {
    let plan = Plan {
        loss: 2,
        duplicate: 2,
        reorder: 8,
        ..Plan::default()
    };
    let mut room = Room::new(image(2, 120), CAP, plans(4, plan));
    room.run();
    room.assert_every_copy_is_the_image();
    for p in &room.peers {
        assert_eq!(
            p.mode,
            Mode::Multicast,
            "peer {} fell back: {:?}",
            p.task.0,
            p.reason
        );
    }
}

#[test]
fn ten_percent_loss_at_one_receiver_does_not_slow_the_others() {
    let clean = clean_room_time(4);
    let mut ps = plans(4, Plan::default());
    ps[3].loss = 10;
    let mut room = Room::new(image(1, 120), CAP, ps);
    room.run();
    room.assert_every_copy_is_the_image();
    let lossy = &room.peers[3];
    assert_eq!(lossy.mode, Mode::Multicast, "{:?}", lossy.reason);
    for p in &room.peers[..3] {
        // Reports come once a second, so "not slowed" is within one report.
        assert!(
            p.done_at.unwrap() <= clean + secs(1.0),
            "peer {} took {:?}, the clean room {:?}",
            p.task.0,
            p.done_at,
            clean
        );
    }
}

#[test]
fn a_late_joiner_is_served_by_the_running_carousel() {
    let mut ps = plans(3, Plan::default());
    ps[2].join_at = secs(1.0);
    let mut room = Room::new(image(3, 240), CAP, ps);
    room.run();
    room.assert_every_copy_is_the_image();
    let early = room.peers[0].done_at.unwrap();
    let late = room.peers[2].done_at.unwrap();
    assert!(
        late > early,
        "the late joiner ({late:?}) is done after the others ({early:?})"
    );
    assert_eq!(room.peers[2].mode, Mode::Multicast);
    assert_eq!(room.peers[2].unicast_bytes, 0);
    // It got the whole image by multicast without a restart of the session:
    // the carousel went round for it.
    assert!(room.sender.stats().cycles >= 2);
}

#[test]
fn receivers_that_join_after_the_sender_started_do_not_make_it_back_off() {
    // As in a real room: the sender starts on the first report, and the
    // others join the group over the next second. Their first intervals
    // begin before their first frame; without loss the rate stays at the
    // cap.
    let mut ps = plans(4, Plan::default());
    for (i, p) in ps.iter_mut().enumerate() {
        p.join_at = secs(0.25 * i as f64);
    }
    let mut room = Room::new(image(6, 240), CAP, ps);
    room.run();
    room.assert_every_copy_is_the_image();
    assert_eq!(
        room.min_rate, CAP,
        "the sender backed off to {} bit/s in a room without loss",
        room.min_rate
    );
}

#[test]
fn a_receiver_killed_at_thirty_percent_resumes_from_its_disk() {
    let mut ps = plans(3, Plan::default());
    ps[1].restart = Some((secs(0.8), secs(1.5)));
    let img = image(4, 240);
    let total = img.bytes();
    let mut room = Room::new(img, CAP, ps);
    room.run();
    room.assert_every_copy_is_the_image();
    let p = &room.peers[1];
    assert_eq!(p.mode, Mode::Multicast);
    let held = p.held_at_kill.expect("it was killed");
    assert!(
        held > 0 && held < room.image.chunks.len(),
        "{held} chunks at the kill"
    );
    // What it had written before the kill was not taken again: every
    // chunk came once.
    assert_eq!(p.multicast_bytes, total);
}

#[test]
fn a_receiver_with_half_its_frames_lost_falls_back_to_unicast() {
    let clean = clean_room_time(3);
    let mut ps = plans(4, Plan::default());
    ps[3].loss = 50;
    let mut room = Room::new(image(1, 120), CAP, ps);
    room.run();
    room.assert_every_copy_is_the_image();
    let bad = &room.peers[3];
    assert_eq!(bad.mode, Mode::Unicast);
    let why = bad.reason.as_deref().unwrap();
    assert!(why.contains("lost"), "{why}");
    assert!(bad.unicast_bytes > 0);
    for p in &room.peers[..3] {
        assert_eq!(p.mode, Mode::Multicast);
        assert!(
            p.done_at.unwrap() <= clean + secs(1.0),
            "{:?} vs {clean:?}",
            p.done_at
        );
    }
}

#[test]
fn a_receiver_the_group_never_reaches_is_told_why_within_seconds() {
    let mut ps = plans(2, Plan::default());
    ps[1].loss = 100;
    let mut room = Room::new(image(5, 400), CAP, ps);
    room.run();
    room.assert_every_copy_is_the_image();
    let deaf = &room.peers[1];
    assert_eq!(deaf.mode, Mode::Unicast);
    assert!(deaf
        .reason
        .as_deref()
        .unwrap()
        .contains("no multicast frame"));
    assert!(deaf.done_at.unwrap() < secs(15.0), "{:?}", deaf.done_at);
}

#[test]
fn chunks_already_on_disk_are_not_sent_to_a_receiver_that_holds_them() {
    let img = image(6, 120);
    let n = img.chunks.len() as u32;
    let ps = vec![Plan {
        holds: (0..n).filter(|i| i % 2 == 0).collect(),
        ..Plan::default()
    }];
    let mut room = Room::new(img, CAP, ps);
    room.run();
    room.assert_every_copy_is_the_image();
    let odd: u64 = room
        .image
        .chunks
        .iter()
        .skip(1)
        .step_by(2)
        .map(|c| c.len() as u64)
        .sum();
    assert_eq!(room.peers[0].multicast_bytes, odd);
}

#[test]
fn frames_of_another_session_or_image_are_ignored_and_logged() {
    let img = image(7, 60);
    let ps = plans(2, Plan::default());
    let mut room = Room::new(img, CAP, ps);
    // A frame that claims chunk 0 of this image with the wrong bytes, from
    // another session; and one from this session for another image.
    let bogus = vec![0xAB; SYMBOL_SIZE as usize];
    let frame = |session: SessionId, image: ImageId| {
        Frame::Symbol(SymbolFrame {
            session,
            image,
            chunk_index: 0,
            chunk: room.image.ids[0],
            chunk_len: room.image.chunks[0].len() as u32,
            esi: 0,
            seq: 1,
            symbol: &bogus,
        })
        .to_vec()
    };
    let other_session = frame(SessionId(77), room.image.id);
    let other_image = frame(room.session, ImageId::of(b"another image"));
    let wrong_chunk = Frame::Symbol(SymbolFrame {
        session: room.session,
        image: room.image.id,
        chunk_index: 0,
        chunk: ChunkId::of(b"not chunk 0"),
        chunk_len: 100,
        esi: 0,
        seq: 1,
        symbol: &bogus,
    })
    .to_vec();
    for f in [other_session, other_image, wrong_chunk] {
        room.foreign.push((secs(0.01), f));
    }
    room.run();
    room.assert_every_copy_is_the_image();
    for p in &room.peers {
        let log = p.log.join("\n");
        assert!(log.contains("another session (000000000000004d)"), "{log}");
        assert!(log.contains("another image"), "{log}");
        assert!(
            log.contains("not that chunk in this session's table"),
            "{log}"
        );
    }
}

#[test]
fn a_server_restart_mid_session_resumes_from_the_reports() {
    let img = image(8, 240);
    let total = img.bytes();
    let mut room = Room::new(img, CAP, plans(3, Plan::default()));
    room.server_restart = Some(secs(0.9));
    room.run();
    room.assert_every_copy_is_the_image();
    for p in &room.peers {
        assert_eq!(p.mode, Mode::Multicast);
        assert_eq!(p.unicast_bytes, 0);
        // Nobody started over: each chunk was written once.
        assert_eq!(p.multicast_bytes, total);
    }
}

#[test]
fn twenty_rooms_at_ten_percent_loss_end_with_every_copy_right() {
    for seed in 0..20 {
        let plan = Plan {
            loss: 10,
            reorder: 4,
            duplicate: 1,
            ..Plan::default()
        };
        let mut room = Room::new(image(100 + seed, 60), CAP, plans(3, plan));
        room.run();
        room.assert_every_copy_is_the_image();
    }
}
