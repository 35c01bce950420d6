//! Golden tests of the layout and filesystem parsers on committed disk
//! fixtures (made by testdata/make-fixtures.sh), and named malformed inputs.
//! Set UPDATE_GOLDEN=1 to rewrite the goldens after a reviewed change.

use std::path::PathBuf;

use image_format::capture::plan_regions;
use image_format::disk::MemDisk;
use image_format::layout::read_layout;
use serde_json::{json, Value};

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

fn load(name: &str) -> MemDisk {
    let compressed = std::fs::read(testdata(name)).unwrap();
    let mut disk = MemDisk::new(zstd::decode_all(&compressed[..]).unwrap());
    disk.label = name.to_string();
    disk
}

fn summary(disk: &MemDisk) -> Value {
    let layout = read_layout(disk).unwrap();
    let regions = plan_regions(disk, &layout).unwrap();
    json!({
        "table": layout.table,
        "size": layout.size,
        "warnings": layout.warnings,
        "partitions": layout.partitions.iter().map(|p| json!({
            "number": p.number, "start": p.start, "size": p.size, "type": p.type_id, "name": p.name,
        })).collect::<Vec<_>>(),
        "regions": regions.iter().map(|r| json!({
            "role": format!("{:?}", r.role),
            "partition": r.partition,
            "fs": r.fs,
            "used_bytes": r.used.total(),
            "used_runs": r.used.len(),
            "first_runs": r.used.iter().take(4).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn check_golden(fixture: &str) {
    let got = summary(&load(fixture));
    let golden = testdata(&fixture.replace(".img.zst", ".golden.json"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&golden).unwrap()).unwrap();
    assert_eq!(got, want, "{fixture} no longer parses as its golden says");
}

#[test]
fn gpt_fixture_matches_golden_layout_and_used_blocks() {
    check_golden("gpt-fat32-ext4-ntfs-swap.img.zst");
}

#[test]
fn mbr_fixture_with_logical_partitions_matches_golden() {
    check_golden("mbr-fat16-logical-ext2-fat12.img.zst");
}

#[test]
fn xfs_and_btrfs_fixture_matches_golden() {
    check_golden("gpt-xfs-btrfs.img.zst");
}

fn malformed_error(name: &str) -> String {
    let disk = load(&format!("malformed/{name}.img.zst"));
    let layout = match read_layout(&disk) {
        Ok(l) => l,
        Err(e) => return e.to_string(),
    };
    match plan_regions(&disk, &layout) {
        Ok(_) => panic!("{name} parsed without error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn gpt_with_both_headers_damaged_is_refused() {
    let err = malformed_error("gpt-both-headers-bad-crc");
    assert!(
        err.contains("primary header") && err.contains("backup header") && err.contains("CRC32"),
        "{err}"
    );
}

#[test]
fn gpt_with_damaged_primary_is_read_from_backup() {
    let disk = load("malformed/gpt-primary-header-bad-crc.img.zst");
    let layout = read_layout(&disk).unwrap();
    assert_eq!(layout.partitions.len(), 4);
    assert!(
        layout
            .warnings
            .iter()
            .any(|w| w.contains("used the backup")),
        "{:?}",
        layout.warnings
    );
}

#[test]
fn mbr_whose_ebr_chain_loops_is_refused() {
    let err = malformed_error("mbr-ebr-chain-loops");
    assert!(err.contains("EBR chain") && err.contains("loop"), "{err}");
}

#[test]
fn ext4_with_absurd_block_size_is_refused_naming_the_partition() {
    let err = malformed_error("ext4-block-size-out-of-range");
    assert!(
        err.contains("ext4 filesystem at byte 36700160") && err.contains("block size"),
        "{err}"
    );
}

#[test]
fn ntfs_with_mft_outside_the_volume_is_refused() {
    let err = malformed_error("ntfs-mft-outside-volume");
    assert!(err.contains("ntfs") && err.contains("MFT"), "{err}");
}

#[test]
fn xfs_whose_free_space_tree_root_lies_outside_its_group_is_refused() {
    let err = malformed_error("xfs-bnobt-root-outside-group");
    assert!(
        err.contains("xfs filesystem at byte 1048576")
            && err.contains("allocation group 0")
            && err.contains("outside the group"),
        "{err}"
    );
}

#[test]
fn btrfs_whose_chunk_tree_root_is_misplaced_is_refused() {
    let err = malformed_error("btrfs-chunk-root-misplaced");
    assert!(
        err.contains("btrfs filesystem at byte 68157440") && err.contains("tree block"),
        "{err}"
    );
}

/// What a fuzzer would do, deterministically and on stable: flip bytes in
/// the metadata areas of the fixtures and make sure parsing only ever
/// returns errors, never panics.
#[test]
fn parsers_never_panic_on_mutated_fixtures() {
    for fixture in [
        "gpt-fat32-ext4-ntfs-swap.img.zst",
        "mbr-fat16-logical-ext2-fat12.img.zst",
        "gpt-xfs-btrfs.img.zst",
    ] {
        let pristine = load(fixture).bytes;
        let layout = read_layout(&MemDisk::new(pristine.clone())).unwrap();
        // Metadata lives at the start of the disk and of each partition.
        let mut hot: Vec<(usize, usize)> = vec![(0, 64 * 1024)];
        for p in &layout.partitions {
            hot.push((p.start as usize, 256 * 1024));
        }
        let mut next = marrow_test_support::xorshift(0x9e37_79b9_7f4a_7c15u64);
        let mut disk = MemDisk::new(pristine);
        for round in 0..400 {
            let (base, span) = hot[(next() % hot.len() as u64) as usize];
            let mut undo = Vec::new();
            for _ in 0..1 + round % 8 {
                let at = base + (next() % span as u64) as usize;
                if at < disk.bytes.len() {
                    undo.push((at, disk.bytes[at]));
                    disk.bytes[at] = next() as u8;
                }
            }
            if let Ok(layout) = read_layout(&disk) {
                let _ = plan_regions(&disk, &layout);
            }
            for (at, byte) in undo.into_iter().rev() {
                disk.bytes[at] = byte;
            }
        }
    }
}
