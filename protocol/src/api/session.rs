//! The bodies of a multicast session's client calls: a receiver joins
//! ([`Join`]), then reports about once a second ([`ReceiverReport`]) and
//! learns from each answer ([`ReportReply`]) whether the session runs and
//! whether it is to carry on by multicast or fetch the rest over HTTP.
//! Feedback goes to the server by unicast HTTP, authenticated by the
//! task's token like every other client call.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::multicast::{RangeSet, SessionId};
use marrow_ids::ImageId;

/// A session's state, as `marrow session list|show` print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    /// Made, members may join; not sending yet (see the start policy).
    Waiting,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Waiting => "waiting",
            SessionState::Running => "running",
            SessionState::Done => "done",
            SessionState::Failed => "failed",
            SessionState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<SessionState> {
        Some(match s {
            "waiting" => SessionState::Waiting,
            "running" => SessionState::Running,
            "done" => SessionState::Done,
            "failed" => SessionState::Failed,
            "cancelled" => SessionState::Cancelled,
            _ => return None,
        })
    }

    /// Waiting or running: the session may still send.
    pub fn is_active(self) -> bool {
        matches!(self, SessionState::Waiting | SessionState::Running)
    }
}

/// Where a running session's frames go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub group: Ipv4Addr,
    pub port: u16,
}

/// The answer to a join: the session as the receiver needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    /// The session's number (`marrow session show ID`).
    pub id: i64,
    /// The id its frames carry.
    pub wire_id: SessionId,
    pub manifest: ImageId,
    pub state: SessionState,
    /// Set once the session runs.
    pub channel: Option<Channel>,
    /// The symbol size T of its frames.
    pub symbol_size: u16,
    /// Chunks in its table (the image's distinct chunks, in first-use order).
    pub chunk_count: u32,
    /// How often to report, in milliseconds.
    pub report_ms: u32,
}

/// What a receiver is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiverPhase {
    /// Comparing its disk with the image (the delta pass).
    Scanning,
    /// Knows what it has; waiting for the session to run.
    Ready,
    /// Taking chunks from the group.
    Receiving,
    /// Fetching the rest over HTTP (and still taking what the group sends).
    Unicast,
    /// Every chunk written and verified.
    Done,
    /// Gave up; the task's report says why.
    Failed,
}

impl ReceiverPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiverPhase::Scanning => "scanning",
            ReceiverPhase::Ready => "ready",
            ReceiverPhase::Receiving => "receiving",
            ReceiverPhase::Unicast => "unicast",
            ReceiverPhase::Done => "done",
            ReceiverPhase::Failed => "failed",
        }
    }
}

/// Most partly received chunks one report lists.
pub const MAX_PARTIAL: usize = 512;
/// Most ranges one report's `done` may hold (a receiver whose disk held an
/// older image can have a scattered set; this bounds a report at about
/// 1 MB).
pub const MAX_DONE_RANGES: usize = 65536;

/// A receiver's report. Counters are totals since the receiver started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverReport {
    pub phase: ReceiverPhase,
    /// Chunks written and verified (by index in the session's table).
    pub done: RangeSet,
    /// Chunks partly received: `[index, symbols held, highest ESI held]`
    /// (the sender sends higher ESIs next, so they are new to it).
    pub partial: Vec<[u32; 3]>,
    /// Symbol frames of this session received.
    pub received: u64,
    /// The highest symbol frame sequence number seen (0: none yet).
    pub last_seq: u64,
    /// Stored bytes of the chunks that came by multicast, and by HTTP.
    pub multicast_bytes: u64,
    pub unicast_bytes: u64,
    /// Plain data bytes written or found in place, of `total_bytes`.
    pub done_bytes: u64,
    pub total_bytes: u64,
    /// No frame of the session arrived for a while although it runs: the
    /// group does not reach this receiver.
    pub silent: bool,
    /// Chunks whose symbols decoded to bytes that failed verification.
    pub corrupt: u64,
    /// Frames refused (malformed, or another session's or image's).
    pub ignored: u64,
}

/// How a receiver is to carry on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Multicast,
    /// Fetch what is missing over HTTP.
    Unicast,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportReply {
    pub state: SessionState,
    pub channel: Option<Channel>,
    pub mode: Mode,
    /// Why the receiver was moved to unicast.
    pub reason: Option<String>,
}
