//! The boot stage: what `marrow-client` does as PID 1 of the initramfs.
//!
//! Order: mount the kernel filesystems, parse the command line, coldplug
//! modules by modalias, load the boot list (filesystems), bring up the NIC
//! from `ip=`, report the inventory, then claim the task, do it, report it
//! and reboot or power off as the task says. A failure after the claim is
//! reported to the server and ends the same way. Any other error, and any
//! panic, ends in [`rescue`]: the error on the console, then a shell if the
//! initramfs has one, else a reboot. PID 1 must never exit or panic
//! through: the kernel panics when init dies.

use nix::mount::{mount, MsFlags};
use nix::sys::reboot::{reboot, RebootMode};
use std::fs;
use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use marrow_protocol::api::{After, Report, TaskInfo, TaskKind};
use marrow_protocol::disk_rule::{choose, DiskFacts, DiskRule};

use crate::api::Client;
use crate::cmdline::{BootConfig, IpSetting};
use crate::diagnose::{self, Devices, Need};
use crate::inventory;
use crate::job::{self, Console};
use crate::modload::{coldplug, parse_proc_modules, LoadEvent, Loader, ModuleIndex};
use crate::net::{self, Link};
use crate::rescue::{self, rescue};
use crate::{Error, Result};
use marrow_kmod::ModuleName;

/// Printed around the inventory JSON so the server side (and tests reading
/// a serial log) can cut it out of the console output.
pub const INVENTORY_BEGIN: &str = "--- marrow inventory begin ---";
pub const INVENTORY_END: &str = "--- marrow inventory end ---";

/// Modules the build adds although no device's modalias names them.
const BOOT_MODULE_LIST: &str = "/etc/marrow/modules";

/// Where the build lists the firmware its modules may want and it lacks
/// (`marrow_initramfs::FIRMWARE_MISSING`; the client does not link the
/// builder).
const FIRMWARE_MISSING: &str = "/etc/marrow/firmware-missing";

/// The claimed task's API client, so a panic can still fail the task with
/// its message instead of leaving it running.
static CLAIMED: std::sync::OnceLock<Arc<Client>> = std::sync::OnceLock::new();

fn say(msg: &str) {
    println!("marrow-client: {msg}");
}

