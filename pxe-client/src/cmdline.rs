//! The kernel command line the boot loader (iPXE, from Marrow's script)
//! hands the client, parsed into a [`BootConfig`]. Pure: text in, value out.
//!
//! Parameters read:
//! - `ip=` in the kernel's nfsroot/klibc form (Documentation/admin-guide/
//!   nfs/nfsroot.rst): `ip=<client>:<server>:<gateway>:<netmask>:<hostname>:
//!   <device>:<autoconf>:<dns0>:<dns1>:<ntp0>`, or one of the autoconf words
//!   alone (`off`, `none`, `dhcp`, `on`, `any`, `bootp`, `rarp`, `both`).
//!   iPXE fills it from its settings (`ip=${ip}::${gateway}:${netmask}`).
//! - `BOOTIF=01-aa-bb-cc-dd-ee-ff`: the booting NIC, in pxelinux's IPAPPEND 2
//!   form (hardware type 01 = Ethernet, RFC 1700, then the MAC).
//! - `marrow.server=URL`, `marrow.token=TOKEN`: where and as what to report.
//! - `marrow.inventory-only=1`: report the inventory and power off.
//! - `console=`: kept so the client knows which consoles to talk on.

use std::net::Ipv4Addr;

use marrow_protocol::MacAddr;

/// Why a command line parameter was not understood. Each names the
/// parameter and its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdlineError {
    #[error("kernel parameter ip={value:?}: field {field} {text:?} is not an IPv4 address")]
    BadIpField {
        value: String,
        field: &'static str,
        text: String,
    },
    #[error("kernel parameter ip={value:?}: netmask {text:?} is not a contiguous IPv4 netmask")]
    BadNetmask { value: String, text: String },
    #[error("kernel parameter ip={value:?}: autoconf {text:?} is not one of off, none, dhcp, on, any, bootp, rarp, both")]
    BadAutoconf { value: String, text: String },
    #[error("kernel parameter BOOTIF={value:?} is not 01- followed by an Ethernet MAC")]
    BadBootif { value: String },
    #[error("kernel parameter marrow.inventory-only={value:?} is not 0 or 1")]
    BadFlag { value: String },
    #[error("kernel parameter marrow.rescue_timeout={value:?} is not a number of seconds")]
    BadTimeout { value: String },
}

/// How long a machine whose boot failed waits for Enter (which opens the
/// rescue shell) before it reboots, unless `marrow.rescue_timeout=` says
/// otherwise: long enough for a technician to read the console, short
/// enough that a room does not sit at shells. 0 opens the shell at once.
pub const DEFAULT_RESCUE_TIMEOUT_SECS: u64 = 300;

/// How the network is to be set up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum IpSetting {
    /// No `ip=`: the client configures the network itself (DHCP).
    #[default]
    Unset,
    /// `ip=off` or `ip=none`: leave the network alone.
    Off,
    /// `ip=dhcp` and the other autoconf words.
    Dhcp {
        device: Option<String>,
    },
    Static(StaticIp),
}

/// A static address from `ip=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticIp {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub server: Option<Ipv4Addr>,
    pub gateway: Option<Ipv4Addr>,
    pub hostname: Option<String>,
    pub device: Option<String>,
    pub dns: Vec<Ipv4Addr>,
}

/// Everything the boot stage takes from the command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BootConfig {
    pub ip: IpSetting,
    pub bootif: Option<MacAddr>,
    pub server: Option<String>,
    pub token: Option<String>,
    pub consoles: Vec<String>,
    pub inventory_only: bool,
    /// `marrow.rescue_timeout=SECS`: see [`DEFAULT_RESCUE_TIMEOUT_SECS`].
    pub rescue_timeout_secs: Option<u64>,
}

impl BootConfig {
    /// Parses `/proc/cmdline`. Parameters the client does not use are
    /// ignored (the kernel has its own); a malformed one it does use is an
    /// error, since booting on a half-understood network setting images
    /// the wrong thing or nothing.
    pub fn parse(cmdline: &str) -> Result<Self, CmdlineError> {
        let mut config = BootConfig::default();
        for word in split_words(cmdline) {
            let (key, value) = word.split_once('=').unwrap_or((word.as_str(), ""));
            match key {
                "ip" => config.ip = parse_ip(value)?,
                "BOOTIF" => config.bootif = Some(parse_bootif(value)?),
                "marrow.server" => config.server = Some(value.to_owned()),
                "marrow.token" => config.token = Some(value.to_owned()),
                "marrow.inventory-only" => {
                    config.inventory_only = match value {
                        "" | "1" => true,
                        "0" => false,
                        _ => {
                            return Err(CmdlineError::BadFlag {
                                value: value.to_owned(),
                            })
                        }
                    }
                }
                "marrow.rescue_timeout" => {
                    config.rescue_timeout_secs =
                        Some(value.parse().map_err(|_| CmdlineError::BadTimeout {
                            value: value.to_owned(),
                        })?)
                }
                "console" => config.consoles.push(value.to_owned()),
                _ => {}
            }
        }
        Ok(config)
    }
}

