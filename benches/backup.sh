#!/usr/bin/env bash
# benches/backup.sh - `blockprint backup` of a card against `dd` of the whole device piped into
# the same compressor (issue 29), in one run: time and output size.
#
# The card: benches/make-image.sh's Pi-like image (MBR, FAT32 boot, ext4 root filled with this
# machine's files; 4 GiB with 1 GiB of files, as bench.sh makes it), written whole (every byte,
# so fully allocated) into a file under a loop device with direct I/O on: every read comes
# from the disk. Its free blocks hold what a card's do: zeros, and the blocks of a deleted
# package cache (make-image.sh writes and deletes it).
# With the page cache dropped before every run (and the last run's output removed), the
# contenders take turns for N rounds, so that other work on the machine falls on all alike:
#   bp zst   `blockprint backup LOOP card.img.zst`   (zstd -3, one thread per core)
#   dd zst   `dd if=LOOP bs=4M iflag=direct | zstd -T0 -3 -q > dd.img.zst`
#   bp raw   `blockprint backup LOOP card.img`       (raw, the free blocks holes)
#   dd raw   `dd if=LOOP of=dd.img bs=4M iflag=direct conv=sparse,fsync`
#   bp gz    `blockprint backup LOOP card.img.gz`    (gzip -6, one thread)
#   dd gz    `dd ... | gzip -6 > dd.img.gz`
#   bp xz    `blockprint backup LOOP card.img.xz`    (xz -6, one thread per core)
#   dd xz    `dd ... | xz -T0 -6 > dd.img.xz`
# blockprint syncs its output before it returns, so every pipe ends with `sync OUT` (an fsync
# of its output file) too. The gz pair is dropped, and the script says so, when the first run
# of either takes 180 s or more. For each contender the run with the median wall time gives
# wall time, CPU time (user + sys, children included, GNU time), CPU % (200 % is both cores of
# a 2-core machine), peak RSS (of the largest process, for a pipe), the output's size (for raw
# also the disk space it takes, `du`), time / the dd pipe's time of the same format and output
# / the dd pipe's output (raw: by the disk space taken).
# Before its first timed run each blockprint format is checked, untimed: its output decodes
# with the format's own tool (zstd, xz, gzip; raw: read as is) to exactly what `blockprint copy
# OUT --bmap OUT.bmap RESTORED` (a new file) writes from it; `blockprint verify --bmap
# OUT.bmap` passes on RESTORED and on the card (so the bmap's checksums are the card's);
# `cmp` finds every range the bmap maps equal on the card and in RESTORED; and RESTORED's two
# filesystems hold the image's files (`diff -r`: FAT32 copied out with mtools, as this VM's
# kernel has no vfat; ext4 mounted read-only).
# Any difference stops the script.
#
# Run:    sudo benches/backup.sh [--quick] [--runs N] [--only FORMATS]
#         (median of N runs, default 3; --only zst,raw,gz,xz or any of them)
#         --quick: a 192 MiB image and one run each, only to check that the harness works; its
#         timings mean nothing.
# Needs:  root (losetup, mount, drop_caches), cargo, zstd, xz, gzip, GNU time, diffutils, the
#         tools of make-image.sh; ~14 GiB free in target/bench/backup/ (the sparse image, kept
#         for the next run; the 4 GiB card; the outputs; the restored file).
# Takes:  the first time ~3 min to make the image; then ~45 min on the 2-core VM (the six xz
#         runs are 33 min of it: xz -6 compresses about 2 MB/s a core here), ~1.5 min --quick.
# Never run in CI: timings belong in benchmarks, not in tests.
set -euo pipefail

quick=0 rest=() only=zst,raw,gz,xz
while (($#)); do
    case $1 in
        --quick) quick=1 ;;
        --only) only=${2:?--only needs formats, such as xz or zst,raw}; shift ;;
        *) rest+=("$1") ;;
    esac
    shift
done
# shellcheck source=benches/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_init backup "${rest[@]}"
for tool in zstd xz gzip dd cmp diff losetup mount mcopy sfdisk /usr/bin/time; do
    command -v "$tool" >/dev/null || die "$tool is missing (build-aux/install-deps installs it)"
