//! Progress reporting, so long work can be shown (or not) by the caller.

pub trait Progress: Sync {
    /// A phase begins; `total` is in bytes.
    fn start(&self, phase: &str, total: u64);
    fn advance(&self, bytes: u64);
    fn finish(&self) {}
}

/// Reports nothing: for tests and pipes.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _phase: &str, _total: u64) {}
    fn advance(&self, _bytes: u64) {}
}
