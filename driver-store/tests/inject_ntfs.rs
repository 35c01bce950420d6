//! Injection into a real NTFS volume, as the client does it after a restore:
//! the volume is built with `mkntfs` (directories made through `ntfs-3g`,
//! the answer file written with `ntfscp`), mounted read-write with
//! `ntfs-3g`, injected into, unmounted, and then inspected without mounting
//! through `ntfsls` and `ntfscat`, with `xmllint` judging the answer file.
//!
//! Needs root, `/dev/fuse` and the `ntfs-3g` and `libxml2-utils` packages
//! (all installed by `scripts/install-deps`).

use driver_store::choose;
use driver_store::{inject, InjectOptions, InjectPackage, PASSES};
use driver_store::{Arch, PciDevice, TargetOs};
use driver_store::{Quiet, Store};
use std::path::{Path, PathBuf};
use std::process::Command;

const ANSWER: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend">
    <!-- Written by the image's author; Marrow must keep it. -->
    <settings pass="oobeSystem">
        <component name="Microsoft-Windows-International-Core" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
            <InputLocale>0409:00000409</InputLocale>
            <UILanguage>en-US</UILanguage>
        </component>
    </settings>
    <settings pass="specialize">
        <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
            <ComputerName>*</ComputerName>
        </component>
    </settings>
</unattend>
"#;

fn which(tool: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.exists())
}

/// The reason this machine cannot run the test, if it cannot.
fn cannot_run() -> Option<String> {
    if !nix_is_root() {
        return Some("needs root to mount NTFS through FUSE".into());
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("no /dev/fuse".into());
    }
    for tool in [
        "mkntfs", "ntfs-3g", "ntfscp", "ntfsls", "ntfscat", "xmllint", "umount",
    ] {
        if which(tool).is_none() {
            return Some(format!(
                "{tool} is not installed (scripts/install-deps installs it)"
            ));
        }
    }
    None
}

