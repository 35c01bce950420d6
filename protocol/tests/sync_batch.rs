//! The site sync chunk batch codec against a batch built from the layout
//! in docs/sync.md (golden), the named malformed bodies, and a never-panic
//! sweep standing in for the fuzz target.

mod support;

use marrow_protocol::sync::{encode_record, BatchReader, MAX_RECORD};
use marrow_protocol::{BatchError, ChunkId};
use support::{assert_malformed_refused, testdata, xorshift, Expectation};

/// A whole body's records, or why it is not a batch.
fn read_all(body: &[u8]) -> Result<Vec<(ChunkId, Vec<u8>)>, BatchError> {
    let mut r = BatchReader::new();
    r.push(body);
    let mut out = Vec::new();
    while let Some(rec) = r.next_record()? {
        out.push(rec);
    }
    r.finish()?;
    Ok(out)
}

#[test]
fn a_golden_batch_reads_to_its_records_and_encodes_to_the_same_bytes() {
    let body = std::fs::read(testdata("sync/golden/batch.bin")).unwrap();
    let records = read_all(&body).unwrap();
    let ids: Vec<ChunkId> = records.iter().map(|r| r.0).collect();
    assert_eq!(ids[0].0, std::array::from_fn::<u8, 32, _>(|i| i as u8));
    assert_eq!(
        ids[1].0,
        std::array::from_fn::<u8, 32, _>(|i| 100 + i as u8)
    );
    assert_eq!(ids[2].0, [0; 32]);
    assert_eq!(records[0].1, b"first");
    assert!(records[1].1.is_empty());
    assert_eq!(records[2].1, (0..200).map(|i| i as u8).collect::<Vec<_>>());
    let mut again = Vec::new();
    for (id, bytes) in &records {
        encode_record(id, bytes, &mut again);
    }
    assert_eq!(again, body);
}

#[test]
fn malformed_batches_are_refused_for_their_named_defect() {
    let expected: &[Expectation<BatchError>] = &[
        (
            "length_over_8_mib",
            |e| matches!(e, BatchError::TooLong { len, max } if *len == MAX_RECORD + 1 && *max == MAX_RECORD),
        ),
        ("cut_inside_a_record", |e| {
            matches!(e, BatchError::Truncated { left: 40 })
        }),
        ("cut_inside_a_header", |e| {
            matches!(e, BatchError::Truncated { left: 20 })
        }),
    ];
    assert_malformed_refused("sync/malformed", expected, |b| {
        read_all(b).map(|r| format!("{} records", r.len()))
    });
}

#[test]
fn mutated_batches_fed_in_any_split_never_panic() {
    let golden = std::fs::read(testdata("sync/golden/batch.bin")).unwrap();
    let mut next = xorshift(0x5eed_5a11);
    for _ in 0..20_000 {
        let mut body = golden.clone();
        for _ in 0..(next() % 4 + 1) {
            let i = (next() as usize) % body.len();
            match next() % 3 {
                0 => body[i] = next() as u8,
                1 => body.truncate(i),
                _ => body.insert(i, next() as u8),
            }
            if body.is_empty() {
                break;
            }
        }
        let step = 1 + (next() as usize) % 64;
        let mut r = BatchReader::new();
        let mut taken = 0;
        for piece in body.chunks(step) {
            r.push(piece);
            while let Ok(Some((_, bytes))) = r.next_record() {
                taken += 36 + bytes.len();
                assert!(taken <= body.len());
            }
        }
        let _ = r.finish();
    }
}
