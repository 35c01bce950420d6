//! Disk images for the imaging scenarios, built with the real tools (sgdisk,
//! mkfs.vfat + mcopy, mkfs.ext4 -d, mkntfs + ntfs-3g), and the checks that
//! read a restored disk back with fsck, debugfs, mtype and ntfscat.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a bash script with `-euo pipefail`; panics with its output on
/// failure and returns stdout.
pub fn sh(script: &str) -> String {
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "script failed ({}):\n{script}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The tools the builders and checks need, or the first one missing.
pub fn tools_missing() -> Option<String> {
    [
        "sgdisk",
        "sfdisk",
        "mkfs.ext4",
        "debugfs",
        "mkfs.vfat",
        "mcopy",
        "mtype",
        "mkntfs",
        "ntfs-3g",
        "ntfscat",
        "ntfsls",
        "ntfsfix",
        "fsck.vfat",
        "openssl",
        "xmllint",
    ]
    .iter()
    .find(|t| !crate::have(t))
    .map(|t| format!("{t} is not installed (scripts/install-deps installs it)"))
}

/// Deterministic contents: `mkfiles DIR SEED MIB` writes `MIB` MiB of
/// incompressible data in 1 MiB files plus a small text file.
const FILES: &str = r#"
mkfiles() {
  mkdir -p "$1/etc" "$1/data"
  for i in $(seq 1 "$3"); do
    { openssl enc -aes-128-ctr -nosalt -pass pass:"$2-$i" -pbkdf2 -iter 1 < /dev/zero 2>/dev/null || true; } | head -c 1048576 > "$1/data/file$i"
  done
  echo "seed $2" > "$1/etc/version"
}
part_range() { sgdisk -i"$2" "$1" | awk '/First sector/{f=$3}/Last sector/{l=$3}END{print f, l}'; }
"#;

/// An answer file with settings of its own, which injection must keep.
pub const UNATTEND: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend">
  <settings pass="oobeSystem">
    <component name="Microsoft-Windows-International-Core" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <InputLocale>0409:00000409</InputLocale>
      <SystemLocale>en-US</SystemLocale>
    </component>
  </settings>
</unattend>
"#;

/// A GPT disk of `mib` MiB: ESP (FAT32, 40 MiB) with `boot.txt`, ext4
/// (`data_mib` + 24 MiB) with `data_mib` MiB of files, and the rest NTFS
/// holding `doc.bin` and a Windows folder with `Windows/Panther/unattend.xml`.
/// Needs root and /dev/fuse (the NTFS folders are made through ntfs-3g).
pub fn windows_like_disk(dir: &Path, name: &str, seed: &str, mib: u64, data_mib: u64) -> PathBuf {
    let out = dir.join(name);
    let w = dir.join(format!("{name}.work"));
    // Room beyond the files: ext4 keeps 2% of a small filesystem's blocks
    // from everyone, root included, and a restore's post-deploy actions
    // write into it.
    let root_mib = data_mib + 24;
    sh(&format!(
        r#"{FILES}
out={out}; w={w}; rm -rf "$w"; mkdir -p "$w/mnt"; rm -f "$out"; truncate -s {mib}M "$out"
sgdisk -n1:1M:+40M -t1:ef00 -c1:ESP -n2:0:+{root_mib}M -t2:8300 -c2:root -n3:0:0 -t3:0700 -c3:windows "$out" >/dev/null
mkfiles "$w/root" {seed} {data_mib}
read f1 l1 < <(part_range "$out" 1); read f2 l2 < <(part_range "$out" 2); read f3 l3 < <(part_range "$out" 3)
truncate -s $(( (l1-f1+1)*512 )) "$w/esp"; mkfs.vfat --invariant -i 12345678 -F 32 -s 1 "$w/esp" >/dev/null
echo "efi {seed}" > "$w/boot.txt"; mcopy -i "$w/esp" "$w/boot.txt" ::/boot.txt
truncate -s $(( (l2-f2+1)*512 )) "$w/root.img"
E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -d "$w/root" "$w/root.img"
truncate -s $(( (l3-f3+1)*512 )) "$w/ntfs"; mkntfs -q -F -Q "$w/ntfs" >/dev/null 2>&1
ntfs-3g "$w/ntfs" "$w/mnt"
mkdir -p "$w/mnt/Windows/Panther" "$w/mnt/Windows/System32"
cat > "$w/mnt/Windows/Panther/unattend.xml" <<'XML'
{UNATTEND}XML
cp "$w/root/data/file1" "$w/mnt/doc.bin"
umount "$w/mnt"
dd if="$w/esp" of="$out" bs=512 seek=$f1 conv=notrunc status=none
dd if="$w/root.img" of="$out" bs=512 seek=$f2 conv=notrunc status=none
dd if="$w/ntfs" of="$out" bs=512 seek=$f3 conv=notrunc status=none
rm -rf "$w"
"#,
        out = out.display(),
        w = w.display(),
    ));
    out
}

/// A GPT disk of the Linux filesystems that keep their own allocation
/// trees: XFS (`data_mib` + 64 MiB) and btrfs (`data_mib` + 112 MiB), each
/// holding `data_mib` MiB of files. Both partitions are first filled with
/// noise and the filesystems made without discarding, so their free space
/// holds old data, as a used disk's does. Built without mounting: XFS from
/// a protofile, btrfs from a folder.
pub fn linux_disk(dir: &Path, name: &str, seed: &str, data_mib: u64) -> PathBuf {
    let out = dir.join(name);
    let w = dir.join(format!("{name}.work"));
    let (xfs_mib, btrfs_mib) = (data_mib + 64, data_mib + 112);
    sh(&format!(
        r#"{FILES}
out={out}; w={w}; rm -rf "$w"; mkdir -p "$w"; rm -f "$out"; truncate -s {mib}M "$out"
sgdisk -n1:1M:+{xfs_mib}M -t1:8300 -c1:xfs -n2:0:+{btrfs_mib}M -t2:8300 -c2:btrfs "$out" >/dev/null
mkfiles "$w/root" {seed} {data_mib}
read f1 l1 < <(part_range "$out" 1); read f2 l2 < <(part_range "$out" 2)
noise() {{ openssl enc -aes-128-ctr -nosalt -pass pass:"noise-$2" -pbkdf2 -iter 1 < /dev/zero 2>/dev/null | head -c "$1" || true; }}
noise $(( (l1-f1+1)*512 )) xfs > "$w/xfs"; noise $(( (l2-f2+1)*512 )) btrfs > "$w/btrfs"
{{ printf 'marrow\n0 0\nd--755 0 0\netc d--755 0 0\nversion ---644 0 0 %s\n$\ndata d--755 0 0\n' "$w/root/etc/version"
   for f in "$w"/root/data/*; do printf '%s ---644 0 0 %s\n' "${{f##*/}}" "$f"; done
   printf '$\n$\n'; }} > "$w/proto"
# mkfs.xfs refuses filesystems under 300 MB unless run by a test suite,
# which the TEST_* variables say (xfsprogs' fstests hook).
TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 mkfs.xfs -q -f -K -p "$w/proto" "$w/xfs"
mkfs.btrfs -q -f -K --rootdir "$w/root" "$w/btrfs" >/dev/null
dd if="$w/xfs" of="$out" bs=512 seek=$f1 conv=notrunc status=none
dd if="$w/btrfs" of="$out" bs=512 seek=$f2 conv=notrunc status=none
rm -rf "$w"
"#,
        out = out.display(),
        w = w.display(),
        mib = xfs_mib + btrfs_mib + 2,
    ));
    out
}

