//! Where the long-running commands (`serve`, `image serve`) log.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// `info` unless RUST_LOG says otherwise. Under systemd, whose journal
/// holds standard error (`JOURNAL_STREAM`, systemd.exec(5)), events go to
/// journald natively instead, so that their fields are journal fields an
/// admin can filter on: `journalctl -u marrow MAC=52:54:00:12:34:56`,
/// `TASK=…`, `IMAGE=…`. Elsewhere, text on standard error, in colour only
/// on a terminal.
pub(crate) fn log_to_stderr() {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        if let Ok(journald) = tracing_journald::layer() {
            // No prefix: the fields are named as in the code (MAC, not F_MAC).
            let journald = journald
                .with_field_prefix(None)
                .with_syslog_identifier("marrow".into());
            if tracing_subscriber::registry()
                .with(filter())
                .with(journald)
                .try_init()
                .is_ok()
            {
                return;
            }
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
