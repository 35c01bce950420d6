#!/usr/bin/env bash
# Seeds for the disk_layout target: small real disks (128-160 KiB, so each run is fast), made
# with the same tools as image-format's fixtures, so the fuzzer starts
# past the partition-table signatures and into the filesystems' maps.
#
#   fuzz/seeds/disk_layout.sh OUT_DIR
#
# Needs sfdisk, sgdisk, mkfs.fat and mkfs.ext2 (dosfstools, gdisk,
# e2fsprogs). XFS, btrfs and NTFS have no volume this small; the golden
# fixtures in image-format/testdata cover them.
set -euo pipefail
out=${1:?usage: disk_layout.sh OUT_DIR}
mkdir -p "$out"
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT

# A partition's filesystem is made in its own file and copied in at its
# offset (512-byte sectors).
put() { dd if="$2" of="$1" bs=512 seek="$3" conv=notrunc status=none; }

# The smallest volumes the tools make: FAT12 and ext2 of 60 KiB.
fat() { rm -f "$1" && truncate -s 60K "$1" && mkfs.fat -F 12 -n SEED "$1" >/dev/null; }
ext2() { rm -f "$1" && truncate -s 60K "$1" && mkfs.ext2 -q -F -b 1024 -N 16 "$@"; }

# MBR, a FAT12 and an ext2 partition.
truncate -s 128K "$w/mbr-fat12-ext2.img"
printf 'label: dos\nstart=8, size=120, type=1\nstart=128, size=120, type=83\n' | sfdisk -q "$w/mbr-fat12-ext2.img"
fat "$w/p.fat" && put "$w/mbr-fat12-ext2.img" "$w/p.fat" 8
ext2 "$w/p.ext2" && put "$w/mbr-fat12-ext2.img" "$w/p.ext2" 128

# GPT, one ext2 partition with a file in it.
truncate -s 128K "$w/gpt-ext2.img"
sgdisk -q -a 1 -n 1:40:159 -t 1:8300 "$w/gpt-ext2.img"
mkdir -p "$w/root" && echo seed > "$w/root/file"
ext2 "$w/p.ext2" -d "$w/root" && put "$w/gpt-ext2.img" "$w/p.ext2" 40

# MBR, an extended partition holding a logical ext2 and a logical FAT12.
truncate -s 160K "$w/mbr-logical.img"
printf 'label: dos\nstart=8, size=312, type=5\nstart=16, size=120, type=83\nstart=144, size=120, type=1\n' |
    sfdisk -q "$w/mbr-logical.img"
ext2 "$w/p.ext2" && put "$w/mbr-logical.img" "$w/p.ext2" 16
fat "$w/p.fat" && put "$w/mbr-logical.img" "$w/p.fat" 144

cp "$w"/*.img "$out/"
