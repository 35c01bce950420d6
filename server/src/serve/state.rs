//! The state every part of the service shares, built in one place.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use image_format::ChunkId;
use marrow_protocol::api::DriverPlan;
use marrow_protocol::dhcp::{BootFiles, Mode, Network, Pool, Scope, Scopes, Site, Subnet};
use tracing::{info, warn};

use super::api::PerTask;
use super::body::{UploadBudget, CHUNK_LIMIT};
use super::config::{Config, DhcpMode};
use super::db_handle::DbHandle;
use super::holds::Holds;
use super::metrics::Metrics;
use super::net::Interface;
use super::witness::Witnesses;
use crate::clock::{Clock, SystemClock};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::paths::DataDir;
use crate::store::Store;

/// State shared by every task of the service.
pub(crate) struct Shared {
    pub config: Config,
    pub dirs: DataDir,
    pub db: DbHandle,
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
    /// Boot files held in memory for HTTP.
    pub files: super::file_cache::FileCache,
    pub boot: BootState,
    pub images: ImageState,
    /// Running multicast sessions.
    pub sessions: super::multicast::Registry,
    /// Login throttling and the first admin's setup link.
    pub admin: super::admin::AdminState,
    /// Where Wake-on-LAN goes: the multicast interface (the rooms' segment).
    pub wake_iface: Option<Interface>,
    /// This server's key, which signs what it captures (made at first start).
    pub identity: Arc<crate::sites::identity::Identity>,
    /// The upstreams that restores read through to.
    pub read_through: crate::sites::read_through::ReadThrough,
    /// Image versions exported over NBD on request.
    pub nbd: super::nbd_exports::NbdExports,
}

/// What DHCP, TFTP and the boot files need.
pub(crate) struct BootState {
    /// The `full`-mode address pools: the local range's and one per
    /// relayed subnet.
    pub pools: Mutex<Option<Scopes>>,
    pub files: BootFiles,
    /// Canonical TFTP root, for the symlink half of confinement.
    pub tftp_root: PathBuf,
    /// The address each MAC took in DHCP, for the boot script's tokens.
    pub witnesses: Witnesses,
}

/// What the client API's image calls need.
pub(crate) struct ImageState {
    /// The chunk store, opened (or created) on the first client call.
    store: Mutex<Option<Arc<Store>>>,
    /// A restore's chunk set, worked out once per task.
    pub readable: PerTask<HashSet<ChunkId>>,
    /// A restore's driver plan, worked out once per task.
    pub driver_plans: PerTask<DriverPlan>,
    /// The memory chunk uploads may hold at once.
    pub uploads: UploadBudget,
    /// The store's shared lock, held for each running task.
    pub holds: Holds,
}

/// Chunk bodies held in memory at once, in all and per task: four of the
/// largest chunks per task (the client's upload threads), eight in all.
/// Chunks average 128 KiB, so hundreds of real uploads fit at once.
const UPLOAD_BYTES: usize = 8 * CHUNK_LIMIT;
const UPLOAD_BYTES_PER_TASK: usize = 4 * CHUNK_LIMIT;

