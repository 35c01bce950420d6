//! What a schedule does: a task or session command, stored as its
//! argument list and parsed by the CLI's own parser when the schedule is
//! added (so a bad command is refused then) and again when it fires.

use crate::admin::requests::{NewSessionRequest, NewTaskRequest};
use crate::admin::{self, Ctx};
use crate::db::Db;
use crate::error::Result;
use crate::serve::net::Interface;
use crate::store::StoreSpec;
use crate::tasks::Rng;

#[derive(Debug, Clone)]
pub enum Action {
    /// `task capture|restore …`
    Task(NewTaskRequest),
    /// `task cancel ID`
    TaskCancel(i64),
    /// `session create …`
    Session(NewSessionRequest),
    /// `session start ID`
    SessionStart(i64),
    /// `session cancel ID`
    SessionCancel(i64),
}

/// What a run made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Made {
    pub task: Option<i64>,
    pub session: Option<i64>,
}

impl Action {
    pub fn parse(argv: &[String]) -> Result<Action> {
        crate::cli::scheduled_action(argv)
    }

    /// Runs the action as `ctx`'s actor; `iface` is where `--wake` sends.
    pub fn run(
        &self,
        db: &mut Db,
        store: &StoreSpec,
        ctx: &Ctx,
        iface: Option<&Interface>,
        rng: &mut dyn Rng,
    ) -> Result<Made> {
        match self {
            Action::Task(req) => {
                let c = admin::create_task_and_wake(db, store, ctx, req, iface, rng)?;
                Ok(Made {
                    task: Some(c.id),
                    session: None,
                })
            }
            Action::TaskCancel(id) => {
                admin::cancel_task(db, ctx, *id)?;
                Ok(Made {
                    task: Some(*id),
                    session: None,
                })
            }
            Action::Session(req) => {
                let c = admin::create_session(db, store, ctx, req, rng)?;
                Ok(Made {
                    task: None,
                    session: Some(c.id),
                })
            }
            Action::SessionStart(id) => {
                admin::start_session(db, ctx, *id)?;
                Ok(Made {
                    task: None,
                    session: Some(*id),
                })
            }
            Action::SessionCancel(id) => {
                admin::cancel_session(db, ctx, *id)?;
                Ok(Made {
                    task: None,
                    session: Some(*id),
                })
            }
        }
    }
}
