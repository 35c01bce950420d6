//! The store: content-addressed import from directories and ZIP files,
//! SQLite index, broken-package detection, removal, and matching through it.
//! Packages are in `tests/data/packages/` (see its SOURCES.md).

use driver_store::{rank, PciDevice, TargetOs};
use driver_store::{Quiet, Store};
use std::io::Write;
use std::path::{Path, PathBuf};

fn packages() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/packages")
}

fn os(names: &[&str]) -> Vec<TargetOs> {
    names.iter().map(|n| n.parse().unwrap()).collect()
}

/// QEMU's modern virtio-net-pci (`disable-legacy=on`).
const VIRTIO_NET: &str = "1af4:1041:1af4:1100@01/020000";

#[test]
fn importing_the_same_package_twice_stores_it_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(tmp.path()).unwrap();
    let first = store
        .add(
            &packages().join("netkvm-amd64"),
            &os(&["win11-x64"]),
            &Quiet,
        )
        .unwrap();
    let second = store
        .add(
            &packages().join("netkvm-amd64"),
            &os(&["win10-x64"]),
            &Quiet,
        )
        .unwrap();
    assert_eq!(first.len(), 1);
    assert!(first[0].newly_stored);
    assert!(!second[0].newly_stored);
    assert_eq!(first[0].package.id, second[0].package.id);
    let list = store.list().unwrap();
    assert_eq!(list.len(), 1);
    // The second import added its OS to the same package.
    assert_eq!(list[0].os, ["win10-x64", "win11-x64"]);
    assert_eq!(list[0].files, 3);
    let dirs = std::fs::read_dir(tmp.path().join("packages"))
        .unwrap()
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(dirs, 1);
    // Content-addressed: the directory is named for the manifest hash.
    assert!(store.package_dir(&list[0].id).join("netkvm.inf").is_file());
}

#[test]
fn a_directory_of_packages_imports_each_and_flags_the_broken_one() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(tmp.path()).unwrap();
    let imported = store
        .add(&packages(), &os(&["win11-x64", "win10-x86"]), &Quiet)
        .unwrap();
    assert_eq!(imported.len(), 3);
    let by_name = |name: &str| {
        imported
            .iter()
            .find(|i| i.package.name == name)
            .unwrap()
            .package
            .clone()
    };
    let broken = by_name("broken-netkvm-missing-sys");
    assert!(broken.broken());
    assert!(
        broken.problems()[0].contains("netkvm.sys (line 264)"),
        "{:?}",
        broken.problems()
    );
    let netkvm = by_name("netkvm-amd64");
    assert!(!netkvm.broken());
    assert_eq!(netkvm.infs[0].catalog.as_deref(), Some("netkvm.cat"));
    assert_eq!(
        netkvm.infs[0].signature,
        driver_store::Signature::CatalogPresent
    );
    let e1000 = by_name("nete1000-x86");
    assert!(!e1000.broken());
    assert_eq!(e1000.infs[0].models, 37);
    assert_eq!(e1000.infs[0].signature, driver_store::Signature::Unsigned);
    // Imported for win11-x64 too, where its undecorated section never applies.
    assert_eq!(e1000.infs[0].notes.len(), 1);
    assert!(
        e1000.infs[0].notes[0].starts_with("no models for win11-x64:"),
        "{:?}",
        e1000.infs[0].notes
    );
    assert_eq!(netkvm.infs[0].notes.len(), 1);
    assert!(netkvm.infs[0].notes[0].starts_with("no models for win10-x86:"));
}

#[test]
fn matching_through_the_store_ranks_the_virtio_driver_and_skips_the_broken_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(tmp.path()).unwrap();
    store.add(&packages(), &os(&["win11-x64"]), &Quiet).unwrap();
    let target: TargetOs = "win11-x64".parse().unwrap();
    let ids = VIRTIO_NET.parse::<PciDevice>().unwrap().ids();
    let loaded = store
        .load(&target, Some(std::slice::from_ref(&ids)))
        .unwrap();
    let candidates = rank(&ids, &loaded.index);
    assert_eq!(candidates.len(), 1, "{candidates:?}");
    // Device hardware ID #1 = INF hardware ID; catalog present; no FeatureScore.
    assert_eq!(candidates[0].rank, 0x0FFF_0000);
    assert_eq!(candidates[0].inf, "netkvm.inf");
    assert_eq!(
        candidates[0].matched_id,
        r"PCI\VEN_1AF4&DEV_1041&SUBSYS_11001AF4&REV_01"
    );
    assert_eq!(loaded.skipped.len(), 1);
    assert!(loaded.skipped[0].reason.starts_with("broken:"));
    assert!(loaded.skipped[0].ids.contains(r"PCI\VEN_1AF4&DEV_1041"));
    // The e1000 INF does not name virtio, so the index never loaded it.
    assert!(loaded.index.entries.iter().all(|e| e.inf == "netkvm.inf"));
}

