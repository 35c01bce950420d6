//! The boot service's DHCP policy as a pure function:
//! `decide(request, site, pool, now, arrival) -> Decision`.
//!
//! The socket driver parses, calls this, and sends what it returns. Nothing
//! here touches the network, the clock or the database: the pool is plain
//! state and `now` is an argument, so every rule below is tested on
//! hand-made packets.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::arch::{arch_from_vendor_class, Arch};
use super::pool::Lease;
use super::scopes::{Scope, Scopes};
use super::wire::{code, MessageType, Packet, OP_REPLY, OP_REQUEST};
use crate::error::DhcpError;
use crate::routes;
use crate::{grub, MacAddr};

/// Option 175 carrying iPXE's sub-option 176 (`no-pxedhcp`) = 1: iPXE then
/// skips its 2 s wait for ProxyDHCP offers (measured on QEMU's iPXE ROM).
/// Sent only when Marrow is the only DHCP server on the segment.
pub const IPXE_NO_PXEDHCP: [u8; 3] = [176, 1, 1];

/// PXE 2.1 §2.4, vendor option 43 sub-option 6 (PXE_DISCOVERY_CONTROL) = 8:
/// "boot the file named in this offer; no boot server discovery", then END.
const PXE_VENDOR_BOOT_FROM_FILE: [u8; 4] = [6, 1, 8, 255];

/// What kind of client sent the request (option 60, cross-checked with 93).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// An ordinary DHCP client (an OS, udhcpc): address only.
    Plain,
    /// A PXE ROM or iPXE: `PXEClient` vendor class or option 93 present.
    Pxe,
    /// UEFI HTTP boot: `HTTPClient` vendor class.
    HttpBoot,
}

/// A client request, checked and with the fields the policy reads pulled out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub packet: Packet,
    pub message_type: MessageType,
    pub mac: MacAddr,
    pub kind: ClientKind,
    /// Option 93, else the `Arch:` field of option 60.
    pub arch: Option<Arch>,
    /// Option 93 and the `Arch:` field of option 60 name different
    /// architectures (option 93 wins, RFC 4578 §2.1); kept for the log.
    pub arch_conflict: Option<(u16, u16)>,
    /// Option 60 as text.
    pub vendor_class: Option<String>,
    /// iPXE identified itself (option 77 `iPXE` or option 175 present).
    pub is_ipxe: bool,
    /// Option 97 as a GUID string, `None` when absent or all zeros.
    pub client_uuid: Option<String>,
    /// Option 50.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
}

impl Request {
    /// Parses a datagram that arrived on a server port. Replies, non-Ethernet
    /// clients, option overloading and packets without a message type are
    /// refused with the reason.
    pub fn parse(bytes: &[u8]) -> Result<Self, DhcpError> {
        let packet = Packet::parse(bytes)?;
        if packet.op != OP_REQUEST {
            return Err(DhcpError::NotRequest { op: packet.op });
        }
        let mac = packet.mac().ok_or(DhcpError::NotEthernet {
            htype: packet.htype,
            hlen: packet.hlen,
        })?;
        if let Some(v) = packet.option(code::OVERLOAD) {
            // RFC 2132 §9.3: sname/file would hold more options. No PXE
            // client does this; refusing is simpler than a second parser.
            return Err(DhcpError::Overload {
                value: v.first().copied().unwrap_or(0),
            });
        }
        let message_type = packet.message_type().ok_or(DhcpError::NoMessageType)?;
        let vendor_class = packet
            .option(code::VENDOR_CLASS)
            .map(|v| String::from_utf8_lossy(v).into_owned());
        let arch_93 = match packet.option(code::CLIENT_ARCH) {
            // RFC 4578 §2.1: a list of 16-bit types; the first is preferred.
            Some([hi, lo, ..]) => Some(u16::from_be_bytes([*hi, *lo])),
            _ => None,
        };
        let arch_60 = vendor_class.as_deref().and_then(arch_from_vendor_class);
        let arch = arch_93.or(arch_60).map(Arch::from_code);
        let arch_conflict = match (arch_93, arch_60) {
            (Some(a), Some(b)) if Arch::from_code(a) != Arch::from_code(b) => Some((a, b)),
            _ => None,
        };
        let kind = match vendor_class.as_deref() {
            Some(c) if c.starts_with("HTTPClient") => ClientKind::HttpBoot,
            Some(c) if c.starts_with("PXEClient") => ClientKind::Pxe,
            _ if arch_93.is_some() => ClientKind::Pxe,
            _ => ClientKind::Plain,
        };
        // iPXE sends user class "iPXE" raw (not RFC 3004 length-prefixed),
        // and always option 175; either marks it (ipxe.org/howto/chainloading).
        let is_ipxe = packet
            .option(code::USER_CLASS)
            .is_some_and(|v| v.windows(4).any(|w| w == b"iPXE"))
            || packet.option(code::IPXE_ENCAP).is_some();
        let client_uuid = packet
            .option(code::CLIENT_UUID)
            .and_then(format_client_uuid);
        let ip = |c| match packet.option(c) {
            Some([a, b, c, d]) => Some(Ipv4Addr::new(*a, *b, *c, *d)),
            _ => None,
        };
        let requested_ip = ip(code::REQUESTED_IP);
        let server_id = ip(code::SERVER_ID);
        Ok(Request {
            message_type,
            mac,
            kind,
            arch,
            arch_conflict,
            vendor_class,
            is_ipxe,
            client_uuid,
            requested_ip,
            server_id,
            packet,
        })
    }
}

