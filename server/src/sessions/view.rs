//! What `marrow session list|show` print: a session and its receivers,
//! shaped from the stored rows alone (the service keeps them current).

use marrow_protocol::api::session::{Mode, ReceiverPhase, SessionState};
use serde::{Deserialize, Serialize};

use crate::db::{Host, Session, Task, TaskState};

/// A receiver's status as the service stores it (`tasks.session_status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverStatus {
    pub phase: ReceiverPhase,
    pub mode: Mode,
    /// Why it went to unicast.
    pub reason: Option<String>,
    /// Loss over its last report interval (0–1).
    pub loss: Option<f64>,
    pub multicast_bytes: u64,
    pub unicast_bytes: u64,
    pub done_bytes: u64,
    pub total_bytes: u64,
    /// It has not reported for a while.
    pub away: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReceiverView {
    /// The host's MAC.
    pub host: String,
    pub name: Option<String>,
    pub task: i64,
    /// `pending` (not booted yet), `booting`, then the receiver's phase
    /// (`scanning`, `ready`, `receiving`, `unicast`), `away`, and the
    /// task's end (`done`, `failed`, `cancelled`).
    pub state: String,
    /// Done fraction, 0–1.
    pub progress: f64,
    pub multicast_bytes: u64,
    pub unicast_bytes: u64,
    pub loss: Option<f64>,
    /// Bytes per second over its last progress interval.
    pub rate: Option<u64>,
    /// Why it is on unicast, or why its task failed.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: i64,
    pub image: String,
    /// `waiting`, `running`, `done`, `failed` or `cancelled`.
    #[schema(value_type = String)]
    pub state: SessionState,
    /// `GROUP:PORT` once running.
    pub channel: Option<String>,
    pub start_reason: Option<String>,
    pub error: Option<String>,
    pub receivers: Vec<ReceiverView>,
    pub sent_bytes: u64,
    pub cycles: u64,
    pub repair_symbols: u64,
    pub created: i64,
    pub started: Option<i64>,
}

impl SessionView {
    pub fn new(s: &Session, members: &[(Task, Option<Host>)]) -> SessionView {
        SessionView {
            id: s.id,
            image: s.image.clone(),
            state: s.state,
            channel: s.channel.map(|(g, p)| format!("{g}:{p}")),
            start_reason: s.start_reason.clone(),
            error: s.error.clone(),
            receivers: members
                .iter()
                .map(|(t, h)| receiver(t, h.as_ref()))
                .collect(),
            sent_bytes: s.sent_bytes,
            cycles: s.cycles,
            repair_symbols: s.repair_symbols,
            created: s.created,
            started: s.started,
        }
    }

    /// Receivers done, of all.
    pub fn done_count(&self) -> usize {
        self.receivers.iter().filter(|r| r.state == "done").count()
    }
}

fn receiver(t: &Task, host: Option<&Host>) -> ReceiverView {
    let status: Option<ReceiverStatus> = t
        .session_status
        .as_ref()
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let report = t.report.as_ref();
    let counted = |key: &str| report.and_then(|r| r.get(key)).and_then(|v| v.as_u64());
    let state = match (t.state, &status) {
        (TaskState::Pending, _) => "pending".to_string(),
        (TaskState::Running, None) => "booting".to_string(),
        (TaskState::Running, Some(s)) if s.away => "away".to_string(),
        (TaskState::Running, Some(s)) => s.phase.as_str().to_string(),
        (end, _) => end.as_str().to_string(),
    };
    let progress = match (t.state, &status) {
        (TaskState::Done, _) => 1.0,
        (_, Some(s)) if s.total_bytes > 0 => s.done_bytes as f64 / s.total_bytes as f64,
        _ => 0.0,
    };
    let rate = t
        .progress
        .as_ref()
        .and_then(|p| p.get("rate"))
        .and_then(|v| v.as_u64())
        .filter(|_| t.state == TaskState::Running);
    let reason = match t.state {
        TaskState::Failed => t.error.clone(),
        _ => status.as_ref().and_then(|s| s.reason.clone()),
    };
    ReceiverView {
        host: t.host.to_string(),
        name: host.and_then(|h| h.name.clone()),
        task: t.id.0,
        state,
        progress,
        // The final report's counts win over the last status.
        multicast_bytes: counted("multicast_bytes")
            .or(status.as_ref().map(|s| s.multicast_bytes))
            .unwrap_or(0),
        unicast_bytes: counted("unicast_bytes")
            .or(status.as_ref().map(|s| s.unicast_bytes))
            .unwrap_or(0),
        loss: status.as_ref().and_then(|s| s.loss),
        rate,
        reason,
    }
}
