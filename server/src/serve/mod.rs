//! The boot service behind `marrow serve`: DHCP (proxy or full), TFTP and
//! HTTP on the configured interfaces, sharing one state.
//!
//! Each protocol's decisions live in `marrow_protocol` as sans-I/O code;
//! the modules here only move datagrams and bytes between sockets, that
//! code, the database and the file system.

mod admin;
mod api;
mod api_error;
mod auth;
mod body;
mod boot_plan;
pub mod config;
mod db_handle;
mod dhcp;
mod file_cache;
mod files;
mod holds;
mod http;
mod metrics;
mod multicast;
mod nbd_exports;
pub mod net;
mod off_thread;
mod ra;
mod read_through;
pub mod relay_pools;
mod scheduler;
mod state;
mod store_space;
mod sync_api;
pub mod sync_runner;
mod tftp;
mod ui;
mod witness;

use std::net::Ipv4Addr;
use std::sync::Arc;

use marrow_protocol::dhcp::UefiChain;
use tracing::{info, warn};

use crate::error::{Error, Result};
use config::{Config, DhcpMode};
use net::Interface;
use state::Shared;

/// Runs the service until SIGINT or SIGTERM.
pub fn run(config: Config) -> Result<()> {
    let interfaces = net::choose(&config.interfaces, &net::ipv4_interfaces()?)?;
    recover_store(&config)?;
    let shared = Arc::new(Shared::new(config, &interfaces)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::io("tokio runtime"))?;
    let result = runtime.block_on(serve(shared, interfaces));
    // Stop now, not when the last blocking call returns: a stop must not
    // wait on a client (TFTP runs on its own thread, which ends with the
    // process).
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    result
}

/// Before serving, a local store takes back the chunks that a killed
/// server had acknowledged but not yet renamed into place, so the captures
/// it was taking carry on and commit.
fn recover_store(config: &Config) -> Result<()> {
    let crate::store::StoreSpec::Local(root) = &config.store else {
        return Ok(());
    };
    let Some(crate::store::Store::Local(store)) = config.store.open_if_there()? else {
        return Ok(());
    };
    let done = store.recover_chunks()?;
    if done.kept + done.removed > 0 {
        info!(
            store = %root.display(),
            kept = done.kept,
            removed = done.removed,
            "store: {} chunk(s) left by a stopped writer kept, {} removed",
            done.kept,
            done.removed
        );
    }
    Ok(())
}

async fn serve(shared: Arc<Shared>, interfaces: Vec<Interface>) -> Result<()> {
    let c = &shared.config;
    let entries = c.sync.clone();
    shared
        .db
        .call(move |db| sync_runner::check_sites(db, &entries))
        .await?;
    let mut tasks = tokio::task::JoinSet::new();
    let mut tftp_sockets = Vec::new();
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
        tftp_sockets.push((iface.ip, tftp::bind(iface.ip, c.tftp_port)?));
        let listener = http::bind(iface.ip, c.http_port).await?;
        tasks.spawn(http::run(shared.clone(), listener, shared.http_base(iface)));

        let dhcp = match c.dhcp_mode {
            DhcpMode::Off => "off".to_string(),
            DhcpMode::Proxy => "proxy (ports 67, 4011)".to_string(),
            DhcpMode::Full => {
                let mut pools: Vec<String> = c
                    .range
                    .map(|(a, b)| format!("range {a}-{b}"))
                    .into_iter()
                    .collect();
                pools.extend(
                    c.relay_pools
                        .iter()
                        .map(|p| format!("relayed {}", p.subnet)),
                );
                format!("full, {} (ports 67, 4011)", pools.join(", "))
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
    if let Some(port) = c.tls_port {
        let cert = crate::sites::tls::ServerCert::load(
            &shared.dirs,
            c.tls_pair.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
        )?;
        // Every address: sites come in over the WAN, not the imaging LAN.
        let listener = http::bind(Ipv4Addr::UNSPECIFIED, port).await?;
        let base = interfaces
            .first()
            .map(|i| shared.http_base(i))
            .unwrap_or_default();
        tasks.spawn(http::run_tls(
            shared.clone(),
            listener,
            base,
            cert.acceptor()?,
        ));
        info!(
            "serving HTTPS between sites on port {port}, certificate {} ({}); identity key {}",
            cert.source.display(),
            cert.fingerprint(),
            shared.identity.public()
        );
    }
    tftp::spawn(shared.clone(), tftp_sockets)?;
    tokio::spawn(holds::sweep(shared.clone()));
    tokio::spawn(scheduler::run(shared.clone()));
    tokio::spawn(sync_runner::run(shared.clone()));
    match multicast::interface(&shared, &interfaces) {
        Some(iface) => {
            info!(
                "multicast sessions send on {} {} to groups from {} port {} (TTL {})",
                iface.name, iface.ip, c.multicast.first, c.multicast.port, c.multicast.ttl
            );
            tokio::spawn(multicast::run(shared.clone(), iface.clone()));
        }
        None => {
            return Err(Error::Config {
                key: "multicast.interface".into(),
                value: c.multicast.interface.clone().unwrap_or_default(),
                reason: "not one of the served interfaces".into(),
            })
        }
    }
    let b = &shared.boot.files;
    let show = |f: &Option<String>| f.clone().unwrap_or_else(|| "(not installed)".into());
    info!(
        "boot files: bios {}, uefi-x64 {}, uefi-ia32 {}, uefi-arm64 {}; kernel and initrd from {}",
        show(&b.bios),
        show(&b.uefi_x64),
        show(&b.uefi_ia32),
        show(&b.uefi_arm64),
        shared.dirs.boot().display()
    );
    match (shared.config.uefi_chain, b.signed_x64) {
        (UefiChain::Signed, true) => info!(
            "UEFI x64: the signed chain (shim, GRUB, Debian's kernel) from {}; hosts set to ipxe get iPXE",
            shared.dirs.boot().display()
        ),
        (UefiChain::Signed, false) => warn!(
            "UEFI x64: boot.uefi is signed but shimx64.efi and grubx64.efi are not in {}; UEFI hosts get iPXE, which Secure Boot refuses, until `marrow initramfs build` fetches them",
            shared.dirs.boot().display()
        ),
        (UefiChain::Ipxe, _) => info!("UEFI x64: iPXE (boot.uefi = ipxe); hosts set to signed get the signed chain when installed"),
    }

    if let Some(iface) = interfaces.first() {
        admin::announce(&shared, &shared.http_base(iface)).await?;
    }

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
