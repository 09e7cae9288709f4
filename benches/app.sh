#!/usr/bin/env bash
# benches/app.sh - the desktop app writing an OS chosen from a catalog while it downloads,
# against downloading it first and writing it after.
#
# The image and server are catalog.sh's (benches/common.sh: a 1 GiB Pi-like image as a
# 226 MB .xz, on a local nginx at full speed and at 12.5 MB/s). The app runs as a desktop
# user would run it: the unprivileged test user of build-aux/udisks-env on an Xvfb display of
# build-aux/gui-env, writing through a real udisksd (OpenDevice under polkit) to a loop device
# udisksd set up. It is driven as the app tests drive it: its GActions over its session bus
# and xdotool keys. Each case opens the catalog, types the entry's name, Enter, Next, chooses
# the loop device, Write, and confirms Erase; the time runs from that confirmation (the first
# moment the app may download anything: choosing an entry reads its first 512 bytes only) to
# the end page ("Safe to Remove", app.write-another enabled), polled every 0.1 s. Cases:
#   stream    the app's image cache empty: downloaded, hashed, kept and written as it arrives;
#   cached    the same entry again: written from the cache, no network (the write alone);
#   download  `curl -o FILE URL` alone.
# "x slower" = stream / max(download, cached): 1.0 means the two overlap completely (the
# issue's goal is at most 1.1); "x then" = stream / (download + cached), against a writer that
# downloads first. Every written card is checked to hold every block the image's scanned bmap
# maps (holds_image in benches/common.sh).
#
# Run:    sudo benches/app.sh [--runs N]    (median of N runs, default 3)
# Needs:  root, cargo, the GUI build's libraries, nginx, curl, xz, Xvfb, xdotool, gdbus,
#         runuser, udisksd (build-aux/install-deps); ~4 GiB free in target/bench/.
# Never run in CI: timings belong in benchmarks, not in tests.
set -euo pipefail

# shellcheck source=benches/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_init app "$@"
for tool in curl xz Xvfb xdotool gdbus runuser udisksctl; do
    command -v "$tool" >/dev/null || die "$tool is missing (build-aux/install-deps)"
