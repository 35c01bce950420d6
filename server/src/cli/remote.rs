//! `marrow --server URL`: the [`Backend`] that runs commands through a
//! server's admin API with an API token (`--token` or `MARROW_TOKEN`).
//! Errors come back as the server's message and map to the same kinds as
//! local ones, so output and exit status match the local command.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::admin::backend::Backend;
use crate::admin::requests::{AddHost, AddMembers, NewSessionRequest, NewTaskRequest, WakeRequest};
use crate::admin::views::{
    CreatedSession, CreatedTask, HostView, ImageInspect, ImageRow, MemberView, TaskView, WakeReport,
};
use crate::db::{AuditEntry, AuditFilter};
use crate::error::{Error, Result};
use crate::schedules::{NewSchedule, ScheduleView};
use crate::sessions::view::SessionView;

const ADMIN: &str = "/api/v1/admin";
/// Rows fetched per page of a listing.
const PAGE: usize = 500;

pub struct Remote {
    base: String,
    token: String,
    agent: ureq::Agent,
}

#[derive(Deserialize)]
struct Page<T> {
    items: Vec<T>,
    total: usize,
}

impl Remote {
    pub fn new(base: &str, token: Option<&str>) -> Result<Remote> {
        let base = base.trim_end_matches('/').to_string();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(Error::Usage(format!(
                "--server {base:?}: give a URL such as http://10.0.0.1:8080"
            )));
        }
        let token = token.filter(|t| !t.is_empty()).ok_or_else(|| {
            Error::Usage(
                "--server needs an API token: --token TOKEN or MARROW_TOKEN (make one with `marrow token create`)"
                    .into(),
            )
        })?;
        Ok(Remote {
            base,
            token: token.to_string(),
            agent: ureq::AgentBuilder::new()
                .timeout(std::time::Duration::from_secs(60))
                .build(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{ADMIN}{path}", self.base)
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<T> {
        let url = self.url(path);
        let req = self
            .agent
            .request(method, &url)
            .set("Authorization", &format!("Bearer {}", self.token));
        let sent = match body {
            Some(b) => req.set("Content-Type", "application/json").send_string(&b),
            None => req.call(),
        };
        let text = match sent {
            Ok(resp) => resp.into_string().map_err(Error::io(&url))?,
            Err(e) => return Err(self.error(method, &url, e)),
        };
        let text = if text.is_empty() { "null".into() } else { text };
        serde_json::from_str(&text)
            .map_err(|e| Error::Refused(format!("{method} {url}: unreadable answer: {e}")))
    }

    /// The server's refusal as the error the local command would give.
    fn error(&self, method: &str, url: &str, e: ureq::Error) -> Error {
        match e {
            ureq::Error::Status(code, resp) => {
                let text = resp.into_string().unwrap_or_default();
                let message = serde_json::from_str::<marrow_protocol::api::ApiError>(&text)
                    .map(|b| b.error)
                    .unwrap_or_else(|_| format!("{method} {url}: HTTP {code}: {}", text.trim()));
                match code {
                    400 | 422 => Error::Usage(message),
                    404 => Error::NotFound(message),
                    409 => Error::Conflict(message),
                    _ => Error::Refused(format!("server {}: {message}", self.base)),
                }
            }
            e => Error::Refused(format!("server {}: {e}", self.base)),
        }
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call("GET", path, None)
    }

    fn send<T: DeserializeOwned, B: Serialize>(
        &self,
        method: &str,
        path: &str,
        body: &B,
    ) -> Result<T> {
        let body = serde_json::to_string(body).expect("requests serialise");
        self.call(method, path, Some(body))
    }

    /// A Server-Sent Events stream as `(event, data)` pairs (the WHATWG
    /// event-stream format: `event:` and `data:` lines, a blank line ends
    /// one; `:` lines keep the connection alive).
    fn events(&self, path: &str) -> Result<impl Iterator<Item = (String, String)>> {
        use std::io::BufRead;
        let url = self.url(path);
        // No overall deadline: a stream lasts as long as the task; the
        // server's keep-alives arrive every 15 s.
        let agent = ureq::AgentBuilder::new()
            .timeout_read(std::time::Duration::from_secs(60))
            .build();
        let resp = match agent
            .get(&url)
            .set("Authorization", &format!("Bearer {}", self.token))
            .set("Accept", "text/event-stream")
            .call()
        {
            Ok(r) => r,
            Err(e) => return Err(self.error("GET", &url, e)),
        };
        let mut lines = std::io::BufReader::new(resp.into_reader()).lines();
        Ok(std::iter::from_fn(move || {
            let (mut kind, mut data) = (String::from("message"), String::new());
            loop {
                let line = lines.next()?.ok()?;
                if line.is_empty() {
                    if !data.is_empty() {
                        return Some((kind, data));
                    }
                    continue;
                }
                if let Some(v) = line.strip_prefix("event:") {
                    kind = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
        }))
    }

    /// Every page of a listing; `query` is `""` or ends with `&`.
    fn all<T: DeserializeOwned>(&self, path: &str, query: &str) -> Result<Vec<T>> {
        let mut out = Vec::new();
        loop {
            let page: Page<T> =
                self.get(&format!("{path}?{query}offset={}&limit={PAGE}", out.len()))?;
            let got = page.items.len();
            out.extend(page.items);
            if got == 0 || out.len() >= page.total {
                return Ok(out);
            }
        }
    }
}

impl Remote {
    /// Reads the event stream at `path`, calling `seen` with each `kind`
    /// event's view, until `end`; returns the last view.
    fn follow<T: DeserializeOwned>(
        &self,
        path: &str,
        kind: &str,
        seen: &mut dyn FnMut(&T),
    ) -> Result<Option<T>> {
        let mut last = None;
        for (event, data) in self.events(path)? {
            match event.as_str() {
                e if e == kind => {
                    let v: T = serde_json::from_str(&data).map_err(|e| {
                        Error::Refused(format!(
                            "server {}: unreadable {kind} event: {e}",
                            self.base
                        ))
                    })?;
                    seen(&v);
                    last = Some(v);
                }
                "end" => break,
                "error" => return Err(Error::Refused(format!("server {}: {data}", self.base))),
                _ => {}
            }
        }
        Ok(last)
    }
}

/// A path segment, percent-encoded (RFC 3986 §3.3: unreserved kept).
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Backend for Remote {
    fn hosts(&mut self) -> Result<Vec<HostView>> {
        self.all("/hosts", "")
    }

    fn add_host(&mut self, req: &AddHost) -> Result<HostView> {
        self.send("POST", "/hosts", req)
    }

    fn tasks(&mut self) -> Result<Vec<TaskView>> {
        self.all("/tasks", "")
    }

    fn task(&mut self, id: i64) -> Result<TaskView> {
        self.get(&format!("/tasks/{id}"))
    }

    fn follow_task(&mut self, id: i64, seen: &mut dyn FnMut(&TaskView)) -> Result<TaskView> {
        let last = self.follow(&format!("/tasks/{id}/events"), "task", seen)?;
        // The stream ended (or broke): the task as it is now.
        match last {
            Some(t) if !matches!(t.state.as_str(), "pending" | "running") => Ok(t),
            _ => self.task(id),
        }
    }

    fn create_task(&mut self, req: &NewTaskRequest) -> Result<CreatedTask> {
        self.send("POST", "/tasks", req)
    }

    fn cancel_task(&mut self, id: i64) -> Result<TaskView> {
        self.send(
            "POST",
            &format!("/tasks/{id}/cancel"),
            &serde_json::json!({}),
        )
    }

    fn images(&mut self) -> Result<Vec<ImageRow>> {
        self.all("/images", "")
    }

    fn inspect_image(&mut self, image: &str) -> Result<ImageInspect> {
        self.get(&format!("/images/{}", segment(image)))
    }

    fn delete_image(&mut self, image: &str) -> Result<Vec<String>> {
        self.call("DELETE", &format!("/images/{}", segment(image)), None)
    }

    fn audit(&mut self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let mut q = String::new();
        if let Some(s) = filter.since {
            q.push_str(&format!("since={s}&"));
        }
        if let Some(u) = &filter.user {
            q.push_str(&format!("user={}&", segment(u)));
        }
        self.all("/audit", &q)
    }

    fn wake(&mut self, req: &WakeRequest) -> Result<WakeReport> {
        self.send("POST", "/hosts/wake", req)
    }

    fn schedules(&mut self) -> Result<Vec<ScheduleView>> {
        self.all("/schedules", "")
    }

    fn schedule(&mut self, name: &str) -> Result<ScheduleView> {
        self.get(&format!("/schedules/{}", segment(name)))
    }

    fn add_schedule(&mut self, req: &NewSchedule) -> Result<ScheduleView> {
        self.send("POST", "/schedules", req)
    }

    fn remove_schedule(&mut self, name: &str) -> Result<()> {
        self.call("DELETE", &format!("/schedules/{}", segment(name)), None)
    }

    fn pause_schedule(&mut self, name: &str, paused: bool) -> Result<ScheduleView> {
        let verb = if paused { "pause" } else { "resume" };
        self.send(
            "POST",
            &format!("/schedules/{}/{verb}", segment(name)),
            &serde_json::json!({}),
        )
    }

    fn sessions(&mut self) -> Result<Vec<SessionView>> {
        self.all("/sessions", "")
    }

    fn session(&mut self, id: i64) -> Result<SessionView> {
        self.get(&format!("/sessions/{id}"))
    }

    fn follow_session(
        &mut self,
        id: i64,
        seen: &mut dyn FnMut(&SessionView),
    ) -> Result<SessionView> {
        let last = self.follow(&format!("/sessions/{id}/events"), "session", seen)?;
        match last {
            Some(v) if !v.state.is_active() => Ok(v),
            _ => self.session(id),
        }
    }

    fn create_session(&mut self, req: &NewSessionRequest) -> Result<CreatedSession> {
        self.send("POST", "/sessions", req)
    }

    fn add_members(&mut self, id: i64, req: &AddMembers) -> Result<Vec<MemberView>> {
        self.send("POST", &format!("/sessions/{id}/members"), req)
    }

    fn start_session(&mut self, id: i64) -> Result<SessionView> {
        self.send(
            "POST",
            &format!("/sessions/{id}/start"),
            &serde_json::json!({}),
        )
    }

    fn cancel_session(&mut self, id: i64) -> Result<SessionView> {
        self.send(
            "POST",
            &format!("/sessions/{id}/cancel"),
            &serde_json::json!({}),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_keeps_unreserved_bytes_and_encodes_the_rest() {
        assert_eq!(segment("win11@ab12"), "win11%40ab12");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
        assert_eq!(segment("lab-07_x.y~"), "lab-07_x.y~");
    }

    #[test]
    fn a_server_without_a_token_or_with_a_bad_url_is_refused() {
        assert!(Remote::new("http://10.0.0.1:8080", None).is_err());
        assert!(Remote::new("10.0.0.1:8080", Some("t")).is_err());
        assert!(Remote::new("http://10.0.0.1:8080/", Some("t")).is_ok());
    }
}
