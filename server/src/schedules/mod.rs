//! Schedules: run a task or session command at cron times in a time zone,
//! or once. Each due time is run or recorded as missed, with the task or
//! session it made, in the schedule's history. The serve loop calls
//! [`tick`] with the time; everything here runs on the caller's clock.

mod action;
pub mod plan;

pub use action::{Action, Made};
pub use plan::{Decision, When};

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::admin::{audited, check_name, Ctx};
use crate::db::{Db, ScheduleRow, ScheduleRun};
use crate::error::{Error, Result};
use crate::serve::net::Interface;
use crate::store::StoreSpec;
use crate::tasks::{Actor, Rng};

/// The grace period when none is given: a run missed by less than this
/// (the server was down) still runs when the server comes back.
pub const DEFAULT_GRACE: i64 = 3600;
/// Runs kept in `schedule show`.
const HISTORY: usize = 50;

/// `marrow schedule add`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewSchedule {
    pub name: String,
    /// A cron pattern: `0 22 * * 1-5`.
    #[serde(default)]
    pub cron: Option<String>,
    /// Once, at `2026-12-24T18:00` (in `tz`) or `…Z`.
    #[serde(default)]
    pub at: Option<String>,
    /// An IANA zone; default: the server's.
    #[serde(default)]
    pub tz: Option<String>,
    /// How late a missed run may still run: `1h`, `30m`.
    #[serde(default)]
    pub grace: Option<String>,
    /// The command, as typed after `--`: `task restore --host lab-07 --image win11`.
    pub command: Vec<String>,
}

/// A schedule, its next due times, and its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    pub name: String,
    /// `cron 0 22 * * 1-5 (Europe/Paris)` or `at 2026-12-24 17:00:00 UTC`.
    pub when: String,
    pub cron: Option<String>,
    pub tz: Option<String>,
    /// A one-shot's time (Unix seconds).
    pub at: Option<i64>,
    pub command: Vec<String>,
    pub grace_secs: i64,
    pub paused: bool,
    /// A one-shot that has fired.
    pub done: bool,
    /// The next due times (Unix seconds), up to five.
    pub next: Vec<i64>,
    /// The latest runs, oldest first (the last one in listings).
    pub history: Vec<ScheduleRun>,
}

fn when_of(row: &ScheduleRow) -> Result<When> {
    serde_json::from_str(&row.spec).map_err(|e| {
        Error::Usage(format!(
            "schedule {}: stored time unreadable: {e}",
            row.name
        ))
    })
}

fn argv_of(row: &ScheduleRow) -> Vec<String> {
    serde_json::from_str(&row.argv).unwrap_or_default()
}

fn view(db: &Db, row: &ScheduleRow, now: i64, history: usize) -> Result<ScheduleView> {
    let when = when_of(row)?;
    let next = match row.paused || row.done {
        true => Vec::new(),
        false => when.next(now, 5)?,
    };
    let (cron, tz, at) = match &when {
        When::Cron { pattern, tz } => (Some(pattern.clone()), tz.clone(), None),
        When::At(t) => (None, None, Some(*t)),
    };
    Ok(ScheduleView {
        name: row.name.clone(),
        when: when.describe(),
        cron,
        tz,
        at,
        command: argv_of(row),
        grace_secs: row.grace_secs,
        paused: row.paused,
        done: row.done,
        next,
        history: db.schedules().runs(&row.name, history)?,
    })
}

fn get(db: &Db, name: &str) -> Result<ScheduleRow> {
    db.schedules()
        .get(name)?
        .ok_or_else(|| Error::NotFound(format!("no schedule {name:?}")))
}

