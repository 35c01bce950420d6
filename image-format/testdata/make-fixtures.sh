#!/usr/bin/env bash
# Regenerates the disk fixtures in this folder. They are committed, so the
# tests do not depend on the exact mkfs versions; run this only to add or
# change fixtures, then review the goldens it leaves for the tests to compare.
# Needs: sgdisk sfdisk mkfs.vfat mkfs.ext4 mkntfs mcopy ntfscp mkfs.xfs
# mkfs.btrfs zstd python3.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export E2FSPROGS_FAKE_TIME=1700000000
uuid=11111111-2222-3333-4444-555555555555

part() { # DISK N -> "start_sector sectors"
  sfdisk -J "$1" | python3 -c "import json,sys; p=[x for x in json.load(sys.stdin)['partitiontable']['partitions'] if x['node'].endswith('$2')][0]; print(p['start'], p['size'])"
}
put() { # DISK N FILE
  read -r start _ < <(part "$1" "$2")
  dd if="$3" of="$1" bs=512 seek="$start" conv=notrunc status=none
}
mkpart() { # DISK N KIND -> writes a small filesystem with a few files into partition N
  read -r _ size < <(part "$1" "$2")
  local img=$tmp/p$2; rm -f "$img"; truncate -s $((size * 512)) "$img"
  mkdir -p "$tmp/tree/sub"; printf 'hello marrow\n' > "$tmp/tree/hello.txt"
  head -c 100000 /dev/zero | tr '\0' 'm' > "$tmp/tree/sub/big.txt"
  case $3 in
    fat32) mkfs.vfat --invariant -i 12345678 -F 32 -s 1 "$img" >/dev/null; mcopy -i "$img" "$tmp/tree/hello.txt" ::/hello.txt ;;
    fat16) mkfs.vfat --invariant -i 12345678 -F 16 "$img" >/dev/null; mcopy -i "$img" "$tmp/tree/sub/big.txt" ::/big.txt ;;
    fat12) mkfs.vfat --invariant -i 12345678 -F 12 "$img" >/dev/null; mcopy -i "$img" "$tmp/tree/hello.txt" ::/hello.txt ;;
    ext4) mkfs.ext4 -q -U $uuid -E hash_seed=$uuid -d "$tmp/tree" "$img" ;;
    ext2) mkfs.ext2 -q -b 1024 -U $uuid -E hash_seed=$uuid -d "$tmp/tree" "$img" ;;
    ntfs) mkntfs -q -F -Q "$img" >/dev/null 2>&1; ntfscp -q "$img" "$tmp/tree/sub/big.txt" big.txt ;;
    swap) mkswap -q -U $uuid "$img" ;;
    # No mount: XFS takes its files from a protofile, btrfs from a folder.
    # mkfs.xfs refuses filesystems under 300 MB unless run as part of a
    # test suite, which the TEST_* variables say (xfsprogs' fstests hook).
    xfs) printf 'marrow\n0 0\nd--755 0 0\nhello.txt ---644 0 0 %s\nsub d--755 0 0\nbig.txt ---644 0 0 %s\n$\n$\n' \
           "$tmp/tree/hello.txt" "$tmp/tree/sub/big.txt" > "$tmp/proto"
         TEST_DIR=1 TEST_DEV=1 QA_CHECK_FS=1 mkfs.xfs -q -f -m uuid=$uuid -p "$tmp/proto" "$img" ;;
    btrfs) mkfs.btrfs -q -f -U $uuid --rootdir "$tmp/tree" "$img" >/dev/null ;;
  esac
  put "$1" "$2" "$img"
}

# GPT: ESP (FAT32), ext4, NTFS, swap.
d=$tmp/gpt.img; truncate -s 96M "$d"
sgdisk -U $uuid -n1:1M:+34M -t1:ef00 -u1:$uuid -n2:0:+20M -t2:8300 -u2:$uuid -n3:0:+24M -t3:0700 -u3:$uuid -n4:0:+4M -t4:8200 -u4:$uuid "$d" >/dev/null
mkpart "$d" 1 fat32; mkpart "$d" 2 ext4; mkpart "$d" 3 ntfs; mkpart "$d" 4 swap
zstd -q -19 -f "$d" -o gpt-fat32-ext4-ntfs-swap.img.zst

