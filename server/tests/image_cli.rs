//! `marrow image` and `marrow store` against real disk images built with
//! sgdisk/sfdisk, mkfs.ext4, mkfs.vfat + mcopy and mkntfs + ntfscp, and read
//! back with debugfs, mtype, ntfscat, the fsck tools and partclone.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use marrow_tests::disks::{assert_linux_disk, linux_disk, partition, sh};
use serde_json::Value;

const MARROW: &str = env!("CARGO_BIN_EXE_marrow");

fn require(tools: &[&str]) {
    for t in tools {
        let found = Command::new("bash")
            .arg("-c")
            .arg(format!("command -v {t}"))
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "{t} is missing: run scripts/install-deps");
    }
}

struct Lab {
    dir: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        require(&[
            "sgdisk",
            "sfdisk",
            "mkfs.ext4",
            "debugfs",
            "mkfs.vfat",
            "mcopy",
            "mkntfs",
            "ntfscp",
            "ntfscat",
        ]);
        Lab {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn marrow(&self, args: &[&str]) -> Output {
        Command::new(MARROW)
            .arg("--data-dir")
            .arg(self.path("data"))
            .args(args)
            .output()
            .expect("marrow runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.marrow(args);
        assert!(
            out.status.success(),
            "marrow {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.marrow(args);
        assert!(!out.status.success(), "marrow {args:?} should have failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        serde_json::from_str(&self.ok(&all)).expect("--json prints JSON")
    }

    fn capture(&self, disk: &Path, name: &str) -> Value {
        self.json(&["image", "capture", disk.to_str().unwrap(), "--name", name])
    }

    fn restore(&self, image: &str, target: &Path, extra: &[&str]) -> Value {
        let mut args = vec!["image", "restore", image, target.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.json(&args)
    }

    fn blank(&self, name: &str, mib: u64) -> PathBuf {
        let p = self.path(name);
        sh(&format!("rm -f {0}; truncate -s {mib}M {0}", p.display()));
        p
    }
}

/// Deterministic file contents: the same seed gives the same bytes, so two
/// disks built from the same tree share their data.
const FILES: &str = r#"
mkfiles() { # DIR VARIANT
  mkdir -p "$1/etc" "$1/usr/lib"
  for i in $(seq 1 30); do
    seed="file$i"; [ "$2" = b ] && [ "$i" -le 2 ] && seed="changed$i"
    { openssl enc -aes-128-ctr -nosalt -pass pass:"$seed" -pbkdf2 -iter 1 < /dev/zero 2>/dev/null || true; } | head -c 200000 > "$1/usr/lib/file$i"
  done
  echo "variant $2" > "$1/etc/version"
}
part_range() { sgdisk -i"$2" "$1" | awk '/First sector/{f=$3}/Last sector/{l=$3}END{print f, l}'; }
"#;

/// GPT disk: ESP (FAT32), ext4 root, NTFS data, all holding files.
fn gpt_disk(lab: &Lab, name: &str, variant: &str) -> PathBuf {
    let out = lab.path(name);
    let work = lab.path(&format!("{name}.work"));
    sh(&format!(
        r#"{FILES}
out={out}; w={work}; rm -rf "$w"; mkdir -p "$w"; rm -f "$out"; truncate -s 160M "$out"
sgdisk -n1:1M:+40M -t1:ef00 -c1:ESP -n2:0:+48M -t2:8300 -c2:root -n3:0:0 -t3:0700 -c3:data "$out" >/dev/null
mkfiles "$w/root" {variant}
read f1 l1 < <(part_range "$out" 1); read f2 l2 < <(part_range "$out" 2); read f3 l3 < <(part_range "$out" 3)
truncate -s $(( (l1-f1+1)*512 )) "$w/esp"; mkfs.vfat --invariant -i 12345678 -F 32 -s 1 "$w/esp" >/dev/null
echo "efi {variant}" > "$w/boot.txt"; mcopy -i "$w/esp" "$w/boot.txt" ::/boot.txt
truncate -s $(( (l2-f2+1)*512 )) "$w/root.img"
E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -U 11111111-2222-3333-4444-555555555555 -E hash_seed=11111111-2222-3333-4444-555555555555 -d "$w/root" "$w/root.img"
truncate -s $(( (l3-f3+1)*512 )) "$w/ntfs"; mkntfs -q -F -Q "$w/ntfs" >/dev/null 2>&1
cp "$w/root/usr/lib/file3" "$w/doc.bin"; ntfscp -q "$w/ntfs" "$w/doc.bin" doc.bin
dd if="$w/esp" of="$out" bs=512 seek=$f1 conv=notrunc status=none
dd if="$w/root.img" of="$out" bs=512 seek=$f2 conv=notrunc status=none
dd if="$w/ntfs" of="$out" bs=512 seek=$f3 conv=notrunc status=none
"#,
        out = out.display(),
        work = work.display(),
    ));
    out
}

fn assert_gpt_files(lab: &Lab, disk: &Path, variant: &str) {
    let esp = partition(disk, 1);
    let root = partition(disk, 2);
    let data = partition(disk, 3);
    let src = lab.path(&format!("expect-{variant}"));
    sh(&format!(
        "{FILES}\nrm -rf {0}; mkfiles {0} {variant}",
        src.display()
    ));
    sh(&format!("fsck.vfat -n {} >/dev/null", esp.display()));
    sh(&format!("fsck.ext4 -fn {} >/dev/null 2>&1", root.display()));
    sh(&format!("ntfsfix -n {} >/dev/null", data.display()));
    assert_eq!(
        sh(&format!("mtype -i {} ::/boot.txt", esp.display())).trim(),
        format!("efi {variant}")
    );
    for i in 1..=30 {
        sh(&format!(
            "cmp <(debugfs -R 'cat /usr/lib/file{i}' {} 2>/dev/null) {}/usr/lib/file{i}",
            root.display(),
            src.display()
        ));
    }
    assert_eq!(
        sh(&format!(
            "debugfs -R 'cat /etc/version' {} 2>/dev/null",
            root.display()
        ))
        .trim(),
        format!("variant {variant}")
    );
    sh(&format!(
        "cmp <(ntfscat {} doc.bin) {}/usr/lib/file3",
        data.display(),
        src.display()
    ));
}

#[test]
fn gpt_disk_round_trips_with_every_file_and_an_identical_table() {
    let lab = Lab::new();
    let disk = gpt_disk(&lab, "src.img", "a");
    let cap = lab.capture(&disk, "lab");
    assert!(cap["used_bytes"].as_u64().unwrap() < 40 << 20, "{cap}");
    let target = lab.blank("same.img", 160);
    lab.restore("lab", &target, &[]);
    assert_gpt_files(&lab, &target, "a");
    // Same size: the table areas at both ends come back byte for byte.
    sh(&format!(
        "cmp <(head -c 1048576 {0}) <(head -c 1048576 {1})",
        disk.display(),
        target.display()
    ));
    sh(&format!(
        "cmp <(tail -c 17408 {0}) <(tail -c 17408 {1})",
        disk.display(),
        target.display()
    ));
    assert!(sh(&format!("sgdisk -v {}", target.display())).contains("No problems found"));
    let inspect = lab.json(&["image", "inspect", "lab"]);
    let fs: Vec<_> = inspect["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fs"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fs, ["unknown", "fat32", "ext4", "ntfs"]);
    lab.ok(&["image", "verify", "lab"]);
    lab.ok(&["store", "check"]);
}

#[test]
fn restore_to_larger_disk_moves_backup_gpt_and_grows_last_partition() {
    let lab = Lab::new();
    let disk = gpt_disk(&lab, "src.img", "a");
    lab.capture(&disk, "lab");
    let big = lab.blank("big.img", 400);
    let plan = lab.json(&[
        "image",
        "restore",
        "lab",
        big.to_str().unwrap(),
        "--dry-run",
        "--grow-last-partition",
    ]);
    assert_eq!(plan["grow"]["partition"], 3, "{plan}");
    // A dry run writes nothing.
    sh(&format!("cmp -n 1048576 {} /dev/zero", big.display()));
    lab.restore("lab", &big, &["--grow-last-partition"]);
    assert!(sh(&format!("sgdisk -v {}", big.display())).contains("No problems found"));
    let last = sh(&format!(
        "sgdisk -i3 {} | awk '/Last sector/{{print $3}}'",
        big.display()
    ));
    let last: u64 = last.trim().parse().unwrap();
    assert!(last * 512 > 390 << 20, "partition 3 ends at sector {last}");
    let esp = partition(&big, 1);
    sh(&format!("fsck.vfat -n {} >/dev/null", esp.display()));
    let root = partition(&big, 2);
    sh(&format!("fsck.ext4 -fn {} >/dev/null 2>&1", root.display()));

    let plain = lab.blank("plain.img", 400);
    lab.restore("lab", &plain, &[]);
    assert!(sh(&format!("sgdisk -v {}", plain.display())).contains("No problems found"));
    assert_gpt_files(&lab, &plain, "a");
}

/// A disk of `mib` MiB whose one partition (from 1 MiB) holds a `kind`
/// filesystem with `hello.txt`, built without mounting.
fn one_fs_disk(lab: &Lab, kind: &str, mib: u64) -> PathBuf {
    let out = lab.path(&format!("{kind}.img"));
    let w = lab.path(&format!("{kind}.work"));
    sh(&format!(
        r#"{FILES}
out={out}; w={w}; rm -rf "$w"; mkdir -p "$w/tree"; rm -f "$out"; truncate -s {mib}M "$out"
sgdisk -n1:1M:0 -t1:8300 "$out" >/dev/null
read f l < <(part_range "$out" 1); p="$w/part"; truncate -s $(( (l-f+1)*512 )) "$p"
echo "hello {kind}" > "$w/tree/hello.txt"
case {kind} in
  ext4) mkfs.ext4 -q -d "$w/tree" "$p" ;;
  ntfs) mkntfs -q -F -Q "$p" >/dev/null 2>&1; ntfscp -q "$p" "$w/tree/hello.txt" hello.txt ;;
  fat32) mkfs.vfat -F 32 "$p" >/dev/null; mcopy -i "$p" "$w/tree/hello.txt" ::/hello.txt ;;
  xfs) printf 'm\n0 0\nd--755 0 0\nhello.txt ---644 0 0 %s\n$\n' "$w/tree/hello.txt" > "$w/proto"
       TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 mkfs.xfs -q -f -p "$w/proto" "$p" ;;
  btrfs) mkfs.btrfs -q -f --rootdir "$w/tree" "$p" >/dev/null ;;
esac
dd if="$p" of="$out" bs=512 seek=$f conv=notrunc status=none; rm -rf "$w"
"#,
        out = out.display(),
        w = w.display(),
    ));
    out
}

