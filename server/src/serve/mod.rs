//! The boot service behind `marrow serve`: DHCP (proxy or full), TFTP and
//! HTTP on the configured interfaces, sharing one state.
//!
//! Each protocol's decisions live in `marrow_protocol` as sans-I/O code;
//! the modules here only move datagrams and bytes between sockets, that
//! code, the database and the file system.

mod api;
pub mod config;
mod dhcp;
mod drivers;
mod http;
mod metrics;
pub mod net;
mod ra;
mod tftp;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use marrow_protocol::dhcp::{BootFiles, Mode, Network, Pool, Site};
use tracing::{info, warn};

use crate::db::Db;
use crate::error::{Error, Result};
use config::{Config, DhcpMode};
use image_format::store::LocalStore;
use metrics::Metrics;
use net::Interface;

/// State shared by every task of the service.
pub(crate) struct Shared {
    config: Config,
    db: Mutex<Db>,
    pool: Mutex<Option<Pool>>,
    network: Option<Network>,
    boot_files: BootFiles,
    metrics: Metrics,
    /// Canonical TFTP root, for the symlink half of confinement.
    tftp_root: PathBuf,
    tftp_cache: tftp::FileCache,
    /// The chunk store, opened (or created) on the first client call.
    store: Mutex<Option<Arc<LocalStore>>>,
    readable: api::PerTask<std::collections::HashSet<image_format::ChunkId>>,
    driver_plans: api::PerTask<marrow_protocol::api::DriverPlan>,
}

impl Shared {
    fn http_base(&self, iface: &Interface) -> String {
        match &self.config.http_url {
            Some(url) => url.clone(),
            None => format!(
                "http://{}:{}",
                self.config.advertise_ip.unwrap_or(iface.ip),
                self.config.http_port
            ),
        }
    }

    fn site(&self, iface: &Interface) -> Site {
        Site {
            mode: match self.config.dhcp_mode {
                DhcpMode::Full => Mode::Full,
                _ => Mode::Proxy,
            },
            server_ip: self.config.advertise_ip.unwrap_or(iface.ip),
            http_base: self.http_base(iface),
            boot_files: self.boot_files.clone(),
            network: self.network.clone(),
        }
    }

