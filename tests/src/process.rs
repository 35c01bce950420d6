//! Child processes that are killed on drop, and log waiting.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running child, killed and reaped on drop. Its stdout and stderr go to
/// `log` so a failing test can show them.
pub struct Guarded {
    pub child: Child,
    pub log: PathBuf,
    pub name: String,
}

impl Guarded {
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Self {
        let out = std::fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out.try_clone().expect("clone log handle");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: {cmd:?}: {e}"));
        crate::interrupt::add_pid(child.id());
        Guarded {
            child,
            log: log.to_path_buf(),
            name: name.to_string(),
        }
    }

    pub fn log_text(&self) -> String {
        read_lossy(&self.log)
    }

    /// Waits until the log contains `needle`; panics with the log if the
    /// process exits first or `limit` passes (a hang guard, not a timing
    /// assertion).
    pub fn wait_for_log(&mut self, needle: &str, limit: Duration) -> String {
        wait_for_text(&self.log, needle, limit, || match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("{} exited with {status}", self.name)),
            _ => None,
        })
        .unwrap_or_else(|why| panic!("{why}\n--- {} log ---\n{}", self.name, self.log_text()))
    }

    /// Stops with SIGTERM and waits for the exit.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        crate::interrupt::remove_pid(self.child.id());
    }
}

pub fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Polls `path` until it contains `needle`. `gone` reports why waiting is
/// pointless (the writer exited).
pub fn wait_for_text(
    path: &Path,
    needle: &str,
    limit: Duration,
    mut gone: impl FnMut() -> Option<String>,
) -> Result<String, String> {
    let start = Instant::now();
    loop {
        let text = read_lossy(path);
        if text.contains(needle) {
            return Ok(text);
        }
        if let Some(why) = gone() {
            // One last read: the marker may have landed just before exit.
            let text = read_lossy(path);
            if text.contains(needle) {
                return Ok(text);
            }
            return Err(format!(
                "{needle:?} never appeared in {}: {why}",
                path.display()
            ));
        }
        if start.elapsed() > limit {
            return Err(format!(
                "{needle:?} did not appear in {} within {limit:?}",
                path.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