done
if ((quick)); then
    mode=quick runs=1 size=192 data=32 boot=64 boot_data=8
else
    mode=full size=4096 data=1024 boot=512 boot_data=64
fi
dir=$work/$mode outs=$work/$mode/out logs=$work/$mode/logs
image=$dir/pi.img card_file=$dir/card.bin restored=$outs/restored.img timing=$dir/time.out
mkdir -p "$dir" "$outs" "$logs"
echo "building the release binary..."
(cd "$root" && cargo build -q --release)

if [[ ! -f $image ]]; then
    echo "making the $size MiB image (once; later runs reuse it)..."
    "$root/benches/make-image.sh" "$image.tmp" "$size" "$data" "$boot" "$boot_data"
    mv "$image.tmp" "$image"
fi
image_size=$(stat -c %s "$image")

card="" mounted=()
cleanup() {
    local m
    for m in "${mounted[@]}"; do umount "$m" || true; done
    [[ -z $card ]] || losetup -d "$card" || true
    rm -rf "${card_file:?}" "${outs:?}" "$timing" "${dir:?}/mnt"
}
trap cleanup EXIT

echo "writing the image onto the card (every byte, fully allocated)..."
rm -f "$card_file"
dd if="$image" of="$card_file" bs=16M conv=fsync status=none
(($(stat -c %b "$card_file") * 512 >= image_size)) || die "$card_file is not fully allocated"
card=$(losetup --direct-io=on -f --show "$card_file")
[[ $(cat "/sys/block/${card#/dev/}/loop/dio") == 1 ]] || die "$card did not take direct I/O"
echo "card: $card over $card_file ($image_size bytes), direct I/O on"

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# The mapped bytes of bmap $1.
mapped() {
    local blocks block
    blocks=$(sed -n 's:.*<MappedBlocksCount> *\([0-9]*\) *</MappedBlocksCount>.*:\1:p' "$1")
    block=$(sed -n 's:.*<BlockSize> *\([0-9]*\) *</BlockSize>.*:\1:p' "$1")
    echo $((blocks * block))
}

keys=()
for format in zst raw gz xz; do
    [[ ,$only, == *,$format,* ]] && keys+=("bp-$format" "dd-$format")
