//! `marrow session`: restore a room from one multicast session, here or
//! through a server's admin API.

use std::io::IsTerminal;

use marrow_protocol::api::session::SessionState;
use marrow_protocol::api::After;

use super::script::PostDeployArgs;
use super::Global;
use crate::admin::backend::Backend;
use crate::admin::requests::{AddMembers, NewSessionRequest};
use crate::admin::views::MemberView;
use crate::error::{Error, Result};
use crate::sessions::view::SessionView;
use crate::when::{parse_at, parse_duration, parse_rate};

#[derive(Debug, clap::Subcommand)]
pub enum SessionCommand {
    /// Make a session that restores an image to a group of hosts at once.
    Create {
        /// NAME (the latest version, fixed now) or NAME@ID.
        #[arg(long)]
        image: String,
        /// Every host of this group (room).
        #[arg(long, value_name = "ROOM", required_unless_present = "host")]
        group: Option<String>,
        /// A member host by MAC or name; repeat it, or give several.
        #[arg(long, value_name = "MAC|NAME", num_args = 1..)]
        host: Vec<String>,
        /// Start once this many receivers have joined.
        #[arg(long, value_name = "N")]
        min_receivers: Option<u32>,
        /// Start this long after the first receiver joined (90s, 10m, 2h).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        max_wait: Option<i64>,
        /// Start at this time: 2026-12-02T22:00 (local) or ...Z (UTC).
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// The most the sender sends, in bits per second (800M, 1G).
        #[arg(long, value_name = "RATE", default_value = "800M", value_parser = parse_rate)]
        rate_cap: u64,
        /// Which disk each member writes: serial=S, wwn=W, name=sda or
        /// size=MIN-MAX; default: the only internal disk.
        #[arg(long)]
        disk: Option<String>,
        /// Grow the last partition to the end of a larger disk.
        #[arg(long)]
        grow_last_partition: bool,
        /// What each machine does when its restore ends: reboot or poweroff.
        #[arg(long, default_value = "reboot", value_parser = parse_after)]
        after: After,
        /// Send a Wake-on-LAN packet to every member when the session is due.
        #[arg(long)]
        wake: bool,
        #[command(flatten)]
        post: PostDeployArgs,
        /// Also print `MAC TOKEN` for each member's task.
        #[arg(long)]
        show_tokens: bool,
        #[arg(long)]
        json: bool,
    },
    /// Add member hosts to a waiting or running session.
    Add {
        id: i64,
        #[arg(long, value_name = "MAC|NAME", num_args = 1.., required = true)]
        host: Vec<String>,
        /// Also print `MAC TOKEN` for each new member's task.
        #[arg(long)]
        show_tokens: bool,
    },
    /// Start a waiting session now.
    Start { id: i64 },
    /// List sessions.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a session and each receiver's state, progress, rate, loss and
    /// unicast bytes.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
        /// Follow until the session ends; exits non-zero unless it is done.
        #[arg(long)]
        follow: bool,
    },
    /// Cancel a session and its members' tasks.
    Cancel { id: i64 },
}

impl SessionCommand {
    /// The request of `session create` (a scheduled command's too);
    /// `None` for the other subcommands. `--at` is read in this machine's
    /// time zone here, so the server gets a moment, not a wall-clock time.
    pub(super) fn new_session(&self) -> Option<Result<NewSessionRequest>> {
        let SessionCommand::Create {
            image,
            group,
            host,
            min_receivers,
            max_wait,
            at,
            rate_cap,
            disk,
            grow_last_partition,
            after,
            wake,
            post,
            show_tokens,
            ..
        } = self
        else {
            return None;
        };
        let start_at = match at.as_deref().map(parse_at).transpose() {
            Ok(t) => t,
            Err(e) => return Some(Err(e)),
        };
        let req = NewSessionRequest {
            image: image.clone(),
            group: group.clone(),
            hosts: host.clone(),
            min_receivers: *min_receivers,
            max_wait_secs: *max_wait,
            start_at,
            rate_cap: Some(*rate_cap),
            disk: disk.clone(),
            grow_last_partition: *grow_last_partition,
            after: Some(after.as_str().to_string()),
            wake: *wake,
            hostname: post.hostname.clone(),
            post_script: post.post_script.clone(),
            show_tokens: *show_tokens,
        };
        // Checked here too, so a bad schedule is refused when it is added.
        Some(req.to_new_session().map(|_| req))
    }
}

fn parse_after(s: &str) -> std::result::Result<After, String> {
    After::parse(s).ok_or_else(|| format!("{s:?}: use reboot or poweroff"))
}

fn print_members(members: &[MemberView]) {
    for m in members {
        match &m.token {
            Some(token) => println!("{} {token}", m.host),
            None => println!("{} task {}", m.host, m.task),
        }
    }
}