/// Checks a restored [`linux_disk`]: `xfs_repair -n` and `btrfs check`
/// (data checksums too) are clean, and every file matches the source's:
/// btrfs's read out by `btrfs restore`, XFS's through a read-only mount.
pub fn assert_linux_disk(disk: &Path, seed: &str, data_mib: u64) {
    let xfs = partition(disk, 1);
    let btrfs = partition(disk, 2);
    let expect = PathBuf::from(format!("{}.expect", disk.display()));
    let got = PathBuf::from(format!("{}.got", disk.display()));
    sh(&format!(
        "{FILES}\nrm -rf {0} {1}; mkfiles {0} {seed} {data_mib}; mkdir -p {1}/btrfs {1}/xfs",
        expect.display(),
        got.display()
    ));
    sh(&format!("xfs_repair -n {} >/dev/null 2>&1", xfs.display()));
    sh(&format!(
        "btrfs check --check-data-csum {} >/dev/null 2>&1",
        btrfs.display()
    ));
    sh(&format!(
        "btrfs restore {} {}/btrfs >/dev/null 2>&1; diff -r {}/btrfs {}",
        btrfs.display(),
        got.display(),
        got.display(),
        expect.display()
    ));
    sh(&format!(
        r#"m={g}/xfs; mount -o ro,norecovery,loop {x} "$m"
trap 'umount "$m"' EXIT
diff -r "$m" {e}"#,
        g = got.display(),
        x = xfs.display(),
        e = expect.display()
    ));
    sh(&format!(
        "rm -rf {} {} {} {}",
        expect.display(),
        got.display(),
        xfs.display(),
        btrfs.display()
    ));
}

