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

    pub fn render(&self) -> String {
        let mut s = String::new();
        let lock =
            |m: &Mutex<BTreeMap<String, u64>>| m.lock().unwrap_or_else(|e| e.into_inner()).clone();
        s.push_str("# HELP marrow_dhcp_replies_total DHCP replies sent, by message type, client architecture and mode.\n");
        s.push_str("# TYPE marrow_dhcp_replies_total counter\n");
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
        s.push_str("# HELP marrow_dhcp_ignored_total DHCP requests not answered, by reason.\n");
        s.push_str("# TYPE marrow_dhcp_ignored_total counter\n");
        for (r, n) in lock(&self.dhcp_ignored) {
            let _ = writeln!(s, "marrow_dhcp_ignored_total{{reason=\"{r}\"}} {n}");
        }
        s.push_str(
            "# HELP marrow_dhcp_malformed_total Datagrams on the DHCP ports that did not parse.\n",
        );
        s.push_str("# TYPE marrow_dhcp_malformed_total counter\n");
        let _ = writeln!(
            s,
            "marrow_dhcp_malformed_total {}",
            self.dhcp_malformed.load(Ordering::Relaxed)
        );
        s.push_str("# HELP marrow_tftp_transfers_total TFTP read transfers ended, by outcome.\n");
        s.push_str("# TYPE marrow_tftp_transfers_total counter\n");
        for (o, n) in lock(&self.tftp_transfers) {
            let _ = writeln!(s, "marrow_tftp_transfers_total{{outcome=\"{o}\"}} {n}");
        }
        s.push_str("# HELP marrow_tftp_bytes_total File bytes acknowledged by TFTP clients.\n");
        s.push_str("# TYPE marrow_tftp_bytes_total counter\n");
        let _ = writeln!(
            s,
            "marrow_tftp_bytes_total {}",
            self.tftp_bytes.load(Ordering::Relaxed)
        );
        s.push_str("# HELP marrow_tftp_refused_total TFTP requests refused, by reason.\n");
        s.push_str("# TYPE marrow_tftp_refused_total counter\n");
        for (r, n) in lock(&self.tftp_refused) {
            let _ = writeln!(s, "marrow_tftp_refused_total{{reason=\"{r}\"}} {n}");
        }
        s.push_str("# HELP marrow_http_boots_total iPXE boot scripts served.\n");
        s.push_str("# TYPE marrow_http_boots_total counter\n");
        let _ = writeln!(
            s,
            "marrow_http_boots_total {}",
            self.http_boots.load(Ordering::Relaxed)
        );
        s.push_str("# HELP marrow_http_file_bytes_total Boot file bytes sent over HTTP.\n");
        s.push_str("# TYPE marrow_http_file_bytes_total counter\n");
        let _ = writeln!(
            s,
            "marrow_http_file_bytes_total {}",
            self.http_file_bytes.load(Ordering::Relaxed)
        );
        s.push_str("# HELP marrow_chunks_uploaded_total Chunk uploads by imaging clients, by whether the store already had the chunk.\n");
        s.push_str("# TYPE marrow_chunks_uploaded_total counter\n");
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
        s.push_str("# HELP marrow_chunk_bytes_sent_total Compressed chunk bytes sent to restoring clients.\n");
        s.push_str("# TYPE marrow_chunk_bytes_sent_total counter\n");
        let _ = writeln!(
            s,
            "marrow_chunk_bytes_sent_total {}",
            self.chunk_bytes_sent.load(Ordering::Relaxed)
        );
        s
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
