//! One read transfer, server side, as a state machine on caller-supplied
//! time: `handle_input(now, bytes)`, `poll_transmit(now, buf)`,
//! `poll_timeout()`.
//!
//! Behaviour that matters on real firmware:
//! - PXE ROMs (seen on Intel PXE, EDK2 in OVMF) first send an RRQ with only
//!   `tsize`, read the OACK, then send ERROR and a fresh RRQ. An ERROR ends
//!   the transfer at once: no retransmission after it.
//! - A duplicate ACK never triggers a retransmission (RFC 1123 §4.2.3.1, the
//!   Sorcerer's Apprentice bug); only the timeout does.
//! - RFC 7440 §4: an ACK for a block inside the window means the blocks after
//!   it were lost; sending resumes from the block after the ACKed one.
//! - Block numbers roll over from 65535 to 0, as tftp-hpa, curl and iPXE
//!   expect for files over 32 MB at 512-byte blocks.
//!
//! The bytes come from a [`Source`], read one block at a time as it is
//! sent, so a large file is never held in memory: the driver hands in an
//! open file, tests and fuzzing a byte slice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::wire::{ErrorCode, Mode, Packet, Request};
use crate::error::TftpError;

/// Where a transfer's bytes come from.
pub trait Source {
    /// The length in bytes.
    fn len(&self) -> u64;
    /// Fills `buf` with the bytes at `offset` and returns how many it read:
    /// all of `buf`, unless the source ends sooner.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, String>;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Source for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, String> {
        let start = (offset.min(Source::len(self))) as usize;
        let n = buf.len().min(<[u8]>::len(self) - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

impl<S: Source + ?Sized> Source for Arc<S> {
    fn len(&self) -> u64 {
        (**self).len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, String> {
        (**self).read_at(offset, buf)
    }
}

impl<S: Source + ?Sized> Source for Box<S> {
    fn len(&self) -> u64 {
        (**self).len()
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, String> {
        (**self).read_at(offset, buf)
    }
}

/// Netascii files are converted whole before they are sent (the
/// conversion moves every later offset); a larger one is refused.
pub const MAX_NETASCII_BYTES: u64 = 1 << 20;

/// What the server is willing to negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest `blksize` granted (RFC 2348 allows up to 65464).
    pub max_block_size: u16,
    /// Largest `windowsize` granted (RFC 7440).
    pub max_window_size: u16,
    /// Retransmission timeout when the client does not ask for one.
    pub default_timeout: Duration,
    /// Longest `timeout` a client may set (RFC 2349). A longer one is left
    /// out of the OACK, since RFC 2349 §2 lets the server only echo the
    /// value or decline it, and `default_timeout` applies: a client that
    /// never ACKs then holds its transfer for seconds, not minutes.
    pub max_timeout: Duration,
    /// Retransmissions of one window before the transfer is abandoned.
    pub max_retries: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_block_size: 65464,
            max_window_size: 64,
            default_timeout: Duration::from_secs(1),
            max_timeout: Duration::from_secs(10),
            max_retries: 5,
        }
    }
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The last block was acknowledged.
    Complete,
    /// The client sent ERROR (for example after a `tsize` probe).
    ClientError { code: ErrorCode, message: String },
    /// No acknowledgement after `max_retries` retransmissions.
    TimedOut,
    /// The source could not be read; the client was sent an ERROR.
    ReadFailed { detail: String },
}

/// The bytes a transfer sends: the source itself, or a netascii copy.
#[derive(Debug)]
enum Data<S> {
    Source(S),
    Converted(Arc<[u8]>),
}

/// RFC 1350 data block length when no `blksize` is negotiated.
const DEFAULT_BLOCK_SIZE: usize = 512;

#[derive(Debug)]
pub struct Transfer<S> {
    data: Data<S>,
    len: u64,
    block_size: usize,
    window_size: u64,
    timeout: Duration,
    max_retries: u32,
    /// The OACK to send, until the client acknowledges it with ACK 0.
    oack: Option<Vec<(String, String)>>,
    oack_sent: bool,
    /// First block not yet acknowledged (blocks are numbered from 1).
    base: u64,
    /// Next block to send.
    next: u64,
    /// Number of the final block (shorter than `block_size`, possibly empty).
    last: u64,
    deadline: Option<Instant>,
    retries: u32,
    outcome: Option<Outcome>,
}

impl<S: Source> Transfer<S> {
    /// Starts serving `request` from `source`. Options the client asked for
    /// are granted within `limits` and confirmed in an OACK (RFC 2347);
    /// without options, DATA 1 goes out first. A netascii request reads and
    /// converts the whole source now; it is refused (with the reason) when
    /// the source is over [`MAX_NETASCII_BYTES`] or cannot be read.
    pub fn new(request: &Request, source: S, limits: Limits) -> Result<Self, String> {
        let data = match request.mode {
            Mode::Octet => Data::Source(source),
            Mode::Netascii => {
                if source.len() > MAX_NETASCII_BYTES {
                    return Err(format!(
                        "netascii transfers are limited to {MAX_NETASCII_BYTES} bytes; ask in octet mode"
                    ));
                }
                let mut raw = vec![0u8; source.len() as usize];
                let n = source.read_at(0, &mut raw)?;
                raw.truncate(n);
                Data::Converted(to_netascii(&raw).into())
            }
        };
        let len = match &data {
            Data::Source(s) => s.len(),
            Data::Converted(c) => Source::len(c),
        };
        let opts = &request.options;
        let mut oack = Vec::new();
        let mut block_size = DEFAULT_BLOCK_SIZE;
        if let Some(b) = opts.block_size {
            let granted = b.min(limits.max_block_size);
            block_size = usize::from(granted);
            oack.push(("blksize".to_string(), granted.to_string()));
        }
        let mut timeout = limits.default_timeout;
        if let Some(t) = opts.timeout_secs {
            let asked = Duration::from_secs(u64::from(t));
            if asked <= limits.max_timeout {
                timeout = asked;
                oack.push(("timeout".to_string(), t.to_string()));
            }
        }
        if opts.transfer_size.is_some() {
            // RFC 2349 §4: a reader sends 0; the OACK carries the size.
            oack.push(("tsize".to_string(), len.to_string()));
        }
        let mut window_size = 1;
        if let Some(w) = opts.window_size {
            let granted = w.min(limits.max_window_size).max(1);
            window_size = u64::from(granted);
            oack.push(("windowsize".to_string(), granted.to_string()));
        }
        let last = len / block_size as u64 + 1;
        let has_oack = !oack.is_empty();
        Ok(Transfer {
            data,
            len,
            block_size,
            window_size,
            timeout,
            max_retries: limits.max_retries,
            oack: has_oack.then_some(oack),
            oack_sent: false,
            base: 1,
            next: 1,
            last,
            deadline: None,
            retries: 0,
            outcome: None,
        })
    }

