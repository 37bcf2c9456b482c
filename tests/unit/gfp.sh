#!/usr/bin/env bash
# hio-gfp by itself. Expected green sums come from hio-microscope-sim, which writes
# PNG (zlib) and TIFF (by hand) without libpng or libtiff and sums the pixels it made;
# the LZW, deflate, predictor and separate-plane TIFFs are the same images passed
# through Debian's tiffcp. Every variant: PNG 8/16-bit gray/RGB/RGBA, TIFF 8/16-bit
# gray/RGB(A) uncompressed/LZW/deflate. Then the exec contract (summary.json, the image
# kept only when positive, HIO_GFP_THRESHOLD), and corrupt or truncated files: exit 1
# with a reason on stderr, within a bounded time, no sanitizer report.
set -uo pipefail
: "${HIO_BUILD:?HIO_BUILD must point at the meson build dir}"
GFP=$HIO_BUILD/examples/hio-gfp
SIM=$HIO_BUILD/examples/hio-microscope-sim
T=$(mktemp -d /tmp/hio-gfp-unit.XXXXXX)
trap 'rm -rf "$T"' EXIT
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
command -v tiffcp >/dev/null || { echo "tiffcp missing (libtiff-tools; bash scripts/deps)" >&2; exit 1; }
cd "$T" || exit 1

# 73x41: rows are not a multiple of anything convenient; 2 wells x 3 time points, well
# A01 positive, so sums range from background to bright.
for fmt in png tiff; do
	for d in 8 16; do
		for c in 1 3 4; do
			"$SIM" --format $fmt --depth $d --channels $c --width 73 --height 41 --wells 2 \
				--times 3 --positive 1 --plate "$fmt$d-$c" --truth truth.txt in >/dev/null ||
				fail "sim $fmt $d $c"
		done
	done
done
# Compressed and rearranged TIFFs of the same pixels: the truth line is copied.
while read -r name sum px; do
	case $name in tiff*/A01/t002.tif | tiff*/A02/t000.tif) ;; *) continue ;; esac
	for v in lzw zip lzw:2 zip:2 separate; do
		# tiffcp separates planes of 8-bit samples only
		[[ $v = separate && $name = tiff16* ]] && continue
		out=in/${name%.tif}-$v.tif
		if [ $v = separate ]; then tiffcp -p separate "in/$name" "$out"; else tiffcp -c $v "in/$name" "$out"; fi ||
			fail "tiffcp $v $name"
		echo "${out#in/} $sum $px" >>truth.extra
	done
done <truth.txt
cat truth.extra >>truth.txt
n=$(wc -l <truth.txt)
[ "$n" -ge 84 ] || fail "only $n variants generated"

bad=0 pos=0
while read -r name sum px; do
	got=$(timeout 30 "$GFP" "in/$name" 2>err.txt | jq -r '"\(.green_sum) \(.pixels)"')
	if [ "$got" != "$sum $px" ]; then
		fail "$name: green_sum pixels '$got', expected '$sum $px' ($(head -c 300 err.txt))"
		bad=$((bad + 1))
	fi
done <truth.txt
[ $bad = 0 ] && ok "green_sum and pixels of $n images (PNG 8/16 gray/RGB/RGBA; TIFF 8/16 gray/RGB/RGBA none/LZW/deflate/predictor; 8-bit separate planes)"

# Positive: 8-bit mean on 0..255 above the threshold; the last time point of A01 has
# GFP level 200 in a third of its pixels, A02 only noise.
run() { # run NAME IMAGE [ENV...]: the exec contract in a fresh output dir
	local name=$1 img=$2
	shift 2
	rm -rf out && mkdir out
	env HIO_INPUT="$img" HIO_NAME="$name" HIO_OUTPUT="$T/out" "$@" timeout 30 "$GFP" >stdout.txt 2>stderr.txt
}
run plate/A01/t002.png in/png8-3/A01/t002.png
rc=$?
[ $rc = 0 ] || fail "contract run: exit $rc"
[ "$(jq -r .gfp_positive out/summary.json)" = true ] || fail "A01 t002 not positive"
want=$(awk '$1 == "png8-3/A01/t002.png" { print $2 }' truth.txt)
[ "$(jq -r .green_sum out/summary.json)" = "$want" ] || fail "summary.json green_sum"
[ "$(jq -r .name out/summary.json)" = plate/A01/t002.png ] || fail "summary.json name"
cmp -s out/t002.png in/png8-3/A01/t002.png || fail "positive image not kept as out/t002.png"
grep -q '^positive' stdout.txt || fail "stdout: $(cat stdout.txt)"
ok "positive: summary.json, the image kept, stdout '$(cat stdout.txt)'"
run plate/A02/t002.tif in/tiff16-1/A02/t002.tif
[ "$(jq -r .gfp_positive out/summary.json)" = false ] || fail "A02 t002 positive"
[ "$(ls out)" = summary.json ] || fail "negative: out holds $(ls out | tr '\n' ' ')"
ok "negative: summary.json only"
run plate/A01/t002.png in/png8-3/A01/t002.png HIO_GFP_THRESHOLD=250
[ "$(jq -r .gfp_positive out/summary.json)" = false ] || fail "threshold 250 still positive"
[ "$(jq -r .threshold out/summary.json)" = 250 ] || fail "threshold not 250"
ok "HIO_GFP_THRESHOLD=250 makes it negative"

# Corrupt and truncated inputs.
mkdir -p bad
png=in/png16-4/A01/t002.png tif=in/tiff8-3/A01/t002.tif
head -c 8 "$png" >bad/sig-only.png
head -c 40 "$png" >bad/cut-header.png
head -c 3000 "$png" >bad/cut-idat.png
sz=$(stat -c %s "$png")
head -c $((sz - 12)) "$png" >bad/no-iend.png
cp "$png" bad/flipped.png && printf '\xff\x00\xff' | dd of=bad/flipped.png bs=1 seek=200 conv=notrunc status=none
head -c 100 "$tif" >bad/cut-header.tif
head -c 5000 "$tif" >bad/cut-strip.tif
head -c 4000 "in/tiff16-3/A01/t002-lzw.tif" >bad/cut-lzw.tif
head -c 4000 "in/tiff16-3/A01/t002-zip.tif" >bad/cut-zip.tif
cp "$tif" bad/ifd-far.tif && printf '\xff\xff\xff\x7f' | dd of=bad/ifd-far.tif bs=1 seek=4 conv=notrunc status=none
printf 'II*\0' >bad/header-only.tif
: >bad/empty.png
echo "not an image" >bad/text.tif
head -c 20000 /dev/urandom >bad/random.png
nbad=0
for f in bad/*; do
	nbad=$((nbad + 1))
	rm -rf out && mkdir out
	HIO_INPUT=$f HIO_NAME=$f HIO_OUTPUT=$T/out timeout 30 "$GFP" >stdout.txt 2>stderr.txt
	rc=$?
	if [ $rc != 1 ]; then
		fail "$f: exit $rc, expected 1 ($(tail -c 400 stderr.txt))"
	elif ! grep -q "ERROR: $f: .*; the input is marked failed" stderr.txt; then
		fail "$f: no clear message: $(tail -c 300 stderr.txt)"
	elif [ -n "$(ls out)" ]; then
		fail "$f: wrote results although it failed"
	else
		echo "ok: $f: $(sed 's/^.*ERROR: //' stderr.txt | tail -n 1)"
	fi
done
[ $nbad = 14 ] || fail "expected 14 bad inputs, made $nbad"
[ $FAILS = 0 ]
