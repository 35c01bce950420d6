//! `marrow serve`: run the boot service.

use super::Global;
use crate::error::Result;
use crate::serve::config::{Config, Flags};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Interface to serve on (repeatable). Default: the only one with IPv4.
    #[arg(long = "interface", value_name = "IF")]
    pub interfaces: Vec<String>,
    /// DHCP role: off, proxy (beside another DHCP server) or full.
    #[arg(long, value_name = "off|proxy|full")]
    pub dhcp: Option<String>,
    /// Address pool for full mode, e.g. 10.0.0.100-10.0.0.199.
    #[arg(long, value_name = "FIRST-LAST")]
    pub dhcp_range: Option<String>,
    /// HTTP port (default 8080).
    #[arg(long, value_name = "N")]
    pub http_port: Option<u16>,
    /// The HTTPS port between sites (default 8443; 0 turns it off).
    #[arg(long, value_name = "N")]
    pub tls_port: Option<u16>,
    /// The port image versions are exported on over NBD when an admin
    /// asks (default 10809; 0 turns exports off).
    #[arg(long, value_name = "N")]
    pub nbd_port: Option<u16>,
    /// TFTP port (default 69).
    #[arg(long, value_name = "N")]
    pub tftp_port: Option<u16>,
    /// Address clients are told to use for TFTP and HTTP.
    #[arg(long, value_name = "IP")]
    pub advertise_ip: Option<String>,
    /// What a host with no active task boots: local (its disk), marrow,
    /// or a menu of both.
    #[arg(long, value_name = "local|marrow|menu")]
    pub boot_default: Option<String>,
    /// What UEFI x64 clients boot first: signed (shim, GRUB and Debian's
    /// kernel, which Secure Boot accepts; the default) or ipxe.
    #[arg(long, value_name = "signed|ipxe")]
    pub uefi_boot: Option<String>,
    /// Extra kernel arguments for the Marrow environment.
    #[arg(long, value_name = "ARGS")]
    pub kernel_args: Option<String>,
}

pub fn run(global: &Global, args: ServeArgs) -> Result<()> {
    let flags = Flags {
        interfaces: args.interfaces,
        dhcp: args.dhcp,
        dhcp_range: args.dhcp_range,
        http_port: args.http_port,
        tls_port: args.tls_port,
        nbd_port: args.nbd_port,
        tftp_port: args.tftp_port,
        advertise_ip: args.advertise_ip,
        boot_default: args.boot_default,
        uefi_boot: args.uefi_boot,
        kernel_args: args.kernel_args,
    };
    let config = Config::load(&global.data_dir, global.config.as_deref(), flags)?;
    // RUST_LOG=debug shows why packets are ignored.
    super::log_to_stderr();
    crate::serve::run(config)
}
