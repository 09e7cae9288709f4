#!/usr/bin/env bash
# benches/catalog.sh - a catalog image written while it downloads, against downloading it
# first and writing it after.
#
# The image: benches/common.sh's catalog_image, 1 GiB with 560 MiB of this machine's files, as
# .xz (xz -6 -T2, multi-block, as Raspberry Pi OS ships). A local nginx serves it and a catalog in
# Raspberry Pi Imager's shape that names it with both SHA-256s, at full speed and at a
# home line's 12.5 MB/s (100 Mbit/s, nginx limit_rate). The target is a loop device over a
# fully allocated file. With the page cache dropped before every run, each case times:
#   stream    `blockprint copy --catalog LIST catalog:bench LOOP`, the image cache empty: the
#             download is hashed, kept in the cache and decoded onto the card as it arrives;
#   download  `curl -o FILE URL` alone;
#   write     `blockprint copy --nobmap FILE.xz LOOP` from the downloaded file alone;
#   then      download + write: what a writer that downloads first costs.
# "x slower" = stream / max(download, write): 1.0 means the two overlap completely (the goal
# is at most 1.1); "x then" = stream / then.
#
# Run:    sudo benches/catalog.sh [--runs N]    (median of N runs, default 3)
# Needs:  root (losetup, drop_caches), cargo, nginx, curl, xz, the tools of make-image.sh;
#         ~6 GiB free in target/bench/.
# Never run in CI: timings belong in benchmarks, not in tests.
set -euo pipefail

# shellcheck source=benches/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_init catalog "$@"
for tool in nginx curl xz sha256sum losetup; do
    command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || die "$tool is missing (build-aux/install-deps)"
done
mkdir -p "$work"
(cd "$root" && cargo build -q --release)
catalog_image
serve "$(dirname "$image")"
backing=$work/card.bin
fallocate -l $((size + (64 << 20))) "$backing"
loop=$(losetup --direct-io=on -f --show "$backing")
trap 'kill $server 2>/dev/null; losetup -d "$loop"; rm -rf "$work/cache" "$work/got.img.xz"' EXIT
printf '%s: %d MB image, %d MB download, %s runs each\n' "$(date -u +%F)" $((size / 1000000)) $((packed / 1000000)) "$runs"
printf '| server | stream | download | write | then | x slower | x then |\n|---|---|---|---|---|---|---|\n'
for place in "" line/; do
    url=http://127.0.0.1:$port/${place}bench.img.xz
    catalog_list "$work/list.json" "$url"
    stream=() download=() write=()
    for _ in $(seq "$runs"); do
        rm -rf "$work/cache"
        stream+=("$(XDG_CACHE_HOME=$work/cache seconds "$bp" copy -q --catalog "$work/list.json" catalog:bench "$loop")")
        holds_image "$loop"
        download+=("$(seconds curl -sf -o "$work/got.img.xz" "$url")")
        write+=("$(seconds "$bp" copy -q --nobmap "$work/got.img.xz" "$loop")")
    done
    s=$(median "${stream[@]}") d=$(median "${download[@]}") w=$(median "${write[@]}")
    then=$(calc "$d + $w")
    slower=$(calc "($d > $w) ? $d : $w")
    printf '| %s | %.1f s | %.1f s | %.1f s | %.1f s | %.2f | %.2f |\n' "${place:-local}" "$s" "$d" "$w" "$then" \
        "$(calc "$s / $slower")" "$(calc "$s / $then")"
done
