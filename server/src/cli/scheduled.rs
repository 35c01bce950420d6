//! A schedule's command, parsed by the same parser as the command line:
//! what `marrow schedule add NAME … -- COMMAND` stores is exactly what
//! the user could have typed.

use clap::Parser;

use super::session::SessionCommand;
use super::task::TaskCommand;
use super::{Cli, Command};
use crate::error::{Error, Result};
use crate::schedules::Action;

const WHAT: &str = "a schedule runs task capture|restore|cancel or session create|start|cancel";

pub(crate) fn scheduled_action(argv: &[String]) -> Result<Action> {
    let shown = argv.join(" ");
    if argv.is_empty() {
        return Err(Error::Usage(format!("give the command after `--`: {WHAT}")));
    }
    if let Some(flag) = argv.iter().find(|a| {
        ["--data-dir", "--server", "--token"]
            .iter()
            .any(|f| a.starts_with(f))
    }) {
        return Err(Error::Usage(format!(
            "scheduled command `{shown}`: {flag} is not for a scheduled command; it runs on this server"
        )));
    }
    let cli =
        Cli::try_parse_from(std::iter::once("marrow".to_string()).chain(argv.iter().cloned()))
            .map_err(|e| {
                // clap's message up to its usage block, on one line.
                let text = e.to_string();
                let said: Vec<&str> = text
                    .lines()
                    .take_while(|l| !l.starts_with("Usage:"))
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect();
                let said = said.join(" ");
                Error::Usage(format!(
                    "scheduled command `{shown}`: {}",
                    said.trim_start_matches("error: ")
                ))
            })?;
    let refused = || Error::Usage(format!("scheduled command `{shown}`: {WHAT}"));
    Ok(match cli.command {
        Command::Task(c @ (TaskCommand::Capture { .. } | TaskCommand::Restore { .. })) => {
            let (mut req, _) = c.into_request().expect("capture and restore are requests");
            // No one reads a scheduled run's output: its token stays unshown.
            req.show_token = false;
            Action::Task(req)
        }
        Command::Task(TaskCommand::Cancel { id }) => Action::TaskCancel(id.0),
        Command::Session(c @ SessionCommand::Create { .. }) => {
            Action::Session(c.new_session().expect("create is a new session")?)
        }
        Command::Session(SessionCommand::Start { id }) => Action::SessionStart(id),
        Command::Session(SessionCommand::Cancel { id }) => Action::SessionCancel(id),
        _ => return Err(refused()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn task_and_session_commands_parse_and_others_are_refused_by_name() {
        match scheduled_action(&argv("task restore --host lab-07 --image win11 --wake")).unwrap() {
            Action::Task(r) => {
                assert_eq!(
                    (r.kind.as_str(), r.host.as_str(), r.wake),
                    ("restore", "lab-07", true)
                )
            }
            other => panic!("{other:?}"),
        }
        match scheduled_action(&argv(
            "session create --group room-b --image win11-lab --wake --after poweroff",
        ))
        .unwrap()
        {
            Action::Session(s) => assert_eq!(s.group.as_deref(), Some("room-b")),
            other => panic!("{other:?}"),
        }
        for (bad, says) in [
            ("store gc", "a schedule runs"),
            ("task restore --host lab-07", "--image"),
            (
                "task capture --host a --image b --data-dir /x",
                "--data-dir",
            ),
            ("", "give the command"),
            (
                "session create --image x --group g --min-receivers 0",
                "at least 1",
            ),
        ] {
            let e = scheduled_action(&argv(bad)).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
