#!/usr/bin/env bash
# benches/make-image.sh - a disk image shaped like Raspberry Pi OS, filled with real files.
#
#   benches/make-image.sh OUT SIZE_MIB ROOT_DATA_MIB [BOOT_MIB [BOOT_DATA_MIB]]
#
# OUT gets an MBR with two partitions, the way the Raspberry Pi OS images are laid out:
#   p1  FAT32 "bootfs", BOOT_MIB (default 512) at 4 MiB, holding BOOT_DATA_MIB (default 64)
#       of shared libraries in the role of kernels, initramfs and firmware;
#   p2  ext4 "rootfs" filling the rest of SIZE_MIB, holding about ROOT_DATA_MIB of this
#       machine's own files (/etc, /usr/bin, /usr/sbin, /usr/share, then /usr/lib: binaries,
#       libraries, documentation, locales; many small files and some large ones), copied with
#       their tree into the mounted filesystem.
# The files are chosen in sorted path order, so the same machine makes the same image. OUT is
# sparse: the filesystems' free space is holes, as in an image built on a loop device.
# Needs root (p2 is mounted to fill it), mkfs.vfat and mtools for p1, mke2fs, sfdisk.
set -euo pipefail

die() { echo "make-image.sh: error: $*" >&2; exit 1; }

(($# >= 3)) || die "usage: $0 OUT SIZE_MIB ROOT_DATA_MIB [BOOT_MIB [BOOT_DATA_MIB]]"
out=$1 size=$2 root_data=$3 boot=${4:-512} boot_data=${5:-64}
start=4  # MiB: where p1 starts, as in Raspberry Pi OS
root_size=$((size - start - boot))
((root_size >= 64)) || die "SIZE_MIB $size leaves no room for a root filesystem"
((EUID == 0)) || die "needs root: the root filesystem is mounted to fill it"
for tool in mkfs.vfat mcopy mke2fs sfdisk tar; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install dosfstools mtools e2fsprogs fdisk tar)"
done

stage=$(mktemp -d "$(dirname "$out")/.make-image.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# Lists regular files and symlinks under the given roots, in order, until BUDGET MiB of file
# data is listed.
pick() {
    local budget=$(($1 << 20))
    shift
    find "$@" -xdev \( -type f -o -type l \) -printf '%s %p\n' 2>/dev/null | LC_ALL=C sort -k2 |
        awk -v budget="$budget" 'total < budget { total += $1; print substr($0, index($0, " ") + 1) }'
}

# Copies the listed paths (stdin) into directory $1, keeping their tree.
copy_tree() {
    mkdir -p "$1"
    tar -cf - --no-recursion -T - 2>/dev/null | tar -xf - -C "$1"
}

pick "$boot_data" /usr/lib/x86_64-linux-gnu /usr/lib | copy_tree "$stage/boot-src"

# p1: the boot files flattened into one folder, renamed like kernels and firmware.
boot_img=$stage/boot.img
# (mkfs.fat warns that lowercase labels may not work everywhere: Raspberry Pi OS uses one.)
mkfs.vfat -F 32 -n bootfs -C "$boot_img" $((boot * 1024)) >/dev/null 2>"$stage/mkfs.log" ||
    { cat "$stage/mkfs.log" >&2; die "mkfs.vfat failed"; }
n=0
while IFS= read -r -d '' file; do
    n=$((n + 1))
    case $((n % 4)) in
        0) name=kernel$n.img ;; 1) name=initramfs$n ;; 2) name=start$n.elf ;; *) name=bcm$n.dtb ;;
    esac
    MTOOLS_SKIP_CHECK=1 mcopy -i "$boot_img" "$file" "::/$name"
done < <(find "$stage/boot-src" -type f -print0 | LC_ALL=C sort -z)

# p2: ext4, filled the way pi-gen fills it: mounted, files unpacked into it, and a package
# cache written and deleted (its blocks stay written in the image: a block map from the
# image's holes copies them, one from the filesystem does not).
root_img=$stage/root.img
truncate -s "${root_size}M" "$root_img"
mke2fs -q -F -t ext4 -L rootfs "$root_img" >/dev/null
mkdir "$stage/mnt"
mount -o loop,noinit_itable "$root_img" "$stage/mnt"
trap 'mountpoint -q "$stage/mnt" && umount "$stage/mnt"; rm -rf "$stage"' EXIT
mkdir -p "$stage/mnt"/{boot/firmware,dev,proc,sys,run,tmp,home/pi,var/log,var/cache/apt}
head -c $((root_data / 8))M /dev/urandom >"$stage/mnt/var/cache/apt/pkgcache.bin"
pick "$root_data" /etc /usr/bin /usr/sbin /usr/share /usr/lib | copy_tree "$stage/mnt"
rm "$stage/mnt/var/cache/apt/pkgcache.bin"
umount "$stage/mnt"

# The disk: MBR, then each filesystem copied in with its holes kept.
rm -f "$out"
truncate -s "${size}M" "$out"
sfdisk -q "$out" <<EOF
label: dos
start=$((start * 2048)), size=$((boot * 2048)), type=c
start=$(((start + boot) * 2048)), type=83
EOF
dd if="$boot_img" of="$out" bs=1M seek="$start" conv=sparse,notrunc status=none
dd if="$root_img" of="$out" bs=1M seek=$((start + boot)) conv=sparse,notrunc status=none
echo "make-image.sh: $out: $size MiB, $(du -m "$out" | cut -f1) MiB of data"
