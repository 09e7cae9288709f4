# shellcheck shell=bash
# benches/common.sh - the preamble the benchmark scripts share; sourced, never run.
#
# `bench_init NAME "$@"` sets root (the checkout), work (target/bench/NAME), bp (the release
# binary), runs (from --runs N, default 3), puts cargo on PATH, and refuses to go on without
# root (loop devices, drop_caches). `die MESSAGE` ends the script with NAME.sh's error.

# The variables are the caller's.
# shellcheck disable=SC2034
bench_init() {
    bench=$1
    shift
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    export PATH="$HOME/.cargo/bin:$PATH"
    work=$root/target/bench/$bench
    bp=$root/target/release/blockprint
    runs=3
    while (($#)); do
        case $1 in
            --runs) runs=${2:?--runs needs a number}; shift 2 ;;
            *) die "unknown option $1 (see the header of benches/$bench.sh)" ;;
        esac
    done
    ((EUID == 0)) || die "needs root (loop devices, drop_caches)"
}

die() {
    echo "${bench:-bench}.sh: error: $*" >&2
    exit 1
}

# `catalog_image` makes (once; later runs reuse it) the catalog benches' image in
# target/bench/catalog-image/: benches/make-image.sh, 1 GiB with 560 MiB of this machine's
# files, as .xz (xz -6 -T2, multi-block, as Raspberry Pi OS ships). Sets image (the raw
# file; bench.img.xz beside it is the download), size, packed (the download's size),
# extract_sha, download_sha, and reference: `blockprint scan`'s bmap of the image (needs $bp
# built), which a card written without a bmap must hold (`holds_image DEVICE`: the blocks its
# filesystems leave free are skipped, so the card is not byte-equal to the image there).
catalog_image() {
    local dir=$root/target/bench/catalog-image
    mkdir -p "$dir"
    image=$dir/bench.img
    if [[ ! -f $image.xz ]]; then
        "$root/benches/make-image.sh" "$image" 1024 520 128 40
        xz -6 -T2 -k -f "$image"
    fi
    size=$(stat -c %s "$image")
    packed=$(stat -c %s "$image.xz")
    extract_sha=$(sha256sum "$image" | cut -d' ' -f1)
    download_sha=$(sha256sum "$image.xz" | cut -d' ' -f1)
    reference=$dir/bench.scan.bmap
    [[ -f $reference ]] || "$bp" -q scan -o "$reference" "$image"
}
# `catalog_list FILE URL`: a catalog in Raspberry Pi Imager's shape at FILE, its one entry
# "Bench" the image at URL, with both SHA-256s and sizes (after catalog_image).
catalog_list() {
    cat >"$1" <<JSON
{"os_list": [{"name": "Bench", "description": "", "url": "$2",
  "extract_size": $size, "extract_sha256": "$extract_sha",
  "image_download_size": $packed, "image_download_sha256": "$download_sha",
  "release_date": "2026-12-03"}]}
JSON
}
holds_image() {
    "$bp" -q verify --bmap "$reference" "$1" || die "$1 does not hold the image"
}

# `serve DIR` starts nginx on 127.0.0.1 (a random port) serving DIR at / at full speed and at
# /line/ at a home line's 12.5 MB/s (100 Mbit/s, limit_rate), its state in $work. Sets port
# and server (nginx's PID, for the caller's trap).
serve() {
    mkdir -p "$work/tmp"
    port=$((20000 + RANDOM % 20000))
    cat >"$work/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 64; }
http {
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fastcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    default_type application/octet-stream;
    access_log off;
    server {
        listen 127.0.0.1:$port;
        root $1;
        location /line/ { alias $1/; limit_rate 12500k; }
    }
}
CONF
    /usr/sbin/nginx -c "$work/nginx.conf" -p "$work" &
    server=$!
    sleep 0.5
}

# `seconds COMMAND...`: the wall time of one run of COMMAND, the page cache dropped first.
seconds() {
    sync; echo 3 >/proc/sys/vm/drop_caches
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>"$work/last.err" || { cat "$work/last.err" >&2; die "failed: $*"; }
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { print b - a }'
}
calc() { awk "BEGIN { print $* }"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# `throttle_writes DEVICE NAME` holds the writes of DEVICE (a loop device) to 20 MiB/s, about an
# SD card, through a block cgroup named blockprint-NAME: cgroup v2 `io.max` where the io
# controller can be enabled, else cgroup v1 `blkio.throttle.write_bps_device` (as on the 2-core
# VM, whose kernel binds blkio to v1). Sets group (for the caller's cleanup: rmdir it) and wrap,
# the prefix that runs a command inside it. It checks that 200 MiB of O_DIRECT writes take at
# least 8 s; when there is no throttle, or it does not hold, it stops the script saying so.
throttle_limit=20971520
throttle_writes() {
    local device=$1 majmin base start took
    majmin=$(cat "/sys/block/${device#/dev/}/dev")
    group=""
    for base in /sys/fs/cgroup /sys/fs/cgroup/unified; do
        if [[ ! -f $base/cgroup.controllers ]] || ! grep -qw io "$base/cgroup.controllers"; then
            continue
        fi
        grep -qw io "$base/cgroup.subtree_control" || echo +io >"$base/cgroup.subtree_control" ||
            continue
        group=$base/blockprint-$2
        mkdir -p "$group"
        if echo "$majmin wbps=$throttle_limit" >"$group/io.max"; then
            echo "throttle: cgroup v2 io.max"
            break
        fi
        rmdir "$group"
        group=""
    done
    if [[ -z $group && -f /sys/fs/cgroup/blkio/blkio.throttle.write_bps_device ]]; then
        group=/sys/fs/cgroup/blkio/blockprint-$2
        mkdir -p "$group"
        if echo "$majmin $throttle_limit" >"$group/blkio.throttle.write_bps_device"; then
            echo "throttle: cgroup v1 blkio.throttle.write_bps_device"
        else
            rmdir "$group"
            group=""
        fi
    fi
    [[ -n $group ]] || die "no write throttle here (neither cgroup v2 io.max nor v1 blkio)"
    # shellcheck disable=SC2016 # the inner shell expands them
    wrap=(bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' in-group "$group")
    start=$(date +%s.%N)
    "${wrap[@]}" dd if=/dev/zero of="$device" bs=4M count=50 oflag=direct status=none
    took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    awk -v t="$took" 'BEGIN { exit !(t >= 8) }' ||
        die "the throttle does not hold: 200 MiB of O_DIRECT writes took $took s (10 s expected)"
    echo "throttle checked: 200 MiB of O_DIRECT writes to $device took $took s"
}
