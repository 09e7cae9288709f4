#!/usr/bin/env bash
# benches/decode.sh - how fast does Blockprint decode each compressed format, next to the
# standard command-line decoder of that format?
#
# What it measures: one 1 GiB raw image that compresses like an OS image (35% random bytes,
# 35% text, small integers and code-like bytes, 30% zeros, in blocks of 4 KiB-4 MiB) is
# compressed once by the real tools at their usual settings (gzip -6, xz -6 -T2 (many blocks),
# xz -6 -T1 (one block), bzip2 -9, zstd -3 -T2, lz4 -1, lzop -3, zip -6, tar, tar | xz -6 -T2).
# Each file is then decoded to /dev/null by `blockprint copy -q --nobmap FILE /dev/null` and by
# the format's own decoder (gzip -dc, xz -dc and xz -dc -T0, bzip2 -dc, zstd -dc, lz4 -dc,
# lzop -dc, unzip -p, tar -xOf, tar -xJOf; cat for the raw image), 3 runs each with the
# compressed file in the page cache; the median run (by wall time) is shown, with its CPU
# seconds (user+sys, GNU time). MB/s = uncompressed bytes / wall seconds, MB = 10^6 bytes;
# "bp/CLI" = blockprint MB/s / CLI MB/s, so above 1 means blockprint is faster; "par" in the
# summary = CPU s / wall s, about the number of cores kept busy. Blockprint treats /dev/null as
# a null sink (no write calls), the CLIs write(2) to it: cheap, but it flatters blockprint a
# little on the fastest formats. Before timing, each file is copied once by blockprint to a
# file and compared with the raw image; a mismatch fails the run.
#
# Run:    benches/decode.sh [--regen]    (--regen rebuilds the image and every compressed file)
# Needs:  cargo, python3, the compressors above; root only to install GNU time if it is
#         missing. ~8 GiB free on the repo's filesystem; work files live in target/bench/decode/.
# Takes:  about 12 minutes on a 2-core VM (bzip2 alone takes 6), plus the release build and,
#         the first time, ~25 minutes to generate and compress the image (xz -6 is slow).
# Never run in CI: timings belong in benchmarks, not in tests.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$root/target/bench/decode
raw=$work/raw.img
bp=$root/target/release/blockprint
log=$work/run.log
timing=$work/time.out
size=$((1024 * 1024 * 1024))
runs=3
regen=0

die() { echo "decode.sh: error: $*" >&2; exit 1; }
cleanup() { rm -f "$log" "$timing" "$work/out.img" "$work"/*.part "$work"/part.zip; }

# The image: blocks of each kind, shuffled, all from one seed so every run makes the same bytes.
make_raw() {
    echo "generating $raw (1 GiB: 35% random, 35% structured, 30% zeros)..."
    python3 - "$raw.part" "$size" <<'EOF'
import random, sys
path, size = sys.argv[1], int(sys.argv[2])
rng = random.Random(20240612)
vocab = ["".join(rng.choices("etaoinshrdlucmfwypvbgkqjxz_", k=rng.randint(2, 11))) for _ in range(4000)]
vocab_w = [1 / (i + 1) for i in range(len(vocab))]  # a long tail, as in logs and docs
seps = [" ", " ", " ", " ", "\n", ", ", ": ", "/", "=", ".", "\t"]
def text(n):
    words = rng.choices(vocab, vocab_w, k=n // 4 + 16)
    return "".join(w + s for w, s in zip(words, rng.choices(seps, k=len(words)))).encode()[:n]
small = bytes(min(255, int(rng.expovariate(1 / 12))) for _ in range(256))
def ints(n):  # little-endian 32-bit values, mostly below 64, as in tables and metadata
    out = bytearray(n)
    out[0::4] = rng.randbytes(len(out[0::4])).translate(small)
    return bytes(out)
ops = [rng.randbytes(rng.randint(1, 4)) for _ in range(600)]  # instruction-like strings
ops_w = [1 / (i + 1) ** 0.9 for i in range(len(ops))]
def code(n):  # every 4th instruction gets a random operand byte
    picks = rng.choices(ops, ops_w, k=n // 2 + 16)
    imm = rng.randbytes(len(picks))
    return b"".join(p + imm[i:i + 1] if i % 4 == 0 else p for i, p in enumerate(picks))[:n]
plan, third = [], size * 35 // 100
for kind, left in ((rng.randbytes, third), (None, third), (bytes, size - 2 * third)):
    while left > 0:
        n = min(left, 4096 * int(1024 ** rng.random()))
        plan.append((kind or rng.choice([text, ints, code]), n))
        left -= n
rng.shuffle(plan)
with open(path, "wb") as f:
    for kind, n in plan:
        data = kind(n)
        assert len(data) == n
        f.write(data)
print(f"  {len(plan)} blocks")
EOF
    mv "$raw.part" "$raw"
}

compress() {  # make the file of format $1 from the raw image (not timed)
    local out=${file[$1]} words
    if [[ $1 == raw ]]; then return; fi
    echo "  ${label[$1]}: ${out##*/}"
    case $1 in
        zip) rm -f "$work/part.zip"; (cd "$work" && zip -q -6 part.zip raw.img); mv "$work/part.zip" "$out.part" ;;
        tar) tar -cf "$out.part" -C "$work" raw.img ;;
        txz) tar -cf - -C "$work" raw.img | xz -6 -T2 -c >"$out.part" ;;
        *) read -ra words <<<"${label[$1]}"; "${words[@]}" -q -c "$raw" >"$out.part" ;;  # "gzip -6" etc.
    esac
    mv "$out.part" "$out"
}

