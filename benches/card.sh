#!/usr/bin/env bash
# benches/card.sh - what finding a counterfeit card costs: blockprint's capacity probe against
# Debian's f3probe, and a copy with --check-capacity against one without.
#
# The card: a loop device (direct I/O) over a sparse 16 GiB file, genuine. The image:
# benches/make-image.sh, 1 GiB with 520 MiB of this machine's files, and its bmap. With the page
# cache dropped before every run, each case times:
#   probe      `blockprint check-card LOOP` (the probe; the card keeps what it held);
#   f3probe    `f3probe --destructive --reset-type=2 LOOP` (no USB reset on a loop device);
#   copy       `blockprint copy --bmap B IMG LOOP`;
#   checked    `blockprint copy --check-capacity --bmap B IMG LOOP`.
# It prints medians and the ratios probe / f3probe and checked / copy. A loop device writes at
# the speed of the host's disk, far faster than a card: on a real card the probe's ~16 MB take
# ~2 s at 10 MB/s, which the budget of the issue (10 s for 64 GB at 10 MB/s) is about; here the
# fixed costs (flushes, ~500 scattered 4 KiB requests) dominate.
#
# With --throttled, the loop device's writes are then held to 20 MiB/s (20.97 MB/s: an SD
# card; benches/common.sh's throttle_writes) and one `copy --bmap B IMG LOOP` is run inside
# that limit: the card speed the copy reports ("the card wrote at X MB/s", bytes on the card
# over the time a write or flush was under way) is printed beside the limit, with the copy's
# mapped bytes over its whole wall time.
#
# Run:    sudo benches/card.sh [--runs N] [--throttled]    (median of N runs, default 3)
# Needs:  root (losetup, drop_caches), cargo, f3probe, the tools of make-image.sh; ~2 GiB free
#         in target/bench/card/.
# Never run in CI: timings belong in benchmarks, not in tests.
set -euo pipefail

throttled=0 rest=()
for arg; do
    case $arg in
        --throttled) throttled=1 ;;
        *) rest+=("$arg") ;;
    esac
done
# shellcheck source=benches/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_init card "${rest[@]}"
command -v f3probe >/dev/null || die "f3probe is missing (build-aux/install-deps)"
mkdir -p "$work"
(cd "$root" && cargo build -q --release)

image=$work/bench.img
if [[ ! -f $image.bmap ]]; then
    "$root/benches/make-image.sh" "$image" 1024 520 128 40
    "$bp" -q create -o "$image.bmap" "$image"
fi
backing=$work/card.bin
rm -f "$backing"
truncate -s 16G "$backing"
loop=$(losetup --direct-io=on -f --show "$backing")
group=""
trap 'losetup -d "$loop"; rm -f "$backing"; [[ -z $group ]] || rmdir "$group"' EXIT

# Seconds one run of "$@" takes, with the page cache dropped first.
time_one() {
    sync
    echo 3 >/proc/sys/vm/drop_caches
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || die "$* failed"
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { print b - a }'
}

# The median of $runs runs of "$@".
median() {
    local times=() i
    for ((i = 0; i < runs; i++)); do
        times+=("$(time_one "$@")")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p"
}

probe=$(median "$bp" check-card "$loop")
f3=$(median f3probe --destructive --reset-type=2 "$loop")
copy=$(median "$bp" copy --bmap "$image.bmap" "$image" "$loop")
checked=$(median "$bp" copy --check-capacity --bmap "$image.bmap" "$image" "$loop")

printf '%-10s %8.2f s\n' probe "$probe" f3probe "$f3" copy "$copy" checked "$checked"
awk -v p="$probe" -v f="$f3" -v c="$copy" -v k="$checked" 'BEGIN {
    printf "probe / f3probe  %.2f\n", p / f
    printf "checked / copy   %.2f (the probe adds %.2f s)\n", k / c, k - c
}'

((throttled)) || exit 0
throttle_writes "$loop" card
sync
echo 3 >/proc/sys/vm/drop_caches
start=$(date +%s.%N)
said=$("${wrap[@]}" "$bp" copy --bmap "$image.bmap" "$image" "$loop" 2>&1) || die "the throttled copy failed: $said"
took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
reported=$(sed -n 's/.*the card wrote at \([0-9.]*\) MB\/s.*/\1/p' <<<"$said")
[[ -n $reported ]] || die "the copy did not report the card's speed: $said"
blocks=$(sed -n 's/.*mapped \([0-9]*\) blocks.*/\1/p' <<<"$said")
block=$(sed -n 's/.* blocks of size \([0-9]*\) .*/\1/p' <<<"$said")
mapped=$((blocks * block))
"$bp" -q verify --bmap "$image.bmap" "$loop" || die "the throttled copy does not verify"
awk -v r="$reported" -v l="$throttle_limit" -v m="$mapped" -v t="$took" 'BEGIN {
    printf "throttled to %.2f MB/s: the copy reports %.2f MB/s (%.3f x the limit); ", l / 1e6, r, r * 1e6 / l
    printf "%.0f MB mapped in %.1f s of wall time, %.2f MB/s\n", m / 1e6, t, m / 1e6 / t
}'