/// `--grow-last-partition` grows the filesystem too, with each kind's own
/// tool, and says from which size to which; FAT is not grown, says why,
/// and the restore still succeeds. Every filesystem checks clean after,
/// with its file.
#[test]
fn growing_the_last_partition_grows_its_filesystem() {
    let lab = Lab::new();
    require(&["resize2fs", "ntfsresize", "xfs_growfs", "btrfs", "losetup"]);
    if !nix_is_root() {
        eprintln!("skipped: growing goes through loop devices, which needs root");
        return;
    }
    for (kind, mib, to_mib) in [
        ("ext4", 40, 120),
        ("ntfs", 40, 120),
        ("xfs", 80, 200),
        ("btrfs", 130, 260),
        ("fat32", 64, 120),
    ] {
        let disk = one_fs_disk(&lab, kind, mib);
        lab.capture(&disk, kind);
        let big = lab.blank(&format!("{kind}-big.img"), to_mib);
        let out = lab.restore(kind, &big, &["--grow-last-partition"]);
        let g = &out["filesystem_grow"];
        // The grow stays inside the partition: the backup GPT after it
        // is intact.
        let verify = sh(&format!("sgdisk -v {}", big.display()));
        assert!(verify.contains("No problems found"), "{kind}: {verify}");
        let part = partition(&big, 1);
        let part_bytes = std::fs::metadata(&part).unwrap().len();
        if kind == "fat32" {
            assert_eq!(g["grown"], false, "{out}");
            assert!(g["detail"].as_str().unwrap().contains("FAT"), "{out}");
            sh(&format!("fsck.vfat -n {} >/dev/null", part.display()));
            continue;
        }
        assert_eq!(g["grown"], true, "{kind}: {out}");
        let (from, to) = (g["from"].as_u64().unwrap(), g["to"].as_u64().unwrap());
        assert!(
            from < (mib << 20) && from > (mib << 20) / 2,
            "{kind}: {out}"
        );
        // Each tool rounds to its own units; within 1% of the partition.
        assert!(
            to <= part_bytes && to > part_bytes - part_bytes / 100,
            "{kind} grew to {to} of a {part_bytes}-byte partition: {out}"
        );
        let check = match kind {
            "ext4" => format!(
                "e2fsck -fn {0} >/dev/null 2>&1 && debugfs -R 'cat /hello.txt' {0} 2>/dev/null",
                part.display()
            ),
            // ntfsresize leaves the volume marked for Windows' check at
            // its next boot, which ntfs-3g's tools then need forcing past.
            "ntfs" => format!(
                "ntfsfix -n {0} >/dev/null && ntfscat --force {0} hello.txt",
                part.display()
            ),
            "xfs" => format!(
                "xfs_repair -n {0} >/dev/null 2>&1 && m=$(mktemp -d) && mount -o ro,loop {0} $m && cat $m/hello.txt; umount $m; rmdir $m",
                part.display()
            ),
            _ => format!(
                "btrfs check {0} >/dev/null 2>&1 && d=$(mktemp -d) && btrfs restore {0} $d >/dev/null 2>&1 && cat $d/hello.txt; rm -rf $d",
                part.display()
            ),
        };
        assert_eq!(sh(&check).trim(), format!("hello {kind}"), "{kind}");
    }
}

#[test]
fn restore_to_too_small_disk_is_refused_with_both_sizes() {
    let lab = Lab::new();
    let disk = gpt_disk(&lab, "src.img", "a");
    lab.capture(&disk, "lab");
    let small = lab.blank("small.img", 100);
    let err = lab.fails(&["image", "restore", "lab", small.to_str().unwrap()]);
    assert!(err.contains("too small"), "{err}");
    assert!(err.contains(&(100u64 << 20).to_string()), "{err}");
    assert!(err.contains("small.img"), "{err}");
    assert_eq!(
        sh(&format!("tr -d '\\0' < {} | wc -c", small.display())).trim(),
        "0",
        "a refused restore writes nothing"
    );
}

