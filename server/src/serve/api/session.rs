//! A session task's multicast calls: join, then report about once per
//! `report_ms`. Reports are unicast HTTP with the task's token, and a
//! receiver that reports faster than half its interval is refused (429),
//! so however many receivers a room has, the server sees a bounded rate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::Json;
use marrow_protocol::api::session::{
    Channel, Join, Mode, ReceiverReport, ReportReply, SessionState, MAX_DONE_RANGES,
};
use marrow_protocol::multicast::wire::SYMBOL_SIZE;

use super::{blocking, json_body, ApiError, ApiResult};
use crate::db::Task;
use crate::serve::auth::TaskAuth;
use crate::serve::body::Small;
use crate::serve::state::Shared;
use crate::sessions;
use crate::sessions::view::ReceiverStatus;

/// The report interval: a second for rooms of up to 50, then 20 ms per
/// member, so 200 receivers send 50 reports a second in all.
pub(crate) fn report_ms(members: usize) -> u32 {
    (members as u32 * 20).max(1000)
}

fn session_of(task: &Task) -> ApiResult<i64> {
    task.session.ok_or_else(|| {
        ApiError::Conflict(format!(
            "task {} belongs to no multicast session; restore it over HTTP",
            task.id
        ))
    })
}

pub(super) async fn join(
    State(shared): State<Arc<Shared>>,
    auth: TaskAuth,
) -> ApiResult<Json<Join>> {
    let task = auth.task;
    let id = session_of(&task)?;
    let now = shared.now();
    let s2 = shared.clone();
    let join = blocking(move || {
        let (session, members) = s2.db.blocking(|db| {
            let s = sessions::join(db, &task, now)?;
            let members = db.tasks().in_session(s.id)?.len();
            Ok((s, members))
        })?;
        let store = s2.store()?;
        let table = s2.sessions.table(&store, &session.manifest)?;
        Ok(Join {
            id: session.id,
            wire_id: session.wire_id,
            manifest: session.manifest,
            state: session.state,
            channel: session.channel.map(|(group, port)| Channel { group, port }),
            symbol_size: SYMBOL_SIZE,
            chunk_count: table.chunks.len() as u32,
            report_ms: report_ms(members),
        })
    })
    .await?;
    tracing::info!(session = id, "a receiver joined");
    Ok(Json(join))
}

pub(super) async fn report(
    State(shared): State<Arc<Shared>>,
    auth: TaskAuth,
    Small(body): Small,
) -> ApiResult<Json<ReportReply>> {
    let task = auth.task;
    let id = session_of(&task)?;
    let r: ReceiverReport = json_body("session report", &body)?;
    if r.done.ranges().len() > MAX_DONE_RANGES {
        return Err(ApiError::Unprocessable(format!(
            "session report: {} done ranges, at most {MAX_DONE_RANGES}",
            r.done.ranges().len()
        )));
    }
    if let Some(live) = shared.sessions.live(id) {
        if r.done
            .ranges()
            .last()
            .is_some_and(|&(_, end)| end > live.table.chunks.len() as u32)
        {
            return Err(ApiError::Unprocessable(format!(
                "session report: done chunks past the table's {}",
                live.table.chunks.len()
            )));
        }
        let now = Instant::now();
        {
            let mut last = live.last_report.lock().unwrap_or_else(|e| e.into_inner());
            let members = last.len().max(1);
            let min = Duration::from_millis(report_ms(members) as u64 / 2);
            if let Some(prev) = last.get(&task.id) {
                if now.duration_since(*prev) < min {
                    return Err(ApiError::TooMany(format!(
                        "session report: one per {} ms at most",
                        min.as_millis()
                    )));
                }
            }
            last.insert(task.id, now);
        }
        let mut reply = live
            .sender
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .handle_report(now, task.id, &r);
        reply.channel = Some(live.channel);
        return Ok(Json(reply));
    }
    // No sender: the session waits, is about to resume after a restart,
    // or has ended.
    let status = ReceiverStatus {
        phase: r.phase,
        mode: Mode::Multicast,
        reason: None,
        loss: None,
        multicast_bytes: r.multicast_bytes,
        unicast_bytes: r.unicast_bytes,
        done_bytes: r.done_bytes,
        total_bytes: r.total_bytes,
        away: false,
    };
    let text = serde_json::to_string(&status).map_err(|e| ApiError::Internal(e.to_string()))?;
    let tid = task.id;
    let session = shared
        .db
        .call(move |db| {
            db.tasks().set_session_status(tid, &text)?;
            db.sessions().get(id)
        })
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("session {id} is gone")))?;
    let channel = session.channel.map(|(group, port)| Channel { group, port });
    let reply = match session.state {
        SessionState::Waiting | SessionState::Running => ReportReply {
            state: session.state,
            channel,
            mode: Mode::Multicast,
            reason: None,
        },
        ended => ReportReply {
            state: ended,
            channel,
            mode: Mode::Unicast,
            reason: Some(format!(
                "session {id} is {}; the rest comes over HTTP",
                ended.as_str()
            )),
        },
    };
    Ok(Json(reply))
}
