#!/usr/bin/env bash
# The case study as a resident Python handler (examples/gfp-python, issue 13): the
# simulator saves plates of several formats into a mount served by
# `--serve 'python3 gfp.py'`; every result directory (summary.json, the kept image when
# positive, stdout) is byte for byte what hio-gfp makes of the same file. A 16-bit colour
# image, which Pillow cannot read exactly, fails alone with its reason, and the PEs go on.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"
top=$(cd "$(dirname "$0")/../.." && pwd)
GFP=$HIO_BUILD/examples/hio-gfp
SIM=$HIO_BUILD/examples/hio-microscope-sim
# Debian's python3, where Debian's python3-numpy and python3-pil are (another python3
# may come first on PATH).
PY=${HIO_PYTHON:-/usr/bin/python3}
"$PY" -c 'import numpy, PIL' 2>/dev/null || { fail "$PY lacks numpy or PIL: bash scripts/deps"; finish; }
"$HIO" up --pes 2 --serve "PYTHONPATH='$top/python' exec $PY '$top/examples/gfp-python/gfp.py'" \
	--mount "$MNT" --state-dir "$STATE" >"$T/url" ||
	{ fail "hio up --serve gfp.py --mount"; finish; }
cd "$T" || exit 1

sim() { "$SIM" --wells 3 --times 2 --positive 2 --width 73 --height 41 "$@" local >/dev/null; }
sim --plate tif8rgb
sim --plate tif8gray --channels 1
sim --plate tif16gray --depth 16 --channels 1
sim --plate png8rgba --format png --channels 4
sim --plate png16gray --format png --depth 16 --channels 1
sim --plate tif16rgb --depth 16 --channels 3
n=$(find local -type f | wc -l)
eq "images made" "$n" 36

# What hio-gfp makes of each file, laid out as results/<name>/.
(cd local && find . -type f | sed 's|^\./||' | sort) >names
while read -r name; do
	mkdir -p "want/$name"
	HIO_INPUT="local/$name" HIO_OUTPUT="want/$name" HIO_NAME="$name" "$GFP" >"want/$name/stdout" 2>/dev/null ||
		rm -rf "want/$name"
done <names

cp -r local/. "$MNT/" || fail "cp into the mount"
check "hio wait" "$HIO" wait --timeout 180
eq "done" "$(pfield default done)" 30
eq "failed: the 16-bit colour images" "$(pfield default failed)" 6
same=0
while read -r name; do
	case $name in tif16rgb/*) continue ;; esac # failed on purpose, checked below
	if diff -r "want/$name" "$MNT/results/$name" >diff.out 2>&1; then
		same=$((same + 1))
	else
		echo "  $name differs:" >&2
		head -5 diff.out >&2
	fi
done <names
eq "result directories identical to hio-gfp's" "$same" 30
kept() { find "$1" -path '*/tif16rgb/*' -prune -o -type f \( -name 't*.tif' -o -name 't*.png' \) -print | wc -l; }
check "some images are positive" test "$(kept want)" -gt 0
eq "positive images kept" "$(kept "$MNT/results")" "$(kept want)"
check "a 16-bit colour image says why it failed" \
	grep -q "unsupported pixels" "$MNT/results/tif16rgb/A01/t000.tif/error"
finish
