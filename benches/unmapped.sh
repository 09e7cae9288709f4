#!/usr/bin/env bash
# benches/unmapped.sh - what a copy without a bmap costs when blockprint works out the used
# blocks itself as a compressed image passes (issue 27), against the other ways to write it.
#
# The image: benches/make-image.sh, 4 GiB laid out like Raspberry Pi OS with 1 GiB of this
# machine's files (about 1.35 GB in use), as .xz (xz -T2, many blocks) and .gz, in a folder
# that holds nothing else, so no bmap is found next to them. The target: a loop device
# (direct I/O) over a fully allocated 4 GiB file. With the page cache dropped before every run,
# for each of .xz and .gz (first, untimed, case 1 on a zeroed device and `blockprint verify
# --bmap READY.bmap LOOP`, which checks that every block the scanned bmap maps was written
# right; then N rounds in which the cases take turns, so that other work on the machine falls
# on all of them alike):
#   1 this mode  `blockprint copy --save-bmap S.bmap IMG.xz LOOP`, no bmap anywhere;
#   2 whole      `blockprint copy --nobmap IMG.xz LOOP`;
#   3 scan+copy  `blockprint scan -o T.bmap IMG.xz` (decodes to a temporary file, then scans)
#                and `blockprint copy --bmap T.bmap IMG.xz LOOP`, timed together: today's way;
#   4 bmap       `blockprint copy --bmap READY.bmap IMG.xz LOOP`, READY.bmap made beforehand
#                by `blockprint scan -o` of the raw image;
#   5 bmaptool   `bmaptool copy --nobmap IMG.xz LOOP`.
# It prints each run, with the 1-minute load average after it (other work on the machine
# shows there), then per case the median wall seconds of N runs, the CPU seconds (user + sys,
# children included) of that run, the bytes the case is meant to write (case 1: S.bmap's
# mapped bytes; 2 and 5: the image size; 3 and 4: the bmap's mapped bytes) and the bytes the
# loop device really took (its sectors-written counter, /sys/block/loopN/stat; this includes
# the 2 MiB the copy zeroes at the device's ends and its few sentinel blocks). Then the
# issue's ratios: bytes(1) / the scanned bmap's mapped bytes (goal <= 1.05) and time(1) /
# time(4) (goal <= 1.1).
#
# --throttled then writes the .xz again, one run each of cases 1, 2 and 4, to the loop device
# throttled to 20 MiB/s of writes, about an SD card, where the saving is what a user waits for
# (a whole 4 GiB takes ~200 s there). The throttle is the block cgroup's write limit on the
# loop device: cgroup v2 `io.max` where the io controller is on the unified hierarchy, else
# cgroup v1 `blkio.throttle.write_bps_device` (as on the 2-core VM, whose kernel binds blkio to
# v1). Before use, a 200 MiB `dd oflag=direct` to the loop device inside the cgroup must take
# at least 8 s; if neither works the script says so and stops without throttled numbers. The
# limit applies to the writes of the processes in the cgroup (blockprint's are all O_DIRECT).
#
# Run:    sudo benches/unmapped.sh [--runs N] [--throttled | --throttled-only]
#         (median of N runs, default 3; --throttled-only skips the unthrottled part)
#         Remove target/bench/unmapped/ to make the image again.
# Needs:  root (losetup, drop_caches, cgroups), cargo, bmaptool, xz, gzip, GNU time, dd, the
#         tools of make-image.sh; ~11 GiB free in target/bench/unmapped/ (the sparse image,
#         .xz, .gz, the 4 GiB loop file, and case 3's temporary file of the decoded image).
# Takes:  ~8 min the first time to make and compress the image; then ~15 min, and ~6 min
#         more with --throttled.
# Never run in CI: timings belong in benchmarks, not in tests.
set -euo pipefail

throttled=0 normal=1 rest=()
for arg; do
    case $arg in
        --throttled) throttled=1 ;;
        --throttled-only) throttled=1 normal=0 ;;
        *) rest+=("$arg") ;;
    esac
done
# shellcheck source=benches/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_init unmapped "${rest[@]}"
for tool in bmaptool xz gzip dd losetup /usr/bin/time; do
    command -v "$tool" >/dev/null || die "$tool is missing (build-aux/install-deps installs it)"
done

raw=$work/raw          # the raw image and nothing else
src=$work/src          # the compressed images and nothing else: no bmap to discover
maps=$work/bmaps       # every bmap, and case 3's temporary file
logs=$work/logs
mkdir -p "$raw" "$src" "$maps" "$logs"
image=$raw/pi.img
timing=$work/time.out
echo "building the release binary..."
(cd "$root" && cargo build -q --release)