impl Shared {
    /// Opens the database, installs the iPXE binaries into the TFTP root,
    /// and restores `full`-mode leases into the pool.
    pub fn new(config: Config, interfaces: &[Interface]) -> Result<Shared> {
        let dirs = DataDir::new(&config.data_dir);
        let files = install_boot_files(&config, &dirs)?;
        let db = Db::open(&dirs.db())?;
        let identity = Arc::new(crate::sites::identity::Identity::load_or_create(&dirs)?);
        let pools = scopes_for(&config, interfaces, &db)?;
        let tftp_root = config
            .tftp_root
            .canonicalize()
            .map_err(Error::io(&config.tftp_root))?;
        Ok(Shared {
            dirs,
            db: DbHandle::new(db),
            clock: Arc::new(SystemClock),
            metrics: Metrics::default(),
            files: Default::default(),
            boot: BootState {
                pools: Mutex::new(pools),
                files,
                tftp_root,
                witnesses: Witnesses::default(),
            },
            images: ImageState {
                store: Mutex::new(None),
                readable: PerTask::default(),
                driver_plans: PerTask::default(),
                uploads: UploadBudget::new(UPLOAD_BYTES, UPLOAD_BYTES_PER_TASK),
                holds: Holds::default(),
            },
            sessions: super::multicast::Registry::default(),
            admin: super::admin::AdminState::default(),
            wake_iface: match &config.multicast.interface {
                Some(name) => interfaces.iter().find(|i| &i.name == name).cloned(),
                None => interfaces.first().cloned(),
            },
            identity,
            read_through: Default::default(),
            nbd: super::nbd_exports::NbdExports::new(config.nbd_port),
            config,
        })
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn http_base(&self, iface: &Interface) -> String {
        self.http_base_for(iface.ip)
    }

    /// The HTTP base URL clients reach through the interface at `ip`.
    pub fn http_base_for(&self, ip: std::net::Ipv4Addr) -> String {
        match &self.config.http_url {
            Some(url) => url.clone(),
            None => format!(
                "http://{}:{}",
                self.config.advertise_ip.unwrap_or(ip),
                self.config.http_port
            ),
        }
    }

    pub fn site(&self, iface: &Interface) -> Site {
        Site {
            mode: match self.config.dhcp_mode {
                DhcpMode::Full => Mode::Full,
                _ => Mode::Proxy,
            },
            server_ip: self.config.advertise_ip.unwrap_or(iface.ip),
            http_base: self.http_base(iface),
            boot_files: self.boot.files.clone(),
            uefi: self.config.uefi_chain,
            interface_ip: iface.ip,
        }
    }

    /// The chunk store (the configuration's, else the data directory's),
    /// created when absent so a first capture needs no set-up.
    pub fn store(&self) -> Result<Arc<Store>> {
        let mut slot = self.images.store.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(store) = &*slot {
            return Ok(store.clone());
        }
        let store = Arc::new(self.config.store.create()?);
        *slot = Some(store.clone());
        Ok(store)
    }
}

/// Copies each configured iPXE binary into the TFTP root when it is not
/// there yet, and returns the names that are present afterwards; the
/// signed chain counts when shim and GRUB are in the boot folder
/// (`marrow initramfs build` puts them there).
fn install_boot_files(config: &Config, dirs: &DataDir) -> Result<BootFiles> {
    let root = &config.tftp_root;
    std::fs::create_dir_all(root).map_err(Error::io(root))?;
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
        signed_x64: [marrow_protocol::grub::SHIM, marrow_protocol::grub::GRUB]
            .iter()
            .all(|f| dirs.boot().join(f).is_file()),
    })
}

/// The local range's scope: its subnet is the one its mask (configured,
/// else the serving interface's) puts it in.
fn local_scope(config: &Config, interfaces: &[Interface]) -> Result<Option<Scope>> {
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
                reason: "not inside any served interface's subnet; set dhcp.subnet_mask, or use [[dhcp.pool]] for a relayed subnet".into(),
            })?,
    };
    let prefix = u32::from(subnet_mask).leading_ones() as u8;
    let subnet = Subnet::new(first, prefix).expect("a netmask has at most 32 bits");
    if !subnet.contains(last) {
        return Err(Error::Config {
            key: "dhcp.range".into(),
            value: format!("{first}-{last}"),
            reason: format!("spans more than one subnet of mask {subnet_mask}"),
        });
    }
    Ok(Some(Scope {
        subnet,
        pool: Pool::new(first, last),
        network: Network {
            subnet_mask,
            router: config.router,
            dns: config.dns.clone(),
            lease_secs: config.lease_secs,
        },
    }))
}

/// The `full`-mode pools with the stored leases and the reservations.
fn scopes_for(config: &Config, interfaces: &[Interface], db: &Db) -> Result<Option<Scopes>> {
    if config.dhcp_mode != DhcpMode::Full {
        return Ok(None);
    }
    let local = local_scope(config, interfaces)?;
    let mut scopes: Vec<Scope> = local.into_iter().collect();
    for p in &config.relay_pools {
        if let Some(other) = scopes.iter().find(|s| s.subnet.overlaps(&p.subnet)) {
            return Err(Error::Config {
                key: "dhcp.pool".into(),
                value: p.subnet.to_string(),
                reason: format!("overlaps dhcp.range's subnet {}", other.subnet),
            });
        }
        scopes.push(Scope {
            subnet: p.subnet,
            pool: Pool::new(p.range.0, p.range.1),
            network: Network {
                subnet_mask: p.subnet.mask(),
                router: p.router,
                dns: p.dns.clone().unwrap_or_else(|| config.dns.clone()),
                lease_secs: p.lease_secs.unwrap_or(config.lease_secs),
            },
        });
    }
    let mut scopes = Scopes::new(scopes);
    let (leases, bad) = db.leases().all()?;
    for complaint in bad {
        warn!("skipping unreadable {complaint}");
    }
    let mut restored = 0;
    for lease in leases {
        match scopes.restore(lease) {
            Ok(()) => restored += 1,
            Err(gone) => {
                // The configuration no longer serves that subnet.
                warn!(mac = %gone.mac, ip = %gone.ip, "stored lease outside every pool's subnet; dropped");
                db.leases().delete(gone.mac)?;
            }
        }
    }
    for (mac, ip) in &config.reservations {
        if !scopes.reserve(*mac, *ip) {
            warn!(%mac, %ip, "reservation outside every pool's subnet; ignored");
        }
    }
    info!(restored, "leases restored from the database");
    Ok(Some(scopes))
}
