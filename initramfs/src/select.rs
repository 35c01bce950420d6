//! Which modules the client carries: whole driver trees of the kernel, not
//! a list of names, so the client boots on the hardware a fleet really has
//! (FOG's client kernel carries every driver). The client's modalias
//! coldplug loads only what a machine's devices ask for, so carrying them
//! costs archive size, not memory.
//!
//! Selection is by path under `kernel/` in `modules.dep`, with an explicit
//! deny list; the modules named besides ([`FS_MODULES`], [`SUPPORT_MODULES`])
//! are ones no device asks for. Dependencies come in through `modules.dep`
//! when the plan is made.

use marrow_kmod::{ModDep, ModuleName};

/// The driver trees carried whole (paths under `kernel/`; a path ending in
/// `.ko` is one module).
pub const MODULE_TREES: &[&str] = &[
    // NICs: every Ethernet driver and the PHYs and MDIO buses they use.
    "drivers/net/ethernet",
    "drivers/net/phy",
    "drivers/net/mdio",
    // USB Ethernet: Realtek r8152, ASIX, the CDC classes, ultrabook dongles.
    "drivers/net/usb",
    // The NICs of hypervisors: virtio, Hyper-V's netvsc, VMware, Xen.
    "drivers/net/virtio_net.ko",
    "drivers/net/hyperv",
    "drivers/net/vmxnet3",
    "drivers/net/xen-netfront.ko",
    // Storage: SATA/PATA, NVMe, SCSI with its RAID and HBA drivers (and
    // Hyper-V storvsc, VMware pvscsi), eMMC and SD, USB mass storage and
    // UAS, and the virtio and Xen block devices.
    "drivers/ata",
    "drivers/nvme",
    "drivers/scsi",
    "drivers/mmc",
    "drivers/usb/storage",
    "drivers/block/virtio_blk.ko",
    "drivers/block/xen-blkfront.ko",
    // The buses those devices sit on, which no driver depends on.
    "drivers/virtio",
    "drivers/usb/host",
    // The rescue shell's keyboard: USB HID and the keyboards.
    "drivers/hid",
    "drivers/input/keyboard",
];

/// What of those trees must not be carried: module names, or trees (a
/// path with a `/`).
pub const DENY_MODULES: &[&str] = &[
    // Makes fake SCSI disks: a disk rule could pick one.
    "scsi_debug",
    // Target (server) sides, which export this machine's disks to others
    // rather than reach them: the NVMe-oF target and QLogic's SCSI target
    // fabric (which pulls in the SCSI target core).
    "drivers/nvme/target",
    "tcm_qla2xxx",
    // NVMe over RDMA pulls in the whole InfiniBand core; an imaging client
    // writes local disks (NVMe over TCP and FC stay, being small).
    "nvme-rdma",
];

/// Debian 12's 6.1 kernel has no ntfs3, so NTFS goes through ntfs-3g on
/// fuse; `loop` gives ntfs-3g a device for one partition of the restored
/// disk (the kernel's partition nodes are stale after a new table).
///
/// `efivarfs` is carried for the client to read the `SecureBoot` variable;
/// it loads it itself on UEFI machines only (on BIOS its init fails with
/// ENODEV).
pub const FS_MODULES: &[&str] = &["ext4", "vfat", "fuse", "loop", "efivarfs", "xfs", "btrfs"];

/// Needed although no device's modalias names them: the NLS tables vfat
/// mounts need (CONFIG_FAT_DEFAULT_CODEPAGE=437, IOCHARSET="ascii" in
/// Debian's 6.1 config, and utf8/iso8859-1 for `iocharset=`).
pub const SUPPORT_MODULES: &[&str] = &["nls_cp437", "nls_ascii", "nls_utf8", "nls_iso8859_1"];

/// What a build carries: the trees, the modules named besides, and what
/// is left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub trees: Vec<String>,
    pub modules: Vec<String>,
    pub deny: Vec<String>,
    /// What the admin leaves out besides (`--exclude-module`): names or
    /// trees like [`Selection::deny`], but each must match a module the
    /// selection would carry, so a typo is an error rather than a no-op.
    pub exclude: Vec<String>,
}

impl Default for Selection {
    fn default() -> Self {
        let own = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Selection {
            trees: own(MODULE_TREES),
            modules: [FS_MODULES, SUPPORT_MODULES]
                .concat()
                .iter()
                .map(|s| s.to_string())
                .collect(),
            deny: own(DENY_MODULES),
            exclude: Vec::new(),
        }
    }
}

/// The path `kernel/` + `tree` covers `path`.
fn in_tree(path: &str, tree: &str) -> bool {
    let Some(rel) = path.strip_prefix("kernel/") else {
        return false;
    };
    if tree.ends_with(".ko") {
        return rel.split(".ko").next() == tree.split(".ko").next();
    }
    rel.strip_prefix(tree).is_some_and(|r| r.starts_with('/'))
}