/// Checks the time and the command, and stores the schedule. Due times
/// count from now.
pub fn add(db: &mut Db, ctx: &Ctx, req: &NewSchedule) -> Result<ScheduleView> {
    audited(db, ctx, "schedule.add", Some(&req.name), json!(req), |db| {
        check_name("schedule name", &req.name)?;
        let when = match (&req.cron, &req.at) {
            (Some(p), None) => When::Cron {
                pattern: p.clone(),
                tz: req.tz.clone(),
            },
            (None, Some(at)) => When::At(plan::at_in_zone(at, req.tz.as_deref())?),
            _ => {
                return Err(Error::Usage(
                    "give --cron PATTERN or --at TIME, not both".into(),
                ))
            }
        };
        when.check()?;
        if let When::At(t) = when {
            if t <= ctx.now {
                return Err(Error::Usage(format!(
                    "--at {}: that time has passed",
                    req.at.as_deref().unwrap_or("")
                )));
            }
        }
        Action::parse(&req.command)?;
        let grace_secs = match &req.grace {
            None => DEFAULT_GRACE,
            Some(g) => crate::when::parse_duration(g).map_err(Error::Usage)?,
        };
        let row = ScheduleRow {
            name: req.name.clone(),
            spec: serde_json::to_string(&when).expect("a When serialises"),
            argv: serde_json::to_string(&req.command).expect("strings serialise"),
            grace_secs,
            paused: false,
            done: false,
            created: ctx.now,
            checked_until: ctx.now,
        };
        db.schedules().insert(&row)?;
        view(db, &row, ctx.now, HISTORY)
    })
}

pub fn list(db: &Db, now: i64) -> Result<Vec<ScheduleView>> {
    db.schedules()
        .all()?
        .iter()
        .map(|r| view(db, r, now, 1))
        .collect()
}

pub fn show(db: &Db, name: &str, now: i64) -> Result<ScheduleView> {
    view(db, &get(db, name)?, now, HISTORY)
}

pub fn remove(db: &mut Db, ctx: &Ctx, name: &str) -> Result<()> {
    audited(db, ctx, "schedule.remove", Some(name), json!({}), |db| {
        let row = get(db, name)?;
        db.schedules().remove(&row.name)?;
        db.schedules().remove_runs(&row.name)
    })
}

/// Pauses (`true`) or resumes a schedule. What came due while it was
/// paused is not run on resume.
pub fn set_paused(db: &mut Db, ctx: &Ctx, name: &str, paused: bool) -> Result<ScheduleView> {
    let action = if paused {
        "schedule.pause"
    } else {
        "schedule.resume"
    };
    audited(db, ctx, action, Some(name), json!({}), |db| {
        let row = get(db, name)?;
        db.schedules().set_paused(&row.name, paused, ctx.now)?;
        show(db, &row.name, ctx.now)
    })
}

/// Handles every due time up to `now`: the latest within the grace period
/// runs, as the schedule's actor; the others are recorded as missed.
/// Returns what was recorded.
pub fn tick(
    db: &mut Db,
    store: &StoreSpec,
    now: i64,
    iface: Option<&Interface>,
    rng: &mut dyn Rng,
) -> Result<Vec<(String, ScheduleRun)>> {
    let mut out = Vec::new();
    for row in db.schedules().all()? {
        if row.paused || row.done || row.checked_until >= now {
            continue;
        }
        let when = when_of(&row)?;
        let dues = when.due_between(row.checked_until, now)?;
        let decisions = plan::decide(&dues, now, row.grace_secs);
        let ran = decisions
            .iter()
            .find(|(_, d)| *d == Decision::Run)
            .map(|(t, _)| *t);
        for (due, decision) in decisions {
            let run = match decision {
                Decision::Missed => ScheduleRun {
                    due,
                    at: now,
                    outcome: match ran {
                        Some(later) => format!(
                            "missed: the run due {} UTC ran instead",
                            crate::when::format_time(later)
                        ),
                        None => format!(
                            "missed: more than {} s late (the server was not running)",
                            row.grace_secs
                        ),
                    },
                    task: None,
                    session: None,
                },
                Decision::Run => {
                    let ctx = Ctx {
                        actor: Actor::Scheduler(row.name.clone()),
                        address: None,
                        now,
                    };
                    let result = Action::parse(&argv_of(&row))
                        .and_then(|a| a.run(db, store, &ctx, iface, rng));
                    let (outcome, made) = match result {
                        Ok(m) => ("ok".to_string(), m),
                        Err(e) => (format!("failed: {e}"), Made::default()),
                    };
                    ScheduleRun {
                        due,
                        at: now,
                        outcome,
                        task: made.task,
                        session: made.session,
                    }
                }
            };
            db.schedules().add_run(&row.name, &run)?;
            out.push((row.name.clone(), run));
        }
        let done = matches!(when, When::At(t) if t <= now);
        db.schedules().checked(&row.name, now, done)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
