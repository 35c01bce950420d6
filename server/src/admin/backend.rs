//! Where CLI commands go: the local data directory, or a server's admin
//! API (`marrow --server URL`). Both answer with the same views, so a
//! command prints the same either way.

use crate::db::{AuditEntry, AuditFilter, Db};
use crate::error::Result;
use crate::paths::DataDir;
use crate::tasks::OsRng;

use super::requests::{AddHost, AddMembers, NewSessionRequest, NewTaskRequest, WakeRequest};
use super::views::{
    CreatedSession, CreatedTask, HostView, ImageInspect, ImageRow, MemberView, TaskView, WakeReport,
};
use super::Ctx;
use crate::schedules::{self, NewSchedule, ScheduleView};
use crate::serve::net::{self, Interface};
use crate::sessions::view::SessionView;

/// The operations the CLI can run here or remotely.
pub trait Backend {
    fn hosts(&mut self) -> Result<Vec<HostView>>;
    fn add_host(&mut self, req: &AddHost) -> Result<HostView>;
    fn tasks(&mut self) -> Result<Vec<TaskView>>;
    fn task(&mut self, id: i64) -> Result<TaskView>;
    /// Calls `seen` with the task each time it changes, until it ends;
    /// returns the last view.
    fn follow_task(&mut self, id: i64, seen: &mut dyn FnMut(&TaskView)) -> Result<TaskView>;
    fn create_task(&mut self, req: &NewTaskRequest) -> Result<CreatedTask>;
    fn cancel_task(&mut self, id: i64) -> Result<TaskView>;
    fn images(&mut self) -> Result<Vec<ImageRow>>;
    fn inspect_image(&mut self, image: &str) -> Result<ImageInspect>;
    fn delete_image(&mut self, image: &str) -> Result<Vec<String>>;
    fn audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;
    fn wake(&mut self, req: &WakeRequest) -> Result<WakeReport>;
    fn schedules(&mut self) -> Result<Vec<ScheduleView>>;
    fn schedule(&mut self, name: &str) -> Result<ScheduleView>;
    fn add_schedule(&mut self, req: &NewSchedule) -> Result<ScheduleView>;
    fn remove_schedule(&mut self, name: &str) -> Result<()>;
    fn pause_schedule(&mut self, name: &str, paused: bool) -> Result<ScheduleView>;
    fn sessions(&mut self) -> Result<Vec<SessionView>>;
    fn session(&mut self, id: i64) -> Result<SessionView>;
    /// Calls `seen` with the session each time it changes, until it ends;
    /// returns the last view.
    fn follow_session(
        &mut self,
        id: i64,
        seen: &mut dyn FnMut(&SessionView),
    ) -> Result<SessionView>;
    fn create_session(&mut self, req: &NewSessionRequest) -> Result<CreatedSession>;
    fn add_members(&mut self, id: i64, req: &AddMembers) -> Result<Vec<MemberView>>;
    fn start_session(&mut self, id: i64) -> Result<SessionView>;
    fn cancel_session(&mut self, id: i64) -> Result<SessionView>;
}

/// The data directory, opened per command, as the local user.
pub struct Local {
    pub dirs: DataDir,
    /// The data directory's chunk store.
    pub store: crate::store::StoreSpec,
    /// Where Wake-on-LAN goes; default: the interface `marrow serve` last
    /// woke hosts on, else the only one with IPv4.
    pub interface: Option<String>,
}

impl Local {
    fn read(&self) -> Result<Db> {
        Db::open_for_reading(&self.dirs.db())
    }

    fn write(&self) -> Result<Db> {
        Db::open(&self.dirs.db())
    }

    fn wake_iface(&self) -> Result<Interface> {
        let named = match &self.interface {
            Some(i) => Some(i.clone()),
            None => std::fs::read_to_string(self.dirs.served_interface())
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
        };
        let chosen = net::choose(
            &named.into_iter().collect::<Vec<_>>(),
            &net::ipv4_interfaces()?,
        )?;
        chosen
            .into_iter()
            .next()
            .ok_or_else(|| crate::Error::Usage("no interface to send Wake-on-LAN on".into()))
    }

    fn ctx(&self) -> Ctx {
        use crate::clock::{Clock, SystemClock};
        Ctx::local(SystemClock.now())
    }
}

impl Backend for Local {
    fn hosts(&mut self) -> Result<Vec<HostView>> {
        super::list_hosts(&self.read()?)
    }

