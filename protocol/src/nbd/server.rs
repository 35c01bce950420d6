//! The handshake and transmission phases of one NBD connection.

use super::wire::*;
use crate::NbdError;

/// Option data longer than this ends the connection: the longest option
/// this server reads is `NBD_OPT_GO` with a name of at most 4096 bytes
/// (the protocol's limit) and a few information requests.
const MAX_OPTION: u32 = 8192;

/// A disk the server offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub name: String,
    pub size: u64,
}

/// What the driver does next, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send(Vec<u8>),
    /// Read `len` bytes at `offset` of the chosen export and send
    /// [`read_reply`] of the outcome.
    Read {
        cookie: u64,
        offset: u64,
        len: u32,
    },
    /// Send nothing more and close.
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    ClientFlags,
    Options,
    Transmission,
    Closed,
}

/// One connection's state.
#[derive(Debug)]
pub struct Server {
    exports: Vec<Export>,
    phase: Phase,
    input: Vec<u8>,
    no_zeroes: bool,
    chosen: Option<usize>,
    /// Bytes of a refused write's payload still to skip.
    discard: u64,
    /// Whether `NBD_OPT_LIST` names the exports. Off where an export's
    /// name is the secret that grants it.
    listable: bool,
}

impl Server {
    /// A connection offering `exports`, and the greeting to send first.
    pub fn new(exports: Vec<Export>) -> (Server, Vec<u8>) {
        let server = Server {
            exports,
            phase: Phase::ClientFlags,
            input: Vec::new(),
            no_zeroes: false,
            chosen: None,
            discard: 0,
            listable: true,
        };
        (server, greeting())
    }

    /// [`Server::new`] whose `NBD_OPT_LIST` is refused (`NBD_REP_ERR_POLICY`).
    pub fn unlisted(exports: Vec<Export>) -> (Server, Vec<u8>) {
        let (mut server, greeting) = Server::new(exports);
        server.listable = false;
        (server, greeting)
    }

    /// The export the client chose, once in transmission.
    pub fn export(&self) -> Option<&Export> {
        self.chosen.map(|i| &self.exports[i])
    }