    /// The negotiated data block length.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// The negotiated window (1 is RFC 1350 lockstep).
    pub fn window_size(&self) -> u64 {
        self.window_size
    }

    /// The bytes this transfer carries (after netascii conversion).
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How the transfer ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    /// Bytes of file data the client has acknowledged.
    pub fn bytes_acknowledged(&self) -> u64 {
        ((self.base - 1) * self.block_size as u64).min(self.len)
    }

    /// When `poll_transmit` must next be called even if no packet arrives.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.outcome.is_some() {
            return None;
        }
        self.deadline
    }

    /// Feeds one datagram from the client's transfer id.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), TftpError> {
        if self.outcome.is_some() {
            return Ok(());
        }
        match Packet::parse(bytes)? {
            Packet::Ack { block } => self.on_ack(now, block),
            Packet::Error { code, message } => {
                self.outcome = Some(Outcome::ClientError { code, message });
                self.deadline = None;
            }
            // RFC 1350 leaves other packets on an open transfer undefined;
            // ignoring them keeps a confused client from killing the transfer.
            _ => {}
        }
        Ok(())
    }

    fn on_ack(&mut self, _now: Instant, block: u16) {
        if self.oack.is_some() {
            if block == 0 {
                // RFC 2347: ACK 0 accepts the OACK; data starts at block 1.
                self.oack = None;
                self.retries = 0;
                self.deadline = None;
            }
            return;
        }
        // Find the sent block this 16-bit number names: the window spans
        // base-1 (a duplicate of the previous ACK) to next-1.
        let low = self.base - 1;
        let high = self.next.saturating_sub(1).max(low);
        let Some(acked) = (low..=high).rev().find(|i| (*i & 0xffff) as u16 == block) else {
            return;
        };
        if acked < self.base {
            return; // duplicate: never retransmit on it (RFC 1123 §4.2.3.1)
        }
        self.base = acked + 1;
        self.retries = 0;
        if self.base > self.last {
            self.outcome = Some(Outcome::Complete);
            self.deadline = None;
            return;
        }
        if self.next > self.base && acked + 1 < self.next {
            // RFC 7440 §4: the client saw a gap after `acked`; resend from it.
            self.next = self.base;
        }
        self.deadline = None;
    }

    /// Writes the next datagram to send into `buf` (which must hold
    /// `block_size + 4` bytes) and returns its length, or `None` when
    /// nothing is due before [`Transfer::poll_timeout`].
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if self.outcome.is_some() {
            return None;
        }
        if let Some(deadline) = self.deadline {
            if now >= deadline {
                self.retries += 1;
                if self.retries > self.max_retries {
                    self.outcome = Some(Outcome::TimedOut);
                    self.deadline = None;
                    return None;
                }
                // Go back and send the whole unacknowledged window again.
                self.oack_sent = false;
                self.next = self.base;
                self.deadline = None;
            }
        }
        if let Some(oack) = &self.oack {
            if self.oack_sent {
                return None;
            }
            self.oack_sent = true;
            self.deadline = Some(now + self.timeout);
            return Packet::Oack(oack.clone()).emit(buf).ok();
        }
        if self.next > self.last || self.next >= self.base + self.window_size {
            return None;
        }
        let block = self.next;
        let start = (block - 1)
            .saturating_mul(self.block_size as u64)
            .min(self.len);
        let want = ((start + self.block_size as u64).min(self.len) - start) as usize;
        if buf.len() < 4 + want {
            return None;
        }
        // RFC 1350 §5: DATA is opcode 3, the block number, then the bytes,
        // read straight into the packet.
        buf[..2].copy_from_slice(&3u16.to_be_bytes());
        buf[2..4].copy_from_slice(&((block & 0xffff) as u16).to_be_bytes());
        let read = match &self.data {
            Data::Source(s) => s.read_at(start, &mut buf[4..4 + want]),
            Data::Converted(c) => c[..].read_at(start, &mut buf[4..4 + want]),
        };
        match read {
            Ok(n) if n == want => {}
            other => {
                let detail = match other {
                    Ok(n) => format!("read {n} of {want} bytes at offset {start}: the file shrank"),
                    Err(e) => e,
                };
                self.outcome = Some(Outcome::ReadFailed { detail });
                self.deadline = None;
                let error = Packet::Error {
                    code: ErrorCode::NotDefined,
                    message: "read error on the server".into(),
                };
                return error.emit(buf).ok();
            }
        }
        self.next += 1;
        self.deadline = Some(now + self.timeout);
        Some(4 + want)
    }
}

