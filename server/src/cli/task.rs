//! `marrow task`: create, list, show and cancel capture and restore tasks.

use marrow_protocol::api::After;
use marrow_protocol::TaskId;

use super::script::PostDeployArgs;
use super::Global;
use crate::admin::backend::Backend;
use crate::admin::requests::NewTaskRequest;
use crate::admin::views::{CreatedTask, TaskView};
use crate::error::{Error, Result};

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
        /// Wake the host with Wake-on-LAN now, so it PXE-boots into the task.
        #[arg(long)]
        wake: bool,
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
        #[command(flatten)]
        post: PostDeployArgs,
        /// What the machine does when the task ends: reboot or poweroff.
        #[arg(long, default_value = "reboot", value_parser = parse_after)]
        after: After,
        /// Print the one-time token (it is not stored and cannot be shown later).
        #[arg(long)]
        show_token: bool,
        /// Wake the host with Wake-on-LAN now, so it PXE-boots into the task.
        #[arg(long)]
        wake: bool,
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

impl TaskCommand {
    /// What `task capture|restore` sends, and whether it asked for JSON;
    /// `None` for the other subcommands. A scheduled command is this too.
    pub(super) fn into_request(self) -> Option<(NewTaskRequest, bool)> {
        let (kind, host, image, disk, grow, inject, post, after, show_token, wake, json) =
            match self {
                TaskCommand::Capture {
                    host,
                    image,
                    disk,
                    after,
                    show_token,
                    wake,
                    json,
                } => (
                    "capture",
                    host,
                    image,
                    disk,
                    false,
                    None,
                    PostDeployArgs::default(),
                    after,
                    show_token,
                    wake,
                    json,
                ),
                TaskCommand::Restore {
                    host,
                    image,
                    disk,
                    grow_last_partition,
                    inject_drivers,
                    post,
                    after,
                    show_token,
                    wake,
                    json,
                } => (
                    "restore",
                    host,
                    image,
                    disk,
                    grow_last_partition,
                    inject_drivers,
                    post,
                    after,
                    show_token,
                    wake,
                    json,
                ),
                _ => return None,
            };
        let req = NewTaskRequest {
            kind: kind.into(),
            host,
            image,
            disk,
            grow_last_partition: grow,
            inject_drivers: inject,
            after: Some(after.as_str().into()),
            show_token,
            wake,
            hostname: post.hostname,
            post_script: post.post_script,
        };
        Some((req, json))
    }
}

fn created(c: CreatedTask, json: bool) -> Result<()> {
    match (json, &c.token) {
        (true, _) => return super::print_json(&c),
        (false, Some(token)) => println!("{}\ntoken {token}", c.id),
        (false, None) => println!("{}", c.id),
    }
    // Scripts read the id from the first line; the wake note follows.
    if let Some(w) = &c.woke {
        super::host::print_woke(w);
    }
    Ok(())
}

/// `task show`: one `key value` line per field, keys sorted.
fn show_text(t: &TaskView) {
    let v = serde_json::to_value(t).unwrap_or_default();
    for (key, value) in v.as_object().into_iter().flatten() {
        let shown = match value {
            serde_json::Value::Null => "-".to_string(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        println!("{key:<20} {shown}");
    }
}

pub fn run(global: &Global, cmd: TaskCommand) -> Result<()> {
    let mut backend = global.backend()?;
    match cmd {
        c @ (TaskCommand::Capture { .. } | TaskCommand::Restore { .. }) => {
            let (req, json) = c.into_request().expect("capture and restore are requests");
            created(backend.create_task(&req)?, json)
        }
        TaskCommand::List { json } => {
            let tasks = backend.tasks()?;
            if json {
                return super::print_json(&tasks);
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
                    t.kind,
                    t.host,
                    t.state,
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
                return follow_task(backend.as_mut(), id.0, json);
            }
            let t = backend.task(id.0)?;
            match json {
                true => super::print_json(&t),
                false => {
                    show_text(&t);
                    Ok(())
                }
            }
        }
        TaskCommand::Cancel { id } => {
            backend.cancel_task(id.0)?;
            println!("task {id} cancelled");
            Ok(())
        }
    }
}

/// Follows the task until it ends, drawing its progress: a bar on a
/// terminal, state and phase changes in a pipe.
fn follow_task(backend: &mut dyn Backend, id: i64, json: bool) -> Result<()> {
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
    let mut last_state: Option<String> = None;
    let mut last_phase = String::new();
    let task =
        backend.follow_task(id, &mut |t| {
            if last_state.as_deref() != Some(t.state.as_str()) {
                let line = format!("task {id}: {}", t.state);
                match &bar {
                    Some(b) => b.println(line),
                    None if !json => println!("{line}"),
                    None => {}
                }
                last_state = Some(t.state.clone());
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
        })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if json {
        super::print_json(&task)?;
    } else if let Some(report) = &task.report {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    }
    match task.state.as_str() {
        "done" => Ok(()),
        other => Err(Error::Usage(format!(
            "task {id} ended {other}{}",
            task.error.map(|e| format!(": {e}")).unwrap_or_default()
        ))),
    }
}
