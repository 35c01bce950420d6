//! `marrow serve` configuration: embedded defaults, an optional TOML file,
//! and command-line flags on top. Every error names the key and the value.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use marrow_protocol::MacAddr;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::paths::DataDir;

/// The file as written. Addresses stay strings here so that a bad one is
/// reported with its key, not as a serde type error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub interfaces: Vec<String>,
    pub advertise_ip: Option<String>,
    #[serde(default)]
    pub dhcp: DhcpFile,
    #[serde(default)]
    pub tftp: TftpFile,
    #[serde(default)]
    pub http: HttpFile,
    #[serde(default)]
    pub boot: BootFile,
    #[serde(default)]
    pub multicast: super::multicast::channel::MulticastFile,
    #[serde(default)]
    pub tls: TlsFile,
    /// `[[sync]]`: the upstreams `marrow serve` pulls from on its own.
    #[serde(default)]
    pub sync: Vec<super::sync_runner::SyncFile>,
    /// The chunk store: a folder or `s3://BUCKET/PREFIX` (default
    /// `DATA_DIR/store`).
    pub store: Option<String>,
    /// MiB a local store's filesystem keeps free: uploads beyond it are
    /// refused (HTTP 507), so the database and manifests still have room.
    pub store_reserve_mib: Option<u64>,
    /// How to reach an S3 store.
    #[serde(default)]
    pub s3: S3File,
}

/// `[s3]`: what is left out comes from the `AWS_*` variables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3File {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Path-style URLs (default true: Garage and MinIO need no DNS then).
    pub path_style: Option<bool>,
}

impl File {
    /// The file at `path`, or the defaults when there is none.
    pub fn read(path: Option<&Path>) -> Result<File> {
        let Some(p) = path else {
            return Ok(File::default());
        };
        let text = std::fs::read_to_string(p).map_err(Error::io(p))?;
        // toml's messages name the key and quote the bad value.
        toml::from_str(&text).map_err(|e| Error::ConfigFile {
            path: p.to_path_buf(),
            detail: e.to_string(),
        })
    }

    /// The store of `data_dir`: `flag` (`--store`), else the file's
    /// `store`, else `DATA_DIR/store`.
    pub fn store_spec(
        &self,
        data_dir: &Path,
        flag: Option<&str>,
    ) -> Result<crate::store::StoreSpec> {
        let dirs = DataDir::new(data_dir);
        let s3 = marrow_s3_store::Partial {
            endpoint: self.s3.endpoint.clone(),
            region: self.s3.region.clone(),
            access_key_id: self.s3.access_key_id.clone(),
            secret_access_key: self.s3.secret_access_key.clone(),
            path_style: self.s3.path_style,
        };
        match flag.or(self.store.as_deref()) {
            Some(text) => crate::store::StoreSpec::parse(text, &s3, data_dir),
            None => Ok(crate::store::StoreSpec::Local(dirs.store())),
        }
    }
}