#[test]
fn a_package_imported_for_another_os_is_excluded_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(tmp.path()).unwrap();
    store
        .add(
            &packages().join("netkvm-amd64"),
            &os(&["win10-x64"]),
            &Quiet,
        )
        .unwrap();
    let target: TargetOs = "win11-x64".parse().unwrap();
    let ids = VIRTIO_NET.parse::<PciDevice>().unwrap().ids();
    let loaded = store
        .load(&target, Some(std::slice::from_ref(&ids)))
        .unwrap();
    assert!(rank(&ids, &loaded.index).is_empty());
    let excluded = driver_store::excluded_matches(&ids, &loaded.index);
    assert!(
        excluded[0]
            .reason
            .contains("imported for win10-x64, not win11-x64"),
        "{}",
        excluded[0].reason
    );
}

#[test]
fn a_zip_file_imports_to_the_same_package_as_its_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let zip_path = tmp.path().join("vendor-drivers.zip");
    {
        let file = std::fs::File::create(&zip_path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default();
        for name in ["netkvm.inf", "netkvm.sys", "netkvm.cat"] {
            zip.start_file(format!("NetKVM/w11/amd64/{name}"), options)
                .unwrap();
            zip.write_all(&std::fs::read(packages().join("netkvm-amd64").join(name)).unwrap())
                .unwrap();
        }
        zip.finish().unwrap();
    }
    let mut store = Store::open(&tmp.path().join("store")).unwrap();
    let from_zip = store.add(&zip_path, &os(&["win11-x64"]), &Quiet).unwrap();
    let from_dir = store
        .add(
            &packages().join("netkvm-amd64"),
            &os(&["win11-x64"]),
            &Quiet,
        )
        .unwrap();
    assert_eq!(from_zip[0].package.id, from_dir[0].package.id);
    assert_eq!(from_zip[0].package.name, "amd64");
    assert!(!from_dir[0].newly_stored);
    // The temporary extraction is gone.
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path().join("store/packages"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_zip_entry_escaping_the_archive_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let zip_path = tmp.path().join("evil.zip");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        zip.start_file("../../escape.inf", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"[Version]\nSignature=\"$Windows NT$\"\n")
            .unwrap();
        zip.finish().unwrap();
    }
    let mut store = Store::open(&tmp.path().join("store")).unwrap();
    let err = store
        .add(&zip_path, &os(&["win11-x64"]), &Quiet)
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside the archive"), "{err}");
    assert!(!tmp.path().join("escape.inf").exists());
}

#[test]
fn removing_a_package_deletes_its_files_and_index_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(tmp.path()).unwrap();
    let imported = store
        .add(
            &packages().join("netkvm-amd64"),
            &os(&["win11-x64"]),
            &Quiet,
        )
        .unwrap();
    let id = imported[0].package.id;
    let removed = store.remove(&id.short()).unwrap();
    assert_eq!(removed.id, id);
    assert!(store.list().unwrap().is_empty());
    assert!(!store.package_dir(&id).exists());
    let err = store.remove(&id.short()).unwrap_err().to_string();
    assert!(err.contains("is not in the store"), "{err}");
}

#[test]
fn a_directory_without_any_inf_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("readme.txt"), "no driver here").unwrap();
    let mut store = Store::open(&tmp.path().join("store")).unwrap();
    let err = store
        .add(&empty, &os(&["win11-x64"]), &Quiet)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no .inf file"), "{err}");
}

#[test]
fn two_imports_of_the_same_package_at_once_both_succeed_and_store_it_once() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let root = root.clone();
            std::thread::spawn(move || {
                let mut store = Store::open(&root).unwrap();
                store
                    .add(
                        &packages().join("netkvm-amd64"),
                        &os(&["win11-x64"]),
                        &Quiet,
                    )
                    .unwrap()
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results[0][0].package.id, results[1][0].package.id);
    let store = Store::open(&root).unwrap();
    assert_eq!(store.list().unwrap().len(), 1);
    let leftovers = std::fs::read_dir(root.join("packages"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        })
        .count();
    assert_eq!(leftovers, 0);
}

/// The PCI IDs a real QEMU VM reported through marrow-client's inventory
/// select the virtio-net package on 64-bit Windows 11 and the e1000 package
/// on 32-bit Windows 10, and nothing else.
#[test]
fn a_real_qemu_inventory_selects_only_the_nic_drivers() {
    let json = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/inventory/qemu-pc-i440fx-7.2.json"),
    )
    .unwrap();
    let devices = driver_store::devices_from_inventory(&json).unwrap();
    assert_eq!(devices.len(), 8);
    let ids: Vec<_> = devices.iter().map(|d| d.ids()).collect();
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(tmp.path()).unwrap();
    store
        .add(&packages(), &os(&["win11-x64", "win10-x86"]), &Quiet)
        .unwrap();
    let names: std::collections::BTreeMap<String, String> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|p| (p.id.short(), p.name))
        .collect();
    let chosen = |target: &str| -> Vec<(String, usize)> {
        let target: TargetOs = target.parse().unwrap();
        let loaded = store.load(&target, Some(&ids)).unwrap();
        driver_store::choose(&ids, &loaded.index)
            .into_iter()
            .map(|c| (names[&c.package].clone(), c.reasons.len()))
            .collect()
    };
    // Both virtio-net functions (transitional 1000 and modern 1041).
    assert_eq!(chosen("win11-x64"), [("netkvm-amd64".to_string(), 2)]);
    assert_eq!(chosen("win10-x86"), [("nete1000-x86".to_string(), 1)]);
}
