use super::*;
use crate::tasks::{add_host, SeqRng};
use image_format::store::{LocalStore, ManifestStore, RefEntry};
use marrow_protocol::ImageId;

fn mac(n: u8) -> MacAddr {
    format!("52:54:00:00:00:{n:02x}").parse().unwrap()
}

fn db(dir: &tempfile::TempDir) -> Db {
    Db::open(&dir.path().join("marrow.db")).unwrap()
}

fn image_id() -> ImageId {
    let mut id = [0u8; 32];
    id[..3].copy_from_slice(&[0xab, 0xcd, 0xef]);
    ImageId(id)
}

fn store(dir: &tempfile::TempDir) -> LocalStore {
    let store = LocalStore::create(&dir.path().join("store")).unwrap();
    store
        .push_ref(
            "room-b",
            RefEntry {
                id: image_id(),
                created: 1,
            },
        )
        .unwrap();
    store
}

fn new(group: Option<&str>, hosts: &[&str]) -> NewSession {
    NewSession {
        image: "room-b".into(),
        group: group.map(str::to_string),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        policy: StartPolicyRow::default(),
        rate_cap: 800_000_000,
        disk_rule: Some("size=1G-".into()),
        grow_last_partition: true,
        after: After::Poweroff,
        wake: false,
        hostname: None,
        post_script: None,
    }
}

fn make(db: &mut Db, dir: &tempfile::TempDir, n: &NewSession) -> Result<CreatedSession> {
    let s = store(dir);
    let images = Images {
        store: Some(&s),
        name: "the store",
    };
    let seed = db.sessions().all().unwrap().len() as u8 * 50;
    create(db, &Actor::Cli, n, images, 10, &mut SeqRng(seed))
}

#[test]
fn a_group_session_makes_one_restore_task_per_member_of_one_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    for (n, name) in [(1, "b-01"), (2, "b-02")] {
        add_host(&mut db, &Actor::Cli, mac(n), name, false, 1).unwrap();
        db.hosts().set_group(mac(n), Some("room-b")).unwrap();
    }
    add_host(&mut db, &Actor::Cli, mac(3), "a-01", false, 1).unwrap();
    // The group and a host named twice (by MAC and name): each host once.
    let c = make(
        &mut db,
        &dir,
        &new(Some("ROOM-B"), &["b-01", &mac(3).to_string()]),
    )
    .unwrap();
    let hosts: Vec<MacAddr> = c.members.iter().map(|m| m.host).collect();
    assert_eq!(hosts, vec![mac(1), mac(2), mac(3)]);
    let tokens: std::collections::HashSet<_> = c.members.iter().map(|m| &m.token).collect();
    assert_eq!(tokens.len(), 3, "every member has its own token");
    let s = db.sessions().get(c.id).unwrap().unwrap();
    assert_eq!(s.state, SessionState::Waiting);
    assert_eq!(s.image, format!("room-b@{}", image_id().to_hex()));
    for t in db.tasks().in_session(c.id).unwrap() {
        assert_eq!(t.kind, TaskKind::Restore);
        assert_eq!(
            t.image, s.image,
            "every member restores the resolved manifest"
        );
        assert_eq!(t.disk_rule.as_deref(), Some("size=1G-"));
        assert_eq!(t.after, After::Poweroff);
    }
}

#[test]
fn a_member_with_an_active_task_refuses_the_whole_session() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    make(&mut db, &dir, &new(None, &[&mac(1).to_string()])).unwrap();
    let err = make(
        &mut db,
        &dir,
        &new(None, &[&mac(2).to_string(), &mac(1).to_string()]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("already has task 1"), "{err}");
    assert_eq!(
        db.sessions().all().unwrap().len(),
        1,
        "nothing of the second was kept"
    );
    assert!(db.tasks().active_for(mac(2)).unwrap().is_none());
}

