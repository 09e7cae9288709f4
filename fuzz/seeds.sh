#!/usr/bin/env bash
# Writes seed inputs for the fuzz targets into DIR/<target>/, from the test fixtures and from
# small images made with the real tools, so the fuzzers start past the magic numbers.
# Usage: fuzz/seeds.sh DIR
set -euo pipefail
out=${1:?usage: seeds.sh DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"/{bmap,catalog,scan,source,signature,firstboot,identify,rootfs} "$out"/scan_{ext,fat,exfat,btrfs,xfs,ntfs,swap,stream}

cp "$root"/tests/data/bmaptool/*.bmap* "$out/bmap/"

# A catalog in Raspberry Pi Imager's shape: boards, an image with every field, a folder in a
# folder, a link, a relative address; and a bare list, as linked lists may be.
cat > "$out/catalog/os_list.json" <<'JSON'
{"imager": {"latest_version": "2.0.11", "devices": [
  {"name": "Raspberry Pi 5", "tags": ["pi5-64bit"], "matching_type": "exclusive", "description": "d"},
  {"name": "Any", "tags": [], "matching_type": "inclusive"}]},
 "os_list": [
  {"name": "Raspberry Pi OS (64-bit)", "description": "Debian", "icon": "icons/rpi.png",
   "url": "https://example.org/i.img.xz", "extract_size": 4156555264,
   "extract_sha256": "6939d39cbbfbe85c68dae55f1b2375f17e21fe047b8dc1f84aa7d3c002047afb",
   "image_download_size": 1189750489,
   "image_download_sha256": "6939d39cbbfbe85c68dae55f1b2375f17e21fe047b8dc1f84aa7d3c002047afb",
   "release_date": "2026-11-19", "init_format": "systemd", "devices": ["pi5-64bit"],
   "website": "https://example.org/", "bmap_url": "i.img.bmap"},
  {"name": "Other", "description": "More", "icon": "o.png", "subitems": [
   {"name": "Lite", "description": "", "url": "lite.img.gz", "devices": ["pi3-32bit"]},
   {"name": "Lite", "description": "twice", "url": "/lite2.img"},
   {"name": "Games", "description": "", "subitems": [{"name": "R", "url": "https://e.org/r.img"}]}]},
  {"name": "Media", "description": "Kodi", "icon": "m.png", "subitems_url": "media.json"}]}
JSON
printf '[{"name": "A", "description": "", "url": "https://example.org/a.img"}]' > "$out/catalog/bare.json"
# Fedora's releases.json and BeagleBoard's config.json, read into the same shape.
printf '[{"version": "41", "arch": "x86_64", "link": "https://example.org/F-41.iso", "variant": "W", "subvariant": "Workstation", "sha256": "6939d39cbbfbe85c68dae55f1b2375f17e21fe047b8dc1f84aa7d3c002047afb", "size": "2398523392"}]' > "$out/catalog/fedora.json"
printf '{"imager": {"remote_configs": ["https://example.org/os_list.json"], "devices": []}, "os_list": [], "asc_url": "x.asc"}' > "$out/catalog/beagle.json"

# Filesystems and partition tables for the scanner, made by the real tools, written in the
# scan target's sparse form (image length, then the non-zero 4 KiB blocks as extents), so a
# seed holds a whole filesystem however large.
sparse_seed() { # IMAGE SEED
    python3 - "$1" "$2" <<'PY'
import os, struct, sys
src, dst = sys.argv[1], sys.argv[2]
size = os.path.getsize(src)
out = [struct.pack("<Q", size)]
fd = os.open(src, os.O_RDONLY)
at, extent, total = 0, None, 0
while at < size:
    try:
        at = os.lseek(fd, at, os.SEEK_DATA)
    except OSError:
        break
    hole = os.lseek(fd, at, os.SEEK_HOLE)
    while at < hole:
        block = os.pread(fd, min(4096, hole - at), at)
        if block.count(0) != len(block):
            if extent is not None and extent[0] + len(extent[1]) == at:
                extent[1].extend(block)
            else:
                if extent is not None:
                    out.append(struct.pack("<QI", extent[0], len(extent[1])) + bytes(extent[1]))
                extent = (at, bytearray(block))
            total += len(block)
        at += len(block)
if extent is not None:
    out.append(struct.pack("<QI", extent[0], len(extent[1])) + bytes(extent[1]))
if total > 3 << 20:
    sys.exit(f"seeds.sh: {src} has {total} bytes of data, too many for a seed")
open(dst, "wb").write(b"".join(out))
PY
}
mkdir -p "$work/tree/etc" "$work/tree/usr"
echo hello > "$work/hello.txt" && cp "$work/hello.txt" "$work/tree/etc/"
for i in $(seq 1 40); do head -c $((i * 40)) /dev/urandom > "$work/tree/usr/f$i"; done
mkfs.vfat -C "$work/fat12.img" 1024 >/dev/null
truncate -s 16M "$work/fat16.img" && mkfs.vfat -F 16 "$work/fat16.img" >/dev/null
truncate -s 40M "$work/fat32.img" && mkfs.vfat -F 32 -s 1 "$work/fat32.img" >/dev/null
for f in fat12 fat16 fat32; do mcopy -s -Q -i "$work/$f.img" "$work/tree"/* ::/; done
mke2fs -q -F -t ext4 -d "$work/tree" "$work/ext4.img" 64M >/dev/null
mke2fs -q -F -t ext4 -O ^64bit,^flex_bg,meta_bg,^resize_inode -d "$work/tree" "$work/ext4-meta.img" 32M >/dev/null
mke2fs -q -F -t ext2 -b 1024 -d "$work/tree" "$work/ext2.img" 4M >/dev/null
mke2fs -q -F -t ext4 -O bigalloc -C 16384 -d "$work/tree" "$work/ext4-bigalloc.img" 64M >/dev/null
truncate -s 1M "$work/swap.img" && mkswap "$work/swap.img" >/dev/null 2>&1
truncate -s 8M "$work/exfat.img" && mkfs.exfat "$work/exfat.img" >/dev/null
truncate -s 4M "$work/ntfs.img" && mkntfs -q -F -Q "$work/ntfs.img" >/dev/null 2>&1
truncate -s 128M "$work/btrfs.img" && mkfs.btrfs -q -f -r "$work/tree" "$work/btrfs.img" >/dev/null
truncate -s 300M "$work/xfs.img" && mkfs.xfs -q -f "$work/xfs.img"
truncate -s 4M "$work/mbr.img" && printf 'label: dos\n2048,2048,83\n4096,,5\n6144,2048,83\n' | sfdisk -q "$work/mbr.img" >/dev/null
truncate -s 4M "$work/gpt.img" && printf 'label: gpt\nsize=1MiB\nsize=1MiB\n' | sfdisk -q "$work/gpt.img" >/dev/null
truncate -s 120M "$work/disk.img" && printf 'label: dos\n2048,34816,c\n36864,,83\n' | sfdisk -q "$work/disk.img" >/dev/null
dd if="$work/fat16.img" of="$work/disk.img" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$work/ext4.img" of="$work/disk.img" bs=1M seek=18 conv=notrunc,sparse status=none
for f in fat12 fat16 fat32 ext4 ext4-meta ext2 ext4-bigalloc swap exfat ntfs btrfs xfs mbr gpt disk; do
    sparse_seed "$work/$f.img" "$out/scan/$f"
done
# First-boot settings: a settings file (mode byte 0), and a card with a Raspberry Pi OS-like
# boot partition (cmdline.txt, config.txt, a cloud-init seed) in each mode that writes it.
{ printf '\0'; cat <<'TOML'; } > "$out/firstboot/settings"
hostname = "pi-kitchen"
[user]
name = "alex"
password_hash = "$6$rounds=5000$abcdefghijklmnop$x"
[ssh]
enabled = true
password_login = false
authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIL2hc3Njb3JlLWtleS1mb3I alex@laptop"]
[wifi]
ssid = "Home"
password = "secret passphrase"
country = "GB"
hidden = true
[locale]
timezone = "Europe/London"
keyboard = "gb"
locale = "en_GB.UTF-8"
TOML
cp "$work/fat16.img" "$work/boot.img"
echo "console=serial0,115200 root=PARTUUID=12345678-02 rootwait" > "$work/cmdline.txt"
printf 'arm_64bit=1\n' > "$work/config.txt"
printf '#cloud-config\nhostname: raspberrypi\n' > "$work/user-data"
printf 'instance-id: a\n' > "$work/meta-data"
mcopy -Q -i "$work/boot.img" "$work"/{cmdline.txt,config.txt,user-data,meta-data} ::/
truncate -s 40M "$work/card.img" && printf 'label: dos\n2048,34816,c\n36864,,83\n' | sfdisk -q "$work/card.img" >/dev/null
dd if="$work/boot.img" of="$work/card.img" bs=1M seek=1 conv=notrunc,sparse status=none
sparse_seed "$work/card.img" "$work/card.sparse"
for mode in 1 3 5; do
    { printf "\\$mode"; cat "$work/card.sparse"; } > "$out/firstboot/card-$mode"
done

# Each parser's own target starts from its own filesystems.
cp "$out"/scan/{ext4,ext4-meta,ext2,ext4-bigalloc} "$out/scan_ext/"
cp "$out"/scan/fat{12,16,32} "$out/scan_fat/"
for f in exfat btrfs xfs ntfs swap; do cp "$out/scan/$f" "$out/scan_$f/"; done
# The root filesystem first-boot detection reads: whole ext filesystems, a card, and roots
# like Raspberry Pi OS's and Armbian's (merged /usr, systemd, cloud-init, the first-login
# marker, a symlink too long to be a fast one), with extents, inline data and indirect blocks.
mkdir -p "$work/root/etc/cloud" "$work/root/usr/lib/systemd" "$work/root/root"
echo 'users: [default]' > "$work/root/etc/cloud/cloud.cfg"
printf '\177ELF' > "$work/root/usr/lib/systemd/systemd"
: > "$work/root/root/.not_logged_in_yet"
ln -s usr/lib "$work/root/lib"
ln -s ./usr/../usr/lib/./systemd/../systemd/././././././././././././systemd "$work/root/slow"
mke2fs -q -F -t ext4 -b 4096 -d "$work/root" "$work/root.img" 16M >/dev/null
mke2fs -q -F -t ext4 -b 4096 -O inline_data -d "$work/root" "$work/root-inline.img" 16M >/dev/null
mke2fs -q -F -t ext3 -b 1024 -d "$work/root" "$work/root-ext3.img" 16M >/dev/null
for f in root root-inline root-ext3; do sparse_seed "$work/$f.img" "$out/rootfs/$f"; done
cp "$out"/scan/{ext4,ext4-meta,ext2,disk} "$out/rootfs/"
# The stream scan starts from the whole-image seeds.
cp "$out"/scan/* "$out/scan_stream/"

# Every compressed and archived format, small.
head -c 20000 /dev/urandom > "$work/data" && cat "$work/hello.txt" >> "$work/data"
gzip -c "$work/data" > "$out/source/gz"; xz -c "$work/data" > "$out/source/xz"
bzip2 -c "$work/data" > "$out/source/bz2"; zstd -q -c "$work/data" > "$out/source/zst"
lz4 -q -c "$work/data" > "$out/source/lz4"; lzop -q -c "$work/data" > "$out/source/lzo"
(cd "$work" && zip -q -X "$out/source/zip" data hello.txt && tar -cf "$out/source/tar" data hello.txt)
xz -c "$out/source/tar" > "$out/source/tar.xz"
# Several xz blocks (and two streams): random access through the blocks.
xz -T2 --block-size=4KiB -c "$work/data" > "$out/source/blocks.xz"
xz -T2 --block-size=8KiB -c "$work/hello.txt" >> "$out/source/blocks.xz"

# What an image is: Windows-like ISOs (ISO 9660 with Joliet, and genisoimage's UDF bridge),
# empty UDF volumes of two block sizes, a hybrid-looking ISO, and files that are no disk
# image, all in the sparse form of the scan targets.
mkdir -p "$work/win/sources" "$work/pkg/DEBIAN"
echo wim > "$work/win/sources/install.wim" && echo boot > "$work/win/bootmgr"
xorriso -as mkisofs -quiet -J -V CCCOMA_X64FRE -o "$work/win.iso" "$work/win" 2>/dev/null
genisoimage -quiet -udf -V WINUDF -o "$work/udf-bridge.iso" "$work/win"
xorriso -as mkisofs -quiet -V LIVE -o "$work/live.iso" "$work/tree" 2>/dev/null
for b in 512 2048; do
    truncate -s 4M "$work/udf-$b.img" && mkudffs -b "$b" --label=UDF "$work/udf-$b.img" >/dev/null
done
cp "$work/win.iso" "$work/hybrid.iso"
printf 'label: dos\n1,,0x17,*\n' | sfdisk -q --no-reread --wipe never "$work/hybrid.iso" >/dev/null
printf '%%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%%%EOF\n' > "$work/doc.pdf"
printf 'Package: p\nVersion: 1\nArchitecture: all\nMaintainer: m <m@e.invalid>\nDescription: d\n' > "$work/pkg/DEBIAN/control"
dpkg-deb --root-owner-group --build "$work/pkg" "$work/p.deb" >/dev/null
(cd "$work" && zip -q -X docs.zip hello.txt data && tar -cf docs.tar tree)
for f in win.iso udf-bridge.iso live.iso udf-512.img udf-2048.img hybrid.iso doc.pdf p.deb docs.zip docs.tar; do
    sparse_seed "$work/$f" "$out/identify/$f"
done

# Signatures for the signature target (its input: u16 keyring length, the keyring, a mode
# byte 0 clearsigned / 1 detached, the message), made by gpg with two throw-away keys: zero,
# one and two signatures, Marker packets, and trailing garbage.
export GNUPGHOME="$work/gnupg" && mkdir -m 700 "$GNUPGHOME"
g() { gpg -q --batch --pinentry-mode loopback --passphrase '' "$@"; }
g --quick-gen-key 'Fuzz <fuzz@example.invalid>' ed25519 sign never 2>/dev/null
g --quick-gen-key 'Other <other@example.invalid>' ed25519 sign never 2>/dev/null
g --export > "$work/keys.gpg"
printf '<bmap/>\n' > "$work/b.bmap"
g -u fuzz@ --clearsign -o "$work/one.csf" "$work/b.bmap"
g -u fuzz@ -u other@ --clearsign -o "$work/two.csf" "$work/b.bmap"
g -u fuzz@ --detach-sign -o "$work/one.sig" "$work/b.bmap"
g -u fuzz@ -u other@ --detach-sign -o "$work/two.sig" "$work/b.bmap"
gpgconf --kill all
printf '\xa8\x03PGP' > "$work/marker.sig"
cat "$work/marker.sig" "$work/one.sig" > "$work/marker-one.sig"
cat "$work/one.sig" > "$work/garbage.sig" && printf 'trailing garbage' >> "$work/garbage.sig"
armor_head() { sed '/^-----BEGIN PGP SIGNATURE-----$/q' "$work/one.csf"; echo; }
{ armor_head; printf '=twTO\n-----END PGP SIGNATURE-----\n'; } > "$work/zero.csf"
{ armor_head; printf 'qANQR1A=\n-----END PGP SIGNATURE-----\n'; } > "$work/marker.csf"
cat "$work/one.csf" > "$work/garbage.csf" && printf '<bmap>unsigned</bmap>\n' >> "$work/garbage.csf"
seed() { # NAME MODE FILE
    python3 -c 'import struct, sys
keys = open(sys.argv[1], "rb").read()
body = open(sys.argv[3], "rb").read()
sys.stdout.buffer.write(struct.pack("<H", len(keys)) + keys + bytes([int(sys.argv[2])]) + body)' \
        "$work/keys.gpg" "$2" "$3" > "$out/signature/$1"
}
for f in one two zero marker garbage; do seed "$f-clearsigned" 0 "$work/$f.csf"; done
for f in one two marker marker-one garbage; do seed "$f-detached" 1 "$work/$f.sig"; done
