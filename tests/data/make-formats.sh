#!/usr/bin/env bash
# Writes IMAGE in every format Blockprint reads, with the real command-line tools, into OUTDIR:
#   image.img.gz (two gzip members), image.img.xz (multi-block, two streams with padding),
#   image.img.bz2 (two streams), image.img.zst, image.img.lz4 (two frames), image.img.lzo,
#   image.zip (with a README beside the image), image.tar and image.tar.{gz,bz2,xz,zst,lz4}
#   (each with a README and the image's bmap beside the image).
# Concatenated members/streams/frames are what parallel compressors (pigz, pbzip2, xz -T,
# zstd -T) and `cat a.gz b.gz` produce; every reader must take them.
# Usage: make-formats.sh IMAGE BMAP OUTDIR      (the integration tests run it)
set -euo pipefail
image=$(realpath "$1")
bmap=$(realpath "$2")
out=$3
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

size=$(stat -c %s "$image")
half=$(( size / 2 ))
head -c "$half" "$image" > "$work/first"
tail -c +$(( half + 1 )) "$image" > "$work/second"

{ gzip -c -6 "$work/first"; gzip -c -1 "$work/second"; } > "$out/image.img.gz"
{ xz -c -T2 --block-size=262144 "$work/first"; head -c 8 /dev/zero; xz -c -0 "$work/second"; } \
    > "$out/image.img.xz"
{ bzip2 -c "$work/first"; bzip2 -c "$work/second"; } > "$out/image.img.bz2"
zstd -q -c -T2 "$image" > "$out/image.img.zst"
{ lz4 -q -c "$work/first"; lz4 -q -c "$work/second"; } > "$out/image.img.lz4"
lzop -q -c "$image" > "$out/image.img.lzo"

mkdir -p "$work/tree"
cp --sparse=always "$image" "$work/tree/image.img"
cp "$bmap" "$work/tree/image.img.bmap"
echo "Flash image.img with its bmap." > "$work/tree/README.txt"
(cd "$work/tree" && zip -q -X "$out/image.zip" README.txt image.img)
(cd "$work/tree" && tar --format=gnu -cf "$out/image.tar" README.txt image.img image.img.bmap)
gzip -c "$out/image.tar" > "$out/image.tar.gz"
bzip2 -c "$out/image.tar" > "$out/image.tar.bz2"
xz -c -T2 "$out/image.tar" > "$out/image.tar.xz"
zstd -q -c "$out/image.tar" > "$out/image.tar.zst"
lz4 -q -c "$out/image.tar" > "$out/image.tar.lz4"
