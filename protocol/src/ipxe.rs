//! The iPXE script a host receives from `GET /boot.ipxe`, as a pure function
//! of the host, what it should do, and where the server is.

use crate::routes;
use crate::{MacAddr, TaskId};

/// An active task's boot credentials, passed on the kernel command line so
/// the imaging client can claim the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskBoot {
    pub id: TaskId,
    /// One-time token; the server accepts it once.
    pub token: String,
}

/// What the host should boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Leave the network boot and start the local disk.
    LocalDisk,
    /// Boot the Marrow kernel and initramfs, with a task when one is pending.
    Marrow { task: Option<TaskBoot> },
    /// Ask at the console, taking `default` after `timeout_secs`.
    Menu {
        default: MenuDefault,
        timeout_secs: u32,
    },
}

/// The item a menu takes when nobody chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuDefault {
    LocalDisk,
    Marrow,
}

/// The host the script is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptHost {
    pub mac: MacAddr,
    pub name: Option<String>,
}

/// Where the kernel lives and what it is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptSite {
    /// Base URL of the server, e.g. `http://10.0.0.1:8080`.
    pub server_url: String,
    /// Extra kernel arguments (console settings and the like).
    pub kernel_args: String,
}

/// Characters that could end a line or an iPXE word early. Names and tokens
/// come from the database; none of ours contain these, but a hostile name
/// must not inject script commands.
pub(crate) fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| {
            !c.is_control()
                && !matches!(
                    c,
                    '$' | '{' | '}' | '#' | '"' | '\'' | '\\' | '&' | '|' | ';'
                )
        })
        .collect()
}

/// Leaves the network boot for the local disk. UEFI: returning to the
/// firmware makes it try the next boot option. BIOS: hand INT 13h drive
/// 0x80 to its boot sector.
const LOCAL_DISK: &str =
    "iseq ${platform} efi && exit ||\nsanboot --no-describe --drive 0x80 || exit\n";

/// The kernel, initrd and boot lines of the Marrow environment, ending in a
/// `:failed` label that falls back to the local disk.
fn marrow_lines(site: &ScriptSite, task: Option<&TaskBoot>) -> String {
    let url = sanitize(&site.server_url);
    // iPXE fills in the NIC it booted from and the lease it holds, so the
    // client reuses both instead of asking DHCP again. `netX` is the last
    // interface iPXE opened: the one that fetched this script.
    let mut args = format!(
        "initrd=initrd.img marrow.server={url} BOOTIF=01-${{netX/mac:hexhyp}} \
         ip=${{netX/ip}}::${{netX/gateway}}:${{netX/netmask}}:::off"
    );
    if let Some(t) = task {
        args.push_str(&format!(
            " marrow.task={} marrow.token={}",
            t.id,
            sanitize(&t.token)
        ));
    }
    if !site.kernel_args.is_empty() {
        args.push(' ');
        args.push_str(&sanitize(&site.kernel_args));
    }
    // The EFI stub finds the initrd by the name on the command line
    // (`initrd=`); BIOS kernels ignore it (pxe-lab notes).
    let kernel = routes::path(routes::BOOT_FILE, &["vmlinuz"]);
    let initrd = routes::path(routes::BOOT_FILE, &["initrd.img"]);
    let mut s = format!("kernel {url}{kernel} {args} || goto failed\n");
    s.push_str(&format!("initrd {url}{initrd} || goto failed\n"));
    s.push_str("boot || goto failed\n");
    s.push_str(":failed\n");
    s.push_str(
        "echo Marrow: could not boot the Marrow environment; booting the local disk in 10 s\n",
    );
    s.push_str("sleep 10\n");
    s.push_str(LOCAL_DISK);
    s
}