/// RFC 4578 §2.3: type 0 then 16 octets. The first three GUID fields are
/// little-endian on the wire (seen with QEMU `-uuid` on SeaBIOS and OVMF),
/// so they are swapped back to print the SMBIOS UUID.
fn format_client_uuid(v: &[u8]) -> Option<String> {
    let [0, g @ ..] = v else { return None };
    if g.len() != 16 || g.iter().all(|b| *b == 0) {
        return None;
    }
    Some(format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]
    ))
}

/// How Marrow takes part in DHCP on a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// ProxyDHCP (PXE 2.1 §2.2.4): boot information only, beside another
    /// server that hands out addresses.
    Proxy,
    /// The only DHCP server: addresses and boot information.
    Full,
}

/// Boot file names (relative to the TFTP root) per architecture. `None`
/// means the file is not installed, and such clients are not answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootFiles {
    pub bios: Option<String>,
    pub uefi_ia32: Option<String>,
    pub uefi_x64: Option<String>,
    pub uefi_arm64: Option<String>,
    /// Debian's signed shim and network GRUB are in the data directory's
    /// boot folder (served as `marrow/shimx64.efi` over TFTP).
    pub signed_x64: bool,
}

/// What a UEFI x64 client is sent first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UefiChain {
    /// `boot.uefi_x64` (iPXE): menus, HTTP transfers, but refused by
    /// firmware with Secure Boot on (Debian's iPXE is unsigned).
    Ipxe,
    /// shim (signed by Microsoft's UEFI CA) → GRUB → kernel (signed by
    /// Debian), which boots with Secure Boot on or off.
    #[default]
    Signed,
}

impl UefiChain {
    /// `ipxe` or `signed`, as the configuration and the CLI spell it.
    pub fn name(self) -> &'static str {
        match self {
            UefiChain::Ipxe => "ipxe",
            UefiChain::Signed => "signed",
        }
    }

    /// The chain a name means; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ipxe" => Some(UefiChain::Ipxe),
            "signed" => Some(UefiChain::Signed),
            _ => None,
        }
    }
}

impl BootFiles {
    fn for_arch(&self, arch: Arch) -> Option<&str> {
        match arch {
            Arch::Bios => self.bios.as_deref(),
            Arch::UefiIa32 | Arch::HttpIa32 => self.uefi_ia32.as_deref(),
            Arch::UefiX64 | Arch::HttpX64 => self.uefi_x64.as_deref(),
            Arch::UefiArm64 | Arch::HttpArm64 => self.uefi_arm64.as_deref(),
            Arch::UefiArm32 | Arch::Other(_) => None,
        }
    }
}

/// Address parameters handed out in `full` mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub subnet_mask: Ipv4Addr,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub lease_secs: u32,
}

/// Everything about the arrival interface the policy needs.
#[derive(Debug, Clone)]
pub struct Site {
    pub mode: Mode,
    /// Marrow's address for clients: option 54 and `siaddr` (the
    /// interface's, or the configured advertised address).
    pub server_ip: Ipv4Addr,
    /// The arrival interface's own address: in `full` mode, a request
    /// without a relay gets an address from the pool of its subnet.
    pub interface_ip: Ipv4Addr,
    /// Base URL of Marrow's HTTP service, e.g. `http://10.0.0.1:8080`.
    pub http_base: String,
    pub boot_files: BootFiles,
    /// The chain for the requesting host: the configuration's, or the
    /// host's own (`host set --uefi-boot`), filled in by the driver. Taken
    /// only when `boot_files.signed_x64`; else UEFI x64 gets iPXE.
    pub uefi: UefiChain,
}

