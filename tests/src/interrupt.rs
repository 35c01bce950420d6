//! What a scenario started is stopped when the test run is interrupted.
//! A test that ends, passes or panics drops its guards; SIGINT (Ctrl-C)
//! or SIGTERM would kill the process before any destructor runs, leaving
//! servers, VMs, namespaces and mounts behind. So every guard registers
//! here, and the first `watch()` starts a thread that, on either signal,
//! stops what is registered and exits with 128 + the signal.
//!
//! `cargo test` killed by SIGTERM does not pass it on to the test binary,
//! so the binary also asks the kernel for SIGTERM when its parent dies
//! (PR_SET_PDEATHSIG).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, Once};

#[derive(Default)]
struct Live {
    pids: BTreeSet<u32>,
    namespaces: BTreeSet<String>,
    mounts: BTreeSet<PathBuf>,
}

static LIVE: Mutex<Live> = Mutex::new(Live {
    pids: BTreeSet::new(),
    namespaces: BTreeSet::new(),
    mounts: BTreeSet::new(),
});
static WATCH: Once = Once::new();

fn live() -> std::sync::MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the watcher once per process.
pub fn watch() {
    WATCH.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals =
            signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).expect("signal handlers");
        std::thread::Builder::new()
            .name("interrupt".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    eprintln!("interrupted by signal {sig}: stopping what the tests started");
                    stop_all();
                    std::process::exit(128 + sig);
                }
            })
            .expect("interrupt thread");
        let parent = nix::unistd::getppid();
        let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
        // The parent may have died before the request took effect.
        if nix::unistd::getppid() != parent {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM);
        }
    });
}

pub fn add_pid(pid: u32) {
    watch();
    live().pids.insert(pid);
}

pub fn remove_pid(pid: u32) {
    live().pids.remove(&pid);
}

pub fn add_namespace(name: &str) {
    watch();
    live().namespaces.insert(name.to_string());
}

pub fn remove_namespace(name: &str) {
    live().namespaces.remove(name);
}

pub fn add_mount(path: PathBuf) {
    watch();
    live().mounts.insert(path);
}

pub fn remove_mount(path: &std::path::Path) {
    live().mounts.remove(path);
}

/// Kills every registered process and everything inside the registered
/// namespaces, deletes the namespaces and unmounts the mounts.
fn stop_all() {
    let live = std::mem::take(&mut *live());
    for pid in &live.pids {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    for ns in &live.namespaces {
        crate::netns::kill_inside(ns);
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
    }
    for m in &live.mounts {
        let _ = Command::new("umount").arg("-l").arg(m).status();
    }
}
