//! The boot stage: what `marrow-client` does as PID 1 of the initramfs.
//!
//! Order: mount the kernel filesystems, parse the command line, coldplug
//! modules by modalias, load the boot list (filesystems), bring up the NIC
//! from `ip=`, report the inventory, then do the task. Any error, and any
//! panic, ends in [`rescue`]: the error on the console, then a shell if the
//! initramfs has one, else a reboot. PID 1 must never exit or panic
//! through: the kernel panics when init dies.

use nix::mount::{mount, MsFlags};
use nix::sys::reboot::{reboot, RebootMode};
use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::cmdline::{BootConfig, IpSetting};
use crate::inventory;
use crate::modload::{coldplug, parse_proc_modules, LoadEvent, Loader, ModuleIndex};
use crate::net::{self, Link};
use crate::{Error, Result};
use marrow_initramfs::modules::ModuleName;

/// Printed around the inventory JSON so the server side (and tests reading
/// a serial log) can cut it out of the console output.
pub const INVENTORY_BEGIN: &str = "--- marrow inventory begin ---";
pub const INVENTORY_END: &str = "--- marrow inventory end ---";

/// Modules the build adds although no device's modalias names them.
const BOOT_MODULE_LIST: &str = "/etc/marrow/modules";

fn say(msg: &str) {
    println!("marrow-client: {msg}");
}

pub fn run_as_init() -> ! {
    std::panic::set_hook(Box::new(|info| {
        // A panic in PID 1 would kill init and panic the kernel, losing the
        // message off-screen; print it and keep the machine reachable.
        println!("marrow-client: panic: {info}");
        rescue();
    }));
    match boot() {
        Ok(()) => power_off(),
        Err(e) => {
            say(&format!("boot failed: {e}"));
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                say(&format!("  caused by: {cause}"));
                source = cause.source();
            }
            rescue()
        }
    }
}

fn mount_fs(
    source: &str,
    target: &str,
    fstype: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    // The archive carries these directories, but a hand-made one may not.
    let _ = fs::create_dir_all(target);
    match mount(Some(source), target, Some(fstype), flags, data) {
        // EBUSY: already mounted (the client restarted, or the kernel
        // mounted devtmpfs itself with CONFIG_DEVTMPFS_MOUNT).
        Ok(()) | Err(nix::Error::EBUSY) => Ok(()),
        Err(source) => Err(Error::Mount {
            target: target.to_owned(),
            source,
        }),
    }
}

fn mount_early() -> Result<()> {
    let nosuid_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount_fs(
        "proc",
        "/proc",
        "proc",
        nosuid_nodev | MsFlags::MS_NOEXEC,
        None,
    )?;
    mount_fs(
        "sysfs",
        "/sys",
        "sysfs",
        nosuid_nodev | MsFlags::MS_NOEXEC,
        None,
    )?;
    mount_fs(
        "devtmpfs",
        "/dev",
        "devtmpfs",
        MsFlags::MS_NOSUID,
        Some("mode=0755"),
    )?;
    mount_fs("tmpfs", "/run", "tmpfs", nosuid_nodev, Some("mode=0755"))?;
    mount_fs("tmpfs", "/tmp", "tmpfs", nosuid_nodev, Some("mode=1777"))?;
    Ok(())
}

fn read(path: &str) -> Result<String> {
    fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })
}