/// Where and how the request arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// 67 (DHCP) or 4011 (PXE boot server, PXE 2.1 §2.2.5).
    pub port: u16,
    pub source: SocketAddrV4,
}

/// A packet to send and the state change it implies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub packet: Packet,
    pub destination: SocketAddrV4,
    /// A lease to store (ACK in `full` mode).
    pub commit: Option<Lease>,
    /// Sent to `yiaddr`, which the client has not configured yet: the
    /// driver first binds that address to this MAC in the ARP table (RFC
    /// 2131 §4.1), and broadcasts instead when it cannot.
    pub unicast_to: Option<MacAddr>,
    /// The boot file or URL the client was given, if any.
    pub boot_file: Option<String>,
}

/// Why a request gets no answer. Logged at debug level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreReason {
    #[error("{mac} is not a PXE client (vendor class {vendor_class:?}) and the mode is proxy")]
    NotPxeInProxyMode {
        mac: MacAddr,
        vendor_class: Option<String>,
    },
    #[error("{mac} sent {message_type:?}, which this server does not answer")]
    Unanswered {
        mac: MacAddr,
        message_type: MessageType,
    },
    #[error("{mac} chose server {chosen}, not {us}")]
    OtherServer {
        mac: MacAddr,
        chosen: Ipv4Addr,
        us: Ipv4Addr,
    },
    #[error("{mac} ({arch}) has no boot file installed for its architecture")]
    NoBootFile { mac: MacAddr, arch: Arch },
    #[error("address pool exhausted; no offer for {mac}")]
    PoolExhausted { mac: MacAddr },
    #[error("{mac} sent REQUEST with neither option 50 nor ciaddr")]
    NoRequestedAddress { mac: MacAddr },
    #[error("{mac} asked for {ip}, which is not in this server's pool and it has no lease here")]
    NotOurs { mac: MacAddr, ip: Ipv4Addr },
    #[error("full mode has no address pool for the subnet of {subnet_of} (giaddr {giaddr})")]
    NoPool {
        /// The relay's address, else the arrival interface's.
        subnet_of: Ipv4Addr,
        giaddr: Ipv4Addr,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send this reply (OFFER, ACK or NAK).
    Reply(Reply),
    /// The client released its lease; the caller deletes it from storage.
    Release(Lease),
    /// The client declined its address as in use elsewhere (RFC 2131
    /// §4.3.3); the caller deletes the lease and tells the admin.
    Decline(Lease),
    Ignore(IgnoreReason),
}

/// What a PXE client is told to boot.
struct Boot {
    file: String,
    vendor_class: Option<&'static str>,
    vendor_options: bool,
}