#[test]
fn empty_groups_unknown_images_and_no_members_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    let err = make(&mut db, &dir, &new(Some("lab"), &[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("group \"lab\" has no hosts"), "{err}");
    let err = make(&mut db, &dir, &new(None, &[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("needs members"), "{err}");
    let mut n = new(None, &[&mac(1).to_string()]);
    n.image = "absent".into();
    let err = make(&mut db, &dir, &n).unwrap_err().to_string();
    assert!(err.contains("absent"), "{err}");
}

#[test]
fn members_join_start_is_asked_for_and_the_session_ends_with_its_members() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    let c = make(&mut db, &dir, &new(None, &[&mac(1).to_string()])).unwrap();
    let added = add(
        &mut db,
        &Actor::Cli,
        c.id,
        &[mac(2).to_string()],
        11,
        &mut SeqRng(50),
    )
    .unwrap();
    assert_eq!(added.len(), 1);
    let err = add(
        &mut db,
        &Actor::Cli,
        c.id,
        &[mac(2).to_string()],
        11,
        &mut SeqRng(60),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("already a member"), "{err}");
    let s = db.sessions().get(c.id).unwrap().unwrap();
    let t1 = db.tasks().in_session(c.id).unwrap()[0].clone();
    join(&mut db, &t1, 20).unwrap();
    join(&mut db, &t1, 25).unwrap();
    let (_, r) = room(&db, &s).unwrap();
    assert_eq!(
        r,
        policy::Room {
            members: 2,
            joined: 1,
            first_join: Some(20)
        }
    );
    request_start(&mut db, &Actor::Cli, c.id, 30).unwrap();
    assert!(db.sessions().get(c.id).unwrap().unwrap().start_requested);
    begin(
        &mut db,
        c.id,
        ("239.255.77.1".parse().unwrap(), 9000),
        "asked",
        31,
    )
    .unwrap();
    let err = request_start(&mut db, &Actor::Cli, c.id, 32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is running"), "{err}");
    assert_eq!(end_if_over(&mut db, c.id, 40).unwrap(), None);
    for t in db.tasks().in_session(c.id).unwrap() {
        let error = (t.host == mac(2)).then_some("disk too small");
        tasks::finish(&mut db, &Actor::Client(t.id), t.id, "{}", error, 41).unwrap();
    }
    assert_eq!(
        end_if_over(&mut db, c.id, 42).unwrap(),
        Some(SessionState::Done)
    );
    let v = show(&db, c.id).unwrap();
    assert_eq!(v.state, SessionState::Done);
    assert_eq!(v.channel.as_deref(), Some("239.255.77.1:9000"));
    let states: Vec<&str> = v.receivers.iter().map(|r| r.state.as_str()).collect();
    assert_eq!(states, vec!["done", "failed"]);
    assert_eq!(v.receivers[1].reason.as_deref(), Some("disk too small"));
}

#[test]
fn cancelling_a_session_cancels_its_active_members() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    let c = make(
        &mut db,
        &dir,
        &new(None, &[&mac(1).to_string(), &mac(2).to_string()]),
    )
    .unwrap();
    cancel(&mut db, &Actor::Cli, c.id, 20).unwrap();
    for t in db.tasks().in_session(c.id).unwrap() {
        assert_eq!(t.state, TaskState::Cancelled);
    }
    let err = cancel(&mut db, &Actor::Cli, c.id, 21)
        .unwrap_err()
        .to_string();
    assert!(err.contains("already cancelled"), "{err}");
    let err = cancel(&mut db, &Actor::Cli, 99, 21)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no session 99"), "{err}");
}

#[test]
fn each_member_gets_its_own_hostname_and_late_members_the_same_pattern() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    for (n, name) in [(1, "b-02"), (2, "b-01"), (3, "b-03")] {
        add_host(&mut db, &Actor::Cli, mac(n), name, false, 1).unwrap();
        db.hosts().set_group(mac(n), Some("room-b")).unwrap();
    }
    db.scripts().put("join-domain", "true\n", "h", 1).unwrap();
    let mut n = new(None, &["b-01", "b-02"]);
    n.hostname = Some("{group}-{n}".into());
    n.post_script = Some("join-domain".into());
    let c = make(&mut db, &dir, &n).unwrap();
    let names = |db: &Db| -> Vec<(MacAddr, Option<String>, Option<String>)> {
        db.tasks()
            .in_session(c.id)
            .unwrap()
            .into_iter()
            .map(|t| (t.host, t.hostname, t.post_script))
            .collect()
    };
    let script = Some("join-domain".to_string());
    // Counted in the group by name: b-01 (MAC 2) is 1, b-02 (MAC 1) is 2.
    assert_eq!(
        names(&db),
        [
            (mac(2), Some("room-b-1".into()), script.clone()),
            (mac(1), Some("room-b-2".into()), script.clone()),
        ]
    );
    add(
        &mut db,
        &Actor::Cli,
        c.id,
        &["b-03".into()],
        11,
        &mut SeqRng(90),
    )
    .unwrap();
    assert_eq!(
        names(&db)[2],
        (mac(3), Some("room-b-3".into()), script.clone())
    );
}
