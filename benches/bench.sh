#!/usr/bin/env bash
# benches/bench.sh - blockprint against bmaptool, dd and the machine's limits, in one run.
#
# The image (benches/make-image.sh): MBR, FAT32 boot and ext4 root filled with this machine's
# own files, mostly empty, like Raspberry Pi OS; 4 GiB with 1 GiB of files by default. Also
# its .xz (xz -T0, multi-block, as distributions ship them), .gz and .zst, and one bmap (made by
# `blockprint create`) that every bmap writer uses.
#
# For each source (raw, xz, gz, zst) and target (a regular file; a loop device over a fully
# allocated file, direct I/O on), with the page cache dropped before every run:
#   blockprint copy, bmaptool copy, and dd of the whole image with oflag=direct, its fastest
#   way here (`xz -dc | dd` and the like for compressed sources); raw -> loop also with
#   --verify-readback.
# Fan-out: the raw and the xz image to four loop devices at once (one `blockprint copy` with
# four DESTs), against the same image to one loop device in the same run, and against the
# limit of four direct writes at once.
# Then `blockprint create` against `bmaptool create` on the raw image.
# Every contender runs RUNS times and the median is shown, with the CPU time (user + sys,
# children included), CPU% (CPU / wall: 200% is both cores of a 2-core machine) and peak RSS.
# ratio = time / bmaptool's time (below 1: blockprint is faster). limit = the slowest stage
# measured alone: decoding (the engine's own source reading the mapped ranges: benches/limits.rs),
# hashing the mapped bytes (one core), writing them (dd of zeros, best of buffered and direct),
# and for the raw image reading and writing them at once (two dd: the image and the target
# share the disk here); "x limit" = time / limit. The issue's targets are checked at the end.
# After the runs of each blockprint and bmaptool contender, `blockprint verify` checks the
# target against the bmap (a loop device is zeroed before, so that proves this contender).
#
# Run:    sudo benches/bench.sh [--quick] [--runs N] [--regen] [--only CASES]
#         --quick: a 192 MiB image, one run each, the debug build: only checks the harness
#         works (build-aux/test runs it); its timings mean nothing.
#         --only: a comma-separated subset of the cases img-file, xz-file, gz-file, zst-file,
#         img-loop, xz-loop, gz-loop, zst-loop, img-fanout, xz-fanout and create (the stage
#         limits always run; a fan-out case brings its one-loop case along, to compare).
# Needs:  root (losetup, drop_caches), cargo, bmaptool, xz, gzip, zstd, mtools, dosfstools,
#         e2fsprogs, GNU time; about 26 GiB free in target/bench/ (4 GiB image, its
#         compressed copies, four 4 GiB loop backing files and a 4 GiB output file).
# Takes:  the first time ~5 min to make the image and compress it; then ~25 min a run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"
die() { echo "bench.sh: error: $*" >&2; exit 1; }

quick=0 runs=3 regen=0 only=""
while (($#)); do
    case $1 in
        --quick) quick=1 runs=1 ;;
        --runs) runs=${2:?}; shift ;;
        --regen) regen=1 ;;
        --only) only=${2:?}; shift ;;
        *) die "usage: sudo benches/bench.sh [--quick] [--runs N] [--regen] [--only CASES]" ;;
    esac
    shift
done
wanted() { [[ -z $only || ",$only," == *",$1,"* ]]; }
if ((quick)); then
    work=$root/target/bench/quick size=192 data=32 boot=64 boot_data=8 profile=dev
else
    work=$root/target/bench/full size=4096 data=1024 boot=512 boot_data=64 profile=release
fi
((EUID == 0)) || die "needs root (losetup, /proc/sys/vm/drop_caches): sudo $0"
for tool in bmaptool xz gzip zstd mcopy mkfs.vfat mke2fs python3 /usr/bin/time; do
    command -v "$tool" >/dev/null || die "$tool is missing; build-aux/install-deps installs it"
done
mkdir -p "$work"
cd "$work"
image=$work/disk.img bmap=$work/disk.img.bmap out=$work/out.img backing=$work/loop-backing.img
log=$work/run.log timing=$work/time.out loop=""
backings=("$backing" "$work/loop-backing-2.img" "$work/loop-backing-3.img" "$work/loop-backing-4.img")
detach() {
    for file in "${backings[@]}"; do
        for dev in $(losetup -j "$file" 2>/dev/null | cut -d: -f1); do losetup -d "$dev" || true; done
    done
}
trap 'detach; rm -f "${backings[@]}" "$out" "$log" "$timing"' EXIT
detach

