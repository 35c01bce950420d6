//! The GRUB configuration a host receives on the signed UEFI chain
//! (shim → Debian's network GRUB → Debian's kernel), as a pure function of
//! the same plan the iPXE script renders: local disk, the Marrow client
//! (with its task), or a menu of both.
//!
//! Debian's signed `grubnetx64.efi` has no HTTP module built in, and under
//! Secure Boot it loads no module from the network, so everything after
//! shim comes over TFTP: the files under [`BOOT_PREFIX`] are the data
//! directory's boot files. See docs/secure-boot.md.

use crate::ipxe::{sanitize, Action, MenuDefault, ScriptHost, ScriptSite, TaskBoot};
use crate::MacAddr;

/// TFTP folder whose files are the data directory's `boot/` files
/// (`shimx64.efi`, `grubx64.efi`, `vmlinuz`, `initrd.img`).
pub const BOOT_PREFIX: &str = "marrow";

/// The first stage shim, as the firmware is told to fetch it over TFTP.
/// shim loads `grubx64.efi` from the same folder.
pub const SHIM: &str = "shimx64.efi";
/// The name shim loads as its second stage (shim's `DEFAULT_LOADER`).
pub const GRUB: &str = "grubx64.efi";

/// GRUB's network image reads `$prefix/grub.cfg`, with `$prefix` =
/// `(tftp,SERVER)/grub` (seen on Debian 12's `grubnetx64.efi.signed`).
pub const PREFIX_CONFIG: &str = "grub/grub.cfg";

/// The TFTP name of a host's own configuration.
pub fn host_config_name(mac: MacAddr) -> String {
    format!("grub/marrow-{mac}.cfg")
}

/// The MAC a TFTP name of [`host_config_name`]'s form asks for.
pub fn host_config_mac(name: &str) -> Option<MacAddr> {
    name.strip_prefix("grub/marrow-")?
        .strip_suffix(".cfg")?
        .parse()
        .ok()
}

/// `grub/grub.cfg`: the same for every host; it sources the host's own
/// file, named by the MAC GRUB booted from, so the server can render it
/// with the host's task and a fresh token.
pub fn prefix_config() -> String {
    "# Marrow: the host's own configuration, named by its MAC.\n\
     source $prefix/marrow-${net_default_mac}.cfg\n"
        .to_string()
}

/// Leaves the network boot: GRUB's `exit` returns to shim, which returns
/// to the firmware, and the firmware tries its next boot option.
const LOCAL_DISK: &str = "exit\n";

/// The kernel, initrd and boot of the Marrow environment. GRUB's
/// `linux` verifies the kernel through shim (Debian's signature); on any
/// failure it says so and boots the local disk after 10 s.
fn marrow_lines(
    site: &ScriptSite,
    host: &ScriptHost,
    task: Option<&TaskBoot>,
    indent: &str,
) -> String {
    let url = sanitize(&site.server_url);
    // GRUB knows no gateway or netmask variable to hand on, so the client
    // asks DHCP again on the NIC named by BOOTIF (pxelinux's IPAPPEND 2
    // form), which the server fills in from the MAC this file is for.
    let mut args = format!("marrow.server={url} BOOTIF=01-{}", host.mac.hyphenated());
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
    let p = BOOT_PREFIX;
    let mut s = String::new();
    s.push_str(&format!(
        "{indent}if linux (tftp)/{p}/vmlinuz {args}; then\n"
    ));
    s.push_str(&format!(
        "{indent}  if initrd (tftp)/{p}/initrd.img; then\n"
    ));
    s.push_str(&format!("{indent}    boot\n"));
    s.push_str(&format!("{indent}  fi\n"));
    s.push_str(&format!("{indent}fi\n"));
    s.push_str(&format!(
        "{indent}echo 'Marrow: could not boot the Marrow environment; booting the local disk in 10 s'\n"
    ));
    s.push_str(&format!("{indent}sleep 10\n"));
    s.push_str(&format!("{indent}{LOCAL_DISK}"));
    s
}

