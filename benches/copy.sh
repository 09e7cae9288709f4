#!/usr/bin/env bash
# benches/copy.sh - how fast does `blockprint copy` put a sparse image on a block device?
#
# What it measures: wall time, CPU time (user+sys, from GNU time) and throughput of writing a
# 1 GiB sparse image (half of it mapped with incompressible data, in a few multi-MiB runs and
# thousands of 4 KiB-256 KiB pieces, like a real OS image) to a loop device, for
#   blockprint copy, blockprint copy --verify-readback, bmaptool copy, blockprint copy --nobmap,
#   dd of the whole image (what people do without a bmap), and dd of /dev/zero sized like the
#   mapped data (the "hardware limit": the least time any bmap writer can need on this device).
# Every contender runs 3 times and the median run is shown; the whole table is made twice,
# with the source cold (page cache dropped before every run) and warm (image cached first).
# MB/s = image bytes delivered (mapped bytes for bmap writers, the whole image for dd and
# --nobmap) / wall seconds, with MB = 10^6 bytes. ratio = contender time / blockprint time,
# so a ratio above 1 means blockprint is faster; spread = (slowest - fastest) / fastest run.
# After each blockprint (and bmaptool) contender, `blockprint verify` checks the device
# against the bmap (the device is zeroed first, so it proves that contender's writes);
# a mismatch fails the run. The dd contenders are not verified.
#
# Run:    sudo benches/copy.sh [--regen]    (--regen rebuilds target/bench/bench.img)
# Needs:  root (losetup, drop_caches), cargo, bmaptool, python3, GNU time (installed if
#         missing), ~3 GiB free on the repo's filesystem; work files live in target/bench/.
# Takes:  about 2 minutes on a 2-core VM with a virtio SSD, plus the release build and, the
#         first time, ~10 s to generate the image.
# Never run in CI: timings belong in benchmarks, not in tests.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$root/target/bench
image=$work/bench.img
bmap=$work/bench.img.bmap
backing=$work/loop-backing.img
log=$work/run.log
timing=$work/time.out
bp=$root/target/release/blockprint
MiB=$((1024 * 1024))
image_size=$((1024 * MiB))
runs=3
loop=""
regen=0

die() { echo "copy.sh: error: $*" >&2; exit 1; }

detach_stale() {  # loop devices left on our backing file by an interrupted run
    local dev
    for dev in $(losetup -j "$backing" 2>/dev/null | cut -d: -f1); do losetup -d "$dev" || true; done
}

cleanup() {
    if [[ -n $loop ]]; then losetup -d "$loop" 2>/dev/null || true; fi
    detach_stale
    rm -f "$backing" "$log" "$timing" "$image.tmp"
}

# Writes a 1 GiB sparse image: a 1 MiB boot area at offset 0, six big runs (280 MiB) and
# pieces of 4 KiB-252 KiB (log-uniform, so mostly small) until exactly half is mapped, all
# shuffled and separated by holes of random length (at least one block, so nothing merges).
make_image() {
    echo "generating $image (1 GiB sparse, 50% mapped)..."
    python3 - "$image.tmp" "$image_size" <<'EOF'
import os, random, sys
path, size = sys.argv[1], int(sys.argv[2])
B, MiB = 4096, 1 << 20
rng = random.Random(20240611)
extents = [m * MiB for m in (96, 64, 48, 32, 24, 16)]
left = size // 2 - sum(extents) - MiB
while left > 0:
    piece = min(left, B * max(1, int(64 ** rng.random())))
    extents.append(piece)
    left -= piece
rng.shuffle(extents)
extents.insert(0, MiB)
hole_blocks = (size - size // 2) // B
cuts = sorted(rng.sample(range(1, hole_blocks), len(extents) - 1))
gaps = [b - a for a, b in zip([0] + cuts, cuts + [hole_blocks])]
off = 0
with open(path, "wb") as f:
    for ext, gap in zip(extents, gaps):
        f.seek(off)
        done = 0
        while done < ext:
            n = min(ext - done, 8 * MiB)
            f.write(os.urandom(n))
            done += n
        off += ext + gap * B
    f.truncate(size)
assert off == size, off
print(f"  {len(extents)} extents written")
EOF
    mv "$image.tmp" "$image"
}

div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }
faster() {  # "2.30x faster" or "1.25x slower", from other time $1 / our time $2
    awk -v o="$1" -v u="$2" 'BEGIN { if (o >= u) printf "%.2fx faster", o / u; else printf "%.2fx slower", u / o }'
}