pub fn run(global: &Global, cmd: SessionCommand) -> Result<()> {
    let mut backend = global.backend()?;
    match cmd {
        ref c @ SessionCommand::Create {
            min_receivers,
            json,
            ..
        } => {
            let req = c.new_session().expect("create is a new session")?;
            let c = backend.create_session(&req)?;
            if let Some(n) = min_receivers {
                if n as usize > c.members.len() {
                    eprintln!(
                        "marrow: session {}: --min-receivers {n} but {} members; add hosts with `marrow session add {} --host ...`",
                        c.id,
                        c.members.len(),
                        c.id
                    );
                }
            }
            if json {
                return super::print_json(&c);
            }
            println!("{}", c.id);
            if req.show_tokens {
                print_members(&c.members);
            }
            Ok(())
        }
        SessionCommand::Add {
            id,
            host,
            show_tokens,
        } => {
            let added = backend.add_members(
                id,
                &AddMembers {
                    hosts: host,
                    show_tokens,
                },
            )?;
            print_members(&added);
            Ok(())
        }
        SessionCommand::Start { id } => {
            backend.start_session(id)?;
            println!("session {id} starts within a second, once `marrow serve` sees it");
            Ok(())
        }
        SessionCommand::List { json } => {
            let all = backend.sessions()?;
            if json {
                return super::print_json(&all);
            }
            if all.is_empty() {
                println!("no sessions");
                return Ok(());
            }
            println!(
                "{:>4}  {:<10}  {:>9}  {:>10}  {:>6}  IMAGE",
                "ID", "STATE", "DONE", "SENT", "CYCLES"
            );
            for s in &all {
                println!(
                    "{:>4}  {:<10}  {:>9}  {:>10}  {:>6}  {}",
                    s.id,
                    s.state.as_str(),
                    format!("{}/{}", s.done_count(), s.receivers.len()),
                    mib(s.sent_bytes),
                    s.cycles,
                    s.image
                );
            }
            Ok(())
        }
        SessionCommand::Show { id, json, follow } => {
            if follow {
                return follow_session(backend.as_mut(), id, json);
            }
            let v = backend.session(id)?;
            match json {
                true => super::print_json(&v),
                false => {
                    print!("{}", render(&v));
                    Ok(())
                }
            }
        }
        SessionCommand::Cancel { id } => {
            backend.cancel_session(id)?;
            println!("session {id} cancelled");
            Ok(())
        }
    }
}

fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
}

/// `session show` as text: the session, then a line per receiver.
fn render(v: &SessionView) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "session {}  {}  image {}",
        v.id,
        v.state.as_str(),
        v.image
    );
    if let Some(c) = &v.channel {
        let _ = writeln!(s, "group    {c}");
    }
    if let Some(r) = &v.start_reason {
        let _ = writeln!(s, "started  {r}");
    }
    if let Some(e) = &v.error {
        let _ = writeln!(s, "error    {e}");
    }
    let _ = writeln!(
        s,
        "sent     {} in {} cycles ({} repair symbols)",
        mib(v.sent_bytes),
        v.cycles,
        v.repair_symbols
    );
    let _ = writeln!(
        s,
        "{:<17}  {:<12}  {:<10}  {:>5}  {:>10}  {:>6}  {:>10}  {:>10}  REASON",
        "HOST", "NAME", "STATE", "DONE", "RATE", "LOSS", "MULTICAST", "UNICAST"
    );
    for r in &v.receivers {
        let _ = writeln!(
            s,
            "{:<17}  {:<12}  {:<10}  {:>4.0}%  {:>10}  {:>6}  {:>10}  {:>10}  {}",
            r.host,
            r.name.as_deref().unwrap_or("-"),
            r.state,
            r.progress * 100.0,
            r.rate
                .map(|b| format!("{:.1} MiB/s", b as f64 / (1024.0 * 1024.0)))
                .unwrap_or_else(|| "-".into()),
            r.loss
                .map(|l| format!("{:.1}%", l * 100.0))
                .unwrap_or_else(|| "-".into()),
            mib(r.multicast_bytes),
            mib(r.unicast_bytes),
            r.reason.as_deref().unwrap_or("")
        );
    }
    s
}

/// Redraws the session every second on a terminal; in a pipe prints a
/// line when a receiver's state changes. Ends with the session.
fn follow_session(backend: &mut dyn Backend, id: i64, json: bool) -> Result<()> {
    let terminal = !json && std::io::stdout().is_terminal();
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut last_state = None;
    let v = backend.follow_session(id, &mut |v| {
        if terminal {
            print!("\x1b[H\x1b[2J{}", render(v));
        } else if !json {
            if last_state != Some(v.state) {
                println!("session {id}: {}", v.state.as_str());
                last_state = Some(v.state);
            }
            for r in &v.receivers {
                let key = (r.host.clone(), r.state.clone());
                if !seen.iter().any(|(h, st)| h == &key.0 && st == &key.1) {
                    seen.retain(|(h, _)| h != &key.0);
                    println!("session {id}: {} {}", r.host, r.state);
                    seen.push(key);
                }
            }
        }
    })?;
    if json {
        super::print_json(&v)?;
    } else if !terminal {
        print!("{}", render(&v));
    }
    match v.state {
        SessionState::Done => Ok(()),
        other => Err(Error::Usage(format!(
            "session {id} ended {}{}",
            other.as_str(),
            v.error.map(|e| format!(": {e}")).unwrap_or_default()
        ))),
    }
}