set_cmd() {  # contender $1 = "format|CLI decoder" ("format|bp" for blockprint), into the array cmd
    local f=${file[${1%%|*}]} words
    read -ra words <<<"${1#*|}"
    if [[ ${1#*|} == bp ]]; then cmd=("$bp" copy -q --nobmap "$f" /dev/null); else cmd=("${words[@]}" "$f"); fi
}

timed() {  # run "$@" under GNU time, output to /dev/null; leaves "wall cpu" in $sample
    if ! /usr/bin/time -f '%e %U %S' -o "$timing" "$@" >/dev/null 2>"$log"; then
        echo "FAILED: $*" >&2
        cat "$log" "$timing" >&2
        die "contender failed"
    fi
    sample=$(tail -n1 "$timing" | awk '{ printf "%s %.2f", $1, $2 + $3 }')
}

measure() {  # contender $1: $runs warm runs, keeps the median (by wall time)
    local i samples="" median shown
    set_cmd "$1"
    shown=${cmd[*]//$work\//}
    for ((i = 1; i <= runs; i++)); do
        cat "${file[${1%%|*}]}" >/dev/null  # warm: the compressed file is in the page cache
        timed "${cmd[@]}"
        samples+="$sample"$'\n'
    done
    median=$(printf '%s' "$samples" | sort -n | sed -n "$(((runs + 1) / 2))p")
    wall[$1]=${median% *}
    cpu[$1]=${median#* }
    printf '  %-48s wall %s s; median %s s, %s CPU s\n' "${shown//$root\/target\/release\//}" \
        "$(printf '%s' "$samples" | cut -d' ' -f1 | paste -sd' ')" "${wall[$1]}" "${cpu[$1]}"
}

check() {  # blockprint must give back the raw image, byte for byte
    local out=$work/out.img
    rm -f "$out"
    "$bp" copy -q --nobmap "${file[$1]}" "$out" 2>"$log" || { cat "$log" >&2; die "blockprint failed on ${file[$1]}"; }
    cmp "$out" "$raw" || die "blockprint decoded ${file[$1]} wrongly (see cmp above)"
    rm -f "$out"
}

fmt() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b > 0) printf "%.*f", d, a / b; else print "inf" }'; }

# --- main -------------------------------------------------------------------------------
[[ $# -eq 0 || ($# -eq 1 && $1 == --regen) ]] || die "usage: benches/decode.sh [--regen]"
if [[ $# -eq 1 ]]; then regen=1; fi
for t in cargo python3 gzip xz bzip2 zstd lz4 lzop zip unzip tar cmp; do command -v "$t" >/dev/null || die "no $t in PATH"; done
if [[ ! -x /usr/bin/time ]]; then
    ((EUID == 0)) || die "GNU time is missing: apt-get install time"
    apt-get -o DPkg::Lock::Timeout=900 install -y time >/dev/null || die "cannot install GNU time"
fi
mkdir -p "$work"
trap cleanup EXIT

echo "building the release binary..."
(cd "$root" && cargo build --release --quiet)

keys=(raw gz xz xz1 bz2 zst lz4 lzo zip tar txz)
declare -A label=(
    [raw]="raw" [gz]="gzip -6" [xz]="xz -6 -T2" [xz1]="xz -6 -T1" [bz2]="bzip2 -9"
    [zst]="zstd -3 -T2" [lz4]="lz4 -1" [lzo]="lzop -3" [zip]="zip -6" [tar]="tar" [txz]="tar.xz -6 -T2"
)
declare -A file=(
    [raw]=$raw [gz]=$raw.gz [xz]=$raw.xz [xz1]=$work/raw-t1.img.xz [bz2]=$raw.bz2 [zst]=$raw.zst
    [lz4]=$raw.lz4 [lzo]=$raw.lzo [zip]=$work/raw.zip [tar]=$work/raw.tar [txz]=$work/raw.tar.xz
)
# each format's file, timed against its CLI decoder(s): "format|decoder" (the file is appended)
rows=("raw|cat" "gz|gzip -dc" "xz|xz -dc" "xz|xz -dc -T0" "xz1|xz -dc" "xz1|xz -dc -T0" "bz2|bzip2 -dc"
    "zst|zstd -q -dc" "lz4|lz4 -q -dc" "lzo|lzop -dc" "zip|unzip -p" "tar|tar -xOf" "txz|tar -xJOf")
declare -A wall=() cpu=()

if ((regen)) || [[ ! -f $raw ]]; then
    make_raw
    regen=1
fi
echo "compressed files (made only when missing, or with --regen):"
for key in "${keys[@]}"; do
    if ((regen)) || [[ ! -f ${file[$key]} ]]; then compress "$key"; fi
done

echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)," \
    "$(($(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo) / 1024 / 1024)) GiB, kernel $(uname -r);" \
    "$(xz --version | head -n1), zstd $(zstd --version | grep -o 'v[0-9.]*')"

echo "correctness: blockprint copy --nobmap FILE out.img, then cmp with the raw image"
for key in "${keys[@]}"; do check "$key"; done
echo "  all ${#keys[@]} files decode to the raw image"

echo "timing ($runs warm runs each; wall s of every run):"
for key in "${keys[@]}"; do
    measure "$key|bp"
    for row in "${rows[@]}"; do if [[ ${row%%|*} == "$key" ]]; then measure "$row"; fi; done
done

mb=$(fmt "$size" 1000000 3)
summary=""
echo
echo "=== decoding a 1 GiB image to /dev/null, page cache warm, median of $runs runs ==="
line='%-14s %9s %6s %9s  %-15s %9s %7s %7s %7s\n'
# shellcheck disable=SC2059  # the format is ours
printf "$line" format "size MiB" ratio "bp MB/s" CLI "CLI MB/s" bp/CLI "bp CPU" "CLI CPU"
for row in "${rows[@]}"; do
    key=${row%%|*} cli=${row#*|} b=${wall[${row%%|*}|bp]} o=${wall[$row]}
    bytes=$(stat -c %s "${file[$key]}")
    # shellcheck disable=SC2059
    printf "$line" "${label[$key]}" "$(fmt "$bytes" 1048576 1)" "$(fmt "$size" "$bytes")" "$(fmt "$mb" "$b" 0)" \
        "$cli" "$(fmt "$mb" "$o" 0)" "$(fmt "$o" "$b")" "${cpu[$key|bp]}" "${cpu[$row]}"
    summary+=$(awk -v f="${label[$key]}" -v c="$cli" -v b="$b" -v o="$o" -v bc="${cpu[$key|bp]}" -v oc="${cpu[$row]}" 'BEGIN {
        how = (o >= b) ? sprintf("%.2fx faster than", o / b) : sprintf("%.2fx slower than", b / o)
        printf "%s: blockprint %s %s (%.2f s vs %.2f s wall; par %.2f vs %.2f)", f, how, c, b, o,
            (b > 0 ? bc / b : 0), (o > 0 ? oc / o : 0) }')$'\n'
done
echo
printf '%s' "$summary"
