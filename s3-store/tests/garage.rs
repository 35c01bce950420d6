//! The store traits on a real S3 server: a one-node Garage on the host's
//! loopback. Every rung (read, write, prune, lock, manifests and names)
//! against the same expectations a local store meets.

use image_format::store::{
    encode_chunk, LockMode, LockStore, ManifestStore, PruneStore, ReadStore, RefEntry, WriteStore,
};
use image_format::{ChunkId, Error, ImageId};
use marrow_s3_store::{Partial, S3Location, S3Settings, S3Store};
use marrow_tests::garage::{self, Garage};

fn settings(g: &Garage) -> S3Settings {
    let given = Partial {
        endpoint: Some(g.endpoint.clone()),
        region: Some("garage".into()),
        access_key_id: Some(g.key_id.clone()),
        secret_access_key: Some(g.secret.clone()),
        path_style: None,
    };
    S3Settings::resolve(&given, &|_| None).unwrap()
}

#[test]
fn every_store_rung_works_on_garage() {
    if let Some(why) = garage::missing() {
        eprintln!("skipping: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let g = Garage::start(&dir.path().join("garage"), None);
    let s = settings(&g);
    let locks = dir.path().join("locks");
    let at = S3Location::parse("s3://marrow/tests/store").unwrap();

    // Opening before anything was made names what is missing.
    let e = S3Store::open(&at, &s, &locks).err().unwrap().to_string();
    assert!(
        e.contains("s3://marrow/tests/store") && e.contains("no marrow-store.json"),
        "{e}"
    );
    assert!(!S3Store::is_store(&at, &s, &locks).unwrap());
    let store = S3Store::create(&at, &s, &locks).unwrap();
    assert!(S3Store::is_store(&at, &s, &locks).unwrap());
    assert_eq!(store.describe(), "s3://marrow/tests/store");

    // Chunks: put once, known after, read back verified.
    let chunks: Vec<(ChunkId, Vec<u8>, Vec<u8>)> = (0..40u8)
        .map(|i| {
            let plain = vec![i; 1000 + i as usize * 37];
            let (id, raw) = encode_chunk(&plain, 3);
            (id, raw, plain)
        })
        .collect();
    for (id, raw, _) in &chunks[..30] {
        assert!(store.put(id, raw).unwrap());
    }
    assert!(
        !store.put(&chunks[0].0, &chunks[0].1).unwrap(),
        "a second put is not new"
    );
    let ids: Vec<ChunkId> = chunks.iter().map(|c| c.0).collect();
    let have = store.has_many(&ids).unwrap();
    assert_eq!(have, (0..40).map(|i| i < 30).collect::<Vec<_>>());
    assert_eq!(store.get(&chunks[7].0).unwrap(), chunks[7].2);
    assert_eq!(
        store.stored_size(&chunks[7].0).unwrap(),
        Some(chunks[7].1.len() as u64)
    );
    assert_eq!(store.stored_size(&chunks[35].0).unwrap(), None);
    match store.get(&chunks[35].0) {
        Err(Error::ChunkMissing { id, store: named }) => {
            assert_eq!(id, chunks[35].0);
            assert_eq!(named, "s3://marrow/tests/store");
        }
        other => panic!("{other:?}"),
    }
    // A chunk whose bytes are not what its name says is refused on read.
    store.put(&chunks[35].0, &chunks[36].1).unwrap();
    assert!(matches!(
        store.get(&chunks[35].0),
        Err(Error::ChunkCorrupt { .. })
    ));
    store.remove(&chunks[35].0).unwrap();

    // Listing pages through everything (more than one page of 1000 is
    // what Garage gives; 30 here is one page, the loop is the same).
    let mut listed = Vec::new();
    store
        .for_each(&mut |id, size| {
            listed.push((id, size));
            Ok(())
        })
        .unwrap();
    listed.sort();
    let mut want: Vec<(ChunkId, u64)> = chunks[..30]
        .iter()
        .map(|(id, raw, _)| (*id, raw.len() as u64))
        .collect();
    want.sort();
    assert_eq!(listed, want);
    store.remove(&chunks[0].0).unwrap();
    assert!(!store.has(&chunks[0].0).unwrap());

    // Manifests, signatures and names.
    let m = store.put_manifest(b"{\"manifest\":1}").unwrap();
    assert_eq!(m, ImageId::of(b"{\"manifest\":1}"));
    assert_eq!(store.get_manifest(&m).unwrap(), b"{\"manifest\":1}");
    store.put_signature(&m, b"sig").unwrap();
    assert_eq!(
        store.get_signature(&m).unwrap().as_deref(),
        Some(&b"sig"[..])
    );
    assert_eq!(store.manifest_ids().unwrap(), vec![m]);
    let n = ImageId::of(b"other");
    store
        .push_ref("golden", RefEntry { id: m, created: 10 })
        .unwrap();
    store
        .push_ref("golden", RefEntry { id: n, created: 20 })
        .unwrap();
    store
        .push_ref("second", RefEntry { id: n, created: 30 })
        .unwrap();
    assert_eq!(store.names().unwrap(), vec!["golden", "second"]);
    assert_eq!(
        store.history("golden").unwrap(),
        vec![
            RefEntry { id: m, created: 10 },
            RefEntry { id: n, created: 20 }
        ]
    );
    assert!(store.history("none").unwrap().is_empty());
    store.set_history("second", &[]).unwrap();
    assert_eq!(store.names().unwrap(), vec!["golden"]);
    store.remove_manifest(&m).unwrap();
    assert!(store.manifest_ids().unwrap().is_empty());
    assert_eq!(store.get_signature(&m).unwrap(), None);

    // Locks: a shared hold shows the store in use to gc.
    assert!(!store.in_use().unwrap());
    let held = store.lock(LockMode::Shared).unwrap();
    assert!(store.in_use().unwrap());
    drop(held);
    let _gc = store.lock(LockMode::Exclusive).unwrap();

    // A prefix that holds other things is not taken over.
    let other = S3Location::parse("s3://marrow/tests").unwrap();
    let e = S3Store::create(&other, &s, &locks)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not empty"), "{e}");
    // Wrong keys: the error names the store and the object.
    let mut wrong = s.clone();
    wrong.secret_access_key = "0".repeat(40);
    let e = S3Store::open(&at, &wrong, &locks)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("s3://marrow/tests/store") && e.contains("HTTP 403"),
        "{e}"
    );
}
