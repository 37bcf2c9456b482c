#!/usr/bin/env bash
# The paper's case study through a real cluster and its mount: hio-microscope-sim
# saves a 3-well x 3-time-point plate into the mount (TIFF written in place, PNG via
# NAME.tmp and rename) while corrupt and truncated images are copied in beside it.
# Each image's summary.json under results/ holds the green sum the simulator computed;
# positive images are kept among their results byte for byte, negative ones are not;
# every corrupt input ends failed, with its reason in results/<name>/error.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

GFP=$HIO_BUILD/examples/hio-gfp
SIM=$HIO_BUILD/examples/hio-microscope-sim
fs_up "$GFP" || { fail "hio up --mount with hio-gfp"; finish; }
cd "$T" || exit 1

sim() { "$SIM" --wells 3 --times 3 --positive 2 --width 200 --height 120 "$@"; }
# The same images locally, to compare the kept copies with.
sim --plate tif --truth truth.txt local >/dev/null
sim --plate png --format png --depth 16 --channels 1 --truth truth.txt local >/dev/null
sim --plate tif "$MNT" >/dev/null 2>sim.err || fail "sim into the mount (direct): $(cat sim.err)"
sim --plate png --format png --depth 16 --channels 1 --mode rename "$MNT" >/dev/null 2>sim.err ||
	fail "sim into the mount (rename): $(cat sim.err)"
mkdir -p "$MNT/bad"
head -c 2000 local/png/A01/t002.png >"$MNT/bad/cut.png"
head -c 9000 local/tif/A01/t002.tif >"$MNT/bad/cut.tif"
echo "not an image" >"$MNT/bad/text.tif"
eq "images the simulator listed" "$(wc -l <truth.txt)" 18

finished() { [ "$(($(pfield default done) + $(pfield default failed)))" -ge 21 ]; }
check "21 inputs finished within 120 s" wait_for 120 finished
eq "done" "$(pfield default done)" 18
eq "failed" "$(pfield default failed)" 3

bad=0 pos=0 kept=0
while read -r name sum _; do
	s=$MNT/results/$name/summary.json
	got=$(jq -r .green_sum "$s" 2>/dev/null)
	[ "$got" = "$sum" ] || { fail "$name: green_sum '$got', expected $sum"; bad=$((bad + 1)); }
	if [ "$(jq -r .gfp_positive "$s" 2>/dev/null)" = true ]; then
		pos=$((pos + 1))
		cmp -s "$MNT/results/$name/${name##*/}" "local/$name" && kept=$((kept + 1))
	elif [ -e "$MNT/results/$name/${name##*/}" ]; then
		fail "$name: negative but its image was kept"
	fi
done <truth.txt
eq "summary.json files whose green_sum differs from the simulator's" "$bad" 0
# Positive: wells A01 and A02 from the second time point on (GFP level 100 and 200 in a
# third of the pixels), in both plates.
eq "positive images" "$pos" 8
eq "positive images kept byte for byte" "$kept" 8

for f in bad/cut.png bad/cut.tif bad/text.tif; do
	eq "state of $f" "$(results_json | jq -r --arg n "$f" '.[] | select(.name == $n) | .state')" failed
	if grep -q "ERROR: $f: .*; the input is marked failed" "$MNT/results/$f/error" 2>/dev/null; then
		ok "$f: $(grep -o "ERROR: .*" "$MNT/results/$f/error" | head -n 1)"
	else
		fail "$f: results/$f/error: $(cat "$MNT/results/$f/error" 2>&1 | head -c 400)"
	fi
done
finish