    fn add_host(&mut self, req: &AddHost) -> Result<HostView> {
        super::add_host(&mut self.write()?, &self.ctx(), req)
    }

    fn tasks(&mut self) -> Result<Vec<TaskView>> {
        super::list_tasks(&self.read()?)
    }

    fn task(&mut self, id: i64) -> Result<TaskView> {
        super::get_task(&self.read()?, id)
    }

    fn follow_task(&mut self, id: i64, seen: &mut dyn FnMut(&TaskView)) -> Result<TaskView> {
        // At the server's shell the database is here: look at it.
        let mut last: Option<TaskView> = None;
        loop {
            let t = self.task(id)?;
            if last.as_ref() != Some(&t) {
                seen(&t);
            }
            if !matches!(t.state.as_str(), "pending" | "running") {
                return Ok(t);
            }
            last = Some(t);
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }

    fn create_task(&mut self, req: &NewTaskRequest) -> Result<CreatedTask> {
        let ctx = self.ctx();
        let iface = match req.wake {
            true => Some(self.wake_iface()?),
            false => None,
        };
        super::create_task_and_wake(
            &mut self.write()?,
            &self.store,
            &ctx,
            req,
            iface.as_ref(),
            &mut OsRng,
        )
    }

    fn cancel_task(&mut self, id: i64) -> Result<TaskView> {
        super::cancel_task(&mut self.write()?, &self.ctx(), id)
    }

    fn images(&mut self) -> Result<Vec<ImageRow>> {
        super::list_images(&self.store)
    }

    fn inspect_image(&mut self, image: &str) -> Result<ImageInspect> {
        super::inspect_image(&self.store, image)
    }

    fn delete_image(&mut self, image: &str) -> Result<Vec<String>> {
        let ctx = self.ctx();
        super::delete_image(&mut self.write()?, &ctx, &self.store, image)
    }

    fn audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        super::list_audit(&self.read()?, filter)
    }

    fn wake(&mut self, req: &WakeRequest) -> Result<WakeReport> {
        let iface = self.wake_iface()?;
        super::wake_hosts(&mut self.write()?, &self.ctx(), &iface, req)
    }

    fn schedules(&mut self) -> Result<Vec<ScheduleView>> {
        schedules::list(&self.read()?, self.ctx().now)
    }

    fn schedule(&mut self, name: &str) -> Result<ScheduleView> {
        schedules::show(&self.read()?, name, self.ctx().now)
    }

    fn add_schedule(&mut self, req: &NewSchedule) -> Result<ScheduleView> {
        schedules::add(&mut self.write()?, &self.ctx(), req)
    }

    fn remove_schedule(&mut self, name: &str) -> Result<()> {
        schedules::remove(&mut self.write()?, &self.ctx(), name)
    }

    fn pause_schedule(&mut self, name: &str, paused: bool) -> Result<ScheduleView> {
        schedules::set_paused(&mut self.write()?, &self.ctx(), name, paused)
    }

    fn sessions(&mut self) -> Result<Vec<SessionView>> {
        super::list_sessions(&self.read()?)
    }

    fn session(&mut self, id: i64) -> Result<SessionView> {
        super::get_session(&self.read()?, id)
    }

    fn follow_session(
        &mut self,
        id: i64,
        seen: &mut dyn FnMut(&SessionView),
    ) -> Result<SessionView> {
        let mut last: Option<SessionView> = None;
        loop {
            let v = self.session(id)?;
            if last.as_ref() != Some(&v) {
                seen(&v);
            }
            if !v.state.is_active() {
                return Ok(v);
            }
            last = Some(v);
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }

    fn create_session(&mut self, req: &NewSessionRequest) -> Result<CreatedSession> {
        let ctx = self.ctx();
        super::create_session(&mut self.write()?, &self.store, &ctx, req, &mut OsRng)
    }

    fn add_members(&mut self, id: i64, req: &AddMembers) -> Result<Vec<MemberView>> {
        super::add_members(&mut self.write()?, &self.ctx(), id, req, &mut OsRng)
    }

    fn start_session(&mut self, id: i64) -> Result<SessionView> {
        super::start_session(&mut self.write()?, &self.ctx(), id)
    }

    fn cancel_session(&mut self, id: i64) -> Result<SessionView> {
        super::cancel_session(&mut self.write()?, &self.ctx(), id)
    }
}
