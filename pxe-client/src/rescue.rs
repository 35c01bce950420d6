//! Where a failed boot ends: the error is already on the console; a
//! technician at the machine may press Enter for a shell, and a machine
//! nobody attends reboots after its rescue timeout, so a failed machine in
//! an empty room does not sit at a shell for good (and its next boot, once
//! the cause is fixed, resumes the task).

use std::io::BufRead;
use std::path::Path;
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use nix::sys::reboot::{reboot, RebootMode};

use crate::cmdline::DEFAULT_RESCUE_TIMEOUT_SECS;

/// Seconds [`rescue`] waits for Enter before it reboots; 0 opens the shell
/// at once and reboots when it exits.
static TIMEOUT: OnceLock<u64> = OnceLock::new();

fn say(msg: &str) {
    println!("marrow-client: {msg}");
}

/// Sets the timeout from `marrow.rescue_timeout=` (default
/// [`DEFAULT_RESCUE_TIMEOUT_SECS`]); the first call wins.
pub fn set_timeout(secs: Option<u64>) {
    let _ = TIMEOUT.set(secs.unwrap_or(DEFAULT_RESCUE_TIMEOUT_SECS));
}

/// Offers a shell if the initramfs has one, then reboots. Never returns.
pub fn rescue() -> ! {
    let secs = *TIMEOUT.get_or_init(|| DEFAULT_RESCUE_TIMEOUT_SECS);
    let has_shell = Path::new("/bin/sh").exists();
    if secs == 0 {
        if has_shell {
            say("starting a rescue shell on the console; exit it to reboot");
            shell();
        } else {
            say("no shell in this initramfs, and marrow.rescue_timeout=0: halted");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    } else if has_shell {
        say(&format!(
            "press Enter within {secs} s for a rescue shell; otherwise the machine reboots (marrow.rescue_timeout=)"
        ));
        if enter_pressed(Duration::from_secs(secs)) {
            say("starting a rescue shell on the console; exit it to reboot");
            shell();
        } else {
            say("rescue timeout: rebooting");
        }
    } else {
        say(&format!(
            "no shell in this initramfs; rebooting in {secs} s"
        ));
        std::thread::sleep(Duration::from_secs(secs));
        say("rescue timeout: rebooting");
    }
    nix::unistd::sync();
    let _ = reboot(RebootMode::RB_AUTOBOOT);
    // reboot(2) only returns on failure (not PID 1's namespace, no
    // CAP_SYS_BOOT); PID 1 must still not exit.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Whether a line arrives on the console within `limit`. The console is in
/// canonical mode, so the read takes only that line and what is typed
/// next goes to the shell. A console at end of file (none attached) counts
/// as nobody there.
fn enter_pressed(limit: Duration) -> bool {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let got = matches!(std::io::stdin().lock().read_line(&mut line), Ok(n) if n > 0);
        let _ = tx.send(got);
    });
    match rx.recv_timeout(limit) {
        Ok(true) => true,
        Ok(false) => {
            // No console to read: wait out the timeout all the same, so the
            // error stays on screen for that long.
            std::thread::sleep(limit);
            false
        }
        Err(_) => false,
    }
}

fn shell() {
    match std::process::Command::new("/bin/sh").status() {
        Ok(_) => {}
        Err(e) => say(&format!("the rescue shell did not start: {e}")),
    }
}