fn boot_for(req: &Request, site: &Site) -> Result<Boot, IgnoreReason> {
    // Chainload loop-break (ipxe.org/howto/chainloading): a client that is
    // already iPXE gets the HTTP script, never the iPXE binary again.
    if req.is_ipxe {
        return Ok(Boot {
            file: format!(
                "{}{}?mac={}",
                site.http_base,
                routes::BOOT_SCRIPT,
                req.mac.hyphenated()
            ),
            // iPXE takes an address-less offer as ProxyDHCP only when it
            // carries option 60 `PXEClient` (iPXE `net/udp/dhcp.c`); without
            // it the offer is dropped and iPXE reports "Nothing to boot"
            // (seen with QEMU's iPXE ROM beside dnsmasq).
            vendor_class: (site.mode == Mode::Proxy).then_some("PXEClient"),
            vendor_options: false,
        });
    }
    // RFC 4578 §2.1 makes option 93 mandatory for PXE clients; a client
    // without it (nor an Arch: field in option 60) is treated as BIOS, the
    // only PXE generation that predates the option.
    let arch = req.arch.unwrap_or(Arch::Bios);
    let http = req.kind == ClientKind::HttpBoot || arch.is_http_boot();
    // UEFI HTTP boot clients keep iPXE: under OVMF's HTTP boot, shim
    // fails to fetch `grubx64.efi` from its own URL (error 0x68 after its
    // probes for the optional revocation files), and Debian's signed GRUB
    // has no HTTP module to read its configuration with anyway
    // (docs/secure-boot.md).
    if arch == Arch::UefiX64
        && !http
        && site.uefi == UefiChain::Signed
        && site.boot_files.signed_x64
    {
        // shim loads `grubx64.efi` from the folder it came from.
        let proxy = site.mode == Mode::Proxy;
        return Ok(Boot {
            file: format!("{}/{}", grub::BOOT_PREFIX, grub::SHIM),
            vendor_class: proxy.then_some("PXEClient"),
            vendor_options: proxy,
        });
    }
    let file = site
        .boot_files
        .for_arch(arch)
        .ok_or(IgnoreReason::NoBootFile { mac: req.mac, arch })?;
    if http {
        // UEFI 2.x §24.7: the offer must echo vendor class "HTTPClient" and
        // carry a URL as the boot file.
        return Ok(Boot {
            file: format!(
                "{}{}",
                site.http_base,
                routes::path(routes::TFTP_FILE, &[file])
            ),
            vendor_class: Some("HTTPClient"),
            vendor_options: false,
        });
    }
    let proxy = site.mode == Mode::Proxy;
    Ok(Boot {
        file: file.to_string(),
        // A ProxyDHCP offer is recognised by option 60 PXEClient (PXE 2.1
        // §2.2.4); a full-mode offer is a plain DHCP offer with a file.
        vendor_class: proxy.then_some("PXEClient"),
        vendor_options: proxy,
    })
}

fn reply_packet(
    req: &Request,
    site: &Site,
    message_type: MessageType,
    your_addr: Ipv4Addr,
    boot: Option<&Boot>,
    network: Option<&Network>,
) -> Packet {
    let rp = &req.packet;
    let mut p = Packet::new(OP_REPLY, rp.xid, req.mac);
    p.client_hw = rp.client_hw;
    p.flags = rp.flags;
    p.relay_addr = rp.relay_addr;
    p.client_addr = rp.client_addr;
    p.your_addr = your_addr;
    p.push_option(code::MESSAGE_TYPE, [message_type.to_byte()]);
    p.push_option(code::SERVER_ID, site.server_ip.octets());
    if let Some(n) = network {
        let secs = n.lease_secs;
        p.push_option(code::LEASE_TIME, secs.to_be_bytes());
        // RFC 2131 §4.4.5 defaults: T1 = 0.5, T2 = 0.875 of the lease.
        p.push_option(code::RENEWAL_TIME, (secs / 2).to_be_bytes());
        p.push_option(code::REBINDING_TIME, (secs / 8 * 7).to_be_bytes());
        p.push_option(code::SUBNET_MASK, n.subnet_mask.octets());
        // A relayed subnet without a configured router gets the relay's
        // address: RFC 1542 §4.1.1 makes `giaddr` the relay's address on the
        // client's subnet, which is its way off it to this server.
        let relay = (!rp.relay_addr.is_unspecified()).then_some(rp.relay_addr);
        if let Some(r) = n.router.or(relay) {
            p.push_option(code::ROUTER, r.octets());
        }
        if !n.dns.is_empty() {
            let dns: Vec<u8> = n.dns.iter().flat_map(|d| d.octets()).collect();
            p.push_option(code::DNS, dns);
        }
    }
    if let Some(b) = boot {
        p.next_server = site.server_ip;
        if b.file.len() <= 128 {
            p.boot_file = b.file.as_bytes().to_vec();
        }
        if let Some(c) = b.vendor_class {
            p.push_option(code::VENDOR_CLASS, c.as_bytes());
        }
        if b.vendor_options {
            p.push_option(code::VENDOR_SPECIFIC, PXE_VENDOR_BOOT_FROM_FILE);
        }
        p.push_option(code::BOOTFILE, b.file.as_bytes());
    }
    if req.is_ipxe && site.mode == Mode::Full {
        p.push_option(code::IPXE_ENCAP, IPXE_NO_PXEDHCP);
    }
    p
}

