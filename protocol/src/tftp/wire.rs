//! TFTP packets: RFC 1350 (RRQ, WRQ, DATA, ACK, ERROR), RFC 2347 (options
//! and OACK), RFC 2348 (blksize), RFC 2349 (timeout, tsize), RFC 7440
//! (windowsize).

use crate::error::TftpError;

/// RFC 1350 §5 transfer mode. `mail` is obsolete and refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Octet,
    Netascii,
}

/// The options of RFC 2347 that Marrow understands. Unknown options are kept
/// by name so a log can show them; they are never acknowledged (RFC 2347:
/// the server omits options it does not support from the OACK).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferOptions {
    /// RFC 2348 `blksize`, 8..=65464 bytes of data per DATA packet.
    pub block_size: Option<u16>,
    /// RFC 2349 `timeout`, 1..=255 seconds.
    pub timeout_secs: Option<u8>,
    /// RFC 2349 `tsize`; a reader sends 0 and the server answers the size.
    pub transfer_size: Option<u64>,
    /// RFC 7440 `windowsize`, 1..=65535 blocks sent before an ACK.
    pub window_size: Option<u16>,
    /// Options we do not negotiate, or whose value is out of range.
    pub unknown: Vec<(String, String)>,
}

impl TransferOptions {
    pub fn is_empty(&self) -> bool {
        self.block_size.is_none()
            && self.timeout_secs.is_none()
            && self.transfer_size.is_none()
            && self.window_size.is_none()
    }
}

/// A read or write request: the file name, mode and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub filename: String,
    pub mode: Mode,
    pub options: TransferOptions,
}

/// RFC 1350 §5 and RFC 2347 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    NotDefined,
    FileNotFound,
    AccessViolation,
    DiskFull,
    IllegalOperation,
    UnknownTransferId,
    FileExists,
    NoSuchUser,
    /// RFC 2347: option negotiation refused. PXE ROMs send it (or code 0)
    /// after a `tsize` probe.
    OptionRefused,
    Other(u16),
}

impl ErrorCode {
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::NotDefined => 0,
            ErrorCode::FileNotFound => 1,
            ErrorCode::AccessViolation => 2,
            ErrorCode::DiskFull => 3,
            ErrorCode::IllegalOperation => 4,
            ErrorCode::UnknownTransferId => 5,
            ErrorCode::FileExists => 6,
            ErrorCode::NoSuchUser => 7,
            ErrorCode::OptionRefused => 8,
            ErrorCode::Other(n) => n,
        }
    }

    pub fn from_code(n: u16) -> Self {
        match n {
            0 => ErrorCode::NotDefined,
            1 => ErrorCode::FileNotFound,
            2 => ErrorCode::AccessViolation,
            3 => ErrorCode::DiskFull,
            4 => ErrorCode::IllegalOperation,
            5 => ErrorCode::UnknownTransferId,
            6 => ErrorCode::FileExists,
            7 => ErrorCode::NoSuchUser,
            8 => ErrorCode::OptionRefused,
            n => ErrorCode::Other(n),
        }
    }
}

/// One TFTP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    Rrq(Request),
    Wrq(Request),
    Data {
        block: u16,
        data: &'a [u8],
    },
    Ack {
        block: u16,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
    /// RFC 2347 option acknowledgement, as (name, value) pairs in order.
    Oack(Vec<(String, String)>),
}

const RRQ: u16 = 1;
const WRQ: u16 = 2;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const OACK: u16 = 6;

/// Splits off one NUL-terminated string.
fn take_str<'a>(bytes: &'a [u8], field: &'static str) -> Result<(&'a str, &'a [u8]), TftpError> {
    let end = bytes
        .iter()
        .position(|&b| b == 0)
        .ok_or(TftpError::Unterminated { field })?;
    let s = std::str::from_utf8(&bytes[..end]).map_err(|_| TftpError::NotText { field })?;
    Ok((s, &bytes[end + 1..]))
}