/// Partition `n` of `disk`, copied into its own file beside it.
pub fn partition(disk: &Path, n: u32) -> PathBuf {
    let out = PathBuf::from(format!("{}.p{n}", disk.display()));
    sh(&format!(
        r#"read start size < <(sfdisk -J "{d}" | python3 -c 'import json,sys; p=[x for x in json.load(sys.stdin)["partitiontable"]["partitions"] if x["node"].endswith("{n}")][0]; print(p["start"], p["size"])')
dd if="{d}" of="{o}" bs=512 skip=$start count=$size status=none"#,
        d = disk.display(),
        o = out.display()
    ));
    out
}

/// Checks a restored [`windows_like_disk`]: the GPT verifies, every
/// filesystem passes its fsck, and every file matches the source's.
/// Returns the NTFS partition's file for further checks.
pub fn assert_windows_like_disk(disk: &Path, seed: &str, data_mib: u64) -> PathBuf {
    let verify = sh(&format!("sgdisk -v {}", disk.display()));
    assert!(verify.contains("No problems found"), "{verify}");
    let esp = partition(disk, 1);
    let root = partition(disk, 2);
    let ntfs = partition(disk, 3);
    let expect = PathBuf::from(format!("{}.expect", disk.display()));
    sh(&format!(
        "{FILES}\nrm -rf {0}; mkfiles {0} {seed} {data_mib}",
        expect.display()
    ));
    sh(&format!("fsck.vfat -n {} >/dev/null", esp.display()));
    sh(&format!("e2fsck -fn {} >/dev/null 2>&1", root.display()));
    // A restore that grows the partition grows NTFS to fill it too (its
    // backup boot sector then ends the partition), and ntfsresize leaves
    // the volume marked for Windows' check, so the readers below need
    // --force. A volume that kept its old size has its backup boot sector
    // at its own end, where ntfsfix looks only when given the volume alone.
    sh(&format!(
        r#"f={0}
if ! ntfsfix -n "$f" >/dev/null 2>&1; then
  cp --sparse=always "$f" "$f.vol"
  size=$(python3 -c 'import struct,sys; b=open(sys.argv[1],"rb").read(512); print((struct.unpack_from("<Q",b,0x28)[0]+1)*struct.unpack_from("<H",b,0x0b)[0])' "$f")
  truncate -s "$size" "$f.vol"; ntfsfix -n "$f.vol" >/dev/null; rm -f "$f.vol"
fi"#,
        ntfs.display()
    ));
    assert_eq!(
        sh(&format!("mtype -i {} ::/boot.txt", esp.display())).trim(),
        format!("efi {seed}")
    );
    for i in 1..=data_mib {
        sh(&format!(
            "cmp <(debugfs -R 'cat /data/file{i}' {} 2>/dev/null) {}/data/file{i}",
            root.display(),
            expect.display()
        ));
    }
    sh(&format!(
        "cmp <(ntfscat --force {} doc.bin) {}/data/file1",
        ntfs.display(),
        expect.display()
    ));
    sh(&format!(
        "rm -rf {} {} {}",
        expect.display(),
        esp.display(),
        root.display()
    ));
    ntfs
}

/// The sectors of GPT partition `n`: (first, last).
pub fn partition_range(disk: &Path, n: u32) -> (u64, u64) {
    let text = sh(&format!("{FILES}\npart_range {} {n}", disk.display()));
    let mut it = text.split_whitespace().map(|s| s.parse::<u64>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

/// A sparse blank file of `mib` MiB.
pub fn blank(dir: &Path, name: &str, mib: u64) -> PathBuf {
    let p = dir.join(name);
    let f = std::fs::File::create(&p).expect("create blank disk");
    f.set_len(mib << 20).expect("size blank disk");
    p
}

/// Adds (or replaces) `mib` MiB of new random data as `/data/NAME` in the ext4
/// partition (2) of a [`windows_like_disk`]: debugfs on a copy of the
/// partition, checked with e2fsck, written back.
pub fn add_file(disk: &Path, name: &str, mib: u64) {
    let part = partition(disk, 2);
    let (first, _) = partition_range(disk, 2);
    sh(&format!(
        r#"head -c {bytes} /dev/urandom > {p}.new
debugfs -w -R "rm /data/{name}" {p} >/dev/null 2>&1 || true
debugfs -w -R "write {p}.new /data/{name}" {p} >/dev/null 2>&1
e2fsck -fn {p} >/dev/null 2>&1
dd if={p} of={d} bs=512 seek={first} conv=notrunc status=none
rm -f {p} {p}.new"#,
        bytes = mib << 20,
        p = part.display(),
        d = disk.display(),
    ));
}