/// RFC 2131 §4.1: to the relay on port 67 when `giaddr` is set; NAKs are
/// broadcast; a client with `ciaddr` is unicast there; one that asked for
/// broadcast (the flags' top bit, as iPXE does) gets it; otherwise an
/// OFFER or ACK goes to `yiaddr` and the client's MAC (`unicast_to`), as
/// a client that cannot take broadcasts before it has an address needs.
fn destination(
    req: &Request,
    message_type: MessageType,
    yiaddr: Ipv4Addr,
) -> (SocketAddrV4, Option<MacAddr>) {
    let p = &req.packet;
    let broadcast = (SocketAddrV4::new(Ipv4Addr::BROADCAST, 68), None);
    if !p.relay_addr.is_unspecified() {
        (SocketAddrV4::new(p.relay_addr, 67), None)
    } else if message_type == MessageType::Nak {
        broadcast
    } else if !p.client_addr.is_unspecified() {
        (SocketAddrV4::new(p.client_addr, 68), None)
    } else if p.flags & BROADCAST_FLAG != 0 || yiaddr.is_unspecified() {
        broadcast
    } else {
        (SocketAddrV4::new(yiaddr, 68), Some(req.mac))
    }
}

/// No answer to a message type this server does not answer.
fn unanswered(req: &Request) -> Decision {
    Decision::Ignore(IgnoreReason::Unanswered {
        mac: req.mac,
        message_type: req.message_type,
    })
}

/// A reply to `req`, sent where RFC 2131 §4.1 says.
fn send(
    req: &Request,
    packet: Packet,
    commit: Option<Lease>,
    boot_file: Option<String>,
) -> Decision {
    let kind = packet.message_type().unwrap_or(MessageType::Other(0));
    let (destination, unicast_to) = destination(req, kind, packet.your_addr);
    Decision::Reply(Reply {
        packet,
        destination,
        commit,
        unicast_to,
        boot_file,
    })
}

/// RFC 2131 §2, figure 2: the B flag.
const BROADCAST_FLAG: u16 = 0x8000;

/// Decides the answer to one request. `scopes` are the `full`-mode address
/// pools; `now` is wall-clock Unix seconds.
pub fn decide(
    req: &Request,
    site: &Site,
    scopes: Option<&mut Scopes>,
    now: u64,
    arrival: Arrival,
) -> Decision {
    let mac = req.mac;
    let ignore = Decision::Ignore;
    let unanswered = || unanswered(req);

    if arrival.port == 4011 {
        // PXE 2.1 §2.2.5: boot server discovery, unicast REQUEST (or
        // INFORM) to 4011; answer with an ACK to the sender, no address.
        if req.kind == ClientKind::Plain {
            return ignore(IgnoreReason::NotPxeInProxyMode {
                mac,
                vendor_class: req.vendor_class.clone(),
            });
        }
        if !matches!(req.message_type, MessageType::Request | MessageType::Inform) {
            return unanswered();
        }
        let boot = match boot_for(req, site) {
            Ok(b) => b,
            Err(r) => return ignore(r),
        };
        let mut packet = reply_packet(
            req,
            site,
            MessageType::Ack,
            Ipv4Addr::UNSPECIFIED,
            Some(&boot),
            None,
        );
        if site.mode == Mode::Proxy || boot.vendor_class.is_none() {
            // The 4011 exchange is ProxyDHCP-style whatever the mode.
            packet
                .options
                .retain(|o| o.code != code::VENDOR_CLASS && o.code != code::VENDOR_SPECIFIC);
            packet.push_option(code::VENDOR_CLASS, &b"PXEClient"[..]);
        }
        return Decision::Reply(Reply {
            packet,
            destination: arrival.source,
            commit: None,
            unicast_to: None,
            boot_file: Some(boot.file),
        });
    }

    match site.mode {
        Mode::Proxy => {
            if req.kind == ClientKind::Plain {
                return ignore(IgnoreReason::NotPxeInProxyMode {
                    mac,
                    vendor_class: req.vendor_class.clone(),
                });
            }
            let answer = match req.message_type {
                MessageType::Discover => MessageType::Offer,
                MessageType::Request => match req.server_id {
                    Some(id) if id == site.server_ip => MessageType::Ack,
                    Some(chosen) => {
                        return ignore(IgnoreReason::OtherServer {
                            mac,
                            chosen,
                            us: site.server_ip,
                        })
                    }
                    None => return unanswered(),
                },
                _ => return unanswered(),
            };
            let boot = match boot_for(req, site) {
                Ok(b) => b,
                Err(r) => return ignore(r),
            };
            let packet = reply_packet(req, site, answer, Ipv4Addr::UNSPECIFIED, Some(&boot), None);
            send(req, packet, None, Some(boot.file))
        }
        Mode::Full => {
            let giaddr = req.packet.relay_addr;
            let subnet_of = if giaddr.is_unspecified() {
                site.interface_ip
            } else {
                giaddr
            };
            let Some(scopes) = scopes else {
                return ignore(IgnoreReason::NoPool { subnet_of, giaddr });
            };
            let Some(scope) = scopes.select(giaddr, site.interface_ip) else {
                return ignore(IgnoreReason::NoPool { subnet_of, giaddr });
            };
            let decision = full(req, site, scope, now);
            if let Decision::Reply(Reply {
                commit: Some(lease),
                ..
            }) = &decision
            {
                scopes.forget_elsewhere(lease.mac, lease.ip);
            }
            decision
        }
    }
}

