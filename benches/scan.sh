#!/usr/bin/env bash
# benches/scan.sh - how fast is `blockprint scan`, and how much does it leave out?
#
# The image: 4 GiB, MBR, like Raspberry Pi OS but bigger: p1 FAT32 512 MiB (`-s 1`, 512-byte
# clusters, 40 MiB of files), p2 ext4 (^64bit,^huge_file) filling the rest with 1.2 GiB of
# files from `mke2fs -d`. Made sparse, then expanded with `cp --sparse=never`, as a download
# arrives (decompressed, every byte present).
# Measured, median of 3 runs with the image in the page cache:
#   - the metadata scan alone (`blockprint -d scan` reports it: partition tables and filesystem
#     parsers, before any hashing);
#   - `blockprint scan` (metadata plus SHA-256 of every mapped range) and with --no-checksum;
#   - `bmaptool create` on the expanded image (maps everything: nothing is a hole) and on the
#     sparse original (the best a hole-based map can do, when the build kept the holes);
#   - `openssl dgst -sha256` of the mapped bytes' worth of the image: one core's hashing floor.
# Also the mapped share of each bmap.
#
# Run:    benches/scan.sh [--regen]   (needs mtools, e2fsprogs, dosfstools, bmaptool, ~9 GiB
#         free in target/bench/; no root)
# Never run in CI: timings belong in benchmarks, not in tests.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$root/target/bench/scan
sparse=$work/disk-sparse.img
image=$work/disk.img
export PATH="$HOME/.cargo/bin:$PATH"
mkdir -p "$work"

(cd "$root" && cargo build --release --locked -q)
bp=$root/target/release/blockprint

if [ "${1:-}" = --regen ] || [ ! -e "$image" ]; then
    echo "making the 4 GiB image (about a minute)"
    rm -rf "$work/tree" "$sparse" "$image"
    mkdir -p "$work/tree/boot/overlays" "$work/tree/root/usr/lib" "$work/tree/root/var/log"
    head -c $((8 << 20)) /dev/urandom > "$work/tree/boot/kernel8.img"
    for i in $(seq 1 300); do
        head -c $((RANDOM * 4)) /dev/urandom > "$work/tree/boot/overlays/o$i.dtbo"
    done
    head -c $((1 << 30)) /dev/urandom > "$work/tree/root/usr/lib/big.bin"
    for i in $(seq 1 3000); do
        head -c $((RANDOM * 2)) /dev/urandom > "$work/tree/root/var/log/f$i"
    done
    truncate -s 4G "$sparse"
    printf 'label: dos\n8192,1048576,c\n1056768,,83\n' | sfdisk -q "$sparse"
    truncate -s 512M "$work/p1" && mkfs.vfat -F 32 -s 1 "$work/p1" >/dev/null
    mcopy -s -Q -i "$work/p1" "$work/tree/boot"/* ::/
    dd if="$work/p1" of="$sparse" bs=1M seek=4 conv=notrunc,sparse status=none
    p2_bytes=$((4 * 1024 * 1024 * 1024 - 1056768 * 512))
    mke2fs -q -F -t ext4 -O ^64bit,^huge_file -d "$work/tree/root" \
        -E offset=$((1056768 * 512)) "$sparse" $((p2_bytes / 1024))k
    rm -f "$work/p1"
    cp --sparse=never "$sparse" "$image"
fi

median() { sort -n | sed -n 2p; }
timed() { # prints wall seconds of "$@"; a failure stops the bench
    python3 -c 'import subprocess, sys, time
t = time.monotonic()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
print(f"{time.monotonic() - t:.3f}")' "$@"
}
share() { # mapped % of a bmap
    python3 - "$1" <<'EOF'
import re, sys
x = open(sys.argv[1]).read()
m = int(re.search(r"<MappedBlocksCount>\s*(\d+)", x).group(1))
t = int(re.search(r"<BlocksCount>\s*(\d+)", x).group(1))
print(f"{100 * m / t:.1f}")
EOF
}

cat "$image" > /dev/null    # into the page cache
metadata=$(for _ in 1 2 3; do
    "$bp" -d scan --no-checksum -o /dev/null "$image" 2>&1 | sed -n 's/.*scanned the metadata in \([0-9.]*\) s/\1/p'
done | median)
full=$(for _ in 1 2 3; do timed "$bp" -q scan -o "$work/scan.bmap" "$image"; done | median)
nosum=$(for _ in 1 2 3; do timed "$bp" -q scan --no-checksum -o "$work/scan-nosum.bmap" "$image"; done | median)
bt_full=$(for _ in 1 2 3; do timed bmaptool -q create -o "$work/bmaptool.bmap" "$image"; done | median)
bt_sparse=$(for _ in 1 2 3; do timed bmaptool -q create -o "$work/bmaptool-sparse.bmap" "$sparse"; done | median)
mapped_bytes=$(python3 -c "print(int($(share "$work/scan.bmap") / 100 * $(stat -c %s "$image")))")
floor=$(for _ in 1 2 3; do timed sh -c "head -c $mapped_bytes '$image' | openssl dgst -sha256"; done | median)

printf '\n4 GiB image, MBR: FAT32 512 MiB + ext4 3.5 GiB; medians of 3, image in the page cache\n\n'
printf '%-48s %9s %9s\n' "contender" "seconds" "mapped %"
printf '%-48s %9.3f %9s\n' "blockprint scan, metadata only" "$metadata" "$(share "$work/scan.bmap")"
printf '%-48s %9.3f %9s\n' "blockprint scan (metadata + SHA-256 of ranges)" "$full" "$(share "$work/scan.bmap")"
printf '%-48s %9.3f %9s\n' "blockprint scan --no-checksum" "$nosum" "$(share "$work/scan-nosum.bmap")"
printf '%-48s %9.3f %9s\n' "bmaptool create, expanded image" "$bt_full" "$(share "$work/bmaptool.bmap")"
printf '%-48s %9.3f %9s\n' "bmaptool create, sparse original" "$bt_sparse" "$(share "$work/bmaptool-sparse.bmap")"
printf '%-48s %9.3f %9s\n' "openssl sha256 of as many bytes (one core)" "$floor" "-"