fn boot() -> Result<()> {
    mount_early()?;
    let uptime = read("/proc/uptime")?
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_owned();
    say(&format!(
        "{} started as PID {} at {uptime} s uptime",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    ));

    let config = BootConfig::parse(&read("/proc/cmdline")?)?;
    let kver = read("/proc/sys/kernel/osrelease")?.trim().to_owned();
    let index = ModuleIndex::open(&Path::new("/lib/modules").join(&kver))?;
    let mut loader = Loader::new(&index, parse_proc_modules(&read("/proc/modules")?));
    let print = |e: &LoadEvent| match e {
        LoadEvent::Loaded { module, reason } => say(&format!("loaded module {module} ({reason})")),
        LoadEvent::Failed {
            module,
            reason,
            error,
        } => say(&format!(
            "could not load module {module} ({reason}): {error}"
        )),
    };
    coldplug(&mut loader, Path::new("/sys"), print);
    if let Ok(list) = fs::read_to_string(BOOT_MODULE_LIST) {
        for name in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let mut events = Vec::new();
            loader.load(
                &ModuleName::new(name),
                &format!("listed in {BOOT_MODULE_LIST}"),
                &mut events,
            );
            events.iter().for_each(print);
        }
    }

    bring_up_network(&config)?;

    let inv = inventory::collect(Path::new("/"))?;
    println!("{INVENTORY_BEGIN}");
    println!(
        "{}",
        serde_json::to_string(&inv).expect("inventory serializes")
    );
    println!("{INVENTORY_END}");
    print!("{}", inv.render());

    if config.inventory_only {
        say("inventory only (marrow.inventory-only): powering off");
        return Ok(());
    }
    Err(Error::NotBuilt {
        what: "capture and restore from the boot client",
    })
}

fn links() -> Vec<Link> {
    inventory::collect_links(Path::new("/sys/class/net"))
}

/// How long the boot waits for a DHCP lease before giving up (RFC 2131's
/// backoff sends at 0, 4, 12, 28 and 60 s within it).
const DHCP_LIMIT: Duration = Duration::from_secs(64);

fn bring_up_network(config: &BootConfig) -> Result<()> {
    let device = match &config.ip {
        IpSetting::Off => {
            say("network: ip=off, leaving it unconfigured");
            return Ok(());
        }
        IpSetting::Static(ip) => ip.device.as_deref(),
        IpSetting::Dhcp { device } => device.as_deref(),
        IpSetting::Unset => None,
    };
    // NIC drivers register their netdev while probing, inside
    // finit_module, but give a slow device a few seconds.
    let mut found = links();
    for _ in 0..50 {
        if net::choose_link(&found, device, config.bootif).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        found = links();
    }
    let link = net::choose_link(&found, device, config.bootif)?;
    let ip = match &config.ip {
        IpSetting::Static(ip) => {
            net::configure(link, ip)?;
            ip.clone()
        }
        _ => {
            say(&format!(
                "network: no static ip=, asking DHCP on {}",
                link.name
            ));
            let lease = net::dhcp(link, DHCP_LIMIT, say)?;
            say(&format!(
                "network: DHCP server {} leased {}/{}",
                lease.server_id, lease.address, lease.prefix_len
            ));
            net::configure_lease(link, &lease)?
        }
    };
    let route = net::default_route(&read("/proc/net/route")?);
    let gw = match (ip.gateway, route) {
        (Some(gw), Some((dev, via))) if dev == link.name && via == gw => {
            format!(", default route via {gw}")
        }
        (Some(gw), other) => {
            return Err(Error::Network {
                detail: format!(
                    "default route via {gw} on {} is missing after configuration (found {other:?})",
                    link.name
                ),
            })
        }
        (None, _) => String::new(),
    };
    let mac = link.mac.map_or("-".into(), |m| m.to_string());
    say(&format!(
        "network: {} ({mac}) up with {}/{}{gw}",
        link.name, ip.address, ip.prefix_len
    ));
    Ok(())
}

fn power_off() -> ! {
    nix::unistd::sync();
    // reboot(2) returns only on failure.
    let Err(e) = reboot(RebootMode::RB_POWER_OFF);
    say(&format!("power off failed: {e}"));
    rescue()
}

/// Offers a shell if the initramfs has one, then reboots. Never returns.
pub fn rescue() -> ! {
    if Path::new("/bin/sh").exists() {
        say("starting a rescue shell on the console; exit it to reboot");
        let _ = std::process::Command::new("/bin/sh").status();
    } else {
        say("no shell in this initramfs; rebooting in 30 s");
        std::thread::sleep(Duration::from_secs(30));
    }
    nix::unistd::sync();
    let _ = reboot(RebootMode::RB_AUTOBOOT);
    // reboot(2) only returns on failure (not PID 1's namespace, no
    // CAP_SYS_BOOT); PID 1 must still not exit.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
