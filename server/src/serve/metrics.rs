//! Counters for `/metrics`, in the Prometheus text exposition format
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/>).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Metrics {
    /// (message type, arch, mode) → replies sent.
    dhcp_replies: Mutex<BTreeMap<(String, String, String), u64>>,
    /// reason → requests ignored.
    dhcp_ignored: Mutex<BTreeMap<String, u64>>,
    dhcp_malformed: AtomicU64,
    /// outcome → transfers.
    tftp_transfers: Mutex<BTreeMap<String, u64>>,
    tftp_bytes: AtomicU64,
    /// TFTP requests refused (traversal, missing file, write).
    tftp_refused: Mutex<BTreeMap<String, u64>>,
    http_boots: AtomicU64,
    http_file_bytes: AtomicU64,
    chunks_uploaded: AtomicU64,
    chunks_upload_known: AtomicU64,
    chunk_bytes_sent: AtomicU64,
    multicast_bytes: AtomicU64,
    multicast_cycles: AtomicU64,
    multicast_repair: AtomicU64,
    sync_chunks_sent: AtomicU64,
    sync_bytes_sent: AtomicU64,
    read_through_chunks: AtomicU64,
    /// Receivers of running sessions by state, as of the last look.
    session_receivers: Mutex<BTreeMap<String, u64>>,
}

/// Boot counters, summed over their labels.
#[derive(Debug, Clone, Copy, Default)]
pub struct BootActivity {
    pub dhcp_replies: u64,
    pub dhcp_ignored: u64,
    pub tftp_transfers: u64,
    pub tftp_bytes: u64,
    pub http_boots: u64,
    pub http_file_bytes: u64,
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, key: &str) {
    let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
    *m.entry(key.to_string()).or_default() += 1;
}