echo "building ($profile profile)..."
cargo_flags=(--locked --bin blockprint --bench limits --message-format=json-render-diagnostics)
((quick)) || cargo_flags+=(--release)
exes=$(cd "$root" && cargo build "${cargo_flags[@]}" | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["target"]["name"], m["executable"])')
bp=$(awk '$1 == "blockprint" { print $2 }' <<<"$exes")
limits=$(awk '$1 == "limits" { print $2 }' <<<"$exes")
[[ -x $bp && -x $limits ]] || die "cargo did not report the blockprint and limits executables"

if ((regen)) || [[ ! -f $image.zst ]]; then
    echo "making the image and its compressed copies..."
    rm -f "$image"*
    "$root/benches/make-image.sh" "$image.tmp" "$size" "$data" "$boot" "$boot_data"
    mv "$image.tmp" "$image"
    "$bp" create -q -o "$bmap" "$image"
    xz -T0 -k -c "$image" >"$image.xz"
    gzip -c "$image" >"$image.gz"
    zstd -q -T0 -c "$image" >"$image.zst"
fi
mapped=$(sed -n 's:.*<MappedBlocksCount> *\([0-9]*\) *</MappedBlocksCount>.*:\1:p' "$bmap")
mapped=$((mapped * $(sed -n 's:.*<BlockSize> *\([0-9]*\) *</BlockSize>.*:\1:p' "$bmap")))
image_size=$(stat -c %s "$image")
echo "image: $image_size bytes, $mapped mapped ($((mapped * 100 / image_size))%) in" \
    "$(grep -c '<Range' "$bmap") ranges; xz $(stat -c %s "$image.xz"), gz $(stat -c %s "$image.gz")," \
    "zst $(stat -c %s "$image.zst") bytes"

