use super::token::testing::SeqRng;
use super::*;
use crate::db::TaskState;
use image_format::store::{LocalStore, ManifestStore, RefEntry};
use marrow_protocol::ImageId;

fn mac() -> MacAddr {
    "52:54:00:12:34:56".parse().unwrap()
}

fn db(dir: &tempfile::TempDir) -> Db {
    Db::open(&dir.path().join("marrow.db")).unwrap()
}

fn restore(image: &str) -> NewTask {
    NewTask {
        kind: TaskKind::Restore,
        host: mac().to_string(),
        image: image.into(),
        disk_rule: None,
        grow_last_partition: true,
        after: After::Reboot,
        inject_drivers: None,
        hostname: None,
        post_script: None,
    }
}

/// A store whose name `win11` has one version, `abcdef00…`, and
/// `absent` none; only the names matter to task creation.
fn images(dir: &tempfile::TempDir) -> LocalStore {
    let store = LocalStore::create(&dir.path().join("store")).unwrap();
    let mut id = [0u8; 32];
    id[..3].copy_from_slice(&[0xab, 0xcd, 0xef]);
    store
        .push_ref(
            "win11",
            RefEntry {
                id: ImageId(id),
                created: 1,
            },
        )
        .unwrap();
    store
}

fn create_with(db: &mut Db, new: &NewTask, now: i64) -> Result<Created> {
    let dir = tempfile::tempdir().unwrap();
    let store = images(&dir);
    let images = Images {
        store: Some(&store),
        name: "the store",
    };
    create(db, &Actor::Cli, new, images, now, &mut SeqRng(0))
}

#[test]
fn a_task_is_created_pending_and_stores_only_its_token_hash() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    let created = create_with(&mut db, &restore("win11@ABCDEF"), 10).unwrap();
    let t = db.tasks().get(created.id).unwrap().unwrap();
    assert_eq!(t.state, TaskState::Pending);
    assert_eq!(
        t.image, "win11@abcdef",
        "the id is kept as ImageRef parses it"
    );
    assert!(t.grow_last_partition);
    let stored = db.tasks().stored_token_hash(created.id).unwrap().unwrap();
    assert_eq!(stored, token_hash(&created.token));
    assert!(!stored.contains(&created.token));
    assert_eq!(
        authorize(&db, &created.token).unwrap().unwrap().id,
        created.id
    );
}

#[test]
fn a_second_active_task_for_a_host_is_refused_naming_the_host_and_task() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    let first = create_with(&mut db, &restore("win11"), 10).unwrap().id;
    let err = create_with(&mut db, &restore("win11"), 11)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("52:54:00:12:34:56") && err.contains(&format!("task {first}")),
        "{err}"
    );
    cancel(&mut db, &Actor::Cli, first, 12).unwrap();
    create_with(&mut db, &restore("win11"), 13).unwrap();
}

#[test]
fn bad_image_references_and_capture_with_an_id_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    assert!(create_with(&mut db, &restore("win11@xyz"), 1).is_err());
    assert!(create_with(&mut db, &restore("bad name"), 1).is_err());
    let mut capture = restore("win11@abcd");
    capture.kind = TaskKind::Capture;
    capture.grow_last_partition = false;
    let err = create_with(&mut db, &capture, 1).unwrap_err().to_string();
    assert!(err.contains("win11@abcd"), "{err}");
    assert!(db.tasks().all().unwrap().is_empty());
}

#[test]
fn a_task_for_an_unknown_host_name_is_refused_and_a_refused_task_registers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    let mut new = restore("win11");
    new.host = "lab-99".into();
    let err = create_with(&mut db, &new, 1).unwrap_err().to_string();
    assert!(
        err.contains("lab-99") && err.contains("marrow host add"),
        "{err}"
    );
    // A MAC is registered with its task, in the same transaction: a task
    // that is refused leaves no host behind.
    assert!(create_with(&mut db, &restore("bad name"), 1).is_err());
    assert!(db.hosts().get(mac()).unwrap().is_none());
    create_with(&mut db, &restore("win11"), 2).unwrap();
    assert!(db.hosts().get(mac()).unwrap().is_some());
}