# MBR: FAT16 primary, extended with an ext2 (1 KiB blocks) and a FAT12 logical.
d=$tmp/mbr.img; truncate -s 64M "$d"
printf 'label: dos\nlabel-id: 0x1234abcd\nstart=2048, size=20M, type=6, bootable\nstart=43008, type=5\nstart=45056, size=16M, type=83\nstart=79872, size=8M, type=1\n' | sfdisk -q "$d"
mkpart "$d" 1 fat16; mkpart "$d" 5 ext2; mkpart "$d" 6 fat12
zstd -q -19 -f "$d" -o mbr-fat16-logical-ext2-fat12.img.zst

# GPT: XFS and btrfs (112 MiB: mkfs.btrfs grows a smaller file to its
# minimum, which would overrun the partition).
d=$tmp/gpt-xfs.img; truncate -s 180M "$d"
sgdisk -U $uuid -n1:1M:+64M -t1:8300 -u1:$uuid -n2:0:+112M -t2:8300 -u2:$uuid "$d" >/dev/null
mkpart "$d" 1 xfs; mkpart "$d" 2 btrfs
zstd -q -19 -f "$d" -o gpt-xfs-btrfs.img.zst

# Malformed disks, each named for its defect.
python3 - "$tmp" <<'PY'
import sys, zlib, struct, subprocess, os
tmp = sys.argv[1]
gpt = open(f"{tmp}/gpt.img", "rb").read()
mbr = open(f"{tmp}/mbr.img", "rb").read()
def save(name, data):
    path = f"malformed/{name}.img"
    open(path, "wb").write(data)
    subprocess.run(["zstd", "-q", "-19", "-f", "--rm", path, "-o", path + ".zst"], check=True)
def patch(data, off, new):
    b = bytearray(data); b[off:off + len(new)] = new; return bytes(b)
# Both GPT headers fail their CRC.
last = len(gpt) - 512
save("gpt-both-headers-bad-crc", patch(patch(gpt, 512 + 16, b"\0\0\0\0"), last + 16, b"\0\0\0\0"))
# Primary header damaged, backup intact: restorable from the backup.
save("gpt-primary-header-bad-crc", patch(gpt, 512 + 16, b"\0\0\0\0"))
# The EBR chain points back at itself.
ext_start = 43008
link = struct.pack("<I", 0)  # second slot of the EBR, start relative to the extended partition
ebr = ext_start * 512
save("mbr-ebr-chain-loops", patch(patch(mbr, ebr + 446 + 16 + 4, b"\x05"), ebr + 446 + 16 + 8, link + struct.pack("<I", 2048)))
# ext4 superblock says blocks are 2^(10+9) bytes.
p2 = 1024 * 1024 + 34 * 1024 * 1024
save("ext4-block-size-out-of-range", patch(gpt, p2 + 1024 + 24, struct.pack("<I", 9)))
# NTFS: the MFT says it lies beyond the end of the volume.
p3 = p2 + 20 * 1024 * 1024
save("ntfs-mft-outside-volume", patch(gpt, p3 + 48, struct.pack("<Q", 1 << 40)))
xb = open(f"{tmp}/gpt-xfs.img", "rb").read()
# XFS: allocation group 0's free-space B+tree root (AGF at sector 1, agf_roots[0]) points past the group.
px = 1024 * 1024
save("xfs-bnobt-root-outside-group", patch(xb, px + 512 + 16, struct.pack(">I", 1 << 30)))
# btrfs: the superblock's chunk tree root (offset 0x58) moved, checksum fixed up so
# that only the tree walk can notice.
pb = px + 64 * 1024 * 1024
sup = bytearray(xb[pb + 0x10000:pb + 0x11000])
sup[0x58:0x60] = struct.pack("<Q", struct.unpack("<Q", sup[0x58:0x60])[0] + 4096)
def crc32c(data):
    crc = 0xffffffff
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff
sup[0:4] = struct.pack("<I", crc32c(bytes(sup[0x20:])))
save("btrfs-chunk-root-misplaced", patch(xb, pb + 0x10000, bytes(sup)))
PY
echo "fixtures written"
