//! Schedules on virtual time: ticks at chosen instants stand for the serve
//! loop, across a DST change, a server that was down, a pause, and a
//! one-shot.

use super::*;
use crate::admin::Ctx;
use crate::paths::DataDir;
use crate::store::StoreSpec;
use crate::tasks::SeqRng;

fn utc(s: &str) -> i64 {
    plan::at_in_zone(s, Some("UTC")).unwrap()
}

fn setup() -> (tempfile::TempDir, Db, DataDir) {
    let dir = tempfile::tempdir().unwrap();
    let dirs = DataDir::new(dir.path());
    let db = Db::open(&dirs.db()).unwrap();
    (dir, db, dirs)
}

fn capture(name: &str, cron: Option<&str>, at: Option<&str>, tz: &str) -> NewSchedule {
    NewSchedule {
        name: name.into(),
        cron: cron.map(str::to_string),
        at: at.map(str::to_string),
        tz: Some(tz.into()),
        grace: None,
        command: "task capture --host 52:54:00:00:00:01 --image golden"
            .split(' ')
            .map(str::to_string)
            .collect(),
    }
}

fn tick_at(db: &mut Db, dirs: &DataDir, t: &str) -> Vec<(String, ScheduleRun)> {
    let store = StoreSpec::Local(dirs.store());
    tick(db, &store, utc(t), None, &mut SeqRng(1)).unwrap()
}

/// Cancels the task a run made, so the host is free for the next one.
fn finish(db: &mut Db, run: &ScheduleRun, t: &str) {
    let id = run.task.expect("the run made a task");
    crate::tasks::cancel(db, &Actor::Cli, marrow_protocol::TaskId(id), utc(t)).unwrap();
}

#[test]
fn weekday_runs_follow_paris_time_across_the_autumn_change() {
    let (_d, mut db, dirs) = setup();
    let ctx = Ctx::local(utc("2026-10-22T12:00"));
    add(
        &mut db,
        &ctx,
        &capture("nightly", Some("0 22 * * 1-5"), None, "Europe/Paris"),
    )
    .unwrap();
    assert!(tick_at(&mut db, &dirs, "2026-10-22T19:59").is_empty());
    let thu = tick_at(&mut db, &dirs, "2026-10-22T20:00");
    assert_eq!(thu.len(), 1);
    assert_eq!(
        (thu[0].1.due, thu[0].1.outcome.as_str()),
        (utc("2026-10-22T20:00"), "ok")
    );
    finish(&mut db, &thu[0].1, "2026-10-22T21:00");
    // Friday 22:00 CEST, then nothing at the weekend (the clocks go back
    // on Sunday), then Monday 22:00 CET, an hour later in UTC.
    let fri = tick_at(&mut db, &dirs, "2026-10-23T20:00");
    finish(&mut db, &fri[0].1, "2026-10-23T21:00");
    assert!(tick_at(&mut db, &dirs, "2026-10-26T20:30").is_empty());
    let mon = tick_at(&mut db, &dirs, "2026-10-26T21:00");
    assert_eq!(mon[0].1.due, utc("2026-10-26T21:00"));
    assert_eq!(mon[0].1.outcome, "ok");
    let v = show(&db, "nightly", utc("2026-10-26T21:00")).unwrap();
    assert_eq!(v.history.len(), 3);
    assert_eq!(v.next[0], utc("2026-10-27T21:00"));
    // The task it made is the schedule's, in the audit log too.
    let audit = db.audit().list(&Default::default()).unwrap();
    assert!(audit
        .iter()
        .any(|a| a.actor == "schedule nightly" && a.action == "task.capture" && a.outcome == "ok"));
}