/// The TLS port between sites (`crate::sites::tls`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// Default 8443; 0 turns it off.
    pub port: Option<u16>,
    /// A certificate and key (PEM) to serve instead of the self-made pair.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DhcpFile {
    pub mode: Option<String>,
    pub range: Option<String>,
    pub subnet_mask: Option<String>,
    pub router: Option<String>,
    #[serde(default)]
    pub dns: Vec<String>,
    pub lease_time: Option<u32>,
    /// MAC → fixed address.
    #[serde(default)]
    pub reservations: BTreeMap<String, String>,
    /// In full mode, answer IPv6 router solicitations so iPXE does not wait
    /// for IPv6 (default true).
    pub ipv6_ra: Option<bool>,
    /// `[[dhcp.pool]]`: a pool per relayed subnet.
    #[serde(default)]
    pub pool: Vec<super::relay_pools::PoolFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TftpFile {
    pub root: Option<PathBuf>,
    pub port: Option<u16>,
    pub max_window_size: Option<u16>,
    pub max_block_size: Option<u16>,
    /// Transfers running at once, in all (default 256).
    pub max_transfers: Option<usize>,
    /// Transfers running at once to one client address (default 8).
    pub max_transfers_per_client: Option<usize>,
    /// Longest retransmission timeout a client may ask for, in seconds
    /// (default 10; RFC 2349 allows up to 255).
    pub max_timeout: Option<u8>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpFile {
    pub port: Option<u16>,
    /// Public base URL, when clients reach the server through a name or NAT.
    pub url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootFile {
    /// Where the iPXE binaries are copied from into the TFTP root.
    pub ipxe_dir: Option<PathBuf>,
    pub bios: Option<String>,
    pub uefi_x64: Option<String>,
    pub uefi_ia32: Option<String>,
    pub uefi_arm64: Option<String>,
    /// What UEFI x64 clients boot first: `signed` (shim, GRUB, Debian's
    /// kernel; the default) or `ipxe`.
    pub uefi: Option<String>,
    /// What a host with no active task boots: `local`, `marrow` or `menu`.
    pub default: Option<String>,
    /// The menu's item when nobody chooses: `local` or `marrow`.
    pub menu_default: Option<String>,
    /// Seconds the menu waits.
    pub menu_timeout: Option<u32>,
    pub kernel_args: Option<String>,
}

/// Command-line flags; `None` leaves the file or default value.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub interfaces: Vec<String>,
    pub dhcp: Option<String>,
    pub dhcp_range: Option<String>,
    pub http_port: Option<u16>,
    pub tls_port: Option<u16>,
    pub nbd_port: Option<u16>,
    pub tftp_port: Option<u16>,
    pub advertise_ip: Option<String>,
    pub boot_default: Option<String>,
    pub uefi_boot: Option<String>,
    pub kernel_args: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpMode {
    Off,
    Proxy,
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootDefault {
    LocalDisk,
    /// A menu at the console: local disk or the Marrow environment.
    Menu,
    Marrow,
}

/// Everything resolved and checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub interfaces: Vec<String>,
    pub advertise_ip: Option<Ipv4Addr>,
    pub dhcp_mode: DhcpMode,
    pub range: Option<(Ipv4Addr, Ipv4Addr)>,
    /// Pools of relayed subnets, chosen by `giaddr`.
    pub relay_pools: Vec<super::relay_pools::RelayPool>,
    pub subnet_mask: Option<Ipv4Addr>,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub lease_secs: u32,
    pub reservations: Vec<(MacAddr, Ipv4Addr)>,
    pub ipv6_ra: bool,
    pub tftp_root: PathBuf,
    pub tftp_port: u16,
    pub max_window_size: u16,
    pub max_block_size: u16,
    pub tftp_max_transfers: usize,
    pub tftp_max_transfers_per_client: usize,
    pub tftp_max_timeout_secs: u8,
    pub http_port: u16,
    pub http_url: Option<String>,
    /// The TLS port between sites; `None`: off.
    pub tls_port: Option<u16>,
    /// The port image versions are exported on over NBD; `None`: off.
    pub nbd_port: Option<u16>,
    /// A configured certificate and key; `None`: the self-made pair.
    pub tls_pair: Option<(PathBuf, PathBuf)>,
    pub ipxe_dir: PathBuf,
    pub boot_bios: String,
    pub boot_uefi_x64: String,
    pub boot_uefi_ia32: String,
    pub boot_uefi_arm64: String,
    pub boot_default: BootDefault,
    /// The chain UEFI x64 hosts without their own choice boot.
    pub uefi_chain: marrow_protocol::dhcp::UefiChain,
    pub menu_default: marrow_protocol::ipxe::MenuDefault,
    pub menu_timeout_secs: u32,
    pub kernel_args: String,
    pub multicast: super::multicast::channel::MulticastConfig,
    /// The `[[sync]]` entries.
    pub sync: Vec<super::sync_runner::SyncEntry>,
    /// The chunk store.
    pub store: crate::store::StoreSpec,
    /// Bytes a local store's filesystem keeps free (`store_reserve_mib`).
    pub store_reserve: u64,
}

/// What a local store keeps free unless told otherwise: room for SQLite's
/// write-ahead log, manifests and the task's failure report when a capture
/// runs out of disk.
pub const DEFAULT_STORE_RESERVE_MIB: u64 = 256;

pub(super) fn bad(key: &str, value: impl std::fmt::Display, reason: impl Into<String>) -> Error {
    Error::Config {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

pub(super) fn ip(key: &str, value: &str) -> Result<Ipv4Addr> {
    value
        .trim()
        .parse()
        .map_err(|_| bad(key, value, "not an IPv4 address"))
}

/// Parses `FIRST-LAST`.
pub fn parse_range(key: &str, value: &str) -> Result<(Ipv4Addr, Ipv4Addr)> {
    let (a, b) = value
        .split_once('-')
        .ok_or_else(|| bad(key, value, "expected FIRST-LAST"))?;
    let (first, last) = (ip(key, a)?, ip(key, b)?);
    if u32::from(first) > u32::from(last) {
        return Err(bad(key, value, "first address is after the last"));
    }
    Ok((first, last))
}

impl Config {
    /// Reads `path` (if any) and applies `flags` over it.
    pub fn load(data_dir: &Path, path: Option<&Path>, flags: Flags) -> Result<Self> {
        Self::resolve(data_dir, File::read(path)?, flags)
    }

    pub fn resolve(data_dir: &Path, file: File, flags: Flags) -> Result<Self> {
        let store = file.store_spec(data_dir, None)?;
        let interfaces = if flags.interfaces.is_empty() {
            file.interfaces
        } else {
            flags.interfaces
        };
        let advertise_ip = match (flags.advertise_ip, file.advertise_ip) {
            (Some(v), _) => Some(ip("--advertise-ip", &v)?),
            (None, Some(v)) => Some(ip("advertise_ip", &v)?),
            (None, None) => None,
        };
        let relay_pools = super::relay_pools::resolve(&file.dhcp.pool)?;
        let (dhcp_mode, range) = dhcp_role(
            flags.dhcp,
            flags.dhcp_range,
            &file.dhcp,
            !relay_pools.is_empty(),
        )?;
        let net = DhcpNetwork::resolve(&file.dhcp)?;
        let tftp = tftp_limits(&file.tftp)?;
        let boot = BootChoice::resolve(flags.boot_default, &file.boot)?;
        if let Some(url) = &file.http.url {
            if !url.starts_with("http://") {
                return Err(bad(
                    "http.url",
                    url,
                    "must start with http:// (iPXE in Debian has no TLS trust set up)",
                ));
            }
        }
        let name_ok = |key: &str, v: Option<String>, default: &str| -> Result<String> {
            let v = v.unwrap_or_else(|| default.to_string());
            marrow_protocol::tftp::check_path(&v).map_err(|e| bad(key, &v, e.to_string()))?;
            Ok(v)
        };
        Ok(Config {
            data_dir: data_dir.to_path_buf(),
            interfaces,
            advertise_ip,
            dhcp_mode,
            range,
            relay_pools,
            subnet_mask: net.subnet_mask,
            router: net.router,
            dns: net.dns,
            lease_secs: net.lease_secs,
            reservations: net.reservations,
            ipv6_ra: file.dhcp.ipv6_ra.unwrap_or(true),
            tftp_root: file
                .tftp
                .root
                .unwrap_or_else(|| DataDir::new(data_dir).tftp()),
            tftp_port: flags.tftp_port.or(file.tftp.port).unwrap_or(69),
            max_window_size: tftp.max_window_size,
            max_block_size: tftp.max_block_size,
            tftp_max_transfers: tftp.max_transfers,
            tftp_max_transfers_per_client: tftp.max_transfers_per_client,
            tftp_max_timeout_secs: tftp.max_timeout_secs,
            http_port: flags.http_port.or(file.http.port).unwrap_or(8080),
            http_url: file.http.url.map(|u| u.trim_end_matches('/').to_string()),
            tls_port: match flags.tls_port.or(file.tls.port).unwrap_or(8443) {
                0 => None,
                p => Some(p),
            },
            // 10809 is NBD's IANA port.
            nbd_port: match flags.nbd_port.unwrap_or(10809) {
                0 => None,
                p => Some(p),
            },
            tls_pair: match (file.tls.cert, file.tls.key) {
                (Some(c), Some(k)) => Some((c, k)),
                (None, None) => None,
                (c, _) => {
                    let (key, value) = match c {
                        Some(c) => ("tls.key", c.display().to_string()),
                        None => ("tls.cert", String::new()),
                    };
                    return Err(bad(key, value, "give tls.cert and tls.key together"));
                }
            },
            ipxe_dir: file
                .boot
                .ipxe_dir
                .unwrap_or_else(|| PathBuf::from("/usr/lib/ipxe")),
            boot_bios: name_ok("boot.bios", file.boot.bios, "undionly.kpxe")?,
            boot_uefi_x64: name_ok("boot.uefi_x64", file.boot.uefi_x64, "ipxe.efi")?,
            boot_uefi_ia32: name_ok("boot.uefi_ia32", file.boot.uefi_ia32, "ipxe-i386.efi")?,
            boot_uefi_arm64: name_ok("boot.uefi_arm64", file.boot.uefi_arm64, "ipxe-arm64.efi")?,
            boot_default: boot.default,
            uefi_chain: {
                let (key, value) = match (flags.uefi_boot, &file.boot.uefi) {
                    (Some(v), _) => ("--uefi-boot", v),
                    (None, Some(v)) => ("boot.uefi", v.clone()),
                    (None, None) => ("boot.uefi", "signed".to_string()),
                };
                marrow_protocol::dhcp::UefiChain::parse(&value)
                    .ok_or_else(|| bad(key, &value, "expected ipxe or signed"))?
            },
            menu_default: boot.menu_default,
            menu_timeout_secs: boot.menu_timeout_secs,
            kernel_args: flags
                .kernel_args
                .or(file.boot.kernel_args)
                .unwrap_or_else(|| "console=tty0 console=ttyS0,115200".to_string()),
            multicast: super::multicast::channel::MulticastConfig::resolve(&file.multicast)?,
            store,
            store_reserve: file
                .store_reserve_mib
                .unwrap_or(DEFAULT_STORE_RESERVE_MIB)
                .checked_mul(1 << 20)
                .ok_or_else(|| {
                    bad(
                        "store_reserve_mib",
                        file.store_reserve_mib.unwrap_or_default(),
                        "too large",
                    )
                })?,
            sync: file
                .sync
                .iter()
                .enumerate()
                .map(|(i, f)| super::sync_runner::SyncEntry::resolve(i, f))
                .collect::<Result<_>>()?,
        })
    }
}

/// The DHCP mode and the address range; full mode needs a range, or
/// pools for relayed subnets.
fn dhcp_role(
    mode_flag: Option<String>,
    range_flag: Option<String>,
    file: &DhcpFile,
    relay_pools: bool,
) -> Result<(DhcpMode, Option<(Ipv4Addr, Ipv4Addr)>)> {
    let (mode_key, mode) = match (mode_flag, &file.mode) {
        (Some(m), _) => ("--dhcp", m),
        (None, Some(m)) => ("dhcp.mode", m.clone()),
        (None, None) => ("dhcp.mode", "proxy".to_string()),
    };
    let dhcp_mode = match mode.as_str() {
        "off" => DhcpMode::Off,
        "proxy" => DhcpMode::Proxy,
        "full" => DhcpMode::Full,
        _ => return Err(bad(mode_key, &mode, "expected off, proxy or full")),
    };
    let range = match (range_flag, &file.range) {
        (Some(r), _) => Some(parse_range("--dhcp-range", &r)?),
        (None, Some(r)) => Some(parse_range("dhcp.range", r)?),
        (None, None) => None,
    };
    if dhcp_mode == DhcpMode::Full && range.is_none() && !relay_pools {
        return Err(bad(
            mode_key,
            "full",
            "full mode needs an address range (--dhcp-range, dhcp.range or [[dhcp.pool]])",
        ));
    }
    Ok((dhcp_mode, range))
}

/// What full mode hands out besides addresses.
struct DhcpNetwork {
    subnet_mask: Option<Ipv4Addr>,
    router: Option<Ipv4Addr>,
    dns: Vec<Ipv4Addr>,
    lease_secs: u32,
    reservations: Vec<(MacAddr, Ipv4Addr)>,
}

impl DhcpNetwork {
    fn resolve(file: &DhcpFile) -> Result<Self> {
        let subnet_mask = file
            .subnet_mask
            .as_deref()
            .map(|v| ip("dhcp.subnet_mask", v))
            .transpose()?;
        if let Some(m) = subnet_mask {
            let bits = u32::from(m);
            if bits.leading_ones() + bits.trailing_zeros() != 32 {
                return Err(bad("dhcp.subnet_mask", m, "not a contiguous netmask"));
            }
        }
        let router = file
            .router
            .as_deref()
            .map(|v| ip("dhcp.router", v))
            .transpose()?;
        let dns = file
            .dns
            .iter()
            .map(|v| ip("dhcp.dns", v))
            .collect::<Result<Vec<_>>>()?;
        let lease_secs = file.lease_time.unwrap_or(3600);
        if lease_secs < 60 {
            return Err(bad(
                "dhcp.lease_time",
                lease_secs,
                "must be at least 60 seconds",
            ));
        }
        let mut reservations = Vec::new();
        for (mac, addr) in &file.reservations {
            let key = format!("dhcp.reservations.{mac}");
            let m: MacAddr = mac
                .parse()
                .map_err(|_| bad(&key, mac, "not a MAC address"))?;
            reservations.push((m, ip(&key, addr)?));
        }
        Ok(DhcpNetwork {
            subnet_mask,
            router,
            dns,
            lease_secs,
            reservations,
        })
    }
}

/// What TFTP grants and how much of it runs at once.
struct TftpLimits {
    max_window_size: u16,
    max_block_size: u16,
    max_transfers: usize,
    max_transfers_per_client: usize,
    max_timeout_secs: u8,
}

/// The TFTP caps: window and block size (RFC 7440, RFC 2348), the longest
/// timeout a client may set (RFC 2349), and the transfer slots.
fn tftp_limits(file: &TftpFile) -> Result<TftpLimits> {
    let max_window_size = file.max_window_size.unwrap_or(64);
    if max_window_size == 0 {
        return Err(bad("tftp.max_window_size", 0, "must be at least 1"));
    }
    let max_block_size = file.max_block_size.unwrap_or(65464);
    if !(512..=65464).contains(&max_block_size) {
        return Err(bad(
            "tftp.max_block_size",
            max_block_size,
            "must be 512..=65464 (RFC 2348)",
        ));
    }
    let max_transfers = file.max_transfers.unwrap_or(256);
    if max_transfers == 0 {
        return Err(bad("tftp.max_transfers", 0, "must be at least 1"));
    }
    let max_transfers_per_client = file.max_transfers_per_client.unwrap_or(8);
    if max_transfers_per_client == 0 || max_transfers_per_client > max_transfers {
        return Err(bad(
            "tftp.max_transfers_per_client",
            max_transfers_per_client,
            format!("must be 1..={max_transfers} (tftp.max_transfers)"),
        ));
    }
    let max_timeout_secs = file.max_timeout.unwrap_or(10);
    if max_timeout_secs == 0 {
        return Err(bad("tftp.max_timeout", 0, "must be at least 1 second"));
    }
    Ok(TftpLimits {
        max_window_size,
        max_block_size,
        max_transfers,
        max_transfers_per_client,
        max_timeout_secs,
    })
}

/// What a host without a task boots, and the menu's choices.
struct BootChoice {
    default: BootDefault,
    menu_default: marrow_protocol::ipxe::MenuDefault,
    menu_timeout_secs: u32,
}

impl BootChoice {
    fn resolve(flag: Option<String>, file: &BootFile) -> Result<Self> {
        let (default_key, default) = match (flag, &file.default) {
            (Some(d), _) => ("--boot-default", d),
            (None, Some(d)) => ("boot.default", d.clone()),
            (None, None) => ("boot.default", "local".to_string()),
        };
        let default = match default.as_str() {
            "local" => BootDefault::LocalDisk,
            "marrow" => BootDefault::Marrow,
            "menu" => BootDefault::Menu,
            _ => return Err(bad(default_key, &default, "expected local, marrow or menu")),
        };
        let menu_default = match file.menu_default.as_deref() {
            None | Some("local") => marrow_protocol::ipxe::MenuDefault::LocalDisk,
            Some("marrow") => marrow_protocol::ipxe::MenuDefault::Marrow,
            Some(other) => return Err(bad("boot.menu_default", other, "expected local or marrow")),
        };
        Ok(BootChoice {
            default,
            menu_default,
            menu_timeout_secs: file.menu_timeout.unwrap_or(10),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("marrow.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(dir.path(), Some(&path), Flags::default())
    }

    /// The packaged /etc/marrow/marrow.toml loads as shipped (all defaults),
    /// and with every example line ("# key = …", not "## prose") turned on.
    #[test]
    fn the_packaged_config_and_its_examples_load() {
        let text = include_str!("../../packaging/marrow.toml");
        let shipped = load(text).unwrap();
        assert_eq!(shipped.dhcp_mode, DhcpMode::Proxy);
        let examples: String = text
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .map(|l| format!("{l}\n"))
            .collect();
        let c = load(&examples).unwrap_or_else(|e| panic!("{e}\n{examples}"));
        assert_eq!(c.dhcp_mode, DhcpMode::Full);
        assert_eq!(c.relay_pools.len(), 1);
        assert_eq!(c.reservations.len(), 1);
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::resolve(
            Path::new("/var/lib/marrow"),
            File::default(),
            Flags::default(),
        )
        .unwrap();
        assert_eq!(c.dhcp_mode, DhcpMode::Proxy);
        assert_eq!(c.http_port, 8080);
        assert_eq!(c.tftp_root, PathBuf::from("/var/lib/marrow/tftp"));
        assert_eq!(c.boot_bios, "undionly.kpxe");
    }

    #[test]
    fn a_full_file_is_read_and_flags_override_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("marrow.toml");
        std::fs::write(
            &path,
            r#"
interfaces = ["br0"]
[dhcp]
mode = "full"
range = "10.0.0.100-10.0.0.199"
router = "10.0.0.1"
dns = ["10.0.0.1"]
reservations = { "52:54:00:12:34:56" = "10.0.0.50" }
[http]
port = 8081
[boot]
uefi_x64 = "snponly.efi"
"#,
        )
        .unwrap();
        let flags = Flags {
            http_port: Some(9000),
            ..Flags::default()
        };
        let c = Config::load(dir.path(), Some(&path), flags).unwrap();
        assert_eq!(c.dhcp_mode, DhcpMode::Full);
        assert_eq!(
            c.range,
            Some((Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 199)))
        );
        assert_eq!(c.http_port, 9000);
        assert_eq!(c.boot_uefi_x64, "snponly.efi");
        assert_eq!(c.reservations.len(), 1);
        assert_eq!(c.uefi_chain, marrow_protocol::dhcp::UefiChain::Signed);
    }

    #[test]
    fn the_uefi_chain_comes_from_the_flag_then_the_file() {
        let c = load("[boot]\nuefi = \"ipxe\"\n").unwrap();
        assert_eq!(c.uefi_chain, marrow_protocol::dhcp::UefiChain::Ipxe);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("marrow.toml");
        std::fs::write(&path, "[boot]\nuefi = \"ipxe\"\n").unwrap();
        let flags = Flags {
            uefi_boot: Some("signed".into()),
            ..Flags::default()
        };
        let c = Config::load(dir.path(), Some(&path), flags).unwrap();
        assert_eq!(c.uefi_chain, marrow_protocol::dhcp::UefiChain::Signed);
        let e = load("[boot]\nuefi = \"shim\"\n").unwrap_err().to_string();
        assert!(e.contains("boot.uefi") && e.contains("shim"), "{e}");
    }

    #[test]
    fn errors_name_the_key_and_the_value() {
        let cases = [
            ("[dhcp]\nmode = \"fulll\"\n", ["dhcp.mode", "fulll"]),
            (
                "[dhcp]\nmode = \"full\"\nrange = \"10.0.0.9-10.0.0.1\"\n",
                ["dhcp.range", "10.0.0.9-10.0.0.1"],
            ),
            (
                "[dhcp]\nrouter = \"10.0.0.300\"\n",
                ["dhcp.router", "10.0.0.300"],
            ),
            ("[dhcp]\nmode = \"full\"\n", ["dhcp.mode", "full"]),
            (
                "[dhcp]\nreservations = { \"zz\" = \"10.0.0.1\" }\n",
                ["dhcp.reservations.zz", "zz"],
            ),
            ("[boot]\nbios = \"../x\"\n", ["boot.bios", "../x"]),
            ("[http]\nport = \"eighty\"\n", ["port", "eighty"]),
            ("[tftp]\nwindow = 4\n", ["window", "line 2"]),
        ];
        for (text, needles) in cases {
            let err = load(text).unwrap_err().to_string();
            for n in needles {
                assert!(err.contains(n), "{text:?}: {err:?} does not mention {n:?}");
            }
        }
    }
}