#[test]
fn mbr_disk_with_logical_partitions_round_trips() {
    let lab = Lab::new();
    let disk = lab.path("mbr.img");
    let w = lab.path("mbr.work");
    sh(&format!(
        r#"{FILES}
d={d}; w={w}; mkdir -p $w; truncate -s 96M $d
printf 'label: dos\nlabel-id: 0x1234abcd\nstart=2048, size=30M, type=83, bootable\nstart=65536, type=5\nstart=67584, size=20M, type=83\nstart=110592, size=20M, type=7\n' | sfdisk -q $d
mkfiles $w/root a
for n in 1 5; do
  read start size < <(sfdisk -J $d | python3 -c "import json,sys; p=[x for x in json.load(sys.stdin)['partitiontable']['partitions'] if x['node'].endswith('$n')][0]; print(p['start'], p['size'])")
  truncate -s $((size*512)) $w/p$n; E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -d $w/root $w/p$n
  dd if=$w/p$n of=$d bs=512 seek=$start conv=notrunc status=none
done
printf 'boot code' | dd of=$d bs=1 seek=0 conv=notrunc status=none
"#,
        d = disk.display(),
        w = w.display()
    ));
    lab.capture(&disk, "mbr");
    let inspect = lab.json(&["image", "inspect", "mbr"]);
    assert_eq!(inspect["layout"]["table"], "mbr");
    let numbers: Vec<u64> = inspect["layout"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 5, 6]);
    let target = lab.blank("mbr-out.img", 128);
    lab.restore("mbr", &target, &[]);
    assert_eq!(
        sh(&format!(
            "sfdisk -d {} | grep -v '^device\\|^label-id' | sed 's/^[^:]*://'",
            disk.display()
        )),
        sh(&format!(
            "sfdisk -d {} | grep -v '^device\\|^label-id' | sed 's/^[^:]*://'",
            target.display()
        ))
    );
    sh(&format!(
        "cmp -n 446 {} {}",
        disk.display(),
        target.display()
    ));
    for n in [1, 5] {
        let p = partition(&target, n);
        sh(&format!("fsck.ext4 -fn {} >/dev/null 2>&1", p.display()));
        sh(&format!(
            "cmp <(debugfs -R 'cat /usr/lib/file7' {} 2>/dev/null) {}/root/usr/lib/file7",
            p.display(),
            w.display()
        ));
    }
}

#[test]
fn unknown_filesystem_keeps_its_nonzero_blocks_exactly() {
    let lab = Lab::new();
    let disk = lab.path("unknown.img");
    sh(&format!(
        r#"d={d}; truncate -s 64M $d
sgdisk -n1:1M:0 -t1:8300 $d >/dev/null
for off in 2 5 17 40; do head -c 300000 /dev/urandom | dd of=$d bs=1M seek=$off conv=notrunc status=none; done"#,
        d = disk.display()
    ));
    let cap = lab.capture(&disk, "raw");
    let data = cap["data_bytes"].as_u64().unwrap();
    assert!(
        (4 * 300_000..4 * 300_000 + 64 * 1024).contains(&data),
        "{cap}"
    );
    let target = lab.path("unknown-out.img");
    sh(&format!("head -c 64M /dev/urandom > {}", target.display()));
    lab.restore("raw", &target, &[]);
    // Zero runs inside the unknown partition are written as zeros, not left as garbage.
    sh(&format!(
        "cmp <(head -c $((64*1024*1024-17408)) {}) <(head -c $((64*1024*1024-17408)) {})",
        disk.display(),
        target.display()
    ));
}

#[test]
fn bare_filesystem_without_partition_table_round_trips() {
    let lab = Lab::new();
    let disk = lab.path("bare.img");
    let w = lab.path("bare.work");
    sh(&format!(
        "{FILES}\nmkfiles {w}/root a; truncate -s 32M {d}; mkfs.ext4 -q -d {w}/root {d}",
        d = disk.display(),
        w = w.display()
    ));
    lab.capture(&disk, "bare");
    let inspect = lab.json(&["image", "inspect", "bare"]);
    assert_eq!(inspect["layout"]["table"], "none");
    assert_eq!(inspect["regions"][0]["fs"], "ext4");
    let target = lab.blank("bare-out.img", 48);
    lab.restore("bare", &target, &[]);
    sh(&format!(
        "fsck.ext4 -fn {} >/dev/null 2>&1",
        target.display()
    ));
    sh(&format!(
        "cmp <(debugfs -R 'cat /usr/lib/file9' {} 2>/dev/null) {}/root/usr/lib/file9",
        target.display(),
        w.display()
    ));
}

#[test]
fn second_capture_of_slightly_changed_disk_stores_little() {
    let lab = Lab::new();
    let a = gpt_disk(&lab, "a.img", "a");
    let b = gpt_disk(&lab, "b.img", "b");
    let first = lab.capture(&a, "lab");
    let second = lab.capture(&b, "lab");
    let (n1, n2) = (
        first["new_bytes"].as_u64().unwrap(),
        second["new_bytes"].as_u64().unwrap(),
    );
    // Two of thirty 200 kB files changed (plus metadata): the second capture
    // stores a small fraction of the first.
    assert!(n2 * 5 < n1, "first stored {n1}, second {n2}");
    assert!(n2 > 400_000 / 2, "the changed files must be stored: {n2}");
    let list = lab.json(&["image", "list"]);
    assert_eq!(list[0]["versions"], 2);
    let inspect = lab.json(&["image", "inspect", "lab"]);
    assert!(
        !inspect["shared"].as_array().unwrap().is_empty(),
        "{inspect}"
    );
    // Both versions stay restorable by id.
    let old = first["image"].as_str().unwrap();
    let t = lab.blank("old.img", 160);
    lab.restore(&format!("lab@{}", &old[..10]), &t, &[]);
    assert_gpt_files(&lab, &t, "a");
}

#[test]
fn delta_restore_over_older_version_writes_only_what_differs() {
    let lab = Lab::new();
    let a = gpt_disk(&lab, "a.img", "a");
    let b = gpt_disk(&lab, "b.img", "b");
    let first = lab.capture(&a, "lab");
    lab.capture(&b, "lab");
    let target = lab.blank("t.img", 160);
    lab.restore(
        &format!("lab@{}", &first["image"].as_str().unwrap()[..12]),
        &target,
        &[],
    );
    let stats = lab.restore("lab", &target, &[]);
    let (data, written) = (
        stats["data_bytes"].as_u64().unwrap(),
        stats["written_bytes"].as_u64().unwrap(),
    );
    assert!(written * 4 < data, "wrote {written} of {data}");
    assert!(
        stats["skipped_bytes"].as_u64().unwrap() > data / 2,
        "{stats}"
    );
    assert_gpt_files(&lab, &target, "b");
    let fresh = lab.blank("fresh.img", 160);
    lab.restore("lab", &fresh, &["--full"]);
    // Free space aside, both targets hold the same used data: compare filesystems' files.
    assert_gpt_files(&lab, &fresh, "b");
    // Restoring again finds everything in place.
    let again = lab.restore("lab", &target, &[]);
    assert_eq!(again["fetched_chunks"], 0, "{again}");
}

