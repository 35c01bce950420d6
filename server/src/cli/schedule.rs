//! `marrow schedule`: run a task or session command at cron times, or
//! once; list, show (with the history), pause, resume, remove.

use super::Global;
use crate::error::Result;
use crate::schedules::{NewSchedule, ScheduleView};
use crate::when::format_time;

#[derive(Debug, clap::Subcommand)]
pub enum ScheduleCommand {
    /// Add a schedule: `schedule add NAME --cron "0 22 * * 1-5" --tz
    /// Europe/Paris -- session create --group room-b --image win11 --wake`.
    Add {
        name: String,
        /// A cron pattern (minute hour day month weekday).
        #[arg(long, conflicts_with = "at", required_unless_present = "at")]
        cron: Option<String>,
        /// Once, at this time: 2026-12-24T18:00 (in --tz) or …Z (UTC).
        #[arg(long)]
        at: Option<String>,
        /// The IANA time zone (Europe/Paris); default: the server's.
        #[arg(long)]
        tz: Option<String>,
        /// How late a run missed while the server was down may still run.
        #[arg(long, default_value = "1h")]
        grace: String,
        #[arg(long)]
        json: bool,
        /// The command to run, after `--`: task capture|restore|cancel or
        /// session create|start|cancel with their options.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// List schedules with their next run and last outcome.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a schedule, its next runs and its history.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a schedule and its history.
    Remove {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Stop a schedule from running until resumed.
    Pause {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Let a paused schedule run again (what came due meanwhile is skipped).
    Resume {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

fn when_next(v: &ScheduleView) -> String {
    match (v.done, v.paused, v.next.first()) {
        (true, _, _) => "done".into(),
        (_, true, _) => "paused".into(),
        (_, _, Some(t)) => format_time(*t),
        _ => "-".into(),
    }
}

fn show_text(v: &ScheduleView) {
    println!("{:<12} {}", "name", v.name);
    println!("{:<12} {}", "when", v.when);
    println!("{:<12} {}", "command", v.command.join(" "));
    println!("{:<12} {} s", "grace", v.grace_secs);
    println!(
        "{:<12} {}",
        "state",
        match (v.done, v.paused) {
            (true, _) => "done",
            (_, true) => "paused",
            _ => "active",
        }
    );
    for t in &v.next {
        println!("{:<12} {} UTC", "next", format_time(*t));
    }
    if v.history.is_empty() {
        println!("{:<12} -", "history");
    }
    for r in &v.history {
        let made = match (r.task, r.session) {
            (Some(t), _) => format!(" task {t}"),
            (_, Some(s)) => format!(" session {s}"),
            _ => String::new(),
        };
        println!(
            "{:<12} {} UTC  {}{made}",
            "run",
            format_time(r.due),
            r.outcome
        );
    }
}

pub fn run(global: &Global, cmd: ScheduleCommand) -> Result<()> {
    let mut backend = global.backend()?;
    match cmd {
        ScheduleCommand::Add {
            name,
            cron,
            at,
            tz,
            grace,
            json,
            command,
        } => {
            let v = backend.add_schedule(&NewSchedule {
                name,
                cron,
                at,
                tz,
                grace: Some(grace),
                command,
            })?;
            match json {
                true => super::print_json(&v),
                false => {
                    println!("schedule {} added; next run {} UTC", v.name, when_next(&v));
                    Ok(())
                }
            }
        }
        ScheduleCommand::List { json } => {
            let all = backend.schedules()?;
            if json {
                return super::print_json(&all);
            }
            if all.is_empty() {
                println!("no schedules");
                return Ok(());
            }
            println!("{:<16}  {:<19}  {:<40}  LAST", "NAME", "NEXT (UTC)", "WHEN");
            for v in all {
                let last = v
                    .history
                    .last()
                    .map(|r| format!("{} {}", format_time(r.due), r.outcome))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<16}  {:<19}  {:<40}  {last}",
                    v.name,
                    when_next(&v),
                    v.when
                );
            }
            Ok(())
        }
        ScheduleCommand::Show { name, json } => {
            let v = backend.schedule(&name)?;
            match json {
                true => super::print_json(&v),
                false => {
                    show_text(&v);
                    Ok(())
                }
            }
        }
        ScheduleCommand::Remove { name, json } => {
            backend.remove_schedule(&name)?;
            match json {
                true => super::print_json(&serde_json::json!({ "removed": name })),
                false => {
                    println!("schedule {name} removed");
                    Ok(())
                }
            }
        }
        ScheduleCommand::Pause { name, json } => {
            let v = backend.pause_schedule(&name, true)?;
            match json {
                true => super::print_json(&v),
                false => {
                    println!("schedule {name} paused");
                    Ok(())
                }
            }
        }
        ScheduleCommand::Resume { name, json } => {
            let v = backend.pause_schedule(&name, false)?;
            match json {
                true => super::print_json(&v),
                false => {
                    println!("schedule {name} resumed; next run {} UTC", when_next(&v));
                    Ok(())
                }
            }
        }
    }
}
