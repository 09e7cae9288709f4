#!/usr/bin/env bash
# benches/file.sh - a raw image with a bmap of few large ranges copied to a regular file, in
# the four ways a user meets it, blockprint against bmaptool in the same run.
#
# The image: benches/make-image.sh, 2 GiB Pi-like with 600 MiB of this machine's files; its
# bmap (blockprint create) maps about 680 MiB in about 15 ranges, the case where bmaptool was
# ahead. The cases, each the median of N runs, blockprint and bmaptool taking turns:
#   cold, replaced   page cache dropped; the destination exists (the last run's) and is replaced;
#   cold, new        page cache dropped; no destination yet;
#   cached, replaced the image just read (in the page cache, as after a download or a build);
#                    the destination exists and is replaced;
#   cached, new      the image cached; no destination yet.
# Each line gives the wall time, CPU time (user + sys) and peak RSS of both, and the ratio
# blockprint / bmaptool (below 1: blockprint is faster). Every copy is checked against the
# bmap afterwards.
#
# Run:    sudo benches/file.sh [--runs N]    (median of N runs, default 5)
# Needs:  root (drop_caches, make-image.sh), cargo, bmaptool, GNU time, the tools of
#         make-image.sh; ~5 GiB free in target/bench/file/.
# Never run in CI: timings belong in benchmarks, not in tests.
set -euo pipefail

# shellcheck source=benches/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_init file --runs 5 "$@"
for tool in bmaptool /usr/bin/time; do
    command -v "$tool" >/dev/null || die "$tool is missing (build-aux/install-deps)"
done
mkdir -p "$work"
(cd "$root" && cargo build -q --release)
image=$work/few.img bmap=$work/few.bmap out=$work/out.img
if [[ ! -f $bmap ]]; then
    "$root/benches/make-image.sh" "$image" 2048 600 128 40
    "$bp" -q create -o "$bmap" "$image"
fi
trap 'rm -f "$out" "$work/time.out"' EXIT
echo "$(date -u +%F): $(stat -c %s "$image") byte image, $(grep -c '<Range' "$bmap") ranges," \
    "$(sed -n 's:.*<MappedBlocksCount> *\([0-9]*\) *</MappedBlocksCount>.*:\1:p' "$bmap") blocks mapped"

# prepare CASE: the page cache and the destination as CASE wants them.
prepare() {
    sync
    case $1 in
        cold*) echo 3 >/proc/sys/vm/drop_caches ;;
        cached*) cat "$image" >/dev/null ;;
    esac
    case $1 in
        *new) rm -f "$out" ;;
        *) [[ -f $out ]] || cp --sparse=always "$image" "$out" ;;
    esac
    sync
}
# one TOOL: a copy by TOOL under GNU time; prints "wall cpu rss_kb".
one() {
    local command=("$bp" -q copy --bmap "$bmap" "$image" "$out")
    [[ $1 == bmaptool ]] && command=(bmaptool -q copy --bmap "$bmap" "$image" "$out")
    /usr/bin/time -f '%e %U %S %M' -o "$work/time.out" "${command[@]}" || die "$1 failed"
    "$bp" -q verify --bmap "$bmap" "$out" || die "the copy by $1 does not verify"
    awk '{ printf "%s %.2f %d\n", $1, $2 + $3, $4 }' "$work/time.out"
}
pick() { sort -n | sed -n "$(((runs + 1) / 2))p"; }

printf '| case | blockprint | bmaptool | ratio |\n|---|---|---|---|\n'
for case in "cold, replaced" "cold, new" "cached, replaced" "cached, new"; do
    ours=() theirs=()
    for _ in $(seq "$runs"); do
        prepare "$case"
        ours+=("$(one blockprint)")
        prepare "$case"
        theirs+=("$(one bmaptool)")
    done
    read -r w c r <<<"$(printf '%s\n' "${ours[@]}" | pick)"
    read -r bw bc br <<<"$(printf '%s\n' "${theirs[@]}" | pick)"
    printf '| %s | %.2f s (CPU %.2f s, %d MB) | %.2f s (CPU %.2f s, %d MB) | **%.2f** |\n' "$case" \
        "$w" "$c" $((r / 1024)) "$bw" "$bc" $((br / 1024)) "$(calc "$w / $bw")"
done