#[test]
fn corrupt_chunk_is_named_by_verify_and_restore() {
    let lab = Lab::new();
    let disk = gpt_disk(&lab, "src.img", "a");
    lab.capture(&disk, "lab");
    // Flip one byte in the largest chunk file.
    let victim = sh(&format!(
        "find {}/store/chunks -type f -printf '%s %p\\n' | sort -n | tail -1 | cut -d' ' -f2",
        lab.path("data").display()
    ));
    let victim = victim.trim();
    let id = Path::new(victim)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    sh(&format!(
        "printf '\\xff' | dd of={victim} bs=1 seek=100 conv=notrunc status=none"
    ));
    let err = lab.fails(&["image", "verify", "lab"]);
    assert!(err.contains(&id), "{err}");
    let target = lab.blank("t.img", 160);
    let err = lab.fails(&["image", "restore", "lab", target.to_str().unwrap()]);
    assert!(err.contains(&id), "{err}");
    let err = lab.fails(&["store", "check"]);
    assert!(err.contains("problem"), "{err}");
}

/// `marrow image serve` running in the background; stopped on drop.
struct NbdServe {
    child: std::process::Child,
    url: String,
}

impl NbdServe {
    fn start(lab: &Lab, image: &str, port: u16) -> NbdServe {
        use std::io::BufRead as _;
        let mut child = Command::new(MARROW)
            .arg("--data-dir")
            .arg(lab.path("data"))
            .args([
                "image",
                "serve",
                image,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Its first line says where, once it listens.
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("nbd://"))
            .unwrap_or_else(|| panic!("no nbd:// URL in {line:?}"))
            .to_string();
        NbdServe { child, url }
    }
}

impl Drop for NbdServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An image version served over NBD reads as the disk a restore writes:
/// `qemu-img compare` finds them identical, nbd-client lists the export,
/// and a partition mounted read-only through qemu-storage-daemon's FUSE
/// export of it reads its files.
#[test]
fn an_image_served_over_nbd_is_the_restored_disk() {
    let lab = Lab::new();
    require(&[
        "qemu-img",
        "qemu-storage-daemon",
        "qemu-system-x86_64",
        "nbd-client",
    ]);
    let disk = gpt_disk(&lab, "src.img", "a");
    lab.capture(&disk, "lab");
    let restored = lab.blank("restored.img", 160);
    lab.restore("lab", &restored, &[]);
    let port = free_port();
    let serve = NbdServe::start(&lab, "lab", port);
    assert!(
        serve
            .url
            .starts_with(&format!("nbd://127.0.0.1:{port}/lab@")),
        "{}",
        serve.url
    );
    let same = sh(&format!(
        "qemu-img compare -f raw -F raw {} {}",
        restored.display(),
        serve.url
    ));
    assert!(same.contains("identical"), "{same}");
    let export = serve.url.rsplit('/').next().unwrap();
    let listed = sh(&format!("nbd-client -l 127.0.0.1 {port}"));
    assert!(listed.contains(export), "{listed}");
    // A VM's drive opens it, writes going to a temporary overlay.
    let block = sh(&format!(
        "printf 'info block\nquit\n' | timeout 30 qemu-system-x86_64 -machine none -display none -S -monitor stdio -drive file={},format=raw,snapshot=on,if=none,id=d0",
        serve.url
    ));
    assert!(
        block.contains(&format!("Backing file:     {}", serve.url)),
        "{block}"
    );
    if !nix_is_root() {
        eprintln!("skipped the mount: it needs root");
        return;
    }
    let fuse = lab.path("fuse-disk");
    std::fs::write(&fuse, b"").unwrap();
    let mut daemon = Command::new("qemu-storage-daemon")
        .args([
            "--blockdev",
            &format!("driver=nbd,node-name=n,server.type=inet,server.host=127.0.0.1,server.port={port},export={export},read-only=on"),
            "--export",
            &format!("type=fuse,id=e,node-name=n,mountpoint={},writable=off", fuse.display()),
        ])
        .spawn()
        .unwrap();
    // On drop: the partition's mount, then the daemon, which takes its
    // FUSE mount down when stopped by SIGTERM (a SIGKILL would leave it).
    struct Stop<'a>(&'a mut std::process::Child, PathBuf, PathBuf);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            let quiet = |cmd: &mut Command| {
                let _ = cmd
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status();
            };
            quiet(Command::new("umount").arg(&self.1));
            quiet(Command::new("kill").args(["-TERM", &self.0.id().to_string()]));
            let _ = self.0.wait();
            quiet(Command::new("umount").arg(&self.2));
        }
    }
    let _stop = Stop(&mut daemon, lab.path("mnt"), fuse.clone());
    sh(&format!(
        "for i in $(seq 100); do [ $(stat -c %s {0}) -gt 0 ] && break; sleep 0.1; done; [ $(stat -c %s {0}) -eq 167772160 ]",
        fuse.display()
    ));
    let (first, last) = marrow_tests::disks::partition_range(&fuse, 2);
    let mnt = lab.path("mnt");
    sh(&format!(
        "mkdir -p {m}; mount -t ext4 -o ro,noload,loop,offset={o},sizelimit={l} {f} {m}",
        m = mnt.display(),
        o = first * 512,
        l = (last - first + 1) * 512,
        f = fuse.display()
    ));
    let version = sh(&format!("cat {}/etc/version", mnt.display()));
    sh(&format!("umount {}", mnt.display()));
    assert_eq!(version.trim(), "variant a");
}

/// A chunk that fails its check makes the reads that need it fail with an
/// I/O error; reads of the rest of the disk go on working, before and
/// after, on the same server.
#[test]
fn a_corrupt_chunk_fails_only_the_reads_that_need_it() {
    let lab = Lab::new();
    require(&["qemu-io"]);
    let disk = gpt_disk(&lab, "src.img", "a");
    lab.capture(&disk, "lab");
    // A data chunk of a new store is a 48-byte pointer into a pack; moving
    // its offset by one byte damages that chunk and no other.
    let victim = sh(&format!(
        "find {}/store/chunks -type f -size 48c -print -quit",
        lab.path("data").display()
    ));
    assert!(!victim.trim().is_empty(), "no packed chunk in the store");
    sh(&format!(
        "printf '\\x01' | dd of={} bs=1 seek=36 conv=notrunc status=none",
        victim.trim()
    ));
    let serve = NbdServe::start(&lab, "lab", free_port());
    // Every MiB of the 160 MiB disk, in one session of qemu-io.
    let reads: String = (0..160).map(|i| format!(" -c 'read {}M 1M'", i)).collect();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("qemu-io -r -f raw {reads} {} 2>&1", serve.url))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let failed = text.matches("Input/output error").count();
    let read = text.matches("read 1048576/1048576 bytes").count();
    assert!(failed >= 1, "no read failed:\n{text}");
    assert!(
        failed <= 8,
        "one chunk of at most 256 KiB fails only the reads around it:\n{text}"
    );
    assert_eq!(failed + read, 160, "{text}");
    // The server still serves.
    let again = sh(&format!("qemu-io -r -f raw -c 'read 0 64k' {}", serve.url));
    assert!(again.contains("read 65536/65536 bytes"), "{again}");
}

#[test]
fn truncated_or_garbled_manifest_gives_clear_error() {
    let lab = Lab::new();
    let disk = gpt_disk(&lab, "src.img", "a");
    let cap = lab.capture(&disk, "lab");
    let id = cap["image"].as_str().unwrap();
    let manifest = lab.path(&format!("data/store/manifests/{id}.json"));
    sh(&format!("truncate -s 100 {}", manifest.display()));
    let err = lab.fails(&["image", "inspect", "lab"]);
    assert!(
        err.contains(id) && err.contains("truncated or altered"),
        "{err}"
    );
    sh(&format!("echo garbage > {}", manifest.display()));
    let err = lab.fails(&["image", "restore", "lab", disk.to_str().unwrap()]);
    assert!(err.contains(id), "{err}");
    let err = lab.fails(&["image", "inspect", "nosuch"]);
    assert!(err.contains("no image named \"nosuch\""), "{err}");
}