/// Splits on whitespace, keeping double-quoted runs together and dropping
/// the quotes, as the kernel's `next_arg()` does (lib/cmdline.c).
fn split_words(cmdline: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in cmdline.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

const AUTOCONF: &[&str] = &["off", "none", "dhcp", "on", "any", "bootp", "rarp", "both"];

fn parse_ip(value: &str) -> Result<IpSetting, CmdlineError> {
    if !value.contains(':') {
        return match value {
            "off" | "none" => Ok(IpSetting::Off),
            v if AUTOCONF.contains(&v) => Ok(IpSetting::Dhcp { device: None }),
            _ => Err(CmdlineError::BadAutoconf {
                value: value.to_owned(),
                text: value.to_owned(),
            }),
        };
    }
    let fields: Vec<&str> = value.split(':').collect();
    let field = |i: usize| fields.get(i).copied().filter(|f| !f.is_empty());
    let addr = |i: usize, name: &'static str| -> Result<Option<Ipv4Addr>, CmdlineError> {
        field(i)
            .map(|t| {
                t.parse().map_err(|_| CmdlineError::BadIpField {
                    value: value.to_owned(),
                    field: name,
                    text: t.to_owned(),
                })
            })
            .transpose()
    };
    let device = field(5).map(str::to_owned);
    let autoconf = field(6);
    if let Some(a) = autoconf {
        if !AUTOCONF.contains(&a) {
            return Err(CmdlineError::BadAutoconf {
                value: value.to_owned(),
                text: a.to_owned(),
            });
        }
    }
    let Some(address) = addr(0, "client-ip")? else {
        // No client address: the autoconf field decides (the kernel treats
        // an empty one as "any").
        return Ok(match autoconf {
            Some("off" | "none") => IpSetting::Off,
            _ => IpSetting::Dhcp { device },
        });
    };
    let prefix_len = match field(3) {
        Some(text) => netmask_prefix(text).ok_or_else(|| CmdlineError::BadNetmask {
            value: value.to_owned(),
            text: text.to_owned(),
        })?,
        None => classful_prefix(address),
    };
    let dns = [addr(7, "dns0-ip")?, addr(8, "dns1-ip")?]
        .into_iter()
        .flatten()
        .collect();
    Ok(IpSetting::Static(StaticIp {
        address,
        prefix_len,
        server: addr(1, "server-ip")?,
        gateway: addr(2, "gw-ip")?,
        hostname: field(4).map(str::to_owned),
        device,
        dns,
    }))
}