impl Selection {
    /// The names to plan: every module of `dep` under a tree, and the
    /// named ones, less the denied ones; sorted, each once.
    pub fn resolve(&self, dep: &ModDep) -> Vec<String> {
        let (denied_trees, denied_names): (Vec<&String>, Vec<&String>) = self
            .deny
            .iter()
            .chain(&self.exclude)
            .partition(|d| d.contains('/'));
        let denied: Vec<ModuleName> = denied_names.iter().map(|d| ModuleName::new(d)).collect();
        let mut names: Vec<String> = dep
            .modules()
            .filter(|(_, path)| self.trees.iter().any(|t| in_tree(path, t)))
            .filter(|(_, path)| !denied_trees.iter().any(|t| in_tree(path, t)))
            .map(|(name, _)| name.to_string())
            .chain(self.modules.iter().map(|m| ModuleName::new(m).to_string()))
            .filter(|n| !denied.contains(&ModuleName::new(n)))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

impl Selection {
    /// The [`Selection::exclude`] entries that match no module the
    /// selection carries without them.
    pub fn unmatched_excludes(&self, dep: &ModDep) -> Vec<String> {
        let carried = Selection {
            exclude: Vec::new(),
            ..self.clone()
        };
        let names = carried.resolve(dep);
        self.exclude
            .iter()
            .filter(|e| {
                if e.contains('/') {
                    !names
                        .iter()
                        .any(|n| dep.path(&ModuleName::new(n)).is_some_and(|p| in_tree(p, e)))
                } else {
                    !names.contains(&ModuleName::new(e).to_string())
                }
            })
            .cloned()
            .collect()
    }
}

/// A module's family: its tree and the first folder below it
/// (`drivers/net/ethernet/intel`), or the tree itself for modules directly
/// in it. The list of families a build carries is kept as a golden, so a
/// change to what the client carries is deliberate.
pub fn family(path: &str, trees: &[String]) -> Option<String> {
    let tree = trees.iter().find(|t| in_tree(path, t))?;
    if tree.ends_with(".ko") {
        return Some(tree.clone());
    }
    let rel = path.strip_prefix("kernel/")?.strip_prefix(tree.as_str())?;
    let mut parts = rel.trim_start_matches('/').split('/');
    let first = parts.next()?;
    Some(match parts.next() {
        Some(_) => format!("{tree}/{first}"),
        None => tree.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/drivers/net/ethernet/intel/igc/igc.ko:
kernel/drivers/net/ethernet/realtek/r8169.ko: kernel/drivers/net/phy/libphy.ko
kernel/drivers/net/phy/libphy.ko:
kernel/drivers/net/usb/r8152.ko: kernel/drivers/net/usb/usbnet.ko
kernel/drivers/net/usb/usbnet.ko:
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko
kernel/drivers/net/net_failover.ko:
kernel/drivers/net/wireguard/wireguard.ko:
kernel/drivers/scsi/scsi_debug.ko:
kernel/drivers/scsi/megaraid/megaraid_sas.ko:
kernel/drivers/scsi/sd_mod.ko:
kernel/drivers/nvme/host/nvme.ko:
kernel/drivers/nvme/target/nvmet.ko:
kernel/fs/ext4/ext4.ko:
kernel/sound/core/snd.ko:
";

    #[test]
    fn whole_trees_and_named_modules_are_selected_and_the_deny_list_wins() {
        let dep = ModDep::parse(DEP).unwrap();
        let picked = Selection::default().resolve(&dep);
        for want in [
            "igc",
            "r8169",
            "libphy",
            "r8152",
            "usbnet",
            "virtio_net",
            "megaraid_sas",
            "sd_mod",
            "nvme",
            "ext4",
        ] {
            assert!(
                picked.contains(&want.to_string()),
                "{want} missing from {picked:?}"
            );
        }
        for not in ["scsi_debug", "nvmet", "wireguard", "snd", "net_failover"] {
            assert!(!picked.contains(&not.to_string()), "{not} in {picked:?}");
        }
    }

    #[test]
    fn an_exclude_leaves_out_what_it_names_and_one_matching_nothing_is_reported() {
        let dep = ModDep::parse(DEP).unwrap();
        let sel = Selection {
            exclude: vec![
                "r8169".into(),
                "drivers/net/usb".into(),
                "snd".into(),
                "drivers/nope".into(),
            ],
            ..Selection::default()
        };
        let picked = sel.resolve(&dep);
        for gone in ["r8169", "r8152", "usbnet"] {
            assert!(!picked.contains(&gone.to_string()), "{gone} in {picked:?}");
        }
        assert!(picked.contains(&"igc".to_string()));
        assert_eq!(sel.unmatched_excludes(&dep), ["snd", "drivers/nope"]);
    }

    #[test]
    fn a_tree_does_not_match_a_folder_that_only_starts_like_it() {
        assert!(in_tree("kernel/drivers/ata/ahci.ko", "drivers/ata"));
        assert!(!in_tree("kernel/drivers/atm/atmtcp.ko", "drivers/at"));
        assert!(!in_tree("kernel/drivers/ata2/x.ko", "drivers/ata"));
        assert!(in_tree(
            "kernel/drivers/net/virtio_net.ko.xz",
            "drivers/net/virtio_net.ko"
        ));
    }

    #[test]
    fn families_are_the_tree_and_its_first_folder() {
        let trees = Selection::default().trees;
        let f = |p: &str| family(p, &trees);
        assert_eq!(
            f("kernel/drivers/net/ethernet/intel/igc/igc.ko").as_deref(),
            Some("drivers/net/ethernet/intel")
        );
        assert_eq!(
            f("kernel/drivers/scsi/sd_mod.ko").as_deref(),
            Some("drivers/scsi")
        );
        assert_eq!(
            f("kernel/drivers/net/virtio_net.ko").as_deref(),
            Some("drivers/net/virtio_net.ko")
        );
        assert_eq!(f("kernel/fs/ext4/ext4.ko"), None);
    }
}