# Loop devices over fully written files (no allocation while measuring), direct I/O on: one,
# and three more for the fan-out cases.
new_loop() {
    truncate -s 0 "$1"
    dd if=/dev/zero of="$1" bs=16M count=$(((image_size >> 24) + 1)) conv=fsync status=none
    losetup --direct-io=on -f --show "$1"
}
loop=$(new_loop "$backing")
echo "loop device $loop, direct I/O: $(cat "/sys/block/${loop#/dev/}/loop/dio")"
fanout_loops=()
if wanted img-fanout || wanted xz-fanout; then
    fanout_loops=("$loop")
    for file in "${backings[@]:1}"; do fanout_loops+=("$(new_loop "$file")"); done
    echo "fan-out: ${fanout_loops[*]}"
fi

cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# Runs "$@" under GNU time with a cold cache; sets sample="wall cpu rss_kb".
timed() {
    cold
    if ! /usr/bin/time -f '%e %U %S %M' -o "$timing" "$@" >"$log" 2>&1; then
        cat "$log" "$timing" >&2
        die "failed: $*"
    fi
    sample=$(tail -n1 "$timing" | awk '{ printf "%s %.2f %d", $1, $2 + $3, $4 }')
}

# measure KEY CMD...: RUNS runs, the median (by wall time) into wall/cpu/rss[KEY].
declare -A wall=() cpu=() rss=()
measure() {
    local key=$1 samples="" median i
    shift
    for ((i = 0; i < runs; i++)); do
        timed "$@"
        samples+="$sample"$'\n'
    done
    median=$(sort -n <<<"${samples%$'\n'}" | sed -n "$(((runs + 1) / 2))p")
    read -r "wall[$key]" "cpu[$key]" "rss[$key]" <<<"$median"
    printf '  %-34s %s\n' "$key" "$(awk '{ printf "%s ", $1 }' <<<"${samples%$'\n'}")"
}

verify() {  # the target must now hold the image
    "$bp" verify -q --bmap "$bmap" "$1" >"$log" 2>&1 || { cat "$log" >&2; die "verify of $1 failed after $2"; }
}

# Limits: decoding each source alone, hashing the mapped bytes, writing them to each target.
declare -A limit=()
stage() {  # the median of RUNS runs of a stage's seconds into $stage_time
    local key=$1
    shift
    measure "limit: $key" "$@"
    stage_time=${wall["limit: $key"]}
}
echo "stage limits (wall s of each run):"
stage "hash" "$limits" hash "$mapped"
hash_time=$stage_time
write_count=$(((mapped >> 24) + 1))
stage "write loop" dd if=/dev/zero of="$loop" bs=16M count=$write_count oflag=direct conv=fsync status=none
write_loop=$stage_time
stage "write file (direct)" dd if=/dev/zero of="$out" bs=16M count=$write_count oflag=direct conv=fsync status=none
write_file=$stage_time
stage "write file (buffered)" dd if=/dev/zero of="$out" bs=16M count=$write_count conv=fsync status=none
write_file=$(awk -v a="$write_file" -v b="$stage_time" 'BEGIN { print (a < b ? a : b) }')
# The image and the loop device's backing file share this machine's disk (a VM's one virtual
# disk, usually): reading the mapped bytes while writing them then shares its bandwidth, so
# reading and writing at once, each alone in its own dd, is a stage too (of the raw image).
stage "read image + write loop at once" sh -c '
    dd if="$1" of=/dev/null bs=16M count='"$write_count"' iflag=direct status=none &
    dd if=/dev/zero of="$2" bs=16M count='"$write_count"' oflag=direct conv=fsync status=none
    wait' sh "$image" "$loop"
together_loop=$stage_time
stage "read image + write file at once" sh -c '
    dd if="$1" of=/dev/null bs=16M count='"$write_count"' iflag=direct status=none &
    dd if=/dev/zero of="$2" bs=16M count='"$write_count"' oflag=direct conv=fsync status=none
    wait' sh "$image" "$out"
together_file=$stage_time
# What read-back is measured against: reading the mapped bytes back from the target alone.
stage "read loop" dd if="$loop" of=/dev/null bs=16M count="$write_count" iflag=direct status=none
read_loop=$stage_time
write_fanout=""
if ((${#fanout_loops[@]})); then
    stage "write 4 loops at once" sh -c 'for dev; do
        dd if=/dev/zero of="$dev" bs=16M count='"$write_count"' oflag=direct conv=fsync status=none &
    done; wait' sh "${fanout_loops[@]}"
    write_fanout=$stage_time
fi
for src in img xz gz zst; do
    file=$image
    [[ $src == img ]] || file=$image.$src
    wanted "$src-file" || wanted "$src-loop" || wanted "$src-fanout" \
        || { [[ $src == img ]] && wanted create; } || continue
    stage "decode $src" "$limits" decode "$file" "$bmap"
    for dest in file loop; do
        w=$write_file together=$together_file
        [[ $dest == loop ]] && w=$write_loop together=$together_loop
        [[ $src == img ]] || together=0
        limit["$src $dest"]=$(printf '%s\n' "$stage_time" "$hash_time" "$w" "$together" | sort -g | tail -n1)
    done
    [[ -n $write_fanout ]] &&
        limit["$src fanout"]=$(printf '%s\n' "$stage_time" "$hash_time" "$write_fanout" | sort -g | tail -n1)
    [[ $src == img ]] && limit[create]=$(printf '%s\n' "$stage_time" "$hash_time" | sort -g | tail -n1)
done

# The copies.
declare -A decompress=([xz]="xz -dc" [gz]="gzip -dc" [zst]="zstd -dc")
for dest in file loop; do
    target=$out
    [[ $dest == loop ]] && target=$loop
    for src in img xz gz zst; do
        file=$image
        [[ $src == img ]] || file=$image.$src
        wanted "$src-$dest" || { [[ $dest == loop ]] && wanted "$src-fanout"; } || continue
        echo "$src -> $dest (wall s of each run):"
        [[ $dest == loop ]] && dd if=/dev/zero of="$loop" bs=16M oflag=direct status=none 2>/dev/null || true
        measure "$src $dest blockprint" "$bp" copy -q --bmap "$bmap" "$file" "$target"
        verify "$target" "blockprint copy"
        [[ $dest == loop ]] && dd if=/dev/zero of="$loop" bs=16M oflag=direct status=none 2>/dev/null || true
        measure "$src $dest bmaptool" bmaptool -q copy --bmap "$bmap" "$file" "$target"
        verify "$target" "bmaptool copy"
        if [[ $src == img ]]; then
            measure "$src $dest dd" dd if="$file" of="$target" bs=4M oflag=direct conv=fsync status=none
        else
            measure "$src $dest dd" sh -c "${decompress[$src]} '$file' | dd of='$target' bs=4M iflag=fullblock oflag=direct conv=fsync status=none"
        fi
        if [[ $src == img && $dest == loop ]]; then
            measure "$src $dest blockprint readback" "$bp" copy -q --verify-readback --bmap "$bmap" "$file" "$target"
        fi
    done
done
for src in img xz; do
    wanted "$src-fanout" || continue
    file=$image
    [[ $src == img ]] || file=$image.$src
    echo "$src -> 4 loop devices at once (wall s of each run):"
    for dev in "${fanout_loops[@]}"; do dd if=/dev/zero of="$dev" bs=16M oflag=direct status=none 2>/dev/null || true; done
    measure "$src fanout blockprint" "$bp" copy -q --bmap "$bmap" "$file" "${fanout_loops[@]}"
    for dev in "${fanout_loops[@]}"; do verify "$dev" "blockprint copy to four"; done
done
if wanted create; then
    echo "create (wall s of each run):"
    measure "create blockprint" "$bp" create -q -o "$work/created.bmap" "$image"
    measure "create bmaptool" bmaptool -q create -o "$work/created.bmap" "$image"
fi

. "$root/benches/report.sh"
