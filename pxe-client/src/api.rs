//! The client's side of the server API (`marrow_protocol::api`): blocking
//! HTTP with the task token on every call.
//!
//! Transport failures and 5xx answers are retried with backoff, since every
//! call is idempotent (a chunk is named by its content, a report replaces
//! the last one); a 4xx answer, or 507 (the server's store is full), is
//! final and its message is shown as the server wrote it.

use std::io::Read;
use std::time::Duration;

use marrow_protocol::api::session::{Join, ReceiverReport, ReportReply};
use marrow_protocol::api::{
    ApiError, Committed, DriverPlan, HasRequest, HasResponse, Progress, Report, TaskInfo,
};
use marrow_protocol::routes::{self, path};
use marrow_protocol::{ChunkId, PackageId};

use crate::{Error, Result};

/// Tries of a request the server answered with a 5xx: its own failure,
/// which may pass.
const ATTEMPTS: u32 = 5;
/// How long a server that answered before and now does not answer at all
/// (restarting, or its link down) is waited for: a service restart, even
/// one that replays its journal, is over well within this. A server never
/// reached (a wrong address) gets [`ATTEMPTS`] tries, so a mistyped URL
/// fails in seconds.
const UNREACHABLE_FOR: Duration = Duration::from_secs(120);

pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
    /// The server has answered at least once.
    reached: std::sync::atomic::AtomicBool,
}