done
((${#keys[@]})) || die "--only $only names none of zst, raw, gz, xz"
declare -A out=([bp-zst]=card.img.zst [dd-zst]=dd.img.zst [bp-raw]=card.img [dd-raw]=dd.img
    [bp-gz]=card.img.gz [dd-gz]=dd.img.gz [bp-xz]=card.img.xz [dd-xz]=dd.img.xz)
declare -A label=([bp-zst]="blockprint backup .zst" [dd-zst]="dd | zstd -T0 -3"
    [bp-raw]="blockprint backup raw" [dd-raw]="dd conv=sparse"
    [bp-gz]="blockprint backup .gz" [dd-gz]="dd | gzip -6"
    [bp-xz]="blockprint backup .xz" [dd-xz]="dd | xz -T0 -6")
declare -A compressor=([zst]="zstd -T0 -3 -q" [gz]="gzip -6" [xz]="xz -T0 -6")
for key in "${keys[@]}"; do out[$key]=$outs/${out[$key]}; done

# Sets cmd to contender $1's command.
command_of() {
    local format=${1#*-}
    case $1 in
        bp-*) cmd=("$bp" backup "$card" "${out[$1]}") ;;
        dd-raw) cmd=(dd if="$card" of="${out[$1]}" bs=4M iflag=direct conv=sparse conv=fsync status=none) ;;
        dd-*) # shellcheck disable=SC2016 # the inner shell expands them
            cmd=(sh -c 'dd if="$1" bs=4M iflag=direct status=none | '"${compressor[$format]}"' >"$2" &&
            sync "$2"' "$1" "$card" "${out[$1]}") ;;
    esac
}

# One run of contender $1, its output removed and the page cache dropped first: adds "wall cpu
# rss_kb size allocated" to samples[$1] and prints it.
declare -A samples=() wall=() cpu=() rss=() bytes=() allocated=()
run_one() {
    local key=$1 log=$logs/$1.log cmd sample w c s a
    command_of "$key"
    rm -f "${out[$key]}" "${out[$key]}.bmap"
    sync
    echo 3 >/proc/sys/vm/drop_caches
    if ! /usr/bin/time -f '%e %U %S %M' -o "$timing" "${cmd[@]}" >"$log" 2>&1; then
        cat "$log" "$timing" >&2
        die "failed: ${cmd[*]}"
    fi
    sample=$(tail -n1 "$timing" | awk '{ printf "%s %.2f %d", $1, $2 + $3, $4 }')
    sample+=" $(stat -c %s "${out[$key]}") $(($(stat -c %b "${out[$key]}") * 512))"
    samples[$key]+=$sample$'\n'
    read -r w c _ s a <<<"$sample"
    printf '  %-24s run %d: %7.2f s, CPU %7.2f s, output %9s MB (%s MB on disk), load %s\n' \
        "${label[$key]}" "$(grep -c . <<<"${samples[$key]}")" "$w" "$c" "$(mb "$s")" "$(mb "$a")" \
        "$(cut -d' ' -f1 /proc/loadavg)"
}

# The run of contender $1 with the median wall time into wall, cpu, rss, bytes, allocated.
settle() {
    local median
    median=$(printf '%s' "${samples[$1]}" | sort -g | sed -n "$(((runs + 1) / 2))p")
    read -r "wall[$1]" "cpu[$1]" "rss[$1]" "bytes[$1]" "allocated[$1]" <<<"$median"
}

# The files of image file $1 under $2: p1's (FAT32) copied out with mtools to $2/boot (this
# kernel may lack vfat), p2 (ext4) mounted read-only on $2/root.
files_of() {
    local p1 p2 size
    # (sectors: the byte offsets are taken in bash, as mawk prints large numbers as %g)
    read -r p1 p2 size < <(sfdisk -d "$1" | awk -F'[=,]' '/start=/ { printf "%s ", $2 + 0 }
        /start=/ && ++n == 2 { print $4 + 0 }')
    [[ -n $size ]] || die "no two partitions in $1"
    p1=$((p1 * 512)) p2=$((p2 * 512)) size=$((size * 512))
    mkdir -p "$2/boot" "$2/root"
    MTOOLS_SKIP_CHECK=1 mcopy -s -n -p -i "$1@@$p1" '::*' "$2/boot/" ||
        die "mcopy could not read the FAT partition of $1"
    mount -t ext4 -o ro,noload,loop,offset="$p2",sizelimit="$size" "$1" "$2/root" ||
        die "could not mount the ext4 partition of $1"
    mounted+=("$2/root")
}
unmount_all() {
    local m
    for m in "${mounted[@]}"; do umount "$m"; done
    mounted=()
}

# The correctness check of blockprint format $1 (untimed), on the output of the run just made.
declare -A decode=([zst]="zstd -dc" [xz]="xz -dc -T0" [gz]="gzip -dc")
check() {
    local key=bp-$1 file bmap ranges start end n=0
    file=${out[bp-$1]} bmap=${out[bp-$1]}.bmap
    echo "  checking the $1 backup (untimed)..."
    [[ -f $bmap ]] || die "$key left no bmap"
    rm -f "$restored"
    "$bp" -q copy "$file" --bmap "$bmap" "$restored" >"$logs/$key.restore.log" 2>&1 ||
        { cat "$logs/$key.restore.log" >&2; die "blockprint copy of $file failed"; }
    if [[ $1 == raw ]]; then
        cmp "$file" "$restored" || die "the raw backup and its restore differ"
    else
        # shellcheck disable=SC2086 # the decoder's words
        ${decode[$1]} "$file" | cmp - "$restored" ||
            die "$file, decoded by ${decode[$1]%% *}, is not what blockprint copy restored"
    fi
    "$bp" -q verify --bmap "$bmap" "$restored" || die "the restore of $file does not verify"
    "$bp" -q verify --bmap "$bmap" "$card" || die "the card does not match the bmap of $file"
    ranges=$(sed -n 's:.*<Range[^>]*> *\([0-9]*\)\(-[0-9]*\)\{0,1\} *</Range>.*:\1\2:p' "$bmap")
    [[ -n $ranges ]] || die "no ranges in $bmap"
    local block
    block=$(sed -n 's:.*<BlockSize> *\([0-9]*\) *</BlockSize>.*:\1:p' "$bmap")
    while IFS=- read -r start end; do
        end=${end:-$start}
        cmp -n $(((end - start + 1) * block)) -i $((start * block)):$((start * block)) \
            "$card" "$restored" || die "range $start-$end of $bmap differs between card and restore"
        n=$((n + 1))
    done <<<"$ranges"
    rm -rf "${dir:?}/mnt"
    files_of "$image" "$dir/mnt/image"
    files_of "$restored" "$dir/mnt/restored"
    diff -r --no-dereference "$dir/mnt/image" "$dir/mnt/restored" >"$logs/$key.diff" 2>&1 ||
        { head -20 "$logs/$key.diff" >&2; die "the files restored from $file differ from the image's"; }
    unmount_all
    rm -rf "$restored" "${dir:?}/mnt"
    echo "  $1: decodes to the restore, verifies on restore and card, $n ranges equal, same files"
}

active=("${keys[@]}")
gz_dropped=""
for ((round = 0; round < runs; round++)); do
    echo "round $((round + 1)) of $runs:"
    for key in "${active[@]}"; do
        if [[ $key == *-gz && -n $gz_dropped ]]; then continue; fi
        run_one "$key"
        if ((round == 0)) && [[ $key == bp-* ]]; then check "${key#bp-}"; fi
        if [[ $key == *-gz ]] && ((round == 0)) &&
            awk -v w="${samples[$key]%% *}" 'BEGIN { exit !(w >= 180) }'; then
            gz_dropped="${label[$key]} took ${samples[$key]%% *} s (180 s or more)"
            echo "  the gz pair is left out: $gz_dropped"
        fi
    done
done
final=()
for key in "${keys[@]}"; do
    [[ $key == *-gz && -n $gz_dropped ]] || final+=("$key")
done
for key in "${final[@]}"; do settle "$key"; done

first=${keys[0]}
used=$(mapped "${out[$first]}.bmap")
said=$(grep -m1 '^blockprint: backed up' "$logs/$first.log" || true)
echo
echo "$(date -u +%F), $mode, $(nproc) cores: card $(mb "$image_size") MB, the backup's bmap maps" \
    "$(mb "$used") MB ($((used * 100 / image_size)) %) in $(grep -c '<Range' "${out[$first]}.bmap") ranges"
[[ -z $said ]] || echo "  ${said#blockprint: }"
echo "medians of $runs (the run with the median wall time); x dd = blockprint / the dd pipe of the"
echo "same format (raw: output by the disk space taken)"
printf '%-24s %8s %8s %6s %8s %11s %11s %7s %7s\n' contender "wall s" "CPU s" "CPU" "RSS MB" \
    "output MB" "on disk MB" "x dd t" "x dd out"
for key in "${final[@]}"; do
    format=${key#*-} base=dd-${key#*-} t="" o=""
    if [[ $key == bp-* ]]; then
        t=$(ratio "${wall[$key]}" "${wall[$base]}")
        if [[ $format == raw ]]; then
            o=$(ratio "${allocated[$key]}" "${allocated[$base]}")
        else
            o=$(ratio "${bytes[$key]}" "${bytes[$base]}")
        fi
    fi
    printf '%-24s %8.2f %8.2f %5.0f%% %8.0f %11s %11s %7s %7s\n' "${label[$key]}" "${wall[$key]}" \
        "${cpu[$key]}" "$(awk -v c="${cpu[$key]}" -v w="${wall[$key]}" 'BEGIN { print c / w * 100 }')" \
        "$(awk -v k="${rss[$key]}" 'BEGIN { print k * 1024 / 1e6 }')" "$(mb "${bytes[$key]}")" \
        "$(mb "${allocated[$key]}")" "$t" "$o"
done
[[ -z $gz_dropped ]] || echo "gz left out: $gz_dropped"
