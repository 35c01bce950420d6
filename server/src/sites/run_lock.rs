//! One pull per site at a time: a pull holds `sync/<site>.lock` in the
//! data directory (flock, released by the kernel when its process ends,
//! however it ends), so a scheduled pull and one from the shell do not
//! fetch the same chunks twice, and `sync status` can tell a running pull
//! from one whose process was killed.

use std::fs::{File, OpenOptions, TryLockError};

use crate::error::{Error, Result};
use crate::paths::DataDir;

/// Held while a pull runs.
pub struct RunLock {
    _file: File,
}

fn open(dirs: &DataDir, site: &str) -> Result<File> {
    let path = dirs.sync_lock(site);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::io(&path))
}

/// Takes the site's lock, or says that a pull from it is running.
pub fn take(dirs: &DataDir, site: &str) -> Result<RunLock> {
    let file = open(dirs, site)?;
    match file.try_lock() {
        Ok(()) => Ok(RunLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(Error::Conflict(format!(
            "a pull from site {site} is already running; `marrow sync status` shows it"
        ))),
        Err(TryLockError::Error(e)) => Err(Error::io(dirs.sync_lock(site))(e)),
    }
}

/// Whether some process holds the site's lock now.
pub fn is_held(dirs: &DataDir, site: &str) -> bool {
    let path = dirs.sync_lock(site);
    let Ok(file) = File::open(&path) else {
        return false;
    };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_pull_of_a_site_is_refused_while_the_first_runs() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = DataDir::new(dir.path());
        assert!(!is_held(&dirs, "HQ"));
        let held = take(&dirs, "HQ").unwrap();
        assert!(is_held(&dirs, "hq"));
        let e = take(&dirs, "hq").err().unwrap().to_string();
        assert!(e.contains("already running"), "{e}");
        drop(held);
        assert!(!is_held(&dirs, "hq"));
        take(&dirs, "hq").unwrap();
    }
}
