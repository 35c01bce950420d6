//! The HTTPS client of an upstream's sync API (`marrow_protocol::routes`
//! `SYNC_*`): its catalog, a manifest, and chunk batches read record by
//! record as they arrive. Every call sends the site's sync token; the TLS
//! connection trusts the pinned certificate only, when one was given.
//!
//! Every byte read from the upstream's sockets goes through a [`Meter`]:
//! it counts them (TLS records, HTTP headers and bodies alike, so the
//! count is what crossed the link above TCP) and, under `--bandwidth`,
//! makes the reader wait as long as the token bucket asks.

use std::fmt;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image_format::{ChunkId, ImageId};
use marrow_protocol::routes;
use marrow_protocol::sync::{BatchReader, BatchRequest, Catalog};

use super::limit::TokenBucket;
use super::tls;
use crate::db::SiteRow;
use crate::error::{Error, Result};

/// How long a silent link is waited on before a call fails: long enough
/// for a congested WAN, short enough that a cut link is retried the same
/// night.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The bytes a pull read and wrote on its sockets, and its bandwidth cap.
pub struct Meter {
    read: AtomicU64,
    written: AtomicU64,
    bucket: Option<Mutex<(TokenBucket, Instant)>>,
    /// Under a cap, each connection's receive buffer: small, so that TCP's
    /// flow control holds the sender to the rate we read at. Left to the
    /// kernel, autotuning grows it to megabytes per connection, which the
    /// sender fills at the link's full speed before the cap ever bites.
    receive_buffer: Option<usize>,
}

impl Meter {
    /// `bits_per_sec`: the cap on bytes read, `None` for none.
    pub fn new(bits_per_sec: Option<u64>) -> Meter {
        Meter {
            read: AtomicU64::new(0),
            written: AtomicU64::new(0),
            bucket: bits_per_sec.map(|b| Mutex::new((TokenBucket::new(b, 0.0), Instant::now()))),
            // A fifth of a second of rate over all connections, and never
            // under 64 KiB each, or one TLS record could not get through.
            receive_buffer: bits_per_sec
                .map(|b| ((b / 8 / 5) as usize / super::pull::IN_FLIGHT).max(64 << 10)),
        }
    }

    /// Bytes read from the upstream so far.
    pub fn read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    /// Bytes sent to it (requests and TLS handshakes).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    fn on_read(&self, n: usize) {
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(b) = &self.bucket {
            let wait = {
                let mut g = b.lock().unwrap_or_else(|e| e.into_inner());
                let now = g.1.elapsed().as_secs_f64();
                g.0.take(n, now)
            };
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
    }
}

/// A socket whose reads and writes the meter sees.
struct Metered {
    inner: Box<dyn ureq::ReadWrite>,
    meter: Arc<Meter>,
}

impl fmt::Debug for Metered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metered")
            .field("inner", &self.inner)
            .finish()
    }
}

impl Read for Metered {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.on_read(n);
        Ok(n)
    }
}

