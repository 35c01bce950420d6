//! Server-Sent Events: one stream per task, one per session, and one for
//! everything (`/api/v1/admin/events`). The UI and the remote `task show
//! --follow` read them.
//!
//! Each stream watches the database, not an in-process bus: tasks and
//! sessions are also changed by the CLI at the server's shell, in another
//! process, and those changes must show too. A stream looks every half
//! second and sends the view when it changed; a task's or session's
//! stream sends `end` once it is over and closes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use tokio::sync::mpsc;

use super::caller::Caller;
use crate::access::Need;
use crate::admin;
use crate::db::Db;
use crate::error::Result;
use crate::serve::api_error::{ApiResult, ErrorBody};
use crate::serve::state::Shared;
use crate::sessions;

const LOOK: Duration = Duration::from_millis(500);

type Events = Sse<
    axum::response::sse::KeepAliveStream<
        futures_util::stream::BoxStream<'static, std::result::Result<Event, Infallible>>,
    >,
>;

fn stream(rx: mpsc::Receiver<Event>) -> Events {
    let s = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    let s: futures_util::stream::BoxStream<'static, _> = Box::pin(s);
    Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn event(kind: &str, v: &serde_json::Value) -> Event {
    Event::default().event(kind).data(v.to_string())
}

/// Sends `fetch`'s view whenever it changes, then `end` once it says the
/// object is over; stops when the client goes away.
fn watch_one<F>(shared: Arc<Shared>, kind: &'static str, fetch: F) -> Events
where
    F: Fn(&mut Db) -> Result<(serde_json::Value, bool)> + Send + Sync + 'static,
{
    let (tx, rx) = mpsc::channel(16);
    let fetch = Arc::new(fetch);
    tokio::spawn(async move {
        let mut last = None;
        loop {
            let f = fetch.clone();
            let got = shared.db.call(move |db| f(db)).await;
            let (view, active) = match got {
                Ok(v) => v,
                Err(e) => {
                    let _ = tx
                        .send(Event::default().event("error").data(e.to_string()))
                        .await;
                    return;
                }
            };
            if last.as_ref() != Some(&view) {
                if tx.send(event(kind, &view)).await.is_err() {
                    return;
                }
                last = Some(view);
            }
            if !active {
                let _ = tx.send(Event::default().event("end").data(kind)).await;
                return;
            }
            tokio::time::sleep(LOOK).await;
        }
    });
    stream(rx)
}

/// A task's changes: `task` events with its view, then `end`.
#[utoipa::path(get, path = "/api/v1/admin/tasks/{id}/events", tag = "events",
    params(("id" = i64, Path, description = "task id")),
    responses((status = 200, description = "text/event-stream of `task` events (the task's view) and a last `end`", content_type = "text/event-stream", body = String),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn task(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Events> {
    caller.require(Need::Read)?;
    shared.db.call(move |db| admin::get_task(db, id)).await?;
    Ok(watch_one(shared, "task", move |db| {
        let t = admin::get_task(db, id)?;
        let active = matches!(t.state.as_str(), "pending" | "running");
        Ok((serde_json::to_value(&t).unwrap_or_default(), active))
    }))
}

/// A session's changes: `session` events with its view (receivers and
/// all), then `end`.
#[utoipa::path(get, path = "/api/v1/admin/sessions/{id}/events", tag = "events",
    params(("id" = i64, Path, description = "session id")),
    responses((status = 200, description = "text/event-stream of `session` events and a last `end`", content_type = "text/event-stream", body = String),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub(crate) async fn session(
    State(shared): State<Arc<Shared>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> ApiResult<Events> {
    caller.require(Need::Read)?;
    shared.db.call(move |db| sessions::show(db, id)).await?;
    Ok(watch_one(shared, "session", move |db| {
        let s = sessions::show(db, id)?;
        let active = s.state.is_active();
        Ok((serde_json::to_value(&s).unwrap_or_default(), active))
    }))
}

/// Every change from now on: `task`, `session` and `sync` events with the
/// view of what changed (`sync`: a site's newest pull).
#[utoipa::path(get, path = "/api/v1/admin/events", tag = "events",
    responses((status = 200, description = "text/event-stream of `task`, `session` and `sync` events", content_type = "text/event-stream", body = String),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(crate) async fn all(State(shared): State<Arc<Shared>>, caller: Caller) -> ApiResult<Events> {
    caller.require(Need::Read)?;
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        // What each object looked like at the last look; the first look
        // only takes note (listings give the state as it is).
        let mut seen: HashMap<(&'static str, i64), serde_json::Value> = HashMap::new();
        let mut first = true;
        loop {
            let dirs = shared.dirs.clone();
            let got = shared
                .db
                .call(move |db| {
                    Ok((
                        admin::list_tasks(db)?,
                        sessions::list(db)?,
                        admin::list_sites(db, &dirs)?,
                    ))
                })
                .await;
            let Ok((tasks, sess, sites)) = got else {
                return;
            };
            let views = tasks
                .iter()
                .map(|t| (("task", t.id), serde_json::to_value(t).unwrap_or_default()))
                .chain(sess.iter().map(|s| {
                    (
                        ("session", s.id),
                        serde_json::to_value(s).unwrap_or_default(),
                    )
                }))
                .chain(sites.iter().filter_map(|s| {
                    let run = s.last_run.as_ref()?;
                    Some((
                        ("sync", run.id),
                        serde_json::to_value(run).unwrap_or_default(),
                    ))
                }));
            for (key, view) in views {
                if seen.get(&key) == Some(&view) {
                    continue;
                }
                if !first && tx.send(event(key.0, &view)).await.is_err() {
                    return;
                }
                seen.insert(key, view);
            }
            first = false;
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(LOOK).await;
        }
    });
    Ok(stream(rx))
}
