//! Sends a receiver's reports from their own thread, so the receive loop
//! never waits on HTTP: the loop leaves the newest report, the thread
//! posts it and leaves the answer.

use std::sync::{Arc, Condvar, Mutex};

use marrow_protocol::api::session::{ReceiverReport, ReportReply};

use crate::api::Client;
use crate::Error;

#[derive(Default)]
struct Slots {
    outgoing: Option<ReceiverReport>,
    reply: Option<ReportReply>,
    /// The server no longer knows the task (cancelled, or ended).
    gone: Option<String>,
    stop: bool,
}

#[derive(Default)]
pub struct Reporter {
    slots: Mutex<Slots>,
    wake: Condvar,
}

impl Reporter {
    /// Leaves `r` to be sent, replacing one not sent yet.
    pub fn post(&self, r: ReceiverReport) {
        self.slots.lock().unwrap().outgoing = Some(r);
        self.wake.notify_one();
    }

    /// The newest answer, once.
    pub fn take_reply(&self) -> Option<ReportReply> {
        self.slots.lock().unwrap().reply.take()
    }

    pub fn gone(&self) -> Option<String> {
        self.slots.lock().unwrap().gone.clone()
    }

    pub fn stop(&self) {
        self.slots.lock().unwrap().stop = true;
        self.wake.notify_one();
    }

    /// The thread's loop: until [`Reporter::stop`].
    pub fn run(self: &Arc<Self>, client: &Client) {
        let mut warned = false;
        loop {
            let report = {
                let mut s = self.slots.lock().unwrap();
                while s.outgoing.is_none() && !s.stop {
                    s = self.wake.wait(s).unwrap();
                }
                if s.stop {
                    return;
                }
                s.outgoing.take().expect("waited for it")
            };
            match client.session_report(&report) {
                Ok(reply) => self.slots.lock().unwrap().reply = Some(reply),
                // Too soon: the next one goes at its time.
                Err(Error::Server { status: 429, .. }) => {}
                Err(Error::Server {
                    status: 401,
                    message,
                    ..
                }) => {
                    self.slots.lock().unwrap().gone = Some(message);
                    return;
                }
                Err(e) => {
                    if !warned {
                        eprintln!("marrow-client: session report failed (carrying on): {e}");
                        warned = true;
                    }
                }
            }
        }
    }
}