if [[ ! -f $src/pi.img.gz ]]; then
    echo "making the image and its .xz and .gz (once)..."
    rm -f "$image" "$src"/*
    "$root/benches/make-image.sh" "$image.tmp" 4096 1024 512 64
    mv "$image.tmp" "$image"
    xz -T2 -k -c "$image" >"$src/pi.img.xz.part"
    mv "$src/pi.img.xz.part" "$src/pi.img.xz"
    gzip -c "$image" >"$src/pi.img.gz.part"
    mv "$src/pi.img.gz.part" "$src/pi.img.gz"
fi
ready=$maps/ready.bmap
"$bp" -q scan -o "$ready" "$image"
image_size=$(stat -c %s "$image")

# The mapped bytes of bmap $1.
mapped() {
    local blocks size
    blocks=$(sed -n 's:.*<MappedBlocksCount> *\([0-9]*\) *</MappedBlocksCount>.*:\1:p' "$1")
    size=$(sed -n 's:.*<BlockSize> *\([0-9]*\) *</BlockSize>.*:\1:p' "$1")
    echo $((blocks * size))
}
ready_bytes=$(mapped "$ready")
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
echo "image: $(mb "$image_size"), the scanned bmap maps $(mb "$ready_bytes")" \
    "($((ready_bytes * 100 / image_size)) %) in $(grep -c '<Range' "$ready") ranges;" \
    "xz $(mb "$(stat -c %s "$src/pi.img.xz")"), gz $(mb "$(stat -c %s "$src/pi.img.gz")")"

backing=$work/loop.bin group="" loop=""
cleanup() {
    [[ -n $loop ]] && losetup -d "$loop"
    [[ -n $group ]] && rmdir "$group"
    rm -f "$backing" "$timing" "$maps"/s.bmap "$maps"/t.bmap
}
trap cleanup EXIT
rm -f "$backing"
dd if=/dev/zero of="$backing" bs=16M count=$((image_size >> 24)) conv=fsync status=none
loop=$(losetup --direct-io=on -f --show "$backing")
name=${loop#/dev/}
[[ $(cat "/sys/block/$name/loop/dio") == 1 ]] || die "$loop did not take direct I/O"
echo "loop device $loop ($(cat "/sys/block/$name/dev")), direct I/O on"

# Bytes the loop device has taken since it was set up (its 7th field counts 512-byte sectors;
# the product is taken in bash, as mawk's printf %d stops at 2^31).
written() {
    local sectors
    sectors=$(awk '{ print $7 }' "/sys/block/$name/stat")
    echo $((sectors * 512))
}

# Fails if anything a bmap discovery would find lies next to the compressed images.
no_bmap_beside() {
    local found
    found=$(find "$src" -name '*.bmap*' -print -quit)
    [[ -z $found ]] || die "a bmap lies next to the images ($found): this mode would not run"
}

# One run of "$@" with the page cache dropped first, its output in log $log; sets "wall cpu
# bytes" in $sample. The prefix in $wrap (a cgroup's) runs in front of the command; $tag
# ends the logs' names.
wrap=() tag=""
run_once() {
    local before
    no_bmap_beside
    rm -f "$maps"/s.bmap "$maps"/t.bmap
    sync
    echo 3 >/proc/sys/vm/drop_caches
    before=$(written)
    if ! /usr/bin/time -f '%e %U %S' -o "$timing" "${wrap[@]}" "$@" >"$log" 2>&1; then
        cat "$log" >&2
        die "failed: $*"
    fi
    sample=$(tail -n1 "$timing" | awk '{ printf "%s %.2f", $1, $2 + $3 }')
    sample+=" $(($(written) - before))"
}

# Sets cmd to case $2 of source $1.
command_of() {
    local file=$src/pi.img.$1
    case $2 in
        1) cmd=("$bp" copy --save-bmap "$maps/s.bmap" "$file" "$loop") ;;
        2) cmd=("$bp" copy --nobmap "$file" "$loop") ;;
        3) # shellcheck disable=SC2016 # the inner shell expands them
            cmd=(bash -c '"$1" scan -o "$2" "$3" && "$1" copy --bmap "$2" "$3" "$4"'
            scan+copy "$bp" "$maps/t.bmap" "$file" "$loop") ;;
        4) cmd=("$bp" copy --bmap "$ready" "$file" "$loop") ;;
        5) cmd=(bmaptool copy --nobmap "$file" "$loop") ;;
    esac
}

# One run of case $2 of source $1: adds its sample to samples[$1.$2] and sets meant[$1.$2]
# (the bytes it is meant to write).
declare -A samples wall cpu device meant
run_case() {
    local key=$1.$2 cmd
    command_of "$1" "$2"
    log=$logs/$1-$2$tag.log
    run_once "${cmd[@]}"
    samples[$key]+="$sample"$'\n'
    case $2 in
        1) [[ -f $maps/s.bmap ]] || die "case 1 saved no bmap (see $log)"
           meant[$key]=$(mapped "$maps/s.bmap") ;;
        3) meant[$key]=$(mapped "$maps/t.bmap") ;;
        4) meant[$key]=$ready_bytes ;;
        *) meant[$key]=$image_size ;;
    esac
    printf '  %s case %s run %d: %s s, %s CPU s, %s to the device (load %s)\n' "$1" "$2" \
        "$(grep -c . <<<"${samples[$key]}")" "${sample%% *}" "$(cut -d' ' -f2 <<<"$sample")" \
        "$(mb "${sample##* }")" "$(cut -d' ' -f1 /proc/loadavg)"
}

# The run of case $2 of source $1 with the median wall time: sets wall[$1.$2], cpu[...] and
# device[...] (the bytes the loop device took).
settle() {
    local key=$1.$2 median
    median=$(printf '%s' "${samples[$key]}" | sort -n | sed -n "$(((runs + 1) / 2))p")
    read -r "wall[$key]" "cpu[$key]" "device[$key]" <<<"$median"
}

names=([1]="1 copy, no bmap (this mode)" [2]="2 copy --nobmap (whole)" [3]="3 scan + copy --bmap"
    [4]="4 copy --bmap (ready)" [5]="5 bmaptool --nobmap")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

# The table of source $1's cases (the rest of the arguments).
table() {
    local s=$1 c
    shift
    printf '%-30s %9s %7s %12s %12s\n' "$s: case" "median s" "CPU s" "meant" "device took"
    for c; do
        printf '%-30s %9.2f %7.2f %12s %12s\n' "${names[c]}" "${wall[$s.$c]}" "${cpu[$s.$c]}" \
            "$(mb "${meant[$s.$c]}")" "$(mb "${device[$s.$c]}")"
    done
    echo "  bytes(1) / scanned bmap's mapped bytes: $(ratio "${meant[$s.1]}" "$ready_bytes")" \
        "(goal <= 1.05); the device's counts, 1 / 4: $(ratio "${device[$s.1]}" "${device[$s.4]}")"
    echo "  time(1) / time(4): $(ratio "${wall[$s.1]}" "${wall[$s.4]}") (goal <= 1.1);" \
        "time(1) / time(2): $(ratio "${wall[$s.1]}" "${wall[$s.2]}")"
    if [[ -n ${wall[$s.3]:-} ]]; then
        echo "  time(1) / time(3): $(ratio "${wall[$s.1]}" "${wall[$s.3]}");" \
            "time(1) / time(5): $(ratio "${wall[$s.1]}" "${wall[$s.5]}")"
    fi
}

# Zeroes the loop device, so that verify after case 1 proves case 1's writes.
zero_device() {
    dd if=/dev/zero of="$loop" bs=16M count=$((image_size >> 24)) oflag=direct status=none
}

if ((normal)); then
    for s in xz gz; do
        echo "$s: case 1 once, untimed, on a zeroed device, then verify:"
        zero_device
        command_of "$s" 1
        log=$logs/$s-check.log
        run_once "${cmd[@]}"
        "$bp" -q verify --bmap "$ready" "$loop" ||
            die "after case 1 the device does not hold what the scanned bmap maps"
        echo "  verified against the scanned bmap; case 1 said:"
        grep -E '^blockprint: (left out|saved)' "$log" | sed 's/^/    /' || true
        echo "$s: $runs rounds of cases 1 to 5 in turn:"
        for ((i = 0; i < runs; i++)); do
            for c in 1 2 3 4 5; do run_case "$s" "$c"; done
        done
        for c in 1 2 3 4 5; do settle "$s" "$c"; done
    done
    echo
    echo "medians of $runs, unthrottled loop device:"
    for s in xz gz; do table "$s" 1 2 3 4 5; done
fi

((throttled)) || exit 0

throttle_writes "$loop" unmapped
tag=-throttled

runs=1 samples=() wall=() cpu=() device=() meant=()
echo "xz to the throttled loop device, one run each:"
for c in 1 2 4; do
    run_case xz "$c"
    settle xz "$c"
done
echo
echo "one run each, loop device throttled to 20 MiB/s of writes:"
table xz 1 2 4
saved=$(awk -v a="${wall[xz.2]}" -v b="${wall[xz.1]}" 'BEGIN { printf "%.0f", a - b }')
echo "  case 2 waits $saved s longer than case 1"