impl Write for Metered {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.meter.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl ureq::ReadWrite for Metered {
    fn socket(&self) -> Option<&std::net::TcpStream> {
        self.inner.socket()
    }
}

/// rustls over a metered socket.
struct MeteredTls {
    config: Arc<rustls::ClientConfig>,
    meter: Arc<Meter>,
}

impl ureq::TlsConnector for MeteredTls {
    fn connect(
        &self,
        dns_name: &str,
        io: Box<dyn ureq::ReadWrite>,
    ) -> std::result::Result<Box<dyn ureq::ReadWrite>, ureq::Error> {
        if let (Some(size), Some(tcp)) = (self.meter.receive_buffer, io.socket()) {
            // Best effort: without it the cap still holds on average.
            if let Err(e) = socket2::SockRef::from(tcp).set_recv_buffer_size(size) {
                tracing::debug!("receive buffer of {size} bytes not set: {e}");
            }
        }
        let metered = Box::new(Metered {
            inner: io,
            meter: self.meter.clone(),
        });
        self.config.connect(dns_name, metered)
    }
}

/// Why a call failed: the link (worth trying again), or anything else.
#[derive(Debug)]
pub enum Failure {
    /// The connection failed, stalled or broke, or the upstream answered
    /// 5xx: the same request may work later.
    Link(Error),
    /// Refused (4xx), malformed, or this side failed: asking again gives
    /// the same answer.
    Final(Error),
    /// The upstream does not have what was asked for (404).
    Missing(Error),
}

impl Failure {
    pub fn into_error(self) -> Error {
        match self {
            Failure::Link(e) | Failure::Final(e) | Failure::Missing(e) => e,
        }
    }
}

pub struct Upstream {
    name: String,
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Upstream {
    pub fn new(site: &SiteRow, meter: Arc<Meter>) -> Result<Upstream> {
        let pin = site
            .fingerprint
            .as_deref()
            .map(tls::parse_pin)
            .transpose()?;
        let agent = ureq::AgentBuilder::new()
            .tls_connector(Arc::new(MeteredTls {
                config: tls::client_config(pin)?,
                meter,
            }))
            .timeout_connect(Duration::from_secs(15))
            // Per read, so only a stalled link trips it, never a slow one.
            .timeout_read(READ_TIMEOUT)
            .timeout_write(READ_TIMEOUT)
            .build();
        Ok(Upstream {
            name: site.name.clone(),
            base: site.url.trim_end_matches('/').to_string(),
            token: site.token.clone(),
            agent,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn fail(&self, detail: impl Into<String>) -> Error {
        Error::Site {
            site: format!("site {}", self.name),
            detail: detail.into(),
        }
    }

    /// What a refused or failed call means, naming the upstream.
    fn failure(&self, url: &str, e: ureq::Error) -> Failure {
        match e {
            ureq::Error::Status(code, resp) => {
                let text = resp.into_string().unwrap_or_default();
                let message = serde_json::from_str::<marrow_protocol::api::ApiError>(&text)
                    .map(|b| b.error)
                    .unwrap_or_else(|_| text.trim().to_string());
                let why = match code {
                    401 => "refused the sync token (401): wrong, revoked or expired; make a new one upstream with `marrow token create --scope sync` and add the site again",
                    403 => "refused the sync token (403): it lacks the sync scope; make one with `marrow token create --scope sync`",
                    404 => "does not have it (404)",
                    _ => "refused the request",
                };
                let e = self.fail(format!("{url}: {why}: {message}"));
                match code {
                    404 => Failure::Missing(e),
                    500.. => Failure::Link(e),
                    _ => Failure::Final(e),
                }
            }
            ureq::Error::Transport(t) => {
                let e = self.fail(format!("{url}: {t}"));
                // A certificate that does not match the pin fails in the
                // handshake: trying again cannot help.
                let text = t.to_string();
                if text.contains("certificate") || text.contains("fingerprint") {
                    Failure::Final(e)
                } else {
                    Failure::Link(e)
                }
            }
        }
    }

    fn get(&self, path: &str) -> std::result::Result<ureq::Response, Failure> {
        let url = format!("{}{path}", self.base);
        self.agent
            .get(&url)
            .set("Authorization", &format!("Bearer {}", self.token))
            .call()
            .map_err(|e| self.failure(&url, e))
    }

    pub fn catalog(&self) -> std::result::Result<Catalog, Failure> {
        let resp = self.get(routes::SYNC_IMAGES)?;
        resp.into_json()
            .map_err(|e| Failure::Link(self.fail(format!("its image list does not read: {e}"))))
    }

    /// A manifest's bytes (unverified: the caller checks them against the id).
    pub fn manifest(&self, id: &ImageId) -> std::result::Result<Vec<u8>, Failure> {
        let path = routes::path(routes::SYNC_MANIFEST, &[&id.to_hex()]);
        let resp = self.get(&path)?;
        let mut bytes = Vec::new();
        resp.into_reader()
            .take(64 << 20)
            .read_to_end(&mut bytes)
            .map_err(|e| Failure::Link(self.fail(format!("manifest {}: {e}", id.short()))))?;
        Ok(bytes)
    }

    /// Fetches `ids`, calling `record` with each chunk's stored bytes as it
    /// arrives, in the order asked. A body that names a chunk it was not
    /// asked for fails for good; one that ends early, or a link that
    /// breaks, fails as [`Failure::Link`] after the records that arrived
    /// whole were given to `record`. An error from `record` ends the batch
    /// as [`Failure::Final`].
    pub fn chunks(
        &self,
        ids: &[ChunkId],
        record: &mut dyn FnMut(ChunkId, Vec<u8>) -> Result<()>,
    ) -> std::result::Result<(), Failure> {
        let url = format!("{}{}", self.base, routes::SYNC_CHUNKS);
        let body =
            serde_json::to_string(&BatchRequest { ids: ids.to_vec() }).expect("ids serialise");
        let resp = self
            .agent
            .post(&url)
            .set("Authorization", &format!("Bearer {}", self.token))
            .set("Content-Type", "application/json")
            .send_string(&body)
            .map_err(|e| self.failure(&url, e))?;
        let mut reader = resp.into_reader();
        let mut batch = BatchReader::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut want = ids.iter();
        loop {
            let n = reader.read(&mut buf).map_err(|e| {
                Failure::Link(self.fail(format!("{url}: the link broke mid-batch: {e}")))
            })?;
            if n == 0 {
                break;
            }
            batch.push(&buf[..n]);
            while let Some((id, bytes)) = batch
                .next_record()
                .map_err(|e| Failure::Final(self.fail(format!("{url}: {e}"))))?
            {
                if want.next() != Some(&id) {
                    return Err(Failure::Final(self.fail(format!(
                        "{url}: sent chunk {id} where another was asked for"
                    ))));
                }
                record(id, bytes).map_err(Failure::Final)?;
            }
        }
        batch
            .finish()
            .map_err(|e| Failure::Link(self.fail(format!("{url}: {e}"))))?;
        if let Some(missing) = want.next() {
            return Err(Failure::Link(
                self.fail(format!("{url}: the batch ended before chunk {missing}")),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_meter_counts_reads_and_writes() {
        let m = Meter::new(None);
        m.on_read(100);
        m.on_read(23);
        m.written.fetch_add(7, Ordering::Relaxed);
        assert_eq!((m.read(), m.written()), (123, 7));
    }
}