    /// The chunk store of the data directory, created when absent so a
    /// first capture needs no set-up.
    fn store(&self) -> Result<Arc<LocalStore>> {
        let mut slot = self.store.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(store) = &*slot {
            return Ok(store.clone());
        }
        let store = Arc::new(LocalStore::create(&store_dir(&self.config.data_dir))?);
        *slot = Some(store.clone());
        Ok(store)
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Db> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Copies each configured iPXE binary into the TFTP root when it is not
/// there yet, and returns the names that are present afterwards.
fn install_boot_files(config: &Config) -> Result<BootFiles> {
    let root = &config.tftp_root;
    std::fs::create_dir_all(root).map_err(Error::io(&root))?;
    let present = |name: &str| -> Result<Option<String>> {
        let dest = root.join(name);
        if !dest.exists() {
            let src = config.ipxe_dir.join(name);
            if src.is_file() {
                std::fs::copy(&src, &dest).map_err(Error::io(&dest))?;
            }
        }
        Ok(dest.is_file().then(|| name.to_string()))
    };
    Ok(BootFiles {
        bios: present(&config.boot_bios)?,
        uefi_x64: present(&config.boot_uefi_x64)?,
        uefi_ia32: present(&config.boot_uefi_ia32)?,
        uefi_arm64: present(&config.boot_uefi_arm64)?,
    })
}

fn network_for(config: &Config, interfaces: &[Interface]) -> Result<Option<Network>> {
    let Some((first, last)) = config.range else {
        return Ok(None);
    };
    let subnet_mask = match config.subnet_mask {
        Some(m) => m,
        None => interfaces
            .iter()
            .find(|i| i.contains(first) && i.contains(last))
            .map(|i| i.netmask())
            .ok_or_else(|| Error::Config {
                key: "dhcp.range".into(),
                value: format!("{first}-{last}"),
                reason: "not inside any served interface's subnet; set dhcp.subnet_mask for relayed ranges".into(),
            })?,
    };
    Ok(Some(Network {
        subnet_mask,
        router: config.router,
        dns: config.dns.clone(),
        lease_secs: config.lease_secs,
    }))
}

/// Runs the service until SIGINT or SIGTERM.
pub fn run(config: Config) -> Result<()> {
    let interfaces = net::choose(&config.interfaces, &net::ipv4_interfaces()?)?;
    let boot_files = install_boot_files(&config)?;
    let db = Db::open(&config.data_dir)?;
    let network = network_for(&config, &interfaces)?;
    let pool = match (config.dhcp_mode, config.range) {
        (DhcpMode::Full, Some((first, last))) => {
            let mut pool = Pool::new(first, last);
            let (leases, bad) = db.leases()?;
            for complaint in bad {
                warn!("skipping unreadable {complaint}");
            }
            let restored = leases.len();
            for lease in leases {
                pool.restore(lease);
            }
            for (mac, ip) in &config.reservations {
                pool.reserve(*mac, *ip);
            }
            info!(restored, "leases restored from the database");
            Some(pool)
        }
        _ => None,
    };
    let tftp_root = config
        .tftp_root
        .canonicalize()
        .map_err(Error::io(&config.tftp_root))?;
    let shared = Arc::new(Shared {
        db: Mutex::new(db),
        pool: Mutex::new(pool),
        network,
        boot_files,
        metrics: Metrics::default(),
        tftp_root,
        tftp_cache: Mutex::new(HashMap::new()),
        store: Mutex::new(None),
        readable: Default::default(),
        driver_plans: Default::default(),
        config,
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::io("tokio runtime"))?;
    runtime.block_on(serve(shared, interfaces))
}

async fn serve(shared: Arc<Shared>, interfaces: Vec<Interface>) -> Result<()> {
    let c = &shared.config;
    let mut tasks = tokio::task::JoinSet::new();
    for iface in &interfaces {
        if c.dhcp_mode != DhcpMode::Off {
            for port in [67u16, 4011] {
                let sock = dhcp::bind(iface, port)?;
                tasks.spawn(dhcp::run(shared.clone(), iface.clone(), sock, port));
            }
        }
        if c.dhcp_mode == DhcpMode::Full && c.ipv6_ra {
            ra::spawn(iface.clone());
        }
        let tftp_sock = tftp::bind(iface.ip, c.tftp_port).await?;
        tasks.spawn(tftp::run(shared.clone(), iface.ip, tftp_sock));
        let listener = http::bind(iface.ip, c.http_port).await?;
        tasks.spawn(http::run(shared.clone(), listener, shared.http_base(iface)));

        let dhcp = match c.dhcp_mode {
            DhcpMode::Off => "off".to_string(),
            DhcpMode::Proxy => "proxy (ports 67, 4011)".to_string(),
            DhcpMode::Full => {
                let (a, b) = c
                    .range
                    .unwrap_or((Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED));
                format!("full, range {a}-{b} (ports 67, 4011)")
            }
        };
        info!(
            "serving on {} {}: DHCP {dhcp}; TFTP {}:{} from {}; HTTP {}",
            iface.name,
            iface.ip,
            iface.ip,
            c.tftp_port,
            c.tftp_root.display(),
            shared.http_base(iface)
        );
    }
    let b = &shared.boot_files;
    let show = |f: &Option<String>| f.clone().unwrap_or_else(|| "(not installed)".into());
    info!(
        "boot files: bios {}, uefi-x64 {}, uefi-ia32 {}, uefi-arm64 {}; kernel and initrd from {}",
        show(&b.bios),
        show(&b.uefi_x64),
        show(&b.uefi_ia32),
        show(&b.uefi_arm64),
        boot_dir(&shared.config.data_dir).display()
    );

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(Error::io("SIGTERM handler"))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("interrupted; stopping"),
        _ = term.recv() => info!("terminated; stopping"),
        Some(done) = tasks.join_next() => {
            // A listener task only returns on a socket error.
            return match done {
                Ok(Err(e)) => Err(e),
                Ok(Ok(())) => Ok(()),
                Err(e) => Err(Error::Command { command: "marrow serve".into(), detail: e.to_string() }),
            };
        }
    }
    Ok(())
}

/// The chunk store `marrow image` and `marrow store` use by default.
pub(crate) fn store_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("store")
}

/// Where `marrow initramfs build` puts the kernel and initramfs.
pub(crate) fn boot_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("boot")
}