prepare() {  # make the source cold or warm before a run
    sync
    if [[ $1 == cold ]]; then echo 3 >/proc/sys/vm/drop_caches; else cat "$image" >/dev/null; fi
}

set_cmd() {  # the command line of contender $1, into the array cmd
    case $1 in
        bp)       cmd=("$bp" copy -q --bmap "$bmap" "$image" "$loop") ;;
        readback) cmd=("$bp" copy -q --verify-readback --bmap "$bmap" "$image" "$loop") ;;
        bmaptool) cmd=(bmaptool -q copy --bmap "$bmap" "$image" "$loop") ;;
        nobmap)   cmd=("$bp" copy -q --nobmap "$image" "$loop") ;;
        ddimage)  cmd=(dd if="$image" of="$loop" bs=4M oflag=direct conv=fsync status=none) ;;
        floor)    cmd=(dd if=/dev/zero of="$loop" bs=4M count="$floor_blocks" oflag=direct conv=fsync status=none) ;;
    esac
}

timed() {  # run "$@" under GNU time, leaving "wall cpu" in $sample; print its output on failure
    if ! /usr/bin/time -f '%e %U %S' -o "$timing" "$@" >"$log" 2>&1; then
        echo "FAILED: $*" >&2
        cat "$log" "$timing" >&2
        die "contender failed"
    fi
    sample=$(tail -n1 "$timing" | awk '{ printf "%s %.2f", $1, $2 + $3 }')
}

wipe_device() { dd if=/dev/zero of="$loop" bs=4M count="$device_blocks" oflag=direct conv=fsync status=none; }

check_device() {  # the device must hold the image now, per the bmap
    if ! "$bp" verify --bmap "$bmap" "$loop" >"$log" 2>&1; then
        cat "$log" >&2
        die "blockprint verify failed after '${label[$1]}' ($2 source)"
    fi
    echo "    verify: ok"
}

measure() {  # pass contender: runs it $runs times, keeps the median run
    local pass=$1 key=$2 i samples="" median
    local verify=0
    [[ $key == bp || $key == readback || $key == nobmap || $key == bmaptool ]] && verify=1
    ((verify)) && wipe_device  # so the verify below proves this contender wrote the data
    set_cmd "$key"
    echo "  ${label[$key]}"
    for ((i = 1; i <= runs; i++)); do
        prepare "$pass"
        timed "${cmd[@]}"
        printf '    run %d: %s s wall, %s s CPU\n' "$i" "${sample% *}" "${sample#* }"
        samples+="$sample"$'\n'
    done
    median=$(printf '%s' "$samples" | sort -n | sed -n "$(((runs + 1) / 2))p")
    wall[$pass:$key]=${median% *}
    cpu[$pass:$key]=${median#* }
    spread[$pass:$key]=$(printf '%s' "$samples" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f", (lo > 0 ? (hi - lo) / lo * 100 : 0) }')
    ((verify)) && check_device "$key" "$pass"
    return 0
}

report() {  # the table and the summary of one pass
    local pass=$1 key base=${wall[$1:bp]}
    echo
    echo "=== $pass source: median of $runs runs (ratio = time / blockprint copy time) ==="
    printf '%-36s %8s %9s %7s %7s %7s\n' contender "wall s" "MB/s" "CPU s" ratio spread
    for key in "${keys[@]}"; do
        printf '%-36s %8s %9s %7s %7s %6s%%\n' "${label[$key]}" "${wall[$pass:$key]}" \
            "$(div "$(div "${bytes[$key]}" 1000000)" "${wall[$pass:$key]}")" "${cpu[$pass:$key]}" \
            "$(div "${wall[$pass:$key]}" "$base")" "${spread[$pass:$key]}"
    done
    for key in "${keys[@]}"; do
        if ((${spread[$pass:$key]} > 20)); then
            echo "note: '${label[$key]}' varied by ${spread[$pass:$key]}% between runs; see the per-run times above"
        fi
    done
    local vs_bmaptool vs_dd hw readback
    vs_bmaptool=$(faster "${wall[$pass:bmaptool]}" "$base")
    vs_dd=$(faster "${wall[$pass:ddimage]}" "$base")
    hw=$(awk -v f="${wall[$pass:floor]}" -v b="$base" 'BEGIN { printf "%.0f", f / b * 100 }')
    readback=$(div "${wall[$pass:readback]}" "$base")
    echo "$pass: blockprint vs bmaptool: $vs_bmaptool; vs dd (whole image): $vs_dd;" \
        "blockprint at ${hw}% of the hardware limit; --verify-readback costs ${readback}x the time of a plain copy"
}

# --- main -------------------------------------------------------------------------------
for arg in "$@"; do
    case $arg in
        --regen) regen=1 ;;
        *) die "usage: sudo benches/copy.sh [--regen]" ;;
    esac
