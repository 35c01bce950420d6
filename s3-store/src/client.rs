//! The requests: each signed by rusty-s3 as a presigned URL and sent by
//! ureq, asked again after a short wait when the server or the connection
//! failed (S3's own advice for 5xx and throttling).

use std::io::Read;
use std::time::Duration;

use rusty_s3::actions::{ListObjectsV2, S3Action};
use rusty_s3::{Bucket, Credentials, UrlStyle};

use crate::error::S3Error;
use crate::settings::S3Settings;

/// How long a signature is valid: a request is sent at once.
const SIGNED_FOR: Duration = Duration::from_secs(600);
/// Tries of one request, and the first wait (doubling).
const TRIES: u32 = 4;
const FIRST_WAIT: Duration = Duration::from_millis(200);

pub(crate) struct Client {
    bucket: Bucket,
    credentials: Credentials,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(settings: &S3Settings, bucket: &str) -> Result<Client, S3Error> {
        let endpoint = settings.endpoint.parse().map_err(|e| S3Error::Settings {
            what: "s3.endpoint".into(),
            detail: format!("{:?}: {e}", settings.endpoint),
        })?;
        let style = match settings.path_style {
            true => UrlStyle::Path,
            false => UrlStyle::VirtualHost,
        };
        let bucket = Bucket::new(endpoint, style, bucket.to_string(), settings.region.clone())
            .map_err(|e| S3Error::Settings {
                what: format!("bucket {bucket}"),
                detail: e.to_string(),
            })?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout_read(Duration::from_secs(60))
            .timeout_write(Duration::from_secs(60))
            // Captures and checks ask from many threads at once.
            .max_idle_connections_per_host(32)
            .build();
        Ok(Client {
            bucket,
            credentials: Credentials::new(
                settings.access_key_id.clone(),
                settings.secret_access_key.clone(),
            ),
            agent,
        })
    }

    /// Sends one request, again while it fails for a passing reason.
    /// `None`: the object does not exist (404).
    fn send(
        &self,
        op: &'static str,
        key: &str,
        make: &dyn Fn() -> ureq::Request,
        body: Option<&[u8]>,
    ) -> Result<Option<ureq::Response>, S3Error> {
        let mut wait = FIRST_WAIT;
        for attempt in 1..=TRIES {
            let req = make();
            let result = match body {
                Some(b) => req.send_bytes(b),
                None => req.call(),
            };
            let err = match result {
                Ok(resp) => return Ok(Some(resp)),
                Err(ureq::Error::Status(404, _)) => return Ok(None),
                Err(ureq::Error::Status(status, resp)) => S3Error::Status {
                    op,
                    key: key.to_string(),
                    status,
                    message: message(resp),
                },
                Err(ureq::Error::Transport(t)) => S3Error::Transport {
                    op,
                    key: key.to_string(),
                    detail: t.to_string(),
                },
            };
            if !err.is_transient() || attempt == TRIES {
                return Err(err);
            }
            std::thread::sleep(wait);
            wait *= 2;
        }
        unreachable!("the last try returns")
    }

    fn url<'a, A: S3Action<'a>>(&self, action: A) -> String {
        action.sign(SIGNED_FOR).to_string()
    }

    /// The object's bytes, or `None` when there is none.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, S3Error> {
        let url = self.url(self.bucket.get_object(Some(&self.credentials), key));
        let Some(resp) = self.send("GET", key, &|| self.agent.get(&url), None)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        resp.into_reader()
            .read_to_end(&mut bytes)
            .map_err(|e| S3Error::Transport {
                op: "GET",
                key: key.to_string(),
                detail: e.to_string(),
            })?;
        Ok(Some(bytes))
    }

    /// The object's size, or `None` when there is none.
    pub fn head(&self, key: &str) -> Result<Option<u64>, S3Error> {
        let url = self.url(self.bucket.head_object(Some(&self.credentials), key));
        let Some(resp) = self.send("HEAD", key, &|| self.agent.head(&url), None)? else {
            return Ok(None);
        };
        Ok(Some(
            resp.header("Content-Length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        ))
    }

    /// Writes the object whole: S3 shows it only once it is complete.
    pub fn put(&self, key: &str, bytes: &[u8]) -> Result<(), S3Error> {
        let url = self.url(self.bucket.put_object(Some(&self.credentials), key));
        self.send("PUT", key, &|| self.agent.put(&url), Some(bytes))?;
        Ok(())
    }

    /// Deletes the object; one that is not there is no error.
    pub fn delete(&self, key: &str) -> Result<(), S3Error> {
        let url = self.url(self.bucket.delete_object(Some(&self.credentials), key));
        self.send("DELETE", key, &|| self.agent.delete(&url), None)?;
        Ok(())
    }

    /// Every object under `prefix`, with its size, page by page.
    pub fn list(
        &self,
        prefix: &str,
        each: &mut dyn FnMut(&str, u64) -> Result<(), S3Error>,
    ) -> Result<(), S3Error> {
        let mut token: Option<String> = None;
        loop {
            let mut action = ListObjectsV2::new(&self.bucket, Some(&self.credentials));
            action.with_prefix(prefix);
            if let Some(t) = &token {
                action.with_continuation_token(t.clone());
            }
            let url = self.url(action);
            let resp = self
                .send("LIST", prefix, &|| self.agent.get(&url), None)?
                .ok_or_else(|| S3Error::Listing {
                    prefix: prefix.to_string(),
                    detail: "the bucket does not exist (404)".into(),
                })?;
            let text = resp.into_string().map_err(|e| S3Error::Listing {
                prefix: prefix.to_string(),
                detail: e.to_string(),
            })?;
            let page = ListObjectsV2::parse_response(&text).map_err(|e| S3Error::Listing {
                prefix: prefix.to_string(),
                detail: format!("the answer does not parse: {e}"),
            })?;
            for c in &page.contents {
                let key = percent_encoding::percent_decode_str(&c.key)
                    .decode_utf8()
                    .map_err(|e| S3Error::Listing {
                        prefix: prefix.to_string(),
                        detail: format!("key {:?} is not UTF-8: {e}", c.key),
                    })?;
                each(&key, c.size)?;
            }
            match page.next_continuation_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(()),
            }
        }
    }
}

/// The `<Message>` of an S3 error body, or the body itself.
fn message(resp: ureq::Response) -> String {
    let text = resp.into_string().unwrap_or_default();
    let between = |open: &str, close: &str| {
        let start = text.find(open)? + open.len();
        let end = text[start..].find(close)? + start;
        Some(text[start..end].to_string())
    };
    between("<Message>", "</Message>")
        .or_else(|| between("<Code>", "</Code>"))
        .unwrap_or_else(|| text.trim().chars().take(200).collect())
}
