//! A one-node Garage (the S3 server the S3 store is tested against), on
//! the loopback of the host or of a namespace: sqlite metadata,
//! replication factor 1, a layout assigned and applied, one bucket and a
//! key allowed on it. Stopped and its folder removed on drop.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use crate::netns::Netns;
use crate::process::Guarded;

pub const BUCKET: &str = "marrow";

pub struct Garage {
    /// `http://127.0.0.1:PORT`, as seen from where it runs.
    pub endpoint: String,
    pub key_id: String,
    pub secret: String,
    config: PathBuf,
    ns: Option<String>,
    _server: Guarded,
}

/// The garage binary: on PATH, or where `cargo install` puts it.
pub fn binary() -> Option<PathBuf> {
    if crate::have("garage") {
        return Some(PathBuf::from("garage"));
    }
    let home = std::env::var_os("HOME")?;
    let p = Path::new(&home).join(".cargo/bin/garage");
    p.is_file().then_some(p)
}

/// Why the S3 scenarios cannot run here, or `None`.
pub fn missing() -> Option<String> {
    binary()
        .is_none()
        .then(|| "garage is not installed (scripts/install-garage builds it)".to_string())
}

/// Ports apart for every Garage of this process and the others running
/// now (tests run side by side).
fn ports() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    20_000 + (std::process::id() % 400) as u16 * 100 + n * 4
}

impl Garage {
    /// Starts Garage with its files in `dir`, in `ns` when given (else on
    /// the host's loopback).
    pub fn start(dir: &Path, ns: Option<&Netns>) -> Garage {
        let bin = binary().expect("garage installed");
        let base = ports();
        std::fs::create_dir_all(dir).expect("garage dir");
        let config = dir.join("garage.toml");
        std::fs::write(
            &config,
            format!(
                r#"metadata_dir = "{d}/meta"
data_dir = "{d}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"
"#,
                d = dir.display(),
                rpc = base + 1,
                s3 = base,
                secret = "6d61727277206761726167652072706320736563726574206f6620746573747a",
            ),
        )
        .expect("garage config");
        let command = |args: &[&str]| -> Command {
            let mut c = match ns {
                Some(ns) => ns.command(bin.to_str().expect("utf-8 path")),
                None => Command::new(&bin),
            };
            c.arg("-c").arg(&config).args(args);
            c
        };
        let server = Guarded::spawn(
            "garage server",
            command(&["server"]),
            &dir.join("garage.log"),
        );
        let run = |args: &[&str]| -> String {
            let start = Instant::now();
            loop {
                let out = command(args).output().expect("garage runs");
                if out.status.success() {
                    return String::from_utf8_lossy(&out.stdout).into_owned();
                }
                // The server takes a moment to answer on its RPC port.
                if start.elapsed() > Duration::from_secs(30) {
                    panic!(
                        "garage {args:?}: {}\n--- server log ---\n{}",
                        String::from_utf8_lossy(&out.stderr),
                        server.log_text()
                    );
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        };
        let node = run(&["node", "id", "-q"]);
        let node = node.trim().split('@').next().expect("node id").to_string();
        run(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        run(&["layout", "apply", "--version", "1"]);
        run(&["bucket", "create", BUCKET]);
        let key = run(&["key", "create", "marrow-test"]);
        let field = |name: &str| -> String {
            key.lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .map(|v| v.trim_start_matches(':').trim().to_string())
                .unwrap_or_else(|| panic!("no {name:?} in garage key create's output:\n{key}"))
        };
        let (key_id, secret) = (field("Key ID"), field("Secret key"));
        run(&[
            "bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", &key_id,
        ]);
        Garage {
            endpoint: format!("http://127.0.0.1:{base}"),
            key_id,
            secret,
            config,
            ns: ns.map(|n| n.name.clone()),
            _server: server,
        }
    }

    /// The variables the S3 store reads its endpoint and keys from.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "garage".to_string()),
            ("AWS_ACCESS_KEY_ID", self.key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
        ]
    }

    /// The same as `[s3]` lines of marrow.toml.
    pub fn toml(&self) -> String {
        format!(
            "[s3]\nendpoint = \"{}\"\nregion = \"garage\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
            self.endpoint, self.key_id, self.secret
        )
    }

    /// Where its configuration is, for `garage -c` by hand.
    pub fn config(&self) -> &Path {
        &self.config
    }

    /// The namespace it runs in, if any.
    pub fn netns(&self) -> Option<&str> {
        self.ns.as_deref()
    }
}