pub fn run_as_init() -> ! {
    std::panic::set_hook(Box::new(|info| {
        // A panic in PID 1 would kill init and panic the kernel, losing the
        // message off-screen; print it and keep the machine reachable.
        println!("marrow-client: panic: {info}");
        if let Some(client) = CLAIMED.get() {
            let report = Report {
                error: Some(format!("the client panicked: {info}")),
                ..Report::default()
            };
            if client.report(&report).is_ok() {
                println!("marrow-client: the panic was reported to the server");
            }
        }
        rescue();
    }));
    match boot() {
        Ok(After::Poweroff) => power_off(),
        Ok(After::Reboot) => reboot_now(),
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

/// For the inventory's Secure Boot state and lockdown mode: securityfs
/// (built into Debian's kernel) and efivarfs (a module, loaded before this
/// on UEFI machines). Neither exists on every machine (efivarfs needs
/// UEFI), so a failure only leaves those fields unknown.
fn mount_firmware_views() {
    let nosuid_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let _ = mount_fs(
        "securityfs",
        "/sys/kernel/security",
        "securityfs",
        nosuid_nodev | MsFlags::MS_NOEXEC,
        None,
    );
    if Path::new("/sys/firmware/efi").is_dir() {
        let _ = mount_fs(
            "efivarfs",
            "/sys/firmware/efi/efivars",
            "efivarfs",
            nosuid_nodev | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY,
            None,
        );
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

fn boot() -> Result<After> {
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
    rescue::set_timeout(config.rescue_timeout_secs);
    let kver = read("/proc/sys/kernel/osrelease")?.trim().to_owned();
    let index = ModuleIndex::open(&Path::new("/lib/modules").join(&kver)).map_err(|e| {
        match diagnose::unpack_failure(Path::new("/dev/kmsg")) {
            // Half the RAM was too little for the unpacked archive: say
            // that, not which file is missing.
            Some(kernel) => Error::Usage(format!(
                "the initramfs did not fit in this machine's memory (the kernel said \"{kernel}\"; {}); give it more RAM, or build one without the driver trees it does not need (marrow initramfs build --exclude-module TREE)",
                memory_mib().map_or("its memory is unknown".into(), |m| format!("it has {m} MiB"))
            )),
            None => e,
        }
    })?;
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
    if Path::new("/sys/firmware/efi").is_dir() {
        let mut events = Vec::new();
        loader.load(
            &ModuleName::new("efivarfs"),
            "UEFI: for the SecureBoot variable",
            &mut events,
        );
        events.iter().for_each(print);
    }
    mount_firmware_views();

    if let Err(e) = bring_up_network(&config) {
        // Nothing reaches the server without a network: say on the console
        // what the machine has, so the technician at it knows why.
        say(&format!("no network: {e}"));
        print!("{}", explain(&index, Need::Network));
        return Err(e);
    }

    let inv = match inventory::collect(Path::new("/")) {
        Ok(inv) => inv,
        Err(e) => {
            fail_unclaimed(&config, &e);
            return Err(e);
        }
    };
    println!("{INVENTORY_BEGIN}");
    println!(
        "{}",
        serde_json::to_string(&inv).expect("inventory serializes")
    );
    println!("{INVENTORY_END}");
    print!("{}", inv.render());

    if config.inventory_only {
        say("inventory only (marrow.inventory-only): powering off");
        return Ok(After::Poweroff);
    }
    let (Some(server), Some(token)) = (&config.server, &config.token) else {
        return Err(Error::Usage(
            "no task on the kernel command line (marrow.server= and marrow.token=); boot through the Marrow server's boot script".into(),
        ));
    };
    run_task(server, token, &inv, &index)
}

/// MemTotal in MiB.
fn memory_mib() -> Option<u64> {
    let meminfo = fs::read_to_string("/proc/meminfo").ok()?;
    Some(inventory::parse_meminfo_total(&meminfo)? >> 20)
}

/// A failure after the network came up but before the task was claimed:
/// the server is reachable, so the task fails with the failure's text
/// instead of staying pending while the machine reboots into it again.
fn fail_unclaimed(config: &BootConfig, e: &Error) {
    let (Some(server), Some(token)) = (&config.server, &config.token) else {
        return;
    };
    let sent = Client::new(server, token).and_then(|client| {
        let task = client.claim()?;
        client.report(&Report {
            error: Some(e.to_string()),
            ..Report::default()
        })?;
        Ok(task.id)
    });
    match sent {
        Ok(id) => say(&format!("task {id} failed: {e}")),
        Err(why) => say(&format!("the failure did not reach the server: {why}")),
    }
}

/// What the machine has of `need`, and why it does not work, for the
/// console and the task's report.
fn explain(index: &ModuleIndex, need: Need) -> String {
    Devices::read(
        Path::new("/sys"),
        Path::new(FIRMWARE_MISSING),
        Path::new("/dev/kmsg"),
    )
    .explain(need, index)
}

/// Claims the task, picks its disk and does it. Once the task is claimed
/// every failure is reported to the server (the task then shows why) and
/// the machine does what the task says when it ends, failed or not.
fn run_task(
    server: &str,
    token: &str,
    inv: &inventory::Inventory,
    index: &ModuleIndex,
) -> Result<After> {
    let client = Arc::new(Client::new(server, token)?);
    let task = client.claim()?;
    let _ = CLAIMED.set(client.clone());
    say(&format!(
        "task {}: {} image {} (then {})",
        task.id,
        match task.kind {
            TaskKind::Capture => "capture to",
            TaskKind::Restore => "restore from",
        },
        task.image,
        task.after.as_str()
    ));
    if let Err(e) = client.put_inventory(inv) {
        say(&format!(
            "inventory not stored on the server (carrying on): {e}"
        ));
    }
    // No disk to image: the task fails saying which storage controllers
    // the machine has and which lack a driver.
    let disk = choose_disk(&task, inv).map_err(|e| {
        let why = explain(index, Need::Storage);
        print!("{why}");
        Error::Usage(format!("{e}; {}", diagnose::one_line(&why)))
    });
    let outcome = disk.and_then(|disk| {
        say(&format!("task {}: using disk {}", task.id, disk.display()));
        job::run(&client, &task, &disk, Console::Lines)
    });
    let report = match outcome {
        Ok(report) if report.error.is_some() => {
            say(&format!(
                "task {} failed: {}",
                task.id,
                report.error.as_deref().unwrap_or_default()
            ));
            report
        }
        Ok(report) => {
            say(&format!(
                "task {} done in {:.1} s: read {} B, written {} B, skipped {} B, fetched {} B in {} chunks, uploaded {} B in {} chunks",
                task.id,
                report.seconds,
                report.read_bytes,
                report.written_bytes,
                report.skipped_bytes,
                report.fetched_bytes,
                report.fetched_chunks,
                report.uploaded_bytes,
                report.uploaded_chunks
            ));
            report
        }
        Err(e) => {
            say(&format!("task {} failed: {e}", task.id));
            Report {
                error: Some(e.to_string()),
                ..Report::default()
            }
        }
    };
    if let Some(d) = &report.drivers {
        say(&format!("drivers: {d}"));
    }
    if let Some(h) = &report.hostname {
        say(&format!(
            "hostname {} written in {} file(s)",
            h.name,
            h.files.len()
        ));
    }
    if let Some(s) = &report.post_script {
        say(&format!("post-script {} {}:", s.name, s.status));
        print!("{}", s.output);
    }
    // The report ends the task; without it the host would boot the client
    // again, so keep trying for a while. If the server stays away, the
    // rescue path reboots, and the next boot resumes the task.
    let mut sent = false;
    for attempt in 1..=6 {
        match client.report(&report) {
            Ok(()) => {
                sent = true;
                break;
            }
            Err(Error::Server {
                status, message, ..
            }) if status < 500 => {
                // The task ended meanwhile (cancelled, or its token retired
                // by a newer boot): there is nobody to report to.
                say(&format!(
                    "the server refused the report ({status}): {message}"
                ));
                sent = true;
                break;
            }
            Err(e) => {
                say(&format!(
                    "sending the report failed (attempt {attempt}): {e}"
                ));
                std::thread::sleep(Duration::from_secs(5));
            }
        }
    }
    if !sent {
        return Err(Error::Usage(format!(
            "task {}: the final report could not be sent",
            task.id
        )));
    }
    say(&format!(
        "task {} reported; {}",
        task.id,
        match task.after {
            After::Poweroff => "powering off",
            After::Reboot => "rebooting",
        }
    ));
    Ok(task.after)
}

/// Disks holding a mounted filesystem: the medium the client runs from.
fn mounted_disks() -> Vec<String> {
    fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|dev| dev.strip_prefix("/dev/"))
        .map(str::to_owned)
        .collect()
}

fn choose_disk(task: &TaskInfo, inv: &inventory::Inventory) -> Result<std::path::PathBuf> {
    let rule = match &task.disk {
        Some(text) => DiskRule::parse(text)?,
        None => DiskRule::default(),
    };
    let mounted = mounted_disks();
    let facts: Vec<DiskFacts> = inv
        .disks
        .iter()
        .map(|d| DiskFacts {
            name: d.name.clone(),
            size_bytes: d.size_bytes,
            serial: d.serial.clone(),
            wwn: d.wwn.clone(),
            usb: d.usb,
            removable: d.removable,
            boot_medium: mounted.iter().any(|m| m.starts_with(&d.name)),
        })
        .collect();
    let chosen = choose(&rule, &facts)?;
    Ok(Path::new("/dev").join(&chosen.name))
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

fn reboot_now() -> ! {
    nix::unistd::sync();
    let Err(e) = reboot(RebootMode::RB_AUTOBOOT);
    say(&format!("reboot failed: {e}"));
    rescue()
}

fn power_off() -> ! {
    nix::unistd::sync();
    // reboot(2) returns only on failure.
    let Err(e) = reboot(RebootMode::RB_POWER_OFF);
    say(&format!("power off failed: {e}"));
    rescue()
}
