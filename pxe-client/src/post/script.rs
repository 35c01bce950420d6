//! The admin's post-deploy script: run by `/bin/sh` in the client with
//! the restored partitions mounted, the task's variables in its
//! environment, and its output (standard output and error, interleaved as
//! written; the last 64 KiB) kept for the task report.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use marrow_protocol::api::post::{PostScript, ScriptReport, MAX_SCRIPT_OUTPUT};

use crate::mount::tool;
use crate::{Error, Result};

/// How long a script may run before it is killed and the task fails: a
/// script waiting on something that never comes must not keep the machine
/// in the client for good.
pub const TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The last [`MAX_SCRIPT_OUTPUT`] bytes a script wrote, kept as it writes:
/// the client lives in RAM, so a chatty script must not grow it.
#[derive(Default)]
struct Tail {
    bytes: VecDeque<u8>,
    dropped: bool,
}

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend(chunk);
        let over = self.bytes.len().saturating_sub(MAX_SCRIPT_OUTPUT);
        if over > 0 {
            self.bytes.drain(..over);
            self.dropped = true;
        }
    }

    /// As text, cut at a character boundary.
    fn text(&self) -> (String, bool) {
        let bytes: Vec<u8> = self.bytes.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        // A cut inside a UTF-8 sequence shows as replacement characters
        // at the start; drop them.
        let text = match self.dropped {
            true => text.trim_start_matches('\u{FFFD}').to_string(),
            false => text.into_owned(),
        };
        (text, self.dropped)
    }
}

/// Kills every process of the script's group: the script and whatever it
/// started, so nothing keeps the restored partitions busy or writes to
/// them after the report.
fn kill_group(pid: u32) {
    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
}