fn nix_is_root() -> bool {
    // Root is uid 0; `id -u` avoids an unsafe libc call here.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// An ntfs-3g mount, unmounted when dropped, even if the test fails.
struct Mounted(PathBuf);

impl Mounted {
    fn new(image: &Path, at: &Path) -> Mounted {
        std::fs::create_dir_all(at).unwrap();
        run(Command::new(which("ntfs-3g").unwrap()).arg(image).arg(at));
        Mounted(at.to_path_buf())
    }

    fn unmount(self) {
        drop(self);
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// A fresh NTFS image, optionally holding `Windows/Panther/unattend.xml`.
fn ntfs_image(dir: &Path, answer: Option<&str>) -> PathBuf {
    let image = dir.join("windows.ntfs");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(24 << 20)
        .unwrap();
    run(Command::new(which("mkntfs").unwrap())
        .args(["-F", "-Q", "-q", "-L", "Windows"])
        .arg(&image));
    // ntfscp writes files but cannot make directories: make those through
    // a mount, then write the answer file with ntfscp.
    let mnt = Mounted::new(&image, &dir.join("prep"));
    std::fs::create_dir_all(dir.join("prep/Windows/Panther")).unwrap();
    mnt.unmount();
    if let Some(text) = answer {
        let src = dir.join("unattend.xml");
        std::fs::write(&src, text).unwrap();
        run(Command::new(which("ntfscp").unwrap())
            .arg("-q")
            .arg(&image)
            .arg(&src)
            .arg("Windows/Panther/unattend.xml"));
    }
    image
}

fn ls(image: &Path, dir: &str) -> Vec<String> {
    run(Command::new(which("ntfsls").unwrap())
        .arg("-p")
        .arg(dir)
        .arg(image))
    .lines()
    .map(str::to_string)
    .filter(|l| l != "." && l != "..")
    .collect()
}

fn cat(image: &Path, file: &str) -> String {
    run(Command::new(which("ntfscat").unwrap()).arg(image).arg(file))
}

/// `xmllint --xpath` on a file, namespace-agnostic paths.
fn xpath(file: &Path, expr: &str) -> String {
    let out = Command::new("xmllint")
        .args(["--xpath", expr])
        .arg(file)
        .output()
        .unwrap();
    // xmllint ends its answer with a newline.
    String::from_utf8_lossy(&out.stdout)
        .trim_end_matches('\n')
        .to_string()
}

fn packages() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/packages")
}

fn package(name: &str, reason: &str) -> InjectPackage {
    InjectPackage {
        name: name.into(),
        source: packages().join(name),
        reason: reason.into(),
    }
}

#[test]
fn matched_packages_land_on_ntfs_and_the_answer_file_names_them() {
    if let Some(why) = cannot_run() {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let image = ntfs_image(tmp.path(), Some(ANSWER));

    let mnt = Mounted::new(&image, &tmp.path().join("windows"));
    let report = inject(
        &mnt.0,
        &[
            package("netkvm-amd64", "hardware ID #1 matched netkvm.inf line 27"),
            package("broken-netkvm-missing-sys", "would match, but broken"),
        ],
        &InjectOptions::new(Arch::Amd64),
    )
    .unwrap();
    mnt.unmount();

    assert_eq!(report.injected.len(), 1);
    assert_eq!(report.injected[0].name, "netkvm-amd64");
    assert_eq!(
        report.injected[0].windows_path,
        r"C:\Drivers\marrow\netkvm-amd64"
    );
    assert_eq!(
        report.injected[0].reason,
        "hardware ID #1 matched netkvm.inf line 27"
    );
    assert_eq!(report.skipped.len(), 1);
    assert!(
        report.skipped[0].warning.contains("netkvm.sys"),
        "{:?}",
        report.skipped
    );
    assert!(!report.answer_file_created);
    assert_eq!(report.passes_added, PASSES);
    assert_eq!(
        report.setup_complete.as_deref(),
        Some("Windows/Setup/Scripts/SetupComplete.cmd")
    );

    // Read back without mounting: the package whole, nothing half-copied.
    assert_eq!(ls(&image, "/Drivers/marrow"), ["netkvm-amd64"]);
    assert_eq!(
        cat(&image, "Windows/Setup/Scripts/SetupComplete.cmd"),
        "rem marrow: install the drivers Marrow injected\r\n\
         pnputil /add-driver \"%SystemDrive%\\Drivers\\marrow\\*.inf\" /subdirs /install\r\n"
    );
    let mut files = ls(&image, "/Drivers/marrow/netkvm-amd64");
    files.sort();
    assert_eq!(files, ["netkvm.cat", "netkvm.inf", "netkvm.sys"]);
    assert_eq!(
        cat(&image, "Drivers/marrow/netkvm-amd64/netkvm.inf"),
        std::fs::read_to_string(packages().join("netkvm-amd64/netkvm.inf")).unwrap()
    );

    let answer = tmp.path().join("unattend-after.xml");
    std::fs::write(&answer, cat(&image, "Windows/Panther/unattend.xml")).unwrap();
    run(Command::new("xmllint").arg("--noout").arg(&answer));
    // The other settings are all still there.
    assert_eq!(
        xpath(&answer, "string(//*[local-name()='UILanguage'])"),
        "en-US"
    );
    assert_eq!(
        xpath(&answer, "string(//*[local-name()='ComputerName'])"),
        "*"
    );
    let text = std::fs::read_to_string(&answer).unwrap();
    assert!(text.contains("<!-- Written by the image's author; Marrow must keep it. -->"));
    // Each documented pass names the driver folder once.
    for pass in PASSES {
        let expr = format!(
            "string(//*[local-name()='settings'][@pass='{pass}']\
             /*[local-name()='component'][@name='Microsoft-Windows-PnpCustomizationsNonWinPE']\
             /*[local-name()='DriverPaths']/*[local-name()='PathAndCredentials']/*[local-name()='Path'])"
        );
        assert_eq!(xpath(&answer, &expr), r"C:\Drivers\marrow", "{pass}");
    }
}

#[test]
fn an_image_without_an_answer_file_gets_one_and_nothing_matching_writes_nothing() {
    if let Some(why) = cannot_run() {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let image = ntfs_image(tmp.path(), None);

    let mnt = Mounted::new(&image, &tmp.path().join("windows"));
    let nothing = inject(&mnt.0, &[], &InjectOptions::new(Arch::Amd64)).unwrap();
    assert!(nothing.injected.is_empty());
    assert!(nothing.answer_file.is_none());
    assert!(!mnt.0.join("Drivers").exists());
    assert!(!mnt.0.join("Windows/Panther/unattend.xml").exists());

    let report = inject(
        &mnt.0,
        &[package("netkvm-amd64", "virtio-net")],
        &InjectOptions::new(Arch::Amd64),
    )
    .unwrap();
    mnt.unmount();
    assert!(report.answer_file_created);
    assert_eq!(ls(&image, "/Windows/Panther"), ["unattend.xml"]);
    let answer = tmp.path().join("created.xml");
    std::fs::write(&answer, cat(&image, "Windows/Panther/unattend.xml")).unwrap();
    run(Command::new("xmllint").arg("--noout").arg(&answer));
    assert_eq!(
        xpath(
            &answer,
            "count(//*[local-name()='PathAndCredentials'][*[local-name()='Path']='C:\\Drivers\\marrow'])"
        ),
        "2"
    );
}

/// The client's path without the network: the store chooses for QEMU's
/// virtio-net and e1000 on 64-bit Windows 11, and only the virtio package
/// (the ReactOS e1000 driver is x86 only; the broken copy never counts)
/// lands on the volume.
#[test]
fn the_store_chooses_for_qemu_nics_and_only_that_package_is_injected() {
    if let Some(why) = cannot_run() {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(&tmp.path().join("store")).unwrap();
    let win11: TargetOs = "win11-x64".parse().unwrap();
    store.add(&packages(), &[win11], &Quiet).unwrap();
    let devices: Vec<_> = [
        "1af4:1041:1af4:1100@01/020000",
        "8086:100e:1af4:1100@03/020000",
    ]
    .iter()
    .map(|d| d.parse::<PciDevice>().unwrap().ids())
    .collect();
    let loaded = store.load(&win11, Some(&devices)).unwrap();
    let chosen = choose(&devices, &loaded.index);
    assert_eq!(chosen.len(), 1);
    let all = store.list().unwrap();
    let to_inject: Vec<InjectPackage> = chosen
        .iter()
        .map(|c| {
            let p = all.iter().find(|p| p.id.short() == c.package).unwrap();
            InjectPackage {
                name: p.name.clone(),
                source: store.package_dir(&p.id),
                reason: c.reasons.join("; "),
            }
        })
        .collect();

    let image = ntfs_image(tmp.path(), Some(ANSWER));
    let mnt = Mounted::new(&image, &tmp.path().join("windows"));
    let report = inject(&mnt.0, &to_inject, &InjectOptions::new(Arch::Amd64)).unwrap();
    mnt.unmount();
    assert_eq!(report.injected.len(), 1);
    assert!(report.injected[0]
        .reason
        .starts_with(r"PCI\VEN_1AF4&DEV_1041&SUBSYS_11001AF4&REV_01: hardware ID #1"));
    assert_eq!(ls(&image, "/Drivers/marrow"), ["netkvm-amd64"]);
}