#[test]
fn a_run_missed_while_down_runs_once_within_the_grace_and_is_recorded_past_it() {
    let (_d, mut db, dirs) = setup();
    let ctx = Ctx::local(utc("2026-12-01T09:30"));
    add(
        &mut db,
        &ctx,
        &capture("hourly", Some("0 * * * *"), None, "UTC"),
    )
    .unwrap();
    // Down from 09:30 to 12:20: 10:00 and 11:00 are missed, 12:00 runs.
    let back = tick_at(&mut db, &dirs, "2026-12-01T12:20");
    let outcomes: Vec<_> = back
        .iter()
        .map(|(_, r)| (r.due, r.outcome.clone()))
        .collect();
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert!(
        outcomes[0]
            .1
            .starts_with("missed: the run due 2026-12-01 12:00:00"),
        "{outcomes:?}"
    );
    assert!(outcomes[1].1.starts_with("missed"));
    assert_eq!(outcomes[2], (utc("2026-12-01T12:00"), "ok".to_string()));
    finish(&mut db, &back[2].1, "2026-12-01T12:30");
    // Down again from 12:20 to 14:30: 13:00 is past the hour of grace,
    // 14:00 is not.
    let again = tick_at(&mut db, &dirs, "2026-12-01T14:30");
    assert_eq!(again.len(), 2);
    assert!(again[0].1.outcome.starts_with("missed"));
    assert_eq!(again[1].1.outcome, "ok");
    // A second run while the first task is active fails, and says why.
    let busy = tick_at(&mut db, &dirs, "2026-12-01T15:00");
    assert!(
        busy[0]
            .1
            .outcome
            .starts_with("failed: host 52:54:00:00:00:01 already has task"),
        "{busy:?}"
    );
    // Down past the grace of the only due time: recorded as missed.
    let ctx = Ctx::local(utc("2026-12-01T16:30"));
    add(
        &mut db,
        &ctx,
        &capture("daily", Some("0 6 * * *"), None, "UTC"),
    )
    .unwrap();
    let late = tick_at(&mut db, &dirs, "2026-12-02T07:30");
    let daily: Vec<_> = late.iter().filter(|(n, _)| n == "daily").collect();
    assert_eq!(daily.len(), 1, "{late:?}");
    assert!(
        daily[0]
            .1
            .outcome
            .starts_with("missed: more than 3600 s late"),
        "{late:?}"
    );
    assert!(
        late[0]
            .1
            .outcome
            .starts_with("missed: more than 3600 s late"),
        "{late:?}"
    );
}

#[test]
fn a_paused_schedule_does_not_run_and_does_not_catch_up_on_resume() {
    let (_d, mut db, dirs) = setup();
    let ctx = Ctx::local(utc("2026-12-01T09:30"));
    add(&mut db, &ctx, &capture("p", Some("0 * * * *"), None, "UTC")).unwrap();
    set_paused(&mut db, &Ctx::local(utc("2026-12-01T09:40")), "p", true).unwrap();
    assert!(tick_at(&mut db, &dirs, "2026-12-01T10:00").is_empty());
    let v = set_paused(&mut db, &Ctx::local(utc("2026-12-01T10:10")), "p", false).unwrap();
    assert!(!v.paused);
    assert!(tick_at(&mut db, &dirs, "2026-12-01T10:20").is_empty());
    assert_eq!(tick_at(&mut db, &dirs, "2026-12-01T11:00").len(), 1);
}

#[test]
fn a_one_shot_runs_once_and_bad_schedules_are_refused_by_name() {
    let (_d, mut db, dirs) = setup();
    let ctx = Ctx::local(utc("2026-12-24T12:00"));
    add(
        &mut db,
        &ctx,
        &capture("eve", None, Some("2026-12-24T18:00"), "Europe/Paris"),
    )
    .unwrap();
    assert!(tick_at(&mut db, &dirs, "2026-12-24T16:59").is_empty());
    assert_eq!(
        tick_at(&mut db, &dirs, "2026-12-24T17:00")[0].1.outcome,
        "ok"
    );
    assert!(tick_at(&mut db, &dirs, "2026-12-25T17:00").is_empty());
    assert!(show(&db, "eve", utc("2026-12-25T17:00")).unwrap().done);
    for (req, says) in [
        (
            capture("eve", Some("0 * * * *"), None, "UTC"),
            "already exists",
        ),
        (
            capture("x", Some("0 25 * * *"), None, "UTC"),
            "cron pattern",
        ),
        (
            capture("x", Some("0 1 * * *"), None, "Mars/Olympus"),
            "time zone",
        ),
        (
            capture("x", None, Some("2026-12-01T00:00"), "UTC"),
            "has passed",
        ),
        (capture("x", None, None, "UTC"), "--cron"),
        (
            capture("bad name", Some("0 1 * * *"), None, "UTC"),
            "schedule name",
        ),
        (
            NewSchedule {
                command: vec!["store".into(), "gc".into()],
                ..capture("x", Some("0 1 * * *"), None, "UTC")
            },
            "a schedule runs",
        ),
    ] {
        let e = add(&mut db, &ctx, &req).unwrap_err().to_string();
        assert!(e.contains(says), "{}: {e}", req.name);
    }
    let audit = db.audit().list(&Default::default()).unwrap();
    assert!(audit
        .iter()
        .any(|a| a.action == "schedule.add" && a.outcome.starts_with("failed")));
}