impl Metrics {
    pub fn dhcp_reply(&self, message_type: &str, arch: &str, mode: &str) {
        let mut m = self.dhcp_replies.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((message_type.into(), arch.into(), mode.into()))
            .or_default() += 1;
    }
    pub fn dhcp_ignored(&self, reason: &str) {
        bump(&self.dhcp_ignored, reason);
    }
    pub fn dhcp_malformed(&self) {
        self.dhcp_malformed.fetch_add(1, Ordering::Relaxed);
    }
    pub fn tftp_transfer(&self, outcome: &str, bytes: u64) {
        bump(&self.tftp_transfers, outcome);
        self.tftp_bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    pub fn tftp_refused(&self, reason: &str) {
        bump(&self.tftp_refused, reason);
    }
    pub fn http_boot(&self) {
        self.http_boots.fetch_add(1, Ordering::Relaxed);
    }
    pub fn http_file_bytes(&self, n: u64) {
        self.http_file_bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// A chunk upload: `created` false when the store already had it.
    pub fn chunk_upload(&self, created: bool) {
        let counter = if created {
            &self.chunks_uploaded
        } else {
            &self.chunks_upload_known
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    pub fn chunk_download(&self, bytes: u64) {
        self.chunk_bytes_sent.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A chunk sent to a site that pulls from this server.
    pub fn sync_chunk_sent(&self, bytes: u64) {
        self.sync_chunks_sent.fetch_add(1, Ordering::Relaxed);
        self.sync_bytes_sent.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A chunk a restore read through to an upstream site for.
    pub fn read_through_chunk(&self) {
        self.read_through_chunks.fetch_add(1, Ordering::Relaxed);
    }

    /// What a session's sender sent since it last said.
    pub fn multicast_sent(&self, bytes: u64, cycles: u64, repair: u64) {
        self.multicast_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.multicast_cycles.fetch_add(cycles, Ordering::Relaxed);
        self.multicast_repair.fetch_add(repair, Ordering::Relaxed);
    }

    pub fn set_session_receivers(&self, by_state: std::collections::HashMap<&'static str, u64>) {
        let mut m = self
            .session_receivers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *m = by_state
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    }

    /// The boot counters since the service started, for the dashboard.
    pub fn boot_activity(&self) -> BootActivity {
        let sum = |m: &Mutex<BTreeMap<String, u64>>| -> u64 {
            m.lock().unwrap_or_else(|e| e.into_inner()).values().sum()
        };
        BootActivity {
            dhcp_replies: self
                .dhcp_replies
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .sum(),
            dhcp_ignored: sum(&self.dhcp_ignored),
            tftp_transfers: sum(&self.tftp_transfers),
            tftp_bytes: self.tftp_bytes.load(Ordering::Relaxed),
            http_boots: self.http_boots.load(Ordering::Relaxed),
            http_file_bytes: self.http_file_bytes.load(Ordering::Relaxed),
        }
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        header(
            &mut s,
            "marrow_dhcp_replies_total",
            "DHCP replies sent, by message type, client architecture and mode.",
        );
        for ((t, arch, mode), n) in self
            .dhcp_replies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                s,
                "marrow_dhcp_replies_total{{type=\"{t}\",arch=\"{arch}\",mode=\"{mode}\"}} {n}"
            );
        }
        by_label(
            &mut s,
            "marrow_dhcp_ignored_total",
            "DHCP requests not answered, by reason.",
            "reason",
            &self.dhcp_ignored,
        );
        scalar(
            &mut s,
            "marrow_dhcp_malformed_total",
            "Datagrams on the DHCP ports that did not parse.",
            &self.dhcp_malformed,
        );
        by_label(
            &mut s,
            "marrow_tftp_transfers_total",
            "TFTP read transfers ended, by outcome.",
            "outcome",
            &self.tftp_transfers,
        );
        scalar(
            &mut s,
            "marrow_tftp_bytes_total",
            "File bytes acknowledged by TFTP clients.",
            &self.tftp_bytes,
        );
        by_label(
            &mut s,
            "marrow_tftp_refused_total",
            "TFTP requests refused, by reason.",
            "reason",
            &self.tftp_refused,
        );
        scalar(
            &mut s,
            "marrow_http_boots_total",
            "iPXE boot scripts served.",
            &self.http_boots,
        );
        scalar(
            &mut s,
            "marrow_http_file_bytes_total",
            "Boot file bytes sent over HTTP.",
            &self.http_file_bytes,
        );
        header(
            &mut s,
            "marrow_chunks_uploaded_total",
            "Chunk uploads by imaging clients, by whether the store already had the chunk.",
        );
        for (label, counter) in [
            ("new", &self.chunks_uploaded),
            ("known", &self.chunks_upload_known),
        ] {
            let _ = writeln!(
                s,
                "marrow_chunks_uploaded_total{{store=\"{label}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        scalar(
            &mut s,
            "marrow_chunk_bytes_sent_total",
            "Compressed chunk bytes sent to restoring clients.",
            &self.chunk_bytes_sent,
        );
        scalar(
            &mut s,
            "marrow_multicast_bytes_sent_total",
            "Datagram bytes multicast sessions sent (symbols and announces).",
            &self.multicast_bytes,
        );
        scalar(
            &mut s,
            "marrow_multicast_cycles_total",
            "Passes of the carousel that multicast sessions began.",
            &self.multicast_cycles,
        );
        scalar(
            &mut s,
            "marrow_multicast_repair_symbols_total",
            "RaptorQ repair symbols multicast sessions sent.",
            &self.multicast_repair,
        );
        scalar(
            &mut s,
            "marrow_sync_chunks_sent_total",
            "Chunks sent to sites that pull from this server.",
            &self.sync_chunks_sent,
        );
        scalar(
            &mut s,
            "marrow_sync_chunk_bytes_sent_total",
            "Compressed chunk bytes sent to sites that pull from this server.",
            &self.sync_bytes_sent,
        );
        scalar(
            &mut s,
            "marrow_read_through_chunks_total",
            "Chunks restores fetched on demand from read-through sites.",
            &self.read_through_chunks,
        );
        let _ = writeln!(
            s,
            "# HELP marrow_session_receivers Receivers of running multicast sessions, by state."
        );
        let _ = writeln!(s, "# TYPE marrow_session_receivers gauge");
        for (state, n) in self
            .session_receivers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(s, "marrow_session_receivers{{state=\"{state}\"}} {n}");
        }
        s
    }
}

/// The `# HELP` and `# TYPE` lines of a counter.
fn header(s: &mut String, name: &str, help: &str) {
    let _ = writeln!(s, "# HELP {name} {help}");
    let _ = writeln!(s, "# TYPE {name} counter");
}

/// A counter without labels.
fn scalar(s: &mut String, name: &str, help: &str, value: &AtomicU64) {
    header(s, name, help);
    let _ = writeln!(s, "{name} {}", value.load(Ordering::Relaxed));
}

/// A counter with one label, a sample per label value.
fn by_label(
    s: &mut String,
    name: &str,
    help: &str,
    label: &str,
    map: &Mutex<BTreeMap<String, u64>>,
) {
    header(s, name, help);
    for (value, n) in map.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let _ = writeln!(s, "{name}{{{label}=\"{value}\"}} {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let m = Metrics::default();
        m.dhcp_reply("offer", "bios", "full");
        m.dhcp_reply("offer", "bios", "full");
        m.tftp_transfer("complete", 1000);
        m.http_boot();
        let text = m.render();
        assert!(
            text.contains(
                "marrow_dhcp_replies_total{type=\"offer\",arch=\"bios\",mode=\"full\"} 2\n"
            ),
            "{text}"
        );
        assert!(text.contains("marrow_tftp_transfers_total{outcome=\"complete\"} 1\n"));
        assert!(text.contains("marrow_tftp_bytes_total 1000\n"));
        assert!(text.contains("marrow_http_boots_total 1\n"));
    }
}