/// RFC 1350 / RFC 764 netascii: LF becomes CR LF, a bare CR becomes CR NUL.
fn to_netascii(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    for &b in data {
        match b {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\r' => out.extend_from_slice(b"\r\0"),
            b => out.push(b),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tftp::TransferOptions;

    fn rrq(options: TransferOptions) -> Request {
        Request {
            filename: "f".into(),
            mode: Mode::Octet,
            options,
        }
    }

    fn file(len: usize) -> Arc<[u8]> {
        (0..len)
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<u8>>()
            .into()
    }

    fn ack(block: u16) -> Vec<u8> {
        Packet::Ack { block }.to_vec()
    }

    /// Sends everything due now; returns the parsed packets as owned values.
    fn drain<S: Source>(t: &mut Transfer<S>, now: Instant) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 70000];
        while let Some(n) = t.poll_transmit(now, &mut buf) {
            match Packet::parse(&buf[..n]).unwrap() {
                Packet::Data { block, data } => out.push((block, data.to_vec())),
                Packet::Oack(pairs) => {
                    let s: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    out.push((u16::MAX, s.join(",").into_bytes()))
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    }

    #[test]
    fn lockstep_transfer_sends_one_block_per_ack_and_completes() {
        let t0 = Instant::now();
        let data = file(1200);
        let mut t = Transfer::new(
            &rrq(TransferOptions::default()),
            data.clone(),
            Limits::default(),
        )
        .unwrap();
        let mut got = Vec::new();
        for expect in 1..=3u16 {
            let sent = drain(&mut t, t0);
            assert_eq!(sent.len(), 1, "lockstep sends exactly one block");
            assert_eq!(sent[0].0, expect);
            got.extend_from_slice(&sent[0].1);
            t.handle_input(t0, &ack(expect)).unwrap();
        }
        assert_eq!(t.outcome(), Some(&Outcome::Complete));
        assert_eq!(&got[..], &data[..]);
        assert_eq!(t.poll_timeout(), None);
    }

    #[test]
    fn file_of_exact_block_multiple_ends_with_an_empty_block() {
        let t0 = Instant::now();
        let mut t = Transfer::new(
            &rrq(TransferOptions::default()),
            file(1024),
            Limits::default(),
        )
        .unwrap();
        for b in 1..=2 {
            assert_eq!(drain(&mut t, t0)[0].1.len(), 512);
            t.handle_input(t0, &ack(b)).unwrap();
        }
        let last = drain(&mut t, t0);
        assert_eq!(last, vec![(3, vec![])]);
        t.handle_input(t0, &ack(3)).unwrap();
        assert_eq!(t.outcome(), Some(&Outcome::Complete));
    }

    #[test]
    fn blksize_and_tsize_are_confirmed_in_an_oack_before_data() {
        let t0 = Instant::now();
        let opts = TransferOptions {
            block_size: Some(1432),
            transfer_size: Some(0),
            ..Default::default()
        };
        let mut t = Transfer::new(&rrq(opts), file(3000), Limits::default()).unwrap();
        let first = drain(&mut t, t0);
        assert_eq!(first, vec![(u16::MAX, b"blksize=1432,tsize=3000".to_vec())]);
        t.handle_input(t0, &ack(0)).unwrap();
        let sent = drain(&mut t, t0);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].1.len(), 1432);
    }

    #[test]
    fn blksize_is_capped_at_the_server_limit() {
        let opts = TransferOptions {
            block_size: Some(9000),
            ..Default::default()
        };
        let limits = Limits {
            max_block_size: 1468,
            ..Limits::default()
        };
        let t = Transfer::new(&rrq(opts), file(10), limits).unwrap();
        assert_eq!(t.block_size(), 1468);
    }

    #[test]
    fn tsize_probe_then_error_ends_the_transfer_without_retransmitting() {
        // EDK2 (OVMF) and Intel PXE: RRQ tsize=0, read OACK, send ERROR.
        let t0 = Instant::now();
        let opts = TransferOptions {
            transfer_size: Some(0),
            ..Default::default()
        };
        let mut t = Transfer::new(&rrq(opts), file(5000), Limits::default()).unwrap();
        assert_eq!(drain(&mut t, t0).len(), 1);
        let err = Packet::Error {
            code: ErrorCode::OptionRefused,
            message: "tsize only".into(),
        };
        t.handle_input(t0, &err.to_vec()).unwrap();
        assert!(matches!(
            t.outcome(),
            Some(Outcome::ClientError {
                code: ErrorCode::OptionRefused,
                ..
            })
        ));
        assert_eq!(t.poll_timeout(), None);
        assert!(drain(&mut t, t0 + Duration::from_secs(60)).is_empty());
    }

    #[test]
    fn windowsize_sends_a_window_then_waits_for_its_last_ack() {
        let t0 = Instant::now();
        let opts = TransferOptions {
            block_size: Some(512),
            window_size: Some(4),
            ..Default::default()
        };
        let mut t = Transfer::new(&rrq(opts), file(512 * 10 + 5), Limits::default()).unwrap();
        drain(&mut t, t0);
        t.handle_input(t0, &ack(0)).unwrap();
        let w1: Vec<u16> = drain(&mut t, t0).into_iter().map(|p| p.0).collect();
        assert_eq!(w1, vec![1, 2, 3, 4]);
        t.handle_input(t0, &ack(4)).unwrap();
        let w2: Vec<u16> = drain(&mut t, t0).into_iter().map(|p| p.0).collect();
        assert_eq!(w2, vec![5, 6, 7, 8]);
    }

    #[test]
    fn ack_inside_the_window_resends_from_the_gap() {
        // RFC 7440 §4: block 7 was lost, the client ACKs 6.
        let t0 = Instant::now();
        let opts = TransferOptions {
            block_size: Some(512),
            window_size: Some(4),
            ..Default::default()
        };
        let mut t = Transfer::new(&rrq(opts), file(512 * 10 + 5), Limits::default()).unwrap();
        drain(&mut t, t0);
        t.handle_input(t0, &ack(0)).unwrap();
        drain(&mut t, t0);
        t.handle_input(t0, &ack(4)).unwrap();
        drain(&mut t, t0);
        t.handle_input(t0, &ack(6)).unwrap();
        let again: Vec<u16> = drain(&mut t, t0).into_iter().map(|p| p.0).collect();
        assert_eq!(again, vec![7, 8, 9, 10]);
    }

    #[test]
    fn duplicate_ack_does_not_retransmit() {
        let t0 = Instant::now();
        let mut t = Transfer::new(
            &rrq(TransferOptions::default()),
            file(2000),
            Limits::default(),
        )
        .unwrap();
        drain(&mut t, t0);
        t.handle_input(t0, &ack(1)).unwrap();
        assert_eq!(drain(&mut t, t0).len(), 1);
        t.handle_input(t0, &ack(1)).unwrap();
        assert!(
            drain(&mut t, t0).is_empty(),
            "Sorcerer's Apprentice: no resend on a duplicate"
        );
    }

    #[test]
    fn retransmits_the_window_on_timeout_and_gives_up_after_the_retry_limit() {
        let t0 = Instant::now();
        let limits = Limits {
            max_retries: 2,
            ..Limits::default()
        };
        let mut t = Transfer::new(&rrq(TransferOptions::default()), file(2000), limits).unwrap();
        assert_eq!(drain(&mut t, t0)[0].0, 1);
        let deadline = t.poll_timeout().unwrap();
        assert_eq!(deadline, t0 + Duration::from_secs(1));
        assert!(drain(&mut t, t0 + Duration::from_millis(999)).is_empty());
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(drain(&mut t, t1)[0].0, 1, "first retransmission");
        let t2 = t1 + Duration::from_secs(1);
        assert_eq!(drain(&mut t, t2)[0].0, 1, "second retransmission");
        let t3 = t2 + Duration::from_secs(1);
        assert!(drain(&mut t, t3).is_empty());
        assert_eq!(t.outcome(), Some(&Outcome::TimedOut));
    }

    #[test]
    fn client_timeout_option_sets_the_retransmission_interval() {
        let t0 = Instant::now();
        let opts = TransferOptions {
            timeout_secs: Some(3),
            ..Default::default()
        };
        let mut t = Transfer::new(&rrq(opts), file(10), Limits::default()).unwrap();
        drain(&mut t, t0);
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(3)));
        assert_eq!(
            drain(&mut t, t0 + Duration::from_secs(3)).len(),
            1,
            "OACK resent"
        );
    }

    #[test]
    fn block_numbers_roll_over_from_65535_to_zero() {
        let t0 = Instant::now();
        let opts = TransferOptions {
            block_size: Some(8),
            window_size: Some(64),
            ..Default::default()
        };
        let data = file(8 * 65540);
        let mut t = Transfer::new(&rrq(opts), data.clone(), Limits::default()).unwrap();
        drain(&mut t, t0);
        t.handle_input(t0, &ack(0)).unwrap();
        let mut got = Vec::new();
        let mut seen_zero = false;
        while t.outcome().is_none() {
            let sent = drain(&mut t, t0);
            assert!(!sent.is_empty());
            for (b, d) in &sent {
                seen_zero |= *b == 0;
                got.extend_from_slice(d);
            }
            t.handle_input(t0, &ack(sent.last().unwrap().0)).unwrap();
        }
        assert!(seen_zero);
        assert_eq!(&got[..], &data[..]);
    }

    #[test]
    fn netascii_mode_expands_line_ends() {
        let t0 = Instant::now();
        let req = Request {
            filename: "f".into(),
            mode: Mode::Netascii,
            options: Default::default(),
        };
        let mut t =
            Transfer::new(&req, Arc::<[u8]>::from(&b"a\nb\rc"[..]), Limits::default()).unwrap();
        assert_eq!(drain(&mut t, t0), vec![(1, b"a\r\nb\r\0c".to_vec())]);
    }

    #[test]
    fn a_timeout_over_the_cap_is_declined_and_the_default_applies() {
        let t0 = Instant::now();
        let opts = TransferOptions {
            timeout_secs: Some(255),
            transfer_size: Some(0),
            ..TransferOptions::default()
        };
        let mut t = Transfer::new(&rrq(opts), file(100), Limits::default()).unwrap();
        let sent = drain(&mut t, t0);
        assert_eq!(sent[0].1, b"tsize=100", "timeout is not acknowledged");
        assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    }

    struct Failing;

    impl Source for Failing {
        fn len(&self) -> u64 {
            5000
        }

        fn read_at(&self, offset: u64, _buf: &mut [u8]) -> Result<usize, String> {
            Err(format!("disk error at {offset}"))
        }
    }

    #[test]
    fn a_source_that_cannot_be_read_ends_the_transfer_with_an_error_packet() {
        let t0 = Instant::now();
        let mut t =
            Transfer::new(&rrq(TransferOptions::default()), Failing, Limits::default()).unwrap();
        let mut buf = vec![0u8; 1024];
        let n = t.poll_transmit(t0, &mut buf).unwrap();
        assert!(matches!(
            Packet::parse(&buf[..n]).unwrap(),
            Packet::Error {
                code: ErrorCode::NotDefined,
                ..
            }
        ));
        match t.outcome() {
            Some(Outcome::ReadFailed { detail }) => assert!(detail.contains("at 0"), "{detail}"),
            other => panic!("{other:?}"),
        }
        assert!(t.poll_transmit(t0, &mut buf).is_none());
    }

    #[test]
    fn a_large_netascii_file_is_refused_naming_the_limit() {
        let req = Request {
            filename: "f".into(),
            mode: Mode::Netascii,
            options: TransferOptions::default(),
        };
        let big = file(MAX_NETASCII_BYTES as usize + 1);
        let err = Transfer::new(&req, big, Limits::default()).unwrap_err();
        assert!(err.contains(&MAX_NETASCII_BYTES.to_string()), "{err}");
    }
}