/// `full` mode: addresses from `scope` and boot information.
fn full(req: &Request, site: &Site, scope: &mut Scope, now: u64) -> Decision {
    let mac = req.mac;
    let ignore = Decision::Ignore;
    let unanswered = || unanswered(req);
    let (pool, network) = (&mut scope.pool, &scope.network);
    let boot = if req.kind == ClientKind::Plain {
        None
    } else {
        match boot_for(req, site) {
            Ok(b) => Some(b),
            Err(r) => return ignore(r),
        }
    };
    let boot_file = boot.as_ref().map(|b| b.file.clone());
    match req.message_type {
        MessageType::Discover => {
            let Some(ip) = pool.offer(mac, req.requested_ip, now) else {
                return ignore(IgnoreReason::PoolExhausted { mac });
            };
            let packet = reply_packet(
                req,
                site,
                MessageType::Offer,
                ip,
                boot.as_ref(),
                Some(network),
            );
            send(req, packet, None, boot_file)
        }
        MessageType::Request => {
            if let Some(chosen) = req.server_id.filter(|id| *id != site.server_ip) {
                return ignore(IgnoreReason::OtherServer {
                    mac,
                    chosen,
                    us: site.server_ip,
                });
            }
            let wanted = req.requested_ip.or_else(|| {
                let c = req.packet.client_addr;
                (!c.is_unspecified()).then_some(c)
            });
            let Some(ip) = wanted else {
                return ignore(IgnoreReason::NoRequestedAddress { mac });
            };
            // RFC 2131 §4.3.2 INIT-REBOOT: with no record of the
            // client and an address that is not ours, stay silent.
            if req.server_id.is_none()
                && !pool.contains(ip)
                && pool.lease(mac).is_none_or(|l| l.ip != ip)
            {
                return ignore(IgnoreReason::NotOurs { mac, ip });
            }
            match pool.commit(mac, ip, now, u64::from(network.lease_secs)) {
                Some(lease) => {
                    let packet = reply_packet(
                        req,
                        site,
                        MessageType::Ack,
                        ip,
                        boot.as_ref(),
                        Some(network),
                    );
                    send(req, packet, Some(lease), boot_file)
                }
                None => {
                    let mut packet = Packet::new(OP_REPLY, req.packet.xid, mac);
                    packet.client_hw = req.packet.client_hw;
                    packet.flags = req.packet.flags;
                    packet.relay_addr = req.packet.relay_addr;
                    packet.push_option(code::MESSAGE_TYPE, [MessageType::Nak.to_byte()]);
                    packet.push_option(code::SERVER_ID, site.server_ip.octets());
                    send(req, packet, None, None)
                }
            }
        }
        MessageType::Release => match pool.release(mac) {
            Some(lease) => Decision::Release(lease),
            None => unanswered(),
        },
        MessageType::Decline => {
            let ip = req.requested_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
            match pool.decline(mac, ip, now) {
                Some(lease) => Decision::Decline(lease),
                None => unanswered(),
            }
        }
        MessageType::Inform => {
            // RFC 2131 §4.3.5: the client has its address; send
            // the configuration with no address and no lease times,
            // to the address it gave (or its relay).
            let mut packet = reply_packet(
                req,
                site,
                MessageType::Ack,
                Ipv4Addr::UNSPECIFIED,
                boot.as_ref(),
                Some(network),
            );
            packet.options.retain(|o| {
                !matches!(
                    o.code,
                    code::LEASE_TIME | code::RENEWAL_TIME | code::REBINDING_TIME
                )
            });
            send(req, packet, None, boot_file)
        }
        _ => unanswered(),
    }
}