/// Renders the host's configuration. Names and tokens pass the same
/// filter as in the iPXE script, and text shown is single-quoted, so no
/// value can end a GRUB word or line early.
pub fn render(site: &ScriptSite, host: &ScriptHost, action: &Action) -> String {
    let mut s = String::from("# Marrow\n");
    let who = match &host.name {
        Some(n) => format!("{} ({})", sanitize(n), host.mac),
        None => host.mac.to_string(),
    };
    match action {
        Action::LocalDisk => {
            s.push_str(&format!(
                "echo 'Marrow: no task for {who}, booting the local disk'\n"
            ));
            s.push_str(LOCAL_DISK);
        }
        Action::Marrow { task } => {
            match task {
                Some(t) => s.push_str(&format!("echo 'Marrow: task {} for {who}'\n", t.id)),
                None => s.push_str(&format!(
                    "echo 'Marrow: booting the Marrow environment for {who}'\n"
                )),
            }
            s.push_str(&marrow_lines(site, host, task.as_ref(), ""));
        }
        Action::Menu {
            default,
            timeout_secs,
        } => {
            // The iPXE menu's equivalent: two entries, the default taken
            // after the timeout.
            let default = match default {
                MenuDefault::LocalDisk => "local",
                MenuDefault::Marrow => "marrow",
            };
            s.push_str(&format!("set default={default}\n"));
            s.push_str(&format!("set timeout={timeout_secs}\n"));
            s.push_str(&format!(
                "menuentry 'Boot the local disk ({who})' --id local {{\n  {LOCAL_DISK}}}\n"
            ));
            s.push_str(&format!(
                "menuentry 'Boot the Marrow environment ({who})' --id marrow {{\n"
            ));
            s.push_str(&marrow_lines(site, host, None, "  "));
            s.push_str("}\n");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TaskId;

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
    fn host_without_task_returns_to_the_firmware() {
        let golden = "# Marrow
echo 'Marrow: no task for lab-07 (52:54:00:12:34:56), booting the local disk'
exit
";
        assert_eq!(render(&site(), &host(), &Action::LocalDisk), golden);
    }

    #[test]
    fn host_with_task_boots_the_signed_kernel_with_url_bootif_and_token() {
        let task = TaskBoot {
            id: TaskId(42),
            token: "q7Zx9".into(),
        };
        let golden = "# Marrow
echo 'Marrow: task 42 for lab-07 (52:54:00:12:34:56)'
if linux (tftp)/marrow/vmlinuz marrow.server=http://10.0.0.1:8080 BOOTIF=01-52-54-00-12-34-56 marrow.task=42 marrow.token=q7Zx9 console=ttyS0,115200; then
  if initrd (tftp)/marrow/initrd.img; then
    boot
  fi
fi
echo 'Marrow: could not boot the Marrow environment; booting the local disk in 10 s'
sleep 10
exit
";
        assert_eq!(
            render(&site(), &host(), &Action::Marrow { task: Some(task) }),
            golden
        );
    }

    #[test]
    fn menu_has_both_entries_and_takes_the_default_after_the_timeout() {
        let golden = "# Marrow
set default=marrow
set timeout=3
menuentry 'Boot the local disk (lab-07 (52:54:00:12:34:56))' --id local {
  exit
}
menuentry 'Boot the Marrow environment (lab-07 (52:54:00:12:34:56))' --id marrow {
  if linux (tftp)/marrow/vmlinuz marrow.server=http://10.0.0.1:8080 BOOTIF=01-52-54-00-12-34-56 console=ttyS0,115200; then
    if initrd (tftp)/marrow/initrd.img; then
      boot
    fi
  fi
  echo 'Marrow: could not boot the Marrow environment; booting the local disk in 10 s'
  sleep 10
  exit
}
";
        let action = Action::Menu {
            default: MenuDefault::Marrow,
            timeout_secs: 3,
        };
        assert_eq!(render(&site(), &host(), &action), golden);
    }

    #[test]
    fn a_hostile_host_name_cannot_end_a_quote_or_a_line() {
        let mut h = host();
        h.name = Some("x'\nlinux (tftp)/evil ${a}; }".into());
        let out = render(&site(), &h, &Action::LocalDisk);
        assert_eq!(out.lines().count(), 3, "{out}");
        assert!(!out.contains("${a}") && !out.contains("x'"), "{out}");
        let menu = render(
            &site(),
            &h,
            &Action::Menu {
                default: MenuDefault::LocalDisk,
                timeout_secs: 1,
            },
        );
        // Only the two entries' own braces close anything.
        assert_eq!(menu.matches('}').count(), 2, "{menu}");
        assert_eq!(menu.matches('{').count(), 2, "{menu}");
    }

    #[test]
    fn host_config_names_round_trip_and_others_are_not_host_configs() {
        let mac: MacAddr = "52:54:00:12:34:56".parse().unwrap();
        assert_eq!(host_config_name(mac), "grub/marrow-52:54:00:12:34:56.cfg");
        assert_eq!(host_config_mac(&host_config_name(mac)), Some(mac));
        for other in [
            "grub/grub.cfg",
            "grub/marrow-.cfg",
            "grub/marrow-52:54:00:12:34:56",
            "marrow-52:54:00:12:34:56.cfg",
            "grub/marrow-zz:54:00:12:34:56.cfg",
        ] {
            assert_eq!(host_config_mac(other), None, "{other}");
        }
    }
}