fn parse_request(mut rest: &[u8]) -> Result<Request, TftpError> {
    let (filename, r) = take_str(rest, "filename")?;
    let (mode, r) = take_str(r, "mode")?;
    rest = r;
    let mode = match mode.to_ascii_lowercase().as_str() {
        "octet" => Mode::Octet,
        "netascii" => Mode::Netascii,
        _ => {
            return Err(TftpError::BadMode {
                mode: mode.to_string(),
            })
        }
    };
    let mut options = TransferOptions::default();
    let mut seen: Vec<String> = Vec::new();
    // RFC 2347: options follow the mode as name/value pairs. Some clients pad
    // the request with trailing NULs; an empty name ends the list.
    while !rest.is_empty() {
        let (name, r) = take_str(rest, "option name")?;
        if name.is_empty() {
            break;
        }
        let (value, r) = take_str(r, "option value")?;
        rest = r;
        let lower = name.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Err(TftpError::DuplicateOption {
                name: name.to_string(),
            });
        }
        seen.push(lower.clone());
        let known = match lower.as_str() {
            // RFC 2348 §2: valid values range from 8 through 65464.
            "blksize" => value
                .parse::<u16>()
                .ok()
                .filter(|v| (8..=65464).contains(v))
                .map(|v| options.block_size = Some(v)),
            // RFC 2349 §2: 1 through 255 seconds.
            "timeout" => value
                .parse::<u8>()
                .ok()
                .filter(|v| *v >= 1)
                .map(|v| options.timeout_secs = Some(v)),
            "tsize" => value
                .parse::<u64>()
                .ok()
                .map(|v| options.transfer_size = Some(v)),
            // RFC 7440 §3: 1 through 65535 blocks.
            "windowsize" => value
                .parse::<u16>()
                .ok()
                .filter(|v| *v >= 1)
                .map(|v| options.window_size = Some(v)),
            _ => None,
        };
        if known.is_none() {
            options.unknown.push((name.to_string(), value.to_string()));
        }
    }
    Ok(Request {
        filename: filename.to_string(),
        mode,
        options,
    })
}

impl<'a> Packet<'a> {
    /// Parses one datagram. Never panics, whatever the bytes.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, TftpError> {
        if bytes.len() < 2 {
            return Err(TftpError::Truncated { len: bytes.len() });
        }
        let opcode = u16::from_be_bytes([bytes[0], bytes[1]]);
        let rest = &bytes[2..];
        match opcode {
            RRQ => Ok(Packet::Rrq(parse_request(rest)?)),
            WRQ => Ok(Packet::Wrq(parse_request(rest)?)),
            DATA | ACK | ERROR if rest.len() < 2 => Err(TftpError::Truncated { len: bytes.len() }),
            DATA => Ok(Packet::Data {
                block: u16::from_be_bytes([rest[0], rest[1]]),
                data: &rest[2..],
            }),
            ACK => Ok(Packet::Ack {
                block: u16::from_be_bytes([rest[0], rest[1]]),
            }),
            ERROR => {
                let code = ErrorCode::from_code(u16::from_be_bytes([rest[0], rest[1]]));
                // Some clients omit the message's NUL; take what is there.
                let msg = &rest[2..];
                let end = msg.iter().position(|&b| b == 0).unwrap_or(msg.len());
                let message = String::from_utf8_lossy(&msg[..end]).into_owned();
                Ok(Packet::Error { code, message })
            }
            OACK => {
                let mut pairs = Vec::new();
                let mut r = rest;
                while !r.is_empty() {
                    let (name, r2) = take_str(r, "option name")?;
                    let (value, r3) = take_str(r2, "option value")?;
                    pairs.push((name.to_string(), value.to_string()));
                    r = r3;
                }
                Ok(Packet::Oack(pairs))
            }
            opcode => Err(TftpError::BadOpcode { opcode }),
        }
    }

    /// The number of bytes [`Packet::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        let req_len = |r: &Request| {
            let mode = match r.mode {
                Mode::Octet => "octet".len(),
                Mode::Netascii => "netascii".len(),
            };
            let o = &r.options;
            let opt = |name: &str, v: Option<String>| v.map_or(0, |v| name.len() + v.len() + 2);
            2 + r.filename.len()
                + 1
                + mode
                + 1
                + opt("blksize", o.block_size.map(|v| v.to_string()))
                + opt("timeout", o.timeout_secs.map(|v| v.to_string()))
                + opt("tsize", o.transfer_size.map(|v| v.to_string()))
                + opt("windowsize", o.window_size.map(|v| v.to_string()))
                + o.unknown
                    .iter()
                    .map(|(n, v)| n.len() + v.len() + 2)
                    .sum::<usize>()
        };
        match self {
            Packet::Rrq(r) | Packet::Wrq(r) => req_len(r),
            Packet::Data { data, .. } => 4 + data.len(),
            Packet::Ack { .. } => 4,
            Packet::Error { message, .. } => 4 + message.len() + 1,
            Packet::Oack(pairs) => {
                2 + pairs
                    .iter()
                    .map(|(n, v)| n.len() + v.len() + 2)
                    .sum::<usize>()
            }
        }
    }

    /// Writes the packet into `buf` and returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, TftpError> {
        let len = self.buffer_len();
        if buf.len() < len {
            return Err(TftpError::BufferTooSmall {
                len,
                capacity: buf.len(),
            });
        }
        let mut w = Writer { buf, at: 0 };
        match self {
            Packet::Rrq(r) | Packet::Wrq(r) => {
                w.u16(if matches!(self, Packet::Rrq(_)) {
                    RRQ
                } else {
                    WRQ
                });
                w.cstr(&r.filename);
                w.cstr(match r.mode {
                    Mode::Octet => "octet",
                    Mode::Netascii => "netascii",
                });
                let o = &r.options;
                if let Some(v) = o.block_size {
                    w.pair("blksize", &v.to_string());
                }
                if let Some(v) = o.timeout_secs {
                    w.pair("timeout", &v.to_string());
                }
                if let Some(v) = o.transfer_size {
                    w.pair("tsize", &v.to_string());
                }
                if let Some(v) = o.window_size {
                    w.pair("windowsize", &v.to_string());
                }
                for (n, v) in &o.unknown {
                    w.pair(n, v);
                }
            }
            Packet::Data { block, data } => {
                w.u16(DATA);
                w.u16(*block);
                w.bytes(data);
            }
            Packet::Ack { block } => {
                w.u16(ACK);
                w.u16(*block);
            }
            Packet::Error { code, message } => {
                w.u16(ERROR);
                w.u16(code.code());
                w.cstr(message);
            }
            Packet::Oack(pairs) => {
                w.u16(OACK);
                for (n, v) in pairs {
                    w.pair(n, v);
                }
            }
        }
        Ok(w.at)
    }

    /// Convenience for tests and error replies: the packet as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut buf = vec![0u8; self.buffer_len()];
        let n = self.emit(&mut buf).expect("buffer_len sized the buffer");
        buf.truncate(n);
        buf
    }
}

