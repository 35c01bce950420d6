//! A manifest that contradicts itself is refused when it is read (so at a
//! commit) or by `verify`, naming the image: named defects applied to the
//! manifest of a real capture (the GPT fixture).

use image_format::capture::{capture, CaptureOptions};
use image_format::disk::MemDisk;
use image_format::maintenance::verify_image;
use image_format::manifest::Manifest;
use image_format::progress::NoProgress;
use image_format::store::MemoryStore;
use image_format::validate;

fn captured() -> (Manifest, MemoryStore) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/gpt-fat32-ext4-ntfs-swap.img.zst");
    let bytes = zstd::decode_all(&std::fs::read(path).unwrap()[..]).unwrap();
    let store = MemoryStore::new();
    let (manifest, _) = capture(
        &MemDisk::new(bytes),
        &store,
        &CaptureOptions::default(),
        &NoProgress,
    )
    .unwrap();
    (manifest, store)
}

/// The index of a partition region that holds data.
fn data_region(m: &Manifest) -> usize {
    m.regions
        .iter()
        .position(|r| r.data_bytes > 0 && r.partition.is_some())
        .unwrap()
}

type Defect = (&'static str, fn(&mut Manifest), &'static str);

#[test]
fn a_manifest_that_contradicts_itself_is_refused_when_read_naming_the_image() {
    let defects: &[Defect] = &[
        ("zero_size", |m| m.layout.size = 0, "disk size 0"),
        (
            "odd_sector_size",
            |m| m.layout.sector_size = 1000,
            "sector size 1000",
        ),
        (
            "gpt_table_without_gpt",
            |m| m.layout.gpt = None,
            "without GPT data",
        ),
        (
            "gpt_entry_size_zero",
            |m| {
                let g = m.layout.gpt.as_mut().unwrap();
                let mut h = hex::decode(&g.header).unwrap();
                h[84..88].copy_from_slice(&0u32.to_le_bytes());
                g.header = hex::encode(h);
            },
            "entry size 0",
        ),
        (
            "truncated_mbr",
            |m| m.layout.mbr.as_mut().unwrap().boot_sector.truncate(100),
            "MBR",
        ),
        (
            "region_of_length_zero",
            |m| {
                let i = data_region(m);
                m.regions[i].length = 0
            },
            "length 0",
        ),
        (
            "region_past_the_disk",
            |m| {
                let i = data_region(m);
                m.regions[i].start = u64::MAX - 10
            },
            "runs past",
        ),
        (
            "data_bytes_u64_max",
            |m| {
                let i = data_region(m);
                m.regions[i].data_bytes = u64::MAX
            },
            "claims",
        ),
        (
            "partition_past_the_disk",
            |m| m.layout.partitions[0].size = u64::MAX,
            "does not fit",
        ),
        (
            "chunking_upside_down",
            |m| m.chunking.min = m.chunking.max + 1,
            "chunking",
        ),
    ];
    let (good, _) = captured();
    let id = good.id().to_hex();
    for (name, defect, why) in defects {
        let mut m = good.clone();
        defect(&mut m);
        let err = Manifest::parse(&m.to_canonical(), &id, "the store")
            .err()
            .unwrap_or_else(|| panic!("{name} was accepted"))
            .to_string();
        assert!(err.contains(why) && err.contains(&id), "{name}: {err}");
    }
    Manifest::parse(&good.to_canonical(), &id, "s").expect("the capture itself is sound");
}

#[test]
fn lists_that_disagree_with_their_region_fail_verify_naming_the_image() {
    let defects: &[Defect] = &[
        (
            "zero_bytes_moved_to_data",
            |m| {
                let i = data_region(m);
                m.regions[i].data_bytes -= 4096;
                m.regions[i].zero_bytes += 4096;
            },
            "extents hold",
        ),
        (
            "one_chunk_too_many",
            |m| {
                let i = data_region(m);
                m.regions[i].chunk_count += 1
            },
            "chunks",
        ),
        (
            "lists_of_another_region",
            |m| {
                let i = data_region(m);
                let other = m
                    .regions
                    .iter()
                    .position(|r| r.partition.is_none())
                    .unwrap();
                m.regions[i].extents = m.regions[other].extents.clone();
            },
            "outside it",
        ),
    ];
    let (good, store) = captured();
    assert_eq!(validate::pieces(&good, &store).unwrap(), Ok(()));
    for (name, defect, why) in defects {
        let mut m = good.clone();
        defect(&mut m);
        let problem = validate::pieces(&m, &store).unwrap().unwrap_err();
        assert!(problem.contains(why), "{name}: {problem}");
        let id = m.id();
        let err = verify_image(&store, &m, &id, 2, &NoProgress)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&id.to_hex()), "{name}: {err}");
    }
}

/// A capture without skipped files still writes version 1, which older
/// readers read; a version 1 manifest may not claim skipped files, which
/// version 2 added.
#[test]
fn skipped_files_need_version_2_and_nothing_else_does() {
    let (mut m, _) = captured();
    assert_eq!(m.version, 1);
    let i = data_region(&m);
    m.regions[i]
        .skipped
        .push(image_format::manifest::SkippedFile {
            path: "pagefile.sys".into(),
            bytes: 4096,
        });
    let id = m.id().to_hex();
    let err = Manifest::parse(&m.to_canonical(), &id, "s")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("version 2 added") && err.contains(&id),
        "{err}"
    );
    m.version = 2;
    Manifest::parse(&m.to_canonical(), &m.id().to_hex(), "s").expect("version 2 says it");
}