impl Client {
    /// `server` is the base URL (`http://10.0.0.1:8080`).
    pub fn new(server: &str, token: &str) -> Result<Client> {
        let base = server.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") {
            return Err(Error::Usage(format!(
                "server {server:?}: give an http:// URL such as http://10.0.0.1:8080"
            )));
        }
        if token.trim().is_empty() {
            return Err(Error::Usage("the task token is empty".into()));
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(Duration::from_secs(120))
            .timeout_write(Duration::from_secs(120))
            .max_idle_connections_per_host(16)
            .build();
        Ok(Client {
            base,
            token: token.trim().to_owned(),
            agent,
            reached: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request, retrying transport errors and 5xx answers.
    fn call(&self, method: &str, path: &str, body: Option<(&str, &[u8])>) -> Result<Vec<u8>> {
        self.call_status(method, path, body).map(|(_, body)| body)
    }

    /// [`Client::call`], with the answer's status.
    fn call_status(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<(u16, Vec<u8>)> {
        let url = self.url(path);
        let started = std::time::Instant::now();
        let mut delay = Duration::from_millis(500);
        let mut attempt = 1;
        let mut server_errors = 0;
        loop {
            let req = self
                .agent
                .request(method, &url)
                .set("Authorization", &format!("Bearer {}", self.token));
            let result = match body {
                Some((kind, bytes)) => req.set("Content-Type", kind).send_bytes(bytes),
                None => req.call(),
            };
            let mut answered = true;
            if !matches!(result, Err(ureq::Error::Transport(_))) {
                self.reached
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            let retry = match result {
                Ok(resp) => {
                    let status = resp.status();
                    let mut out = Vec::new();
                    match resp.into_reader().take(64 << 20).read_to_end(&mut out) {
                        Ok(_) => return Ok((status, out)),
                        // Cut off mid-answer: the server went away.
                        Err(e) => {
                            answered = false;
                            format!("reading the answer: {e}")
                        }
                    }
                }
                Err(ureq::Error::Status(status, resp)) => {
                    let text = resp.into_string().unwrap_or_default();
                    let message = serde_json::from_str::<ApiError>(&text)
                        .map(|e| e.error)
                        .unwrap_or(text);
                    // 507: the server's disk is full; waiting seconds will
                    // not free it, so the task fails now, naming the store.
                    if status < 500 || status == 507 {
                        return Err(Error::Server {
                            request: format!("{method} {url}"),
                            status,
                            message,
                        });
                    }
                    server_errors += 1;
                    format!("HTTP {status}: {message}")
                }
                Err(ureq::Error::Transport(t)) => {
                    answered = false;
                    t.to_string()
                }
            };
            let given_up = if answered {
                server_errors >= ATTEMPTS
            } else if self.reached.load(std::sync::atomic::Ordering::Relaxed) {
                started.elapsed() + delay > UNREACHABLE_FOR
            } else {
                attempt >= ATTEMPTS
            };
            if given_up {
                return Err(Error::Http {
                    request: format!("{method} {url}"),
                    detail: format!(
                        "{retry} (after {attempt} attempts in {} s)",
                        started.elapsed().as_secs()
                    ),
                });
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(8));
            attempt += 1;
        }
    }

    fn json<T: serde::de::DeserializeOwned>(&self, what: &str, bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| Error::Http {
            request: what.to_owned(),
            detail: format!("the server's answer is not the expected JSON: {e}"),
        })
    }

    fn post_json(&self, path: &str, value: &impl serde::Serialize) -> Result<Vec<u8>> {
        let body = serde_json::to_vec(value).expect("API bodies serialize");
        self.call("POST", path, Some(("application/json", &body)))
    }

    /// Claims the task: it is running from now on.
    pub fn claim(&self) -> Result<TaskInfo> {
        let bytes = self.call("POST", routes::CLAIM, Some(("application/json", b"{}")))?;
        self.json("task claim", &bytes)
    }

    pub fn put_inventory(&self, inventory: &impl serde::Serialize) -> Result<()> {
        let body = serde_json::to_vec(inventory).expect("inventory serializes");
        self.call("PUT", routes::INVENTORY, Some(("application/json", &body)))
            .map(drop)
    }

    pub fn progress(&self, p: &Progress) -> Result<()> {
        self.post_json(routes::PROGRESS, p).map(drop)
    }

    pub fn report(&self, r: &Report) -> Result<()> {
        self.post_json(routes::REPORT, r).map(drop)
    }

    /// Joins the task's multicast session.
    pub fn session_join(&self) -> Result<Join> {
        let bytes = self.call(
            "POST",
            routes::SESSION_JOIN,
            Some(("application/json", b"{}")),
        )?;
        self.json("session join", &bytes)
    }

    /// Reports to the session; the answer says how to carry on. Sent once,
    /// without retries: the next report is due in a second anyway.
    pub fn session_report(&self, r: &ReceiverReport) -> Result<ReportReply> {
        let body = serde_json::to_vec(r).expect("reports serialize");
        let url = self.url(routes::SESSION_REPORT);
        let resp = self
            .agent
            .post(&url)
            .set("Authorization", &format!("Bearer {}", self.token))
            .set("Content-Type", "application/json")
            .send_bytes(&body);
        match resp {
            Ok(resp) => {
                let mut out = Vec::new();
                resp.into_reader()
                    .take(1 << 20)
                    .read_to_end(&mut out)
                    .map_err(|e| Error::Http {
                        request: format!("POST {url}"),
                        detail: format!("reading the answer: {e}"),
                    })?;
                self.json("session report", &out)
            }
            Err(ureq::Error::Status(status, resp)) => {
                let text = resp.into_string().unwrap_or_default();
                let message = serde_json::from_str::<ApiError>(&text)
                    .map(|e| e.error)
                    .unwrap_or(text);
                Err(Error::Server {
                    request: format!("POST {url}"),
                    status,
                    message,
                })
            }
            Err(ureq::Error::Transport(t)) => Err(Error::Http {
                request: format!("POST {url}"),
                detail: t.to_string(),
            }),
        }
    }

    pub fn has(&self, image: &str, ids: &[ChunkId]) -> Result<Vec<bool>> {
        let req = HasRequest { ids: ids.to_vec() };
        let route = path(routes::CHUNKS_HAS, &[image]);
        let bytes = self.post_json(&route, &req)?;
        let resp: HasResponse = self.json("chunk has", &bytes)?;
        if resp.have.len() != ids.len() {
            return Err(Error::Http {
                request: format!("POST {}", self.url(&route)),
                detail: format!(
                    "asked about {} chunks, got {} answers",
                    ids.len(),
                    resp.have.len()
                ),
            });
        }
        Ok(resp.have)
    }

    /// Uploads a chunk; true when the server stored it, false when it
    /// already had it.
    pub fn put_chunk(&self, image: &str, id: &ChunkId, compressed: &[u8]) -> Result<bool> {
        let (status, _) = self.call_status(
            "PUT",
            &path(routes::CHUNK, &[image, &id.to_hex()]),
            Some(("application/zstd", compressed)),
        )?;
        Ok(status == 201)
    }

    pub fn get_chunk(&self, image: &str, id: &ChunkId) -> Result<Vec<u8>> {
        self.call("GET", &path(routes::CHUNK, &[image, &id.to_hex()]), None)
    }

    pub fn get_manifest(&self, image: &str) -> Result<Vec<u8>> {
        self.call("GET", &path(routes::MANIFEST, &[image]), None)
    }

    pub fn commit(&self, image: &str, manifest: &[u8]) -> Result<Committed> {
        let bytes = self.call(
            "POST",
            &path(routes::MANIFEST, &[image]),
            Some(("application/json", manifest)),
        )?;
        self.json("manifest commit", &bytes)
    }

    pub fn driver_plan(&self) -> Result<DriverPlan> {
        let bytes = self.call("GET", routes::DRIVERS, None)?;
        self.json("driver plan", &bytes)
    }

    pub fn driver_file(&self, package: &PackageId, file: &str) -> Result<Vec<u8>> {
        let route = path(routes::DRIVER_FILE, &[&package.to_hex(), file]);
        self.call("GET", &route, None)
    }
}