/// `255.255.255.0` → 24; also accepts a bare prefix length (`24`), which
/// some iPXE scripts pass. `None` for a non-contiguous mask.
fn netmask_prefix(text: &str) -> Option<u8> {
    if let Ok(n) = text.parse::<u8>() {
        return (n <= 32).then_some(n);
    }
    let mask = u32::from(text.parse::<Ipv4Addr>().ok()?);
    let ones = mask.leading_ones();
    (mask.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

/// The kernel's default when `ip=` has no netmask: the address's class
/// (RFC 791 §3.2; net/ipv4/ipconfig.c `ic_defaults`).
fn classful_prefix(addr: Ipv4Addr) -> u8 {
    match addr.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

fn parse_bootif(value: &str) -> Result<MacAddr, CmdlineError> {
    let err = || CmdlineError::BadBootif {
        value: value.to_owned(),
    };
    let mac = value.strip_prefix("01-").ok_or_else(err)?;
    if mac.contains(':') {
        return Err(err());
    }
    mac.parse().map_err(|_| err())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipxe_style_static_line_gives_address_gateway_and_mask() {
        let c = BootConfig::parse(
            "BOOT_IMAGE=vmlinuz initrd=initrd.img console=ttyS0,115200 ip=10.0.2.15:10.0.2.2:10.0.2.1:255.255.255.0 \
             BOOTIF=01-52-54-00-12-34-56 marrow.server=http://10.0.2.2:8080 marrow.token=abc quiet",
        )
        .unwrap();
        assert_eq!(
            c.ip,
            IpSetting::Static(StaticIp {
                address: "10.0.2.15".parse().unwrap(),
                prefix_len: 24,
                server: Some("10.0.2.2".parse().unwrap()),
                gateway: Some("10.0.2.1".parse().unwrap()),
                hostname: None,
                device: None,
                dns: vec![],
            })
        );
        assert_eq!(c.bootif, Some("52:54:00:12:34:56".parse().unwrap()));
        assert_eq!(c.server.as_deref(), Some("http://10.0.2.2:8080"));
        assert_eq!(c.token.as_deref(), Some("abc"));
        assert_eq!(c.consoles, ["ttyS0,115200"]);
        assert!(!c.inventory_only);
    }

    #[test]
    fn full_klibc_form_keeps_hostname_device_and_dns() {
        let c = BootConfig::parse(
            "ip=192.168.7.9::192.168.7.1:255.255.254.0:pc42:eth1:none:192.168.7.2:192.168.7.3:",
        )
        .unwrap();
        let IpSetting::Static(s) = c.ip else {
            panic!("static expected")
        };
        assert_eq!(s.prefix_len, 23);
        assert_eq!(s.server, None);
        assert_eq!(s.hostname.as_deref(), Some("pc42"));
        assert_eq!(s.device.as_deref(), Some("eth1"));
        assert_eq!(
            s.dns,
            [
                "192.168.7.2".parse::<Ipv4Addr>().unwrap(),
                "192.168.7.3".parse().unwrap()
            ]
        );
    }

    #[test]
    fn missing_netmask_falls_back_to_the_address_class() {
        let c = BootConfig::parse("ip=172.16.0.5:::").unwrap();
        let IpSetting::Static(s) = c.ip else {
            panic!("static expected")
        };
        assert_eq!(s.prefix_len, 16);
    }

    #[test]
    fn autoconf_words_and_empty_client_address_mean_dhcp_or_off() {
        assert_eq!(
            BootConfig::parse("ip=dhcp").unwrap().ip,
            IpSetting::Dhcp { device: None }
        );
        assert_eq!(BootConfig::parse("ip=off").unwrap().ip, IpSetting::Off);
        assert_eq!(
            BootConfig::parse("ip=::::host:eth0:dhcp").unwrap().ip,
            IpSetting::Dhcp {
                device: Some("eth0".into())
            }
        );
        assert_eq!(
            BootConfig::parse("ip=:::::eth0:off").unwrap().ip,
            IpSetting::Off
        );
        assert_eq!(BootConfig::parse("quiet").unwrap().ip, IpSetting::Unset);
    }

    #[test]
    fn prefix_length_is_accepted_in_place_of_a_netmask() {
        let IpSetting::Static(s) = BootConfig::parse("ip=10.1.2.3::10.1.2.1:20").unwrap().ip else {
            panic!()
        };
        assert_eq!(s.prefix_len, 20);
    }

    #[test]
    fn malformed_parameters_are_named_with_their_value() {
        assert_eq!(
            BootConfig::parse("ip=10.0.2.300::10.0.2.1:255.255.255.0"),
            Err(CmdlineError::BadIpField {
                value: "10.0.2.300::10.0.2.1:255.255.255.0".into(),
                field: "client-ip",
                text: "10.0.2.300".into()
            })
        );
        assert_eq!(
            BootConfig::parse("ip=10.0.2.3::10.0.2.1:255.0.255.0"),
            Err(CmdlineError::BadNetmask {
                value: "10.0.2.3::10.0.2.1:255.0.255.0".into(),
                text: "255.0.255.0".into()
            })
        );
        assert_eq!(
            BootConfig::parse("ip=maybe"),
            Err(CmdlineError::BadAutoconf {
                value: "maybe".into(),
                text: "maybe".into()
            })
        );
        assert_eq!(
            BootConfig::parse("BOOTIF=52-54-00-12-34-56"),
            Err(CmdlineError::BadBootif {
                value: "52-54-00-12-34-56".into()
            })
        );
        assert_eq!(
            BootConfig::parse("BOOTIF=01-52:54:00:12:34:56"),
            Err(CmdlineError::BadBootif {
                value: "01-52:54:00:12:34:56".into()
            })
        );
        assert_eq!(
            BootConfig::parse("marrow.inventory-only=yes"),
            Err(CmdlineError::BadFlag {
                value: "yes".into()
            })
        );
    }

    #[test]
    fn quoted_values_keep_their_spaces_and_lose_the_quotes() {
        let c = BootConfig::parse("marrow.token=\"a b\" marrow.inventory-only").unwrap();
        assert_eq!(c.token.as_deref(), Some("a b"));
        assert!(c.inventory_only);
    }

    #[test]
    fn the_rescue_timeout_is_a_number_of_seconds() {
        let c = BootConfig::parse("marrow.rescue_timeout=30").unwrap();
        assert_eq!(c.rescue_timeout_secs, Some(30));
        assert_eq!(
            BootConfig::parse("quiet").unwrap().rescue_timeout_secs,
            None
        );
        let err = BootConfig::parse("marrow.rescue_timeout=soon")
            .unwrap_err()
            .to_string();
        assert!(err.contains("soon"), "{err}");
    }

    #[test]
    fn mutated_command_lines_never_panic_the_parser() {
        let seed = "console=ttyS0 ip=10.0.2.15:10.0.2.2:10.0.2.1:255.255.255.0:h:eth0:none:1.1.1.1 \
                    BOOTIF=01-52-54-00-12-34-56 marrow.server=http://x marrow.inventory-only=1 \"q\"";
        let alphabet = b"0123456789abcdef:.-= \"ipBOOTIF";
        let mut next = marrow_test_support::xorshift(0x9e37_79b9_7f4a_7c15u64);
        for _ in 0..20_000 {
            let mut bytes = seed.as_bytes().to_vec();
            for _ in 0..(next() % 6 + 1) {
                let at = (next() as usize) % bytes.len();
                match next() % 3 {
                    0 => bytes[at] = alphabet[(next() as usize) % alphabet.len()],
                    1 => bytes.truncate(at.max(1)),
                    _ => bytes.insert(at, alphabet[(next() as usize) % alphabet.len()]),
                }
            }
            let _ = BootConfig::parse(&String::from_utf8_lossy(&bytes));
        }
    }
}