/// Renders the script. Every line is iPXE syntax as of the 2019 build Debian
/// ships (`/usr/lib/ipxe`), which QEMU's ROMs also are.
pub fn render(site: &ScriptSite, host: &ScriptHost, action: &Action) -> String {
    let mut s = String::from("#!ipxe\n");
    let who = match &host.name {
        Some(n) => format!("{} ({})", sanitize(n), host.mac),
        None => host.mac.to_string(),
    };
    match action {
        Action::LocalDisk => {
            s.push_str(&format!(
                "echo Marrow: no task for {who}, booting the local disk\n"
            ));
            s.push_str(LOCAL_DISK);
        }
        Action::Marrow { task } => {
            match task {
                Some(t) => s.push_str(&format!("echo Marrow: task {} for {who}\n", t.id)),
                None => s.push_str(&format!(
                    "echo Marrow: booting the Marrow environment for {who}\n"
                )),
            }
            s.push_str(&marrow_lines(site, task.as_ref()));
        }
        Action::Menu {
            default,
            timeout_secs,
        } => {
            let default = match default {
                MenuDefault::LocalDisk => "local",
                MenuDefault::Marrow => "marrow",
            };
            s.push_str(&format!("menu Marrow: {who}\n"));
            s.push_str("item local Boot the local disk\n");
            s.push_str("item marrow Boot the Marrow environment\n");
            // `choose --timeout` takes milliseconds.
            s.push_str(&format!(
                "choose --default {default} --timeout {} target || goto local\n",
                u64::from(*timeout_secs) * 1000
            ));
            s.push_str("goto ${target}\n");
            s.push_str(":local\n");
            s.push_str(LOCAL_DISK);
            s.push_str(":marrow\n");
            s.push_str(&marrow_lines(site, None));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> ScriptSite {
        ScriptSite {
            server_url: "http://10.0.0.1:8080".into(),
            kernel_args: "console=ttyS0,115200".into(),
        }
    }

    fn host() -> ScriptHost {
        ScriptHost {
            mac: "52:54:00:12:34:56".parse().unwrap(),
            name: Some("lab-07".into()),
        }
    }

    #[test]
    fn host_without_task_boots_the_local_disk() {
        let golden = "#!ipxe
echo Marrow: no task for lab-07 (52:54:00:12:34:56), booting the local disk
iseq ${platform} efi && exit ||
sanboot --no-describe --drive 0x80 || exit
";
        assert_eq!(render(&site(), &host(), &Action::LocalDisk), golden);
    }

    #[test]
    fn host_with_task_boots_the_marrow_kernel_with_url_and_token() {
        let task = TaskBoot {
            id: TaskId(42),
            token: "q7Zx9".into(),
        };
        let golden = "#!ipxe
echo Marrow: task 42 for lab-07 (52:54:00:12:34:56)
kernel http://10.0.0.1:8080/boot/vmlinuz initrd=initrd.img marrow.server=http://10.0.0.1:8080 BOOTIF=01-${netX/mac:hexhyp} ip=${netX/ip}::${netX/gateway}:${netX/netmask}:::off marrow.task=42 marrow.token=q7Zx9 console=ttyS0,115200 || goto failed
initrd http://10.0.0.1:8080/boot/initrd.img || goto failed
boot || goto failed
:failed
echo Marrow: could not boot the Marrow environment; booting the local disk in 10 s
sleep 10
iseq ${platform} efi && exit ||
sanboot --no-describe --drive 0x80 || exit
";
        assert_eq!(
            render(&site(), &host(), &Action::Marrow { task: Some(task) }),
            golden
        );
    }

    #[test]
    fn menu_offers_local_disk_and_marrow_with_a_default_after_the_timeout() {
        let golden = "#!ipxe
menu Marrow: lab-07 (52:54:00:12:34:56)
item local Boot the local disk
item marrow Boot the Marrow environment
choose --default marrow --timeout 3000 target || goto local
goto ${target}
:local
iseq ${platform} efi && exit ||
sanboot --no-describe --drive 0x80 || exit
:marrow
kernel http://10.0.0.1:8080/boot/vmlinuz initrd=initrd.img marrow.server=http://10.0.0.1:8080 BOOTIF=01-${netX/mac:hexhyp} ip=${netX/ip}::${netX/gateway}:${netX/netmask}:::off console=ttyS0,115200 || goto failed
initrd http://10.0.0.1:8080/boot/initrd.img || goto failed
boot || goto failed
:failed
echo Marrow: could not boot the Marrow environment; booting the local disk in 10 s
sleep 10
iseq ${platform} efi && exit ||
sanboot --no-describe --drive 0x80 || exit
";
        let action = Action::Menu {
            default: MenuDefault::Marrow,
            timeout_secs: 3,
        };
        assert_eq!(render(&site(), &host(), &action), golden);
    }

    #[test]
    fn a_hostile_host_name_cannot_inject_commands() {
        let mut h = host();
        h.name = Some("x\nchain http://evil/${a}".into());
        let out = render(&site(), &h, &Action::LocalDisk);
        assert_eq!(out.lines().count(), 4);
        assert!(!out.contains("${a}"));
    }
}
