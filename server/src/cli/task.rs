//! `marrow task`: create, list, show and cancel capture and restore tasks.

use marrow_protocol::api::{After, TaskKind};
use marrow_protocol::TaskId;
use serde_json::json;

use super::Global;
use crate::clock::{Clock, SystemClock};
use crate::db::{Db, Task, TaskState};
use crate::error::{Error, Result};
use crate::tasks::{self, Actor, Images, NewTask, OsRng};
use image_format::store::{LocalStore, ManifestStore};

#[derive(Debug, clap::Subcommand)]
pub enum TaskCommand {
    /// Capture a host's disk into a new image on its next PXE boot.
    Capture {
        /// The host's MAC (registered now if new) or registered name.
        #[arg(long)]
        host: String,
        /// The image name; the capture makes a new version of it.
        #[arg(long)]
        image: String,
        /// Which disk to capture: serial=S, wwn=W, name=sda or
        /// size=MIN-MAX (comma-separated, all must hold); default: the only
        /// internal disk.
        #[arg(long)]
        disk: Option<String>,
        /// What the machine does when the task ends: reboot or poweroff.
        #[arg(long, default_value = "reboot", value_parser = parse_after)]
        after: After,
        /// Print the one-time token (it is not stored and cannot be shown later).
        #[arg(long)]
        show_token: bool,
        #[arg(long)]
        json: bool,
    },
    /// Restore an image onto a host's disk on its next PXE boot.
    Restore {
        /// The host's MAC (registered now if new) or registered name.
        #[arg(long)]
        host: String,
        /// NAME (the latest version) or NAME@ID.
        #[arg(long)]
        image: String,
        /// Which disk to write: serial=S, wwn=W, name=sda or size=MIN-MAX
        /// (comma-separated, all must hold); default: the only internal disk.
        #[arg(long)]
        disk: Option<String>,
        /// Grow the last partition to the end of a larger disk.
        #[arg(long)]
        grow_last_partition: bool,
        /// After the restore, inject the stored Windows drivers that match
        /// the machine, for this Windows (win10-x64, win11-x64, ...).
        #[arg(long, value_name = "OS")]
        inject_drivers: Option<String>,
        /// What the machine does when the task ends: reboot or poweroff.
        #[arg(long, default_value = "reboot", value_parser = parse_after)]
        after: After,
        /// Print the one-time token (it is not stored and cannot be shown later).
        #[arg(long)]
        show_token: bool,
        #[arg(long)]
        json: bool,
    },
    /// List every task.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one task.
    Show {
        id: TaskId,
        #[arg(long)]
        json: bool,
        /// Follow live progress until the task ends (a bar on a terminal,
        /// state changes only in a pipe); exits non-zero unless it is done.
        #[arg(long)]
        follow: bool,
    },
    /// Cancel a pending or running task.
    Cancel { id: TaskId },
}

fn parse_after(s: &str) -> std::result::Result<After, String> {
    After::parse(s).ok_or_else(|| format!("{s:?}: use reboot or poweroff"))
}

fn task_json(t: &Task) -> serde_json::Value {
    json!({
        "id": t.id,
        "kind": t.kind,
        "host": t.host,
        "image": t.image,
        "disk": t.disk_rule,
        "grow_last_partition": t.grow_last_partition,
        "inject_drivers": t.inject_drivers,
        "after": t.after,
        "manifest": t.manifest,
        "state": t.state,
        "error": t.error,
        "progress": t.progress,
        "report": t.report,
        "created": t.created,
        "updated": t.updated,
        "session": t.session,
    })
}

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn create(global: &Global, db: &mut Db, new: NewTask, show_token: bool, json: bool) -> Result<()> {
    // A restore names an image that must be in the data directory's store.
    let path = global.dirs().store();
    let store = LocalStore::is_store(&path)
        .then(|| LocalStore::open(&path))
        .transpose()?;
    let name = path.display().to_string();
    let images = Images {
        store: store.as_ref().map(|s| s as &dyn ManifestStore),
        name: &name,
    };
    let created = tasks::create(db, &Actor::Cli, &new, images, SystemClock.now(), &mut OsRng)?;
    let (id, token) = (created.id, created.token);
    match (json, show_token) {
        (true, true) => print_json(&json!({ "id": id, "token": token })),
        (true, false) => print_json(&json!({ "id": id })),
        (false, true) => println!("{id}\ntoken {token}"),
        (false, false) => println!("{id}"),
    }
    Ok(())
}