#[test]
fn killed_capture_leaves_no_image_and_rerun_reuses_its_chunks() {
    let lab = Lab::new();
    let disk = lab.path("big.img");
    // Incompressible data, enough for more than one batch of chunks (the
    // store makes chunks durable and visible in batches of 2048).
    sh(&format!("head -c 200M /dev/urandom > {}", disk.display()));
    let store = lab.path("data/store");
    // Chunks being written are dot-files beside the chunks, renamed once synced.
    let count = |what: &str| -> usize {
        let filter = if what == "tmp" {
            "-name '.*'"
        } else {
            "! -name '.*'"
        };
        sh(&format!(
            "{{ find {}/chunks -type f {filter} 2>/dev/null || true; }} | wc -l",
            store.display()
        ))
        .trim()
        .parse()
        .unwrap()
    };
    // Kill: while the first batch is still being written (unsynced temporaries),
    // once a batch has landed in chunks/, and right at the start.
    for (dir, wait_for) in [("tmp", 200usize), ("chunks", 1), ("tmp", 1)] {
        let mut child = Command::new(MARROW)
            .arg("--data-dir")
            .arg(lab.path("data"))
            .args(["image", "capture", disk.to_str().unwrap(), "--name", "big"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        loop {
            if count(dir) >= wait_for || child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let _ = child.kill();
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "the capture finished before it could be killed"
        );
        lab.ok(&["store", "check"]);
        let list = lab.json(&["image", "list"]);
        assert_eq!(
            list.as_array().unwrap().len(),
            0,
            "a killed capture must not list an image: {list}"
        );
    }
    let before = count("chunks") as u64;
    assert!(before > 0, "some chunks were made durable before a kill");
    let done = lab.json(&["image", "capture", disk.to_str().unwrap(), "--name", "big"]);
    let (total, new) = (
        done["chunks"].as_u64().unwrap(),
        done["new_chunks"].as_u64().unwrap(),
    );
    assert!(
        new < total && new + before >= total,
        "the re-run reuses the {before} stored chunks: {new} new of {total}"
    );
    lab.ok(&["store", "check"]);
    lab.ok(&["image", "verify", "big"]);
    // gc sweeps the temporaries the killed runs left.
    lab.ok(&["store", "gc"]);
    assert_eq!(count("tmp"), 0);
}

#[test]
fn full_store_disk_gives_clear_error_and_consistent_store() {
    let lab = Lab::new();
    if !nix_is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let store = lab.path("tiny");
    sh(&format!(
        "mkdir -p {0} && mount -t tmpfs -o size=3M tmpfs {0}",
        store.display()
    ));
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(store.clone());
    let disk = lab.path("rand.img");
    sh(&format!("head -c 12M /dev/urandom > {}", disk.display()));
    let err = lab.fails(&[
        "image",
        "capture",
        disk.to_str().unwrap(),
        "--name",
        "x",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(
        err.contains(store.to_str().unwrap()),
        "the error names the store path: {err}"
    );
    lab.ok(&["store", "check", "--store", store.to_str().unwrap()]);
    let list = lab.json(&["image", "list", "--store", store.to_str().unwrap()]);
    assert_eq!(list.as_array().unwrap().len(), 0);
    // gc frees the orphans and a smaller capture then fits.
    lab.ok(&["store", "gc", "--store", store.to_str().unwrap()]);
    let small = lab.path("small.img");
    sh(&format!("head -c 1M /dev/urandom > {}", small.display()));
    lab.ok(&[
        "image",
        "capture",
        small.to_str().unwrap(),
        "--name",
        "small",
        "--store",
        store.to_str().unwrap(),
    ]);
}

fn nix_is_root() -> bool {
    sh("id -u").trim() == "0"
}

#[test]
fn used_blocks_agree_with_partclone() {
    let lab = Lab::new();
    require(&["partclone.ext4", "partclone.fat32", "partclone.ntfs"]);
    let disk = gpt_disk(&lab, "src.img", "a");
    lab.capture(&disk, "lab");
    let inspect = lab.json(&["image", "inspect", "lab"]);
    for (n, tool) in [
        (1u32, "partclone.fat32"),
        (2, "partclone.ext4"),
        (3, "partclone.ntfs"),
    ] {
        let p = partition(&disk, n);
        let (img, log) = (lab.path("pc.img"), lab.path("pc.log"));
        sh(&format!(
            "{tool} -c -s {} -O {} -L {} >/dev/null 2>&1",
            p.display(),
            img.display(),
            log.display()
        ));
        let log = sh(&format!("tr '\\r' '\\n' < {}", log.display()));
        let block_size: u64 = field(&log, "Block size:");
        let used_blocks: u64 = log
            .lines()
            .find(|l| l.contains("Space in use:"))
            .and_then(|l| l.split('=').nth(1))
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no used-block count from {tool}:\n{log}"));
        let theirs = used_blocks * block_size;
        let region = inspect["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["partition"] == n)
            .unwrap();
        let ours = region["data_bytes"].as_u64().unwrap() + region["zero_bytes"].as_u64().unwrap();
        // Marrow also keeps NTFS's backup boot sector, the partition's last
        // sector, which lies outside the volume's clusters.
        let extra = if n == 3 { 512 } else { 0 };
        assert_eq!(
            ours,
            theirs + extra,
            "{tool}: partclone {theirs} bytes in use, marrow {ours}"
        );
    }
}

/// XFS: partclone.xfs and Marrow both keep all but the free-space
/// B+trees' extents and the free lists, so the counts agree exactly.
/// btrfs: partclone.btrfs walks every tree it can reach and rounds each
/// extent up to a 16 KiB node, and keeps only the first copy of a DUP
/// chunk; Marrow keeps what the extent tree records, exactly, with both
/// copies. So every range Marrow keeps that partclone does not must be a
/// DUP chunk's second copy or a superblock copy, and the round trip test
/// below shows nothing live is missed.
#[test]
fn used_blocks_agree_with_partclone_on_xfs_and_btrfs() {
    let lab = Lab::new();
    require(&["partclone.xfs", "partclone.btrfs", "mkfs.xfs", "mkfs.btrfs"]);
    let disk = linux_disk(lab.dir.path(), "linux.img", "a", 4);
    lab.capture(&disk, "lab");
    let inspect = lab.json(&["image", "inspect", "lab"]);
    let region = |n: u32| {
        inspect["regions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["partition"] == n)
            .unwrap()
            .clone()
    };
    let xfs = partition(&disk, 1);
    let log = lab.path("pc.log");
    sh(&format!(
        "partclone.xfs -c -s {} -O /dev/null -L {} >/dev/null 2>&1",
        xfs.display(),
        log.display()
    ));
    let log = sh(&format!("tr '\\r' '\\n' < {}", log.display()));
    let theirs = field(&log, "Block size:")
        * log
            .lines()
            .find(|l| l.contains("Space in use:"))
            .and_then(|l| l.split('=').nth(1))
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no used-block count from partclone.xfs:\n{log}"));
    let r = region(1);
    assert_eq!(r["fs"], "xfs");
    let ours = r["data_bytes"].as_u64().unwrap() + r["zero_bytes"].as_u64().unwrap();
    assert_eq!(
        ours, theirs,
        "partclone.xfs {theirs} bytes in use, marrow {ours}"
    );

    let btrfs = partition(&disk, 2);
    assert_eq!(region(2)["fs"], "btrfs");
    let domain = lab.path("btrfs.domain");
    sh(&format!(
        "partclone.btrfs -D -s {} -o {} >/dev/null 2>&1",
        btrfs.display(),
        domain.display()
    ));
    // ddrescue domain lines: "0xSTART 0xSIZE +" for what partclone keeps.
    let theirs: Vec<(u64, u64)> = std::fs::read_to_string(&domain)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && l.ends_with('+'))
        .map(|l| {
            let mut f = l.split_whitespace();
            let mut hex =
                || u64::from_str_radix(f.next().unwrap().trim_start_matches("0x"), 16).unwrap();
            (hex(), hex())
        })
        .collect();
    assert!(!theirs.is_empty(), "partclone.btrfs kept nothing");
    // Second copies of DUP chunks: "stripe 1 devid 1 offset N" under a
    // chunk item whose type ends in DUP, with its length.
    let dup: Vec<(u64, u64)> = sh(&format!(
        "btrfs inspect-internal dump-tree -t chunk {}",
        btrfs.display()
    ))
    .split("CHUNK_ITEM")
    .skip(1)
    .filter(|c| c.contains("|DUP"))
    .map(|c| {
        let num = |key: &str| -> u64 {
            let after =
                &c[c.find(key).unwrap_or_else(|| panic!("no {key:?} in {c}")) + key.len()..];
            after.split_whitespace().next().unwrap().parse().unwrap()
        };
        let second = &c[c.find("stripe 1").unwrap()..];
        let offset = second
            .split("offset ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap()
            .parse::<u64>()
            .unwrap();
        (offset, num("length "))
    })
    .collect();
    assert!(!dup.is_empty(), "mkfs.btrfs made no DUP chunk");
    let sb_copy = (64u64 << 20, 4096u64);
    let within = |at: u64, set: &[(u64, u64)]| set.iter().any(|&(s, l)| at >= s && at < s + l);
    let layout_disk = image_format::disk::FileDisk::open(&disk).unwrap();
    let layout = image_format::layout::read_layout(&layout_disk).unwrap();
    let start = layout.partitions[1].start;
    let regions = image_format::capture::plan_regions(&layout_disk, &layout).unwrap();
    let ours = &regions
        .iter()
        .find(|r| r.partition == Some(2))
        .unwrap()
        .used;
    let mut shared = 0;
    for (s, l) in ours.iter() {
        for at in (s - start..s - start + l).step_by(4096) {
            if within(at, &theirs) {
                shared += 4096;
            } else {
                assert!(
                    within(at, &dup) || within(at, &[sb_copy]),
                    "marrow keeps byte {at} of the btrfs partition, which partclone.btrfs does not, and it is neither a DUP copy nor a superblock copy"
                );
            }
        }
    }
    assert!(
        shared > 4 << 20,
        "the 4 MiB of files are kept by both: {shared}"
    );
}

fn field(log: &str, key: &str) -> u64 {
    log.lines()
        .find(|l| l.contains(key))
        .and_then(|l| l.split(key).nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no {key:?} in:\n{log}"))
}

/// XFS and btrfs partitions whose free space holds old data keep only
/// what their filesystems use, and come back onto a disk full of other
/// noise clean to `xfs_repair -n` and `btrfs check --check-data-csum`,
/// with every file.
#[test]
fn xfs_and_btrfs_round_trip_without_their_free_space() {
    let lab = Lab::new();
    require(&["mkfs.xfs", "mkfs.btrfs", "xfs_repair", "btrfs"]);
    if !nix_is_root() {
        eprintln!("skipped: reading the restored XFS back mounts it, which needs root");
        return;
    }
    let disk = linux_disk(lab.dir.path(), "linux.img", "a", 4);
    let cap = lab.capture(&disk, "linux");
    // 184 MiB of partitions full of noise; 8 MiB of files and the
    // filesystems' metadata are kept.
    let used = cap["used_bytes"].as_u64().unwrap();
    assert!(used < 24 << 20, "kept {used} bytes: {cap}");
    let target = lab.path("target.img");
    sh(&format!(
        "openssl enc -aes-128-ctr -nosalt -pass pass:target -pbkdf2 -iter 1 < /dev/zero 2>/dev/null | head -c $(stat -c %s {}) > {} || true",
        disk.display(),
        target.display()
    ));
    lab.restore("linux", &target, &[]);
    assert_linux_disk(&target, "a", 4);
}

/// An NTFS volume with a 48 MiB page file and an 8 MiB hibernation file,
/// both noise, and a 1 MiB document.
fn windows_temp_disk(lab: &Lab) -> PathBuf {
    let out = lab.path("win.img");
    let w = lab.path("win.work");
    sh(&format!(
        r#"{FILES}
out={out}; w={w}; rm -rf "$w"; mkdir -p "$w"; rm -f "$out"; truncate -s 100M "$out"
sgdisk -n1:1M:0 -t1:0700 -c1:windows "$out" >/dev/null
read f l < <(part_range "$out" 1)
truncate -s $(( (l-f+1)*512 )) "$w/ntfs"; mkntfs -q -F -Q "$w/ntfs" >/dev/null 2>&1
noise() {{ openssl enc -aes-128-ctr -nosalt -pass pass:"$2" -pbkdf2 -iter 1 < /dev/zero 2>/dev/null | head -c "$1" || true; }}
noise 50331648 page > "$w/pagefile.sys"
{{ printf HIBR; noise 8388604 hiber; }} > "$w/hiberfil.sys"
noise 1048576 doc > "$w/doc.bin"
# hiberfil.sys last: once it starts with HIBR, ntfs-3g sees a hibernated
# Windows and opens the volume for nothing more.
for name in pagefile.sys doc.bin hiberfil.sys; do ntfscp -q "$w/ntfs" "$w/$name" "$name"; done
dd if="$w/ntfs" of="$out" bs=512 seek=$f conv=notrunc status=none
"#,
        out = out.display(),
        w = w.display(),
    ));
    out
}

/// Windows' page and hibernation files are recorded as zeros: the store
/// holds almost nothing of them, the restored volume is clean to ntfsfix
/// and no longer hibernated, and the files are there at their sizes, all
/// zeros, over a target that held noise. `--keep-windows-temp` keeps their
/// content.
#[test]
fn windows_page_and_hibernation_files_are_kept_as_zeros() {
    let lab = Lab::new();
    let disk = windows_temp_disk(&lab);
    let cap = lab.capture(&disk, "win");
    let skipped = cap["skipped"].as_array().unwrap();
    let names: Vec<&str> = skipped
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    // In the root index's order, which is by name.
    assert_eq!(names, ["hiberfil.sys", "pagefile.sys"], "{cap}");
    assert_eq!(skipped[0]["bytes"], 8 << 20, "{cap}");
    assert_eq!(skipped[1]["bytes"], 48 << 20, "{cap}");
    let stored = cap["new_bytes"].as_u64().unwrap();
    assert!(stored < 4 << 20, "stored {stored} bytes: {cap}");
    let inspect = lab.ok(&["image", "inspect", "win"]);
    assert!(
        inspect.contains("skipped pagefile.sys (48.0 MiB"),
        "{inspect}"
    );
    // ntfs-3g refuses to write to the source volume: Windows looks
    // hibernated. The restored one, whose hibernation file reads as zeros,
    // takes writes (the client's post-restore edits rely on that).
    let source = partition(&disk, 1);
    let note = lab.path("note.txt");
    std::fs::write(&note, "marrow\n").unwrap();
    let refused = Command::new("ntfscp")
        .arg(&source)
        .arg(&note)
        .arg("note.txt")
        .output()
        .unwrap();
    assert!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr).contains("hibernated"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let target = lab.path("target.img");
    sh(&format!(
        "openssl enc -aes-128-ctr -nosalt -pass pass:old -pbkdf2 -iter 1 < /dev/zero 2>/dev/null | head -c 104857600 > {} || true",
        target.display()
    ));
    lab.restore("win", &target, &[]);
    let ntfs = partition(&target, 1);
    sh(&format!("ntfsfix -n {} >/dev/null", ntfs.display()));
    sh(&format!(
        "ntfscp -q {} {} note.txt && ntfscat {} note.txt | grep -q marrow",
        ntfs.display(),
        note.display(),
        ntfs.display()
    ));
    for (file, mib) in [("pagefile.sys", 48), ("hiberfil.sys", 8)] {
        sh(&format!(
            "cmp <(ntfscat {} {file}) <(head -c {}M /dev/zero)",
            ntfs.display(),
            mib
        ));
    }
    let doc = sh(&format!("ntfscat {} doc.bin | sha256sum", ntfs.display()));
    let want = sh(
        "openssl enc -aes-128-ctr -nosalt -pass pass:doc -pbkdf2 -iter 1 < /dev/zero 2>/dev/null | head -c 1048576 | sha256sum || true",
    );
    assert_eq!(doc, want, "doc.bin comes back whole");

    let kept = lab.json(&[
        "image",
        "capture",
        disk.to_str().unwrap(),
        "--name",
        "win-kept",
        "--keep-windows-temp",
    ]);
    assert!(kept["skipped"].as_array().unwrap().is_empty(), "{kept}");
    assert!(
        kept["new_bytes"].as_u64().unwrap() > 50 << 20,
        "the page and hibernation files' noise is stored: {kept}"
    );
}

#[test]
fn concurrent_captures_and_gc_leave_a_clean_store() {
    let lab = Lab::new();
    let a = gpt_disk(&lab, "a.img", "a");
    let b = gpt_disk(&lab, "b.img", "b");
    let spawn = |args: &[&str]| {
        Command::new(MARROW)
            .arg("--data-dir")
            .arg(lab.path("data"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // Create the store first so the racers only race on chunks and refs.
    lab.ok(&["image", "capture", b.to_str().unwrap(), "--name", "seed"]);
    lab.ok(&["image", "delete", "seed"]);
    let mut first = spawn(&["image", "capture", a.to_str().unwrap(), "--name", "one"]);
    let mut second = spawn(&["image", "capture", b.to_str().unwrap(), "--name", "two"]);
    let mut third = spawn(&["image", "capture", a.to_str().unwrap(), "--name", "one"]);
    // gc runs beside them: it waits for the captures' shared lock and must
    // not remove a chunk they reuse from the deleted "seed" image.
    let mut gc = spawn(&["store", "gc"]);
    for child in [&mut first, &mut second, &mut third, &mut gc] {
        assert!(child.wait().unwrap().success());
    }
    lab.ok(&["store", "check"]);
    lab.ok(&["image", "verify", "one"]);
    lab.ok(&["image", "verify", "two"]);
    let list = lab.json(&["image", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert_eq!(
        list[0]["versions"], 2,
        "both captures of \"one\" are in its history: {list}"
    );
    let t = lab.blank("t.img", 160);
    lab.restore("two", &t, &[]);
    assert_gpt_files(&lab, &t, "b");
}

#[test]
fn deleting_a_version_and_collecting_garbage_keeps_the_other() {
    let lab = Lab::new();
    let a = gpt_disk(&lab, "a.img", "a");
    let b = gpt_disk(&lab, "b.img", "b");
    let first = lab.capture(&a, "lab");
    lab.capture(&b, "lab");
    let before = lab.json(&["store", "check"]);
    lab.ok(&[
        "image",
        "delete",
        &format!("lab@{}", &first["image"].as_str().unwrap()[..12]),
    ]);
    let gc = lab.json(&["store", "gc"]);
    assert!(gc["removed_chunks"].as_u64().unwrap() > 0, "{gc}");
    assert_eq!(gc["removed_manifests"], 1, "{gc}");
    let after = lab.json(&["store", "check"]);
    assert!(after["chunks"].as_u64() < before["chunks"].as_u64());
    assert_eq!(after["unreferenced_chunks"], 0, "{after}");
    assert_eq!(lab.json(&["image", "list"])[0]["versions"], 1);
    let t = lab.blank("t.img", 160);
    lab.restore("lab", &t, &[]);
    assert_gpt_files(&lab, &t, "b");
    lab.ok(&["image", "delete", "lab"]);
    let gc = lab.json(&["store", "gc"]);
    assert!(gc["packs"]["removed_packs"].as_u64() > Some(0), "{gc}");
    let empty = lab.json(&["store", "check"]);
    assert_eq!(empty["chunks"], 0, "{empty}");
    let packs = sh(&format!(
        "find {}/store/packs -type f | wc -l",
        lab.path("data").display()
    ));
    assert_eq!(packs.trim(), "0", "no pack outlives its chunks");
}

/// A store written before packs (format 1, every chunk a zstd frame of its
/// own): the fixture holds `lab` (the MBR fixture disk) and `other` (the
/// XFS/btrfs fixture disk), as the marrow of that time captured them.
#[test]
fn a_store_of_format_1_keeps_working() {
    let lab = Lab::new();
    let testdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../image-format/testdata");
    let store = lab.path("old-store");
    sh(&format!(
        // git keeps no empty folder; the store had an empty tmp/.
        "cp -a {}/v1-store {1} && mkdir -p {1}/tmp && zstd -q -d {0}/mbr-fat16-logical-ext2-fat12.img.zst -o {2}",
        testdata.display(),
        store.display(),
        lab.path("mbr.img").display()
    ));
    let s = store.to_str().unwrap();
    let marker = || std::fs::read_to_string(store.join("marrow-store.json")).unwrap();
    assert!(marker().contains("\"version\":1"), "{}", marker());
    let restore_lab = || {
        let t = lab.blank("t.img", 64);
        lab.ok(&["image", "restore", "lab", t.to_str().unwrap(), "--store", s]);
        sh(&format!(
            "cmp {} {}",
            lab.path("mbr.img").display(),
            t.display()
        ));
    };
    restore_lab();
    lab.json(&["image", "verify", "other", "--store", s]);
    let check = lab.json(&["store", "check", "--store", s]);
    assert_eq!(check["problems"].as_array().unwrap().len(), 0, "{check}");
    // New chunks go in as frames of their own: the marrow that made the
    // store can still read everything in it.
    let a = gpt_disk(&lab, "a.img", "a");
    lab.json(&[
        "image",
        "capture",
        a.to_str().unwrap(),
        "--name",
        "new",
        "--store",
        s,
    ]);
    assert!(marker().contains("\"version\":1"), "{}", marker());
    assert!(
        !store.join("packs").exists(),
        "no packs in a format-1 store"
    );
    let t = lab.blank("t2.img", 160);
    lab.ok(&["image", "restore", "new", t.to_str().unwrap(), "--store", s]);
    assert_gpt_files(&lab, &t, "a");
    lab.ok(&["image", "delete", "other", "--store", s]);
    let gc = lab.json(&["store", "gc", "--store", s]);
    assert!(gc["removed_chunks"].as_u64() > Some(0), "{gc}");
    let check = lab.json(&["store", "check", "--store", s]);
    assert_eq!(check["problems"].as_array().unwrap().len(), 0, "{check}");
    assert_eq!(check["unreferenced_chunks"], 0, "{check}");
    restore_lab();
}

#[test]
fn qcow2_import_and_export_round_trip_through_qemu_img() {
    let lab = Lab::new();
    require(&["qemu-img"]);
    let disk = gpt_disk(&lab, "src.img", "a");
    let qcow = lab.path("src.qcow2");
    sh(&format!(
        "qemu-img convert -f raw -O qcow2 {} {}",
        disk.display(),
        qcow.display()
    ));
    lab.json(&["image", "import", qcow.to_str().unwrap(), "--name", "vm"]);
    let out = lab.path("out.qcow2");
    lab.ok(&[
        "image",
        "export",
        "vm",
        out.to_str().unwrap(),
        "--format",
        "qcow2",
    ]);
    let raw = lab.path("back.img");
    sh(&format!(
        "qemu-img convert -f qcow2 -O raw {} {}",
        out.display(),
        raw.display()
    ));
    assert_gpt_files(&lab, &raw, "a");
    // Free space on the source was zero, so the round trip is exact.
    sh(&format!("cmp {} {}", disk.display(), raw.display()));
    let err = lab.fails(&["image", "export", "vm", out.to_str().unwrap()]);
    assert!(
        err.contains("already exists"),
        "an export never overwrites: {err}"
    );
    let err = lab.fails(&[
        "image",
        "import",
        lab.path("nosuch.vmdk").to_str().unwrap(),
        "--name",
        "x",
    ]);
    assert!(
        err.contains("qemu-img") && err.contains("nosuch.vmdk"),
        "{err}"
    );
}

#[test]
fn restore_refuses_a_disk_that_is_mounted() {
    let lab = Lab::new();
    if !nix_is_root() {
        eprintln!("skipped: loop devices and mounts need root");
        return;
    }
    let disk = lab.path("bare.img");
    sh(&format!(
        "truncate -s 32M {0}; mkfs.ext4 -q {0}",
        disk.display()
    ));
    lab.capture(&disk, "bare");
    let dev = sh(&format!("losetup -f --show {}", disk.display()))
        .trim()
        .to_string();
    let mnt = lab.path("mnt");
    struct Undo(String, PathBuf);
    impl Drop for Undo {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.1).status();
            let _ = Command::new("losetup").args(["-d", &self.0]).status();
        }
    }
    std::fs::create_dir_all(&mnt).unwrap();
    let _undo = Undo(dev.clone(), mnt.clone());
    sh(&format!("mount -o ro {dev} {}", mnt.display()));
    let err = lab.fails(&["image", "restore", "bare", &dev]);
    assert!(
        err.contains("is in use") && err.contains(&format!("{dev} on ")),
        "{err}"
    );
}

#[test]
fn things_that_are_not_disks_are_refused_and_leave_no_store_behind() {
    let lab = Lab::new();
    let empty = lab.path("empty.img");
    std::fs::write(&empty, b"").unwrap();
    let odd = lab.path("odd.img");
    std::fs::write(&odd, vec![1u8; 1000]).unwrap();
    for (source, why) in [
        ("/dev/null", "character device"),
        (empty.to_str().unwrap(), "empty"),
        (odd.to_str().unwrap(), "512-byte sectors"),
        (lab.dir.path().to_str().unwrap(), "folder"),
    ] {
        let err = lab.fails(&["image", "capture", source, "--name", "x"]);
        assert!(
            err.contains("is not a disk") && err.contains(why),
            "{source}: {err}"
        );
    }
    assert!(
        !lab.path("data/store").exists(),
        "a refused capture made a store"
    );
    // A folder holding other things is not taken over as a store.
    std::fs::create_dir_all(lab.path("mine")).unwrap();
    std::fs::write(lab.path("mine/notes.txt"), b"keep").unwrap();
    let disk = lab.path("disk.img");
    std::fs::write(&disk, marrow_test_support::noise(3, 1 << 20)).unwrap();
    let mine = lab.path("mine");
    let err = lab.fails(&[
        "image",
        "capture",
        disk.to_str().unwrap(),
        "--name",
        "x",
        "--store",
        mine.to_str().unwrap(),
    ]);
    assert!(err.contains("not empty"), "{err}");
    assert!(!mine.join("chunks").exists());
}

#[test]
fn an_error_is_printed_once_not_again_as_its_own_cause() {
    let lab = Lab::new();
    let err = lab.fails(&["image", "capture", "/nonexistent/disk.img", "--name", "x"]);
    let lines: Vec<&str> = err.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let text = line.trim().trim_start_matches("caused by: ");
        for earlier in &lines[..i] {
            assert!(!earlier.contains(text), "repeated: {line:?} in {err}");
        }
    }
    assert!(err.contains("/nonexistent/disk.img"), "{err}");
}

#[test]
fn store_check_counts_the_leftovers_of_killed_writers_and_gc_removes_only_those() {
    let lab = Lab::new();
    let disk = lab.path("disk.img");
    std::fs::write(&disk, marrow_test_support::noise(5, 1 << 20)).unwrap();
    lab.ok(&["image", "capture", disk.to_str().unwrap(), "--name", "x"]);
    // A killed writer's temporary: its process id never runs.
    let orphan = lab.path("data/store/tmp/manifest.2147483647.0");
    std::fs::write(&orphan, vec![0u8; 4096]).unwrap();
    let report = lab.json(&["store", "check"]);
    assert_eq!(report["orphaned_temporaries"], 1, "{report}");
    assert_eq!(report["orphaned_bytes"], 4096, "{report}");
    assert!(lab.ok(&["store", "check"]).contains("half-written"));
    let gc = lab.json(&["store", "gc"]);
    assert_eq!(gc["removed_temporaries"], 1, "{gc}");
    assert!(!orphan.exists());
}

#[test]
fn a_store_on_read_only_media_restores() {
    let lab = Lab::new();
    if !nix_is_root() {
        eprintln!("skipped: a read-only bind mount needs root");
        return;
    }
    let disk = lab.path("disk.img");
    std::fs::write(&disk, marrow_test_support::noise(9, 1 << 20)).unwrap();
    lab.ok(&["image", "capture", disk.to_str().unwrap(), "--name", "x"]);
    let ro = lab.path("ro");
    std::fs::create_dir_all(&ro).unwrap();
    sh(&format!(
        "mount --bind {} {} && mount -o remount,bind,ro {}",
        lab.path("data/store").display(),
        ro.display(),
        ro.display()
    ));
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(ro.clone());
    let target = lab.path("target.img");
    std::fs::write(&target, vec![0u8; 1 << 20]).unwrap();
    lab.ok(&[
        "image",
        "restore",
        "x",
        target.to_str().unwrap(),
        "--store",
        ro.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&target).unwrap(),
        std::fs::read(&disk).unwrap()
    );
}