done
((EUID == 0)) || die "needs root (losetup, /proc/sys/vm/drop_caches): sudo $0"
command -v bmaptool >/dev/null || die "bmaptool is not installed (apt-get install bmap-tools)"
command -v cargo >/dev/null || die "cargo not in PATH (try: sudo env PATH=\"\$PATH\" $0)"
if [[ ! -x /usr/bin/time ]]; then
    apt-get -o DPkg::Lock::Timeout=900 install -y time >/dev/null || die "cannot install GNU time"
fi
mkdir -p "$work"
cd "$work"
trap cleanup EXIT
detach_stale

echo "building the release binary..."
(cd "$root" && cargo build --release --quiet)

if ((regen)) || [[ ! -f $image ]]; then make_image; fi
echo "creating the bmap with blockprint create..."
prepare cold
timed "$bp" create -q -o "$bmap" "$image"
echo "  took ${sample% *} s wall (cold source, hashing every mapped byte)"
block_size=$(sed -n 's:.*<BlockSize> *\([0-9]*\) *</BlockSize>.*:\1:p' "$bmap")
mapped_blocks=$(sed -n 's:.*<MappedBlocksCount> *\([0-9]*\) *</MappedBlocksCount>.*:\1:p' "$bmap")
[[ -n $block_size && -n $mapped_blocks ]] || die "cannot read the block counts from $bmap"
mapped=$((block_size * mapped_blocks))
floor_blocks=$(((mapped + 4 * MiB - 1) / (4 * MiB)))
echo "image: $image_size bytes, mapped $mapped bytes ($((mapped / MiB)) MiB," \
    "$(awk -v m="$mapped" -v s="$image_size" 'BEGIN { printf "%.1f", m / s * 100 }')%)," \
    "$(grep -c '<Range' "$bmap") ranges in the bmap"

prepare cold
timed dd if="$image" of=/dev/null bs=4M status=none
echo "source read speed (cold, dd bs=4M): ${sample% *} s for the whole image =" \
    "$(div "$(div "$image_size" 1000000)" "${sample% *}") MB/s of image," \
    "$(div "$(div "$mapped" 1000000)" "${sample% *}") MB/s of mapped data"

device_blocks=$(((image_size + 16 * MiB) / (4 * MiB)))  # fully allocated, so no write allocates
dd if=/dev/zero of="$backing" bs=4M count="$device_blocks" conv=fsync status=none
if loop=$(losetup --direct-io=on -f --show "$backing" 2>"$log"); then
    echo "loop device: $loop, attached with --direct-io=on"
else
    echo "loop device: --direct-io=on failed ($(cat "$log")); attaching without it"
    loop=$(losetup -f --show "$backing")
fi
echo "loop device direct I/O (/sys/block/${loop#/dev/}/loop/dio): $(cat "/sys/block/${loop#/dev/}/loop/dio")"

keys=(bp readback bmaptool nobmap ddimage floor)
declare -A label=(
    [bp]="blockprint copy"
    [readback]="blockprint copy --verify-readback"
    [bmaptool]="bmaptool copy"
    [nobmap]="blockprint copy --nobmap"
    [ddimage]="dd whole image (bs=4M, direct)"
    [floor]="hardware limit (dd zeros, mapped)"
)
declare -A bytes=(
    [bp]=$mapped [readback]=$mapped [bmaptool]=$mapped
    [nobmap]=$image_size [ddimage]=$image_size [floor]=$((floor_blocks * 4 * MiB))
)
declare -A wall=() cpu=() spread=()
for pass in cold warm; do
    echo
    echo "--- $pass source pass ---"
    for key in "${keys[@]}"; do measure "$pass" "$key"; done
done
for pass in cold warm; do report "$pass"; done