#[test]
fn booting_rotates_the_token_and_retires_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    let mut rng = SeqRng(100);
    let created = create_with(&mut db, &restore("win11"), 10).unwrap();
    let first = boot(&mut db, mac(), &BootSeen::default(), true, 11, &mut rng)
        .unwrap()
        .task
        .unwrap();
    assert_eq!(first.id, created.id);
    assert!(authorize(&db, &created.token).unwrap().is_none());
    assert_eq!(
        authorize(&db, &first.token).unwrap().unwrap().id,
        created.id
    );
    let second = boot(&mut db, mac(), &BootSeen::default(), true, 12, &mut rng)
        .unwrap()
        .task
        .unwrap();
    assert_ne!(second.token, first.token);
    assert!(authorize(&db, &first.token).unwrap().is_none());
    let other: MacAddr = "52:54:00:00:00:09".parse().unwrap();
    let decision = boot(&mut db, other, &BootSeen::default(), true, 12, &mut rng).unwrap();
    assert!(decision.task.is_none());
    assert!(
        decision.host.is_none(),
        "a boot script request registers no host"
    );
    let without = boot(&mut db, mac(), &BootSeen::default(), false, 13, &mut rng).unwrap();
    assert!(
        without.task.is_none(),
        "no token unless the caller issues one"
    );
    assert_eq!(
        authorize(&db, &second.token).unwrap().unwrap().id,
        created.id,
        "a boot without a token leaves the live one alone"
    );
}

#[test]
fn cancelling_forgets_the_token_and_a_finished_task_cannot_be_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    let created = create_with(&mut db, &restore("win11"), 10).unwrap();
    let id = created.id;
    cancel(&mut db, &Actor::Cli, id, 11).unwrap();
    assert_eq!(
        db.tasks().get(id).unwrap().unwrap().state,
        TaskState::Cancelled
    );
    assert!(authorize(&db, &created.token).unwrap().is_none());
    let decision = boot(
        &mut db,
        mac(),
        &BootSeen::default(),
        true,
        12,
        &mut SeqRng(7),
    )
    .unwrap();
    assert!(decision.task.is_none());
    let err = cancel(&mut db, &Actor::Cli, id, 13)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("task {id}")) && err.contains("cancelled"),
        "{err}"
    );
    assert!(cancel(&mut db, &Actor::Cli, TaskId(99), 13)
        .unwrap_err()
        .to_string()
        .contains("99"));
}

#[test]
fn a_restore_claim_fixes_its_manifest_and_a_missing_image_fails_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    // The image is there when the task is made, and gone by its claim.
    let created = create_with(&mut db, &restore("win11"), 10).unwrap();
    let empty = LocalStore::create(&dir.path().join("empty")).unwrap();
    match claim(&mut db, &created.token, &empty, "the store", None, 11).unwrap() {
        Some(Claim::ImageMissing(why)) => assert!(why.contains("win11"), "{why}"),
        other => panic!("{other:?}"),
    }
    let t = db.tasks().get(created.id).unwrap().unwrap();
    assert_eq!(t.state, TaskState::Failed);
    assert!(t.error.unwrap().contains("win11"));
    assert!(
        claim(&mut db, &created.token, &empty, "the store", None, 12)
            .unwrap()
            .is_none(),
        "an ended task's token claims nothing"
    );
}

#[test]
fn a_running_task_whose_host_boots_again_says_so_until_the_new_client_claims_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    let store = images(&dir);
    let mut capture = restore("win11");
    capture.kind = TaskKind::Capture;
    capture.grow_last_partition = false;
    let created = create_with(&mut db, &capture, 10).unwrap();
    claim(&mut db, &created.token, &store, "s", None, 11)
        .unwrap()
        .unwrap();
    let again = boot(
        &mut db,
        mac(),
        &BootSeen::default(),
        true,
        12,
        &mut SeqRng(50),
    )
    .unwrap()
    .task
    .unwrap();
    let t = db.tasks().get(created.id).unwrap().unwrap();
    assert_eq!(t.state, TaskState::Running);
    assert!(t.error.unwrap().contains("booted again"));
    assert!(authorize(&db, &created.token).unwrap().is_none());
    claim(&mut db, &again.token, &store, "s", None, 13)
        .unwrap()
        .unwrap();
    assert!(db.tasks().get(created.id).unwrap().unwrap().error.is_none());
}