struct Writer<'b> {
    buf: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }
    fn cstr(&mut self, s: &str) {
        self.bytes(s.as_bytes());
        self.bytes(&[0]);
    }
    fn pair(&mut self, n: &str, v: &str) {
        self.cstr(n);
        self.cstr(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RRQ QEMU's iPXE ROM sends for its second stage (pxe-lab notes):
    /// `blksize=1432` and `tsize=0`.
    const IPXE_RRQ: &[u8] = b"\x00\x01undionly.kpxe\x00octet\x00blksize\x001432\x00tsize\x000\x00";

    #[test]
    fn parses_the_ipxe_rom_read_request() {
        let p = Packet::parse(IPXE_RRQ).unwrap();
        let Packet::Rrq(r) = p else {
            panic!("not an RRQ: {p:?}")
        };
        assert_eq!(r.filename, "undionly.kpxe");
        assert_eq!(r.mode, Mode::Octet);
        assert_eq!(r.options.block_size, Some(1432));
        assert_eq!(r.options.transfer_size, Some(0));
        assert_eq!(r.options.window_size, None);
    }

    #[test]
    fn read_request_round_trips_byte_for_byte() {
        let p = Packet::parse(IPXE_RRQ).unwrap();
        assert_eq!(p.to_vec(), IPXE_RRQ);
    }

    #[test]
    fn keeps_unknown_and_out_of_range_options_aside() {
        let bytes = b"\x00\x01f\x00OCTET\x00blksize\x004\x00multicast\x00\x00";
        let Packet::Rrq(r) = Packet::parse(bytes).unwrap() else {
            panic!()
        };
        assert_eq!(r.options.block_size, None);
        assert_eq!(
            r.options.unknown,
            vec![
                ("blksize".into(), "4".into()),
                ("multicast".into(), "".into())
            ]
        );
    }

    #[test]
    fn data_ack_error_and_oack_round_trip() {
        let packets = [
            Packet::Data {
                block: 7,
                data: b"hello",
            },
            Packet::Ack { block: 65535 },
            Packet::Error {
                code: ErrorCode::FileNotFound,
                message: "no such file".into(),
            },
            Packet::Oack(vec![
                ("tsize".into(), "1234".into()),
                ("blksize".into(), "1468".into()),
            ]),
        ];
        for p in packets {
            let bytes = p.to_vec();
            assert_eq!(Packet::parse(&bytes).unwrap(), p);
        }
    }

    #[test]
    fn refuses_mail_mode_duplicate_options_and_unknown_opcodes() {
        assert!(matches!(
            Packet::parse(b"\x00\x01f\x00mail\x00"),
            Err(TftpError::BadMode { .. })
        ));
        assert!(matches!(
            Packet::parse(b"\x00\x01f\x00octet\x00tsize\x000\x00TSIZE\x000\x00"),
            Err(TftpError::DuplicateOption { .. })
        ));
        assert_eq!(
            Packet::parse(b"\x00\x09"),
            Err(TftpError::BadOpcode { opcode: 9 })
        );
        assert_eq!(Packet::parse(b"\x00"), Err(TftpError::Truncated { len: 1 }));
    }
}