done
mkdir -p "$work"
(cd "$root" && cargo build -q --release)
catalog_image
serve "$(dirname "$image")"
envdir=$(mktemp -d) guidir=$(mktemp -d)
backing=$work/blockprint-udisks-bench.bin
loop=
cleanup() {
    quit_app
    [[ -n $loop ]] && udisksctl loop-delete --no-user-interaction -b "$loop" >/dev/null 2>&1
    "$root/build-aux/gui-env" stop "$guidir" || true
    "$root/build-aux/udisks-env" stop "$envdir" || true
    kill "$server" 2>/dev/null || true
    rm -rf "$envdir" "$guidir" "$backing" "$work/got.img.xz"
}
trap cleanup EXIT
eval "$("$root/build-aux/udisks-env" start "$envdir")"
eval "$("$root/build-aux/gui-env" start "$guidir")"
user=$BLOCKPRINT_TEST_USER
home=$BLOCKPRINT_TEST_GUI_HOME
fallocate -l $((size + (64 << 20))) "$backing"
loop=$(udisksctl loop-setup --no-user-interaction -f "$backing")
loop=${loop##* } loop=${loop%.}
app_id=io.github.blockprint.Blockprint

# actions METHOD ARGS...: org.gtk.Actions.METHOD on the app, over the user's session bus.
actions() {
    local method=$1
    shift
    runuser -u "$user" -- env DBUS_SESSION_BUS_ADDRESS="$BLOCKPRINT_TEST_SESSION_BUS" \
        gdbus call --session --dest "$app_id" --object-path "/${app_id//.//}" \
        --method "org.gtk.Actions.$method" "$@" 2>/dev/null
}
activate() { actions Activate "$1" "${2:-[]}" '{}' >/dev/null || die "app.$1 failed"; }
is_enabled() { [[ $(actions Describe "$1") == "((true"* ]]; }
# until_true SECONDS COMMAND...: polls COMMAND every 0.1 s.
until_true() {
    local tries=$(($1 * 10))
    shift
    until "$@"; do
        ((--tries > 0)) || die "waited too long for: $*"
        sleep 0.1
    done
}
enabled() { until_true 600 is_enabled "$1"; }
window() { xdotool search --onlyvisible --name "$1" 2>/dev/null | head -1; }
has_window() { [[ -n $(window "$1") ]]; }
no_window() { [[ -z $(window "$1") ]]; }
# keys TITLE_PATTERN key|type WHAT...: keys into that window, as the app tests send them.
keys() {
    local pattern=$1
    shift
    until_true 60 has_window "$pattern"
    xdotool windowfocus --sync "$(window "$pattern")"
    xdotool "$@"
}

app_pid=
start_app() {
    runuser -u "$user" -- env -i PATH="$PATH" DISPLAY="$DISPLAY" HOME="$home" \
        XDG_RUNTIME_DIR="$BLOCKPRINT_TEST_GUI_RUNTIME" \
        DBUS_SESSION_BUS_ADDRESS="$BLOCKPRINT_TEST_SESSION_BUS" \
        DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" LANG=C.UTF-8 GDK_BACKEND=x11 \
        GSK_RENDERER=cairo GSETTINGS_BACKEND=memory "$bp" "$@" >"$work/app.log" 2>&1 &
    app_pid=$!
    until_true 30 actions Describe open >/dev/null
}
quit_app() {
    [[ -n $app_pid ]] || return 0
    actions Activate quit '[]' '{}' >/dev/null || true
    wait "$app_pid" 2>/dev/null || true
    app_pid=
}

# app_write LIST: the seconds from Erase confirmed to the end page, the catalog LIST's
# "Bench" chosen and written to the loop device.
app_write() {
    start_app "$1"
    enabled reload-catalog
    keys '^Blockprint$' type --delay 30 bench
    keys '^Blockprint$' key Return
    enabled next
    activate next
    enabled show-all-drives
    activate show-all-drives
    keys '^Show All Drives\?$' key Tab Return
    until_true 10 no_window '^Show All Drives\?$'
    activate select-drive "[<'$loop'>]"
    keys '^Choose a System Drive\?$' type --delay 30 "${loop#/dev/}"
    keys '^Choose a System Drive\?$' key Return
    enabled write
    activate write
    until_true 30 has_window '^Erase '
    sync; echo 3 >/proc/sys/vm/drop_caches
    local start end
    start=$(date +%s.%N)
    keys '^Erase ' key Tab Return
    enabled write-another
    end=$(date +%s.%N)
    quit_app
    ! grep CRITICAL "$work/app.log" >&2 || die "GTK complained (see $work/app.log)"
    holds_image "$loop" >&2
    awk -v a="$start" -v b="$end" 'BEGIN { print b - a }'
}

printf '%s: %d MB image, %d MB download, %s runs each, through the app and udisksd\n' \
    "$(date -u +%F)" $((size / 1000000)) $((packed / 1000000)) "$runs"
printf '| server | stream | download | cached | then | x slower | x then |\n|---|---|---|---|---|---|---|\n'
for place in "" line/; do
    url=http://127.0.0.1:$port/${place}bench.img.xz
    list=$home/bench-list.json
    catalog_list "$list" "$url"
    chmod 644 "$list"
    stream=() download=() cached=()
    for _ in $(seq "$runs"); do
        rm -rf "$home/.cache/blockprint/images"
        stream+=("$(app_write "$list")")
        cached+=("$(app_write "$list")")
        download+=("$(seconds curl -sf -o "$work/got.img.xz" "$url")")
    done
    s=$(median "${stream[@]}") d=$(median "${download[@]}") c=$(median "${cached[@]}")
    then=$(calc "$d + $c")
    slower=$(calc "($d > $c) ? $d : $c")
    printf '| %s | %.1f s | %.1f s | %.1f s | %.1f s | %.2f | %.2f |\n' "${place:-local}" "$s" "$d" "$c" "$then" \
        "$(calc "$s / $slower")" "$(calc "$s / $then")"
done