/// Runs `script` in `dir` (the restored partitions' mount points sit
/// under it) with `env` added to a clean environment, in a process group
/// of its own, killing the group after `timeout`. The script's file is
/// kept in `work` meanwhile.
pub fn run(
    script: &PostScript,
    work: &Path,
    dir: &Path,
    env: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<ScriptReport> {
    let (sh, pre) = tool("sh").ok_or_else(|| {
        Error::Usage(format!(
            "post-script {}: no /bin/sh in this environment",
            script.name
        ))
    })?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let file = work.join("post-script");
    fs::write(&file, &script.body).map_err(io(&file))?;
    let (mut reader, writer) = std::io::pipe().map_err(io(work))?;
    let err = writer.try_clone().map_err(io(work))?;
    let started = Instant::now();
    let spawned = Command::new(&sh)
        .args(&pre)
        .arg(&file)
        .current_dir(dir)
        .env_clear()
        .env("PATH", search_path(work))
        .envs(env)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(err)
        .process_group(0)
        .spawn();
    // The command, and with it this side's copies of the pipe's writing
    // end, is gone here: the reader sees the end once the script's
    // processes have all closed it.
    let mut child = spawned.map_err(io(&sh))?;
    let tail = Arc::new(Mutex::new(Tail::default()));
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    {
        let tail = tail.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                tail.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(&buf[..n]);
            }
            let _ = done_tx.send(());
        });
    }
    let status = loop {
        if let Some(status) = child.try_wait().map_err(io(&sh))? {
            break Some(status);
        }
        if started.elapsed() >= timeout {
            kill_group(child.id());
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // What the script left running in the background goes too.
    kill_group(child.id());
    let seconds = started.elapsed().as_secs_f64();
    // A process that left the group may hold the pipe open: take what
    // arrived within a moment and go on.
    let _ = done_rx.recv_timeout(Duration::from_secs(2));
    let (output, output_truncated) = tail.lock().unwrap_or_else(|e| e.into_inner()).text();
    let _ = fs::remove_file(&file);
    let (exit_code, status) = match status {
        None => (None, format!("killed after {} s", timeout.as_secs())),
        Some(s) => match (s.code(), s.signal()) {
            (Some(c), _) => (Some(c), format!("exited {c}")),
            (None, Some(sig)) => (None, format!("killed by signal {sig}")),
            (None, None) => (None, "ended without a status".into()),
        },
    };
    Ok(ScriptReport {
        name: script.name.clone(),
        exit_code,
        status,
        output,
        output_truncated,
        seconds,
    })
}

/// The script's `PATH`: the usual directories and, where busybox is
/// there, its applets linked into `work/bin` after them. The initramfs
/// carries busybox and `/bin/sh` alone, so `cat` or `mount` in a script
/// would otherwise not be found.
fn search_path(work: &Path) -> String {
    let mut path = String::from("/usr/sbin:/usr/bin:/sbin:/bin");
    if let Some((busybox, _)) = tool("busybox").filter(|(_, pre)| pre.is_empty()) {
        let bin = work.join("bin");
        let installed = fs::create_dir_all(&bin).is_ok()
            && Command::new(&busybox)
                .args(["--install", "-s"])
                .arg(&bin)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        if installed {
            path.push(':');
            path.push_str(&bin.display().to_string());
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("marrow-script-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("work")).unwrap();
        fs::create_dir_all(d.join("target")).unwrap();
        d
    }

    fn script(body: &str) -> PostScript {
        PostScript {
            name: "t".into(),
            body: body.into(),
        }
    }

    #[test]
    fn output_exit_code_environment_and_directory_are_reported() {
        let d = dir("env");
        let (work, target) = (d.join("work"), d.join("target"));
        fs::create_dir(target.join("p2")).unwrap();
        let env = BTreeMap::from([("MARROW_HOSTNAME".to_string(), "lab-07".to_string())]);
        let r = run(
            &script("echo name=$MARROW_HOSTNAME; ls; echo oops >&2; touch p2/done; exit 3\n"),
            &work,
            &target,
            &env,
            TIMEOUT,
        )
        .unwrap();
        assert_eq!(r.exit_code, Some(3));
        assert_eq!(r.status, "exited 3");
        assert!(!r.succeeded());
        assert_eq!(r.output, "name=lab-07\np2\noops\n");
        assert!(!r.output_truncated);
        assert!(target.join("p2/done").exists());
        // The environment was clean, and the script and its log are gone.
        let r = run(
            &script("echo ${HOME:-unset}; ls -A\n"),
            &work,
            &target,
            &env,
            TIMEOUT,
        )
        .unwrap();
        assert_eq!(r.output, "unset\np2\n");
        let left: Vec<_> = fs::read_dir(&work)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "bin")
            .collect();
        assert!(left.is_empty(), "{left:?}");
        assert!(r.succeeded());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn what_a_script_leaves_running_is_killed_with_it() {
        let d = dir("group");
        let started = Instant::now();
        let r = run(
            &script("sleep 30 &\necho left-a-child\n"),
            &d.join("work"),
            &d.join("target"),
            &BTreeMap::new(),
            TIMEOUT,
        )
        .unwrap();
        assert_eq!(r.exit_code, Some(0));
        assert_eq!(r.output, "left-a-child\n");
        // The background sleep held the pipe: had it lived, reading would
        // have waited for it.
        assert!(started.elapsed() < Duration::from_secs(10));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_script_past_its_time_is_killed() {
        let d = dir("timeout");
        let r = run(
            &script("echo started; sleep 30\n"),
            &d.join("work"),
            &d.join("target"),
            &BTreeMap::new(),
            Duration::from_millis(300),
        )
        .unwrap();
        assert_eq!(r.exit_code, None);
        assert!(r.status.starts_with("killed after"), "{}", r.status);
        assert_eq!(r.output, "started\n");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn long_output_keeps_its_end() {
        let d = dir("long");
        let r = run(
            &script("i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done\n"),
            &d.join("work"),
            &d.join("target"),
            &BTreeMap::new(),
            TIMEOUT,
        )
        .unwrap();
        assert!(r.output_truncated);
        assert!(r.output.len() <= MAX_SCRIPT_OUTPUT);
        assert!(
            r.output.ends_with("line-19999\n"),
            "{}",
            &r.output[r.output.len() - 40..]
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