#[test]
fn a_restore_of_an_image_the_store_lacks_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    let err = create_with(&mut db, &restore("nonexistent"), 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nonexistent"), "{err}");
    let err = create_with(&mut db, &restore("win11@0123"), 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("0123"), "{err}");
    let none = Images {
        store: None,
        name: "/var/lib/marrow/store",
    };
    let err = create(
        &mut db,
        &Actor::Cli,
        &restore("win11"),
        none,
        1,
        &mut SeqRng(0),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("win11") && err.contains("/var/lib/marrow/store"),
        "{err}"
    );
    assert!(db.tasks().all().unwrap().is_empty());
}

#[test]
fn a_restore_names_its_host_from_the_pattern_and_its_claim_carries_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    let (a, b): (MacAddr, MacAddr) = (
        "52:54:00:00:00:0a".parse().unwrap(),
        "52:54:00:00:00:0b".parse().unwrap(),
    );
    add_host(&mut db, &Actor::Cli, b, "pc-a", false, 1).unwrap();
    add_host(&mut db, &Actor::Cli, a, "pc-b", false, 1).unwrap();
    set_group(&mut db, &Actor::Cli, a, "room-b").unwrap();
    set_group(&mut db, &Actor::Cli, b, "room-b").unwrap();
    db.scripts().put("Fixup", "echo hi\n", "h", 1).unwrap();
    let mut new = restore("win11");
    new.host = a.to_string();
    new.hostname = Some("{group}-{n}".into());
    new.post_script = Some("fixup".into());
    let created = create_with(&mut db, &new, 10).unwrap();
    let t = db.tasks().get(created.id).unwrap().unwrap();
    // Numbered by name: pc-a (MAC b) is 1, pc-b (MAC a) is 2.
    assert_eq!(t.hostname.as_deref(), Some("room-b-2"));
    assert_eq!(t.hostname_pattern.as_deref(), Some("{group}-{n}"));
    assert_eq!(t.post_script.as_deref(), Some("Fixup"));
    let post = post_deploy(&db, &t).unwrap();
    assert_eq!(post.hostname.as_deref(), Some("room-b-2"));
    assert_eq!(post.script.unwrap().body, "echo hi\n");
    assert_eq!(post.vars["MARROW_HOST_NAME"], "pc-b");
    assert_eq!(post.vars["MARROW_GROUP"], "room-b");
    assert_eq!(post.vars["MARROW_TASK_ID"], created.id.to_string());
    assert_eq!(post.vars["MARROW_IMAGE"], "win11");
    assert_eq!(
        db.tasks().active_with_script("FIXUP").unwrap(),
        [created.id]
    );
}

#[test]
fn post_deploy_options_are_checked_when_the_task_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = db(&dir);
    let mut new = restore("win11");
    new.post_script = Some("absent".into());
    let err = create_with(&mut db, &new, 1).unwrap_err().to_string();
    assert!(
        err.contains("absent") && err.contains("script add"),
        "{err}"
    );
    let mut new = restore("win11");
    new.hostname = Some("{group}-{n}".into());
    let err = create_with(&mut db, &new, 1).unwrap_err().to_string();
    assert!(err.contains("in no group"), "{err}");
    let mut new = restore("win11");
    new.hostname = Some("{name}".into());
    let err = create_with(&mut db, &new, 1).unwrap_err().to_string();
    assert!(err.contains("unknown field {name}"), "{err}");
    let mut first = restore("win11");
    first.host = "52:54:00:00:00:21".into();
    first.hostname = Some("Same".into());
    create_with(&mut db, &first, 1).unwrap();
    let mut second = restore("win11");
    second.host = "52:54:00:00:00:22".into();
    second.hostname = Some("same".into());
    let err = create_with(&mut db, &second, 1).unwrap_err().to_string();
    assert!(
        err.contains("already given to host 52:54:00:00:00:21"),
        "{err}"
    );
    db.tasks().cancel(TaskId(1), 2).unwrap();
    let mut new = restore("win11");
    new.kind = TaskKind::Capture;
    new.hostname = Some("pc1".into());
    let err = create_with(&mut db, &new, 1).unwrap_err().to_string();
    assert!(err.contains("restore tasks only"), "{err}");
    assert_eq!(
        db.tasks().all().unwrap().len(),
        1,
        "only the first was kept"
    );
}