    /// Takes the client's bytes; an error ends the connection.
    pub fn receive(&mut self, data: &[u8]) -> Result<Vec<Action>, NbdError> {
        self.input.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            if self.discard > 0 {
                let n = self.discard.min(self.input.len() as u64) as usize;
                self.input.drain(..n);
                self.discard -= n as u64;
                if self.discard > 0 {
                    return Ok(out);
                }
            }
            let used = match self.phase {
                Phase::ClientFlags => self.client_flags()?,
                Phase::Options => self.option(&mut out)?,
                Phase::Transmission => self.request(&mut out)?,
                Phase::Closed => {
                    self.input.clear();
                    None
                }
            };
            match used {
                Some(n) => {
                    self.input.drain(..n);
                }
                None => return Ok(out),
            }
        }
    }

    fn client_flags(&mut self) -> Result<Option<usize>, NbdError> {
        if self.input.len() < 4 {
            return Ok(None);
        }
        let flags = be32(&self.input, 0);
        if flags & !(CLIENT_FIXED_NEWSTYLE | CLIENT_NO_ZEROES) != 0 {
            return Err(NbdError::UnknownClientFlags { flags });
        }
        self.no_zeroes = flags & CLIENT_NO_ZEROES != 0;
        self.phase = Phase::Options;
        Ok(Some(4))
    }

    fn find(&self, name: &str) -> Option<usize> {
        // An empty name is the default export (qemu asks for "" when the
        // URL names none).
        if name.is_empty() && !self.exports.is_empty() {
            return Some(0);
        }
        self.exports.iter().position(|e| e.name == name)
    }

    fn option(&mut self, out: &mut Vec<Action>) -> Result<Option<usize>, NbdError> {
        if self.input.len() < 16 {
            return Ok(None);
        }
        let magic = be64(&self.input, 0);
        if magic != IHAVEOPT {
            return Err(NbdError::BadOptionMagic { found: magic });
        }
        let option = be32(&self.input, 8);
        let len = be32(&self.input, 12);
        if len > MAX_OPTION {
            return Err(NbdError::OptionTooLong {
                option,
                len,
                max: MAX_OPTION,
            });
        }
        let end = 16 + len as usize;
        if self.input.len() < end {
            return Ok(None);
        }
        let data = self.input[16..end].to_vec();
        match option {
            OPT_EXPORT_NAME => {
                let name = String::from_utf8_lossy(&data).into_owned();
                let i = self.find(&name).ok_or(NbdError::UnknownExport { name })?;
                let mut b = self.exports[i].size.to_be_bytes().to_vec();
                b.extend_from_slice(&TRANSMISSION_FLAGS.to_be_bytes());
                if !self.no_zeroes {
                    b.extend_from_slice(&[0; 124]);
                }
                out.push(Action::Send(b));
                self.enter(i);
            }
            OPT_ABORT => {
                out.push(Action::Send(option_reply(option, REP_ACK, &[])));
                out.push(Action::Close);
                self.phase = Phase::Closed;
            }
            OPT_LIST if !self.listable => out.push(Action::Send(option_reply(
                option,
                REP_ERR_POLICY,
                b"exports are not listed here",
            ))),
            OPT_LIST if data.is_empty() => {
                for e in &self.exports {
                    let mut d = (e.name.len() as u32).to_be_bytes().to_vec();
                    d.extend_from_slice(e.name.as_bytes());
                    out.push(Action::Send(option_reply(option, REP_SERVER, &d)));
                }
                out.push(Action::Send(option_reply(option, REP_ACK, &[])));
            }
            OPT_INFO | OPT_GO => match parse_info(&data) {
                None => out.push(Action::Send(option_reply(
                    option,
                    REP_ERR_INVALID,
                    b"malformed NBD_OPT_INFO/GO data",
                ))),
                Some((name, requests)) => match self.find(&name) {
                    None => out.push(Action::Send(option_reply(
                        option,
                        REP_ERR_UNKNOWN,
                        format!("no export named {name:?}").as_bytes(),
                    ))),
                    Some(i) => {
                        let size = self.exports[i].size;
                        out.push(Action::Send(option_reply(
                            option,
                            REP_INFO,
                            &info_export(size),
                        )));
                        if requests.contains(&INFO_BLOCK_SIZE) {
                            out.push(Action::Send(option_reply(
                                option,
                                REP_INFO,
                                &info_block_size(),
                            )));
                        }
                        out.push(Action::Send(option_reply(option, REP_ACK, &[])));
                        if option == OPT_GO {
                            self.enter(i);
                        }
                    }
                },
            },
            OPT_LIST => out.push(Action::Send(option_reply(
                option,
                REP_ERR_INVALID,
                b"NBD_OPT_LIST carries no data",
            ))),
            _ => out.push(Action::Send(option_reply(option, REP_ERR_UNSUP, &[]))),
        }
        Ok(Some(end))
    }

    fn enter(&mut self, export: usize) {
        self.chosen = Some(export);
        self.phase = Phase::Transmission;
    }

    fn request(&mut self, out: &mut Vec<Action>) -> Result<Option<usize>, NbdError> {
        if self.input.len() < 28 {
            return Ok(None);
        }
        let b = &self.input;
        let magic = be32(b, 0);
        if magic != REQUEST_MAGIC {
            return Err(NbdError::BadRequestMagic { found: magic });
        }
        let (kind, cookie, offset, len) = (be16(b, 6), be64(b, 8), be64(b, 16), be32(b, 24));
        let size = self.export().map_or(0, |e| e.size);
        match kind {
            CMD_READ => {
                let fits = offset
                    .checked_add(len as u64)
                    .is_some_and(|end| end <= size);
                if len == 0 || len > MAX_READ || !fits {
                    out.push(Action::Send(simple_reply(EINVAL, cookie)));
                } else {
                    out.push(Action::Read {
                        cookie,
                        offset,
                        len,
                    });
                }
            }
            CMD_WRITE => {
                // The payload follows; it is skipped, and the write refused.
                self.discard = len as u64;
                out.push(Action::Send(simple_reply(EPERM, cookie)));
            }
            CMD_DISC => {
                out.push(Action::Close);
                self.phase = Phase::Closed;
            }
            CMD_FLUSH => out.push(Action::Send(simple_reply(0, cookie))),
            // TRIM and WRITE_ZEROES would change a read-only export.
            4 | 6 => out.push(Action::Send(simple_reply(EPERM, cookie))),
            _ => out.push(Action::Send(simple_reply(EINVAL, cookie))),
        }
        Ok(Some(28))
    }
}

/// `NBD_OPT_INFO`/`NBD_OPT_GO` data: the export name and the information
/// requests, or `None` when the lengths do not add up.
fn parse_info(d: &[u8]) -> Option<(String, Vec<u16>)> {
    let name_len = be32(d.get(..4)?, 0) as usize;
    let name = d.get(4..4 + name_len)?;
    let at = 4 + name_len;
    let count = be16(d.get(at..at + 2)?, 0) as usize;
    let reqs = d.get(at + 2..)?;
    if reqs.len() != count * 2 {
        return None;
    }
    let requests = reqs.chunks_exact(2).map(|c| be16(c, 0)).collect();
    Some((String::from_utf8_lossy(name).into_owned(), requests))
}

/// The reply to an [`Action::Read`]: the data, or the error number
/// (`EIO` for a range whose chunk failed its check) with no data.
pub fn read_reply(cookie: u64, outcome: Result<Vec<u8>, u32>) -> Vec<u8> {
    match outcome {
        Ok(data) => {
            let mut b = simple_reply(0, cookie);
            b.extend_from_slice(&data);
            b
        }
        Err(errno) => simple_reply(errno, cookie),
    }
}
