#!/usr/bin/env bash
# Writes seed inputs for the fuzz targets into DIR/<target>/, from the test fixtures and from
# small images made with the real tools, so the fuzzers start past the magic numbers.
# Usage: fuzz/seeds.sh DIR
set -euo pipefail
out=${1:?usage: seeds.sh DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"/{bmap,scan,source,signature}

cp "$root"/tests/data/bmaptool/*.bmap* "$out/bmap/"

# Small filesystems and partition tables for the scanner.
truncate -s 2M "$work/fat.img" && mkfs.vfat -C "$work/fat12.img" 1024 >/dev/null
mkfs.vfat -F 16 "$work/fat.img" >/dev/null
echo hello > "$work/hello.txt"
mcopy -i "$work/fat.img" "$work/hello.txt" ::/ && mcopy -i "$work/fat12.img" "$work/hello.txt" ::/
mkdir -p "$work/tree" && cp "$work/hello.txt" "$work/tree/"
mke2fs -q -F -t ext4 -d "$work/tree" "$work/ext4.img" 1M
mke2fs -q -F -t ext2 -b 1024 "$work/ext2.img" 512K
truncate -s 1M "$work/swap.img" && mkswap "$work/swap.img" >/dev/null
truncate -s 1M "$work/exfat.img" && mkfs.exfat "$work/exfat.img" >/dev/null
truncate -s 8M "$work/ntfs.img" && mkntfs -q -F -Q "$work/ntfs.img" >/dev/null 2>&1 || true
truncate -s 4M "$work/mbr.img" && printf 'label: dos\n2048,2048,83\n4096,,5\n6144,2048,83\n' | sfdisk -q "$work/mbr.img" >/dev/null
truncate -s 4M "$work/gpt.img" && printf 'label: gpt\nsize=1MiB\nsize=1MiB\n' | sfdisk -q "$work/gpt.img" >/dev/null
# Large filesystems are cut to their first megabytes: enough for superblocks and the first
# metadata, where a parser first meets hostile data.
truncate -s 128M "$work/btrfs.img" && mkfs.btrfs -q -f "$work/btrfs.img" && head -c 2M "$work/btrfs.img" > "$work/btrfs-head.img"
truncate -s 64M "$work/xfs.img" && mkfs.xfs -q -f "$work/xfs.img" && head -c 1M "$work/xfs.img" > "$work/xfs-head.img"
for f in fat fat12 ext4 ext2 swap exfat ntfs mbr gpt btrfs-head xfs-head; do
    [ -s "$work/$f.img" ] && cp "$work/$f.img" "$out/scan/$f"
done

# Every compressed and archived format, small.
head -c 20000 /dev/urandom > "$work/data" && cat "$work/hello.txt" >> "$work/data"
gzip -c "$work/data" > "$out/source/gz"; xz -c "$work/data" > "$out/source/xz"
bzip2 -c "$work/data" > "$out/source/bz2"; zstd -q -c "$work/data" > "$out/source/zst"
lz4 -q -c "$work/data" > "$out/source/lz4"; lzop -q -c "$work/data" > "$out/source/lzo"
(cd "$work" && zip -q -X "$out/source/zip" data hello.txt && tar -cf "$out/source/tar" data hello.txt)
xz -c "$out/source/tar" > "$out/source/tar.xz"

# A clearsigned message and a detached signature, made by gpg with a throw-away key.
export GNUPGHOME="$work/gnupg" && mkdir -m 700 "$GNUPGHOME"
gpg -q --batch --pinentry-mode loopback --passphrase '' --quick-gen-key 'Fuzz <fuzz@example.invalid>' ed25519 sign never 2>/dev/null
printf '<bmap/>\n' > "$work/b.bmap"
gpg -q --batch --pinentry-mode loopback --passphrase '' --clearsign -o "$out/signature/clearsigned" "$work/b.bmap"
gpg -q --batch --pinentry-mode loopback --passphrase '' --detach-sign -o "$out/signature/detached" "$work/b.bmap"
gpgconf --kill all