pub fn run(global: &Global, cmd: TaskCommand) -> Result<()> {
    let path = global.dirs().db();
    let mut db = match &cmd {
        TaskCommand::List { .. } | TaskCommand::Show { .. } => Db::open_for_reading(&path)?,
        _ => Db::open(&path)?,
    };
    match cmd {
        TaskCommand::Capture {
            host,
            image,
            disk,
            after,
            show_token,
            json,
        } => {
            let new = NewTask {
                kind: TaskKind::Capture,
                host,
                image,
                disk_rule: disk,
                grow_last_partition: false,
                after,
                inject_drivers: None,
            };
            create(global, &mut db, new, show_token, json)
        }
        TaskCommand::Restore {
            host,
            image,
            disk,
            grow_last_partition,
            inject_drivers,
            after,
            show_token,
            json,
        } => {
            let new = NewTask {
                kind: TaskKind::Restore,
                host,
                image,
                disk_rule: disk,
                grow_last_partition,
                after,
                inject_drivers,
            };
            create(global, &mut db, new, show_token, json)
        }
        TaskCommand::List { json } => {
            let tasks = db.tasks().all()?;
            if json {
                print_json(&tasks.iter().map(task_json).collect());
                return Ok(());
            }
            if tasks.is_empty() {
                println!("no tasks");
                return Ok(());
            }
            println!(
                "{:>5}  {:<8}  {:<17}  {:<10}  IMAGE",
                "ID", "KIND", "HOST", "STATE"
            );
            for t in tasks {
                println!(
                    "{:>5}  {:<8}  {:<17}  {:<10}  {}",
                    t.id,
                    t.kind.as_str(),
                    t.host.to_string(),
                    t.state.as_str(),
                    match t.session {
                        Some(s) => format!("{} (session {s})", t.image),
                        None => t.image.clone(),
                    }
                );
            }
            Ok(())
        }
        TaskCommand::Show { id, json, follow } => {
            if follow {
                return follow_task(&db, id, json);
            }
            let t = db
                .tasks()
                .get(id)?
                .ok_or_else(|| Error::Usage(format!("no task {id}")))?;
            if json {
                print_json(&task_json(&t));
                return Ok(());
            }
            let v = task_json(&t);
            for (key, value) in v.as_object().into_iter().flatten() {
                let shown = match value {
                    serde_json::Value::Null => "-".to_string(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                println!("{key:<20} {shown}");
            }
            Ok(())
        }
        TaskCommand::Cancel { id } => {
            tasks::cancel(&mut db, &Actor::Cli, id, SystemClock.now())?;
            println!("task {id} cancelled");
            Ok(())
        }
    }
}

/// Polls the task until it ends, drawing its progress.
fn follow_task(db: &Db, id: TaskId, json: bool) -> Result<()> {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use std::io::IsTerminal;
    let bar = (!json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>10} [{bar:30}] {bytes}/{total_bytes}  {bytes_per_sec}  eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    });
    let mut last_state = None;
    let mut last_phase = String::new();
    let task =
        loop {
            let t = db
                .tasks()
                .get(id)?
                .ok_or_else(|| Error::Usage(format!("no task {id}")))?;
            if last_state != Some(t.state) {
                let line = format!("task {id}: {}", t.state.as_str());
                match &bar {
                    Some(b) => b.println(line),
                    None if !json => println!("{line}"),
                    None => {}
                }
                last_state = Some(t.state);
            }
            if let Some(p) = t.progress.as_ref().and_then(|p| {
                serde_json::from_value::<marrow_protocol::api::Progress>(p.clone()).ok()
            }) {
                if let Some(b) = &bar {
                    b.set_length(p.total_bytes);
                    b.set_position(p.done_bytes);
                    b.set_message(p.phase.clone());
                } else if !json && p.phase != last_phase {
                    println!("task {id}: {}", p.phase);
                }
                last_phase = p.phase;
            }
            if !matches!(t.state, TaskState::Pending | TaskState::Running) {
                break t;
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if json {
        print_json(&task_json(&task));
    } else if let Some(report) = &task.report {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    }
    match task.state {
        TaskState::Done => Ok(()),
        other => Err(Error::Usage(format!(
            "task {id} ended {}{}",
            other.as_str(),
            task.error.map(|e| format!(": {e}")).unwrap_or_default()
        ))),
    }
}
