#!/usr/bin/env bash
# hio send of 1000 files (1 KB..4 MB, in subdirectories) through 4 PEs: exactly one
# result per file, each the file's sha256, listed by hio results, fetched through the
# API (a sample with hio results get); and P2P: the master receives under 1% of the data bytes, beyond those of
# files spilled to the backlog. A name that is not UTF-8 is refused, the others sent.
. "$(dirname "$0")/lib.sh"

"$HIO" up --pes 4 --state-dir "$STATE" --exec 'sha256sum "$HIO_INPUT" | cut -c1-64' >"$T/url" ||
	{ fail "hio up"; finish; }
check "hio up printed the master URL" grep -q '^http://127.0.0.1:' "$T/url"
eq "idle PEs after up" "$(pe_count idle)" 4
# 4 PEs by hand, the autoscaler off: the P2P share below is the stream path's at a
# fixed count. With the autoscaler, idle PEs go while the files are generated (down to
# --min-pes 1), and the burst spills to the backlog while it scales back up; that
# behaviour is autoscale.sh's.
check "hio scale 4" "$HIO" scale 4

cd "$T" || exit 1
mkdir -p data
# Log-uniform sizes from 1 KB to 4 MB, so small and large files both show up.
awk 'BEGIN { srand(42); for (i = 0; i < 1000; i++) {
	printf "data/plate%d/w%02d/img%04d.bin %d\n", i % 3, i % 17, i, int(1024 * exp(rand() * log(4096))) } }' >sizes
while read -r f sz; do
	mkdir -p "$(dirname "$f")"
	head -c "$sz" /dev/urandom >"$f"
done <sizes
total_bytes=$(awk '{ s += $2 } END { print s }' sizes)

"$HIO" send data >sent.txt 2>send.err
check "hio send exit 0" test $? -eq 0
eq "acknowledged lines" "$(wc -l <sent.txt)" 1000
check "hio wait" "$HIO" wait --timeout 300

"$HIO" results --json >results.json
eq "result entries" "$(jq length results.json)" 1000
eq "entries done" "$(jq '[.[] | select(.state == "done")] | length' results.json)" 1000
eq "distinct names" "$(jq -r '.[].name' results.json | sort -u | wc -l)" 1000

# Every result against the file's own sha256, through the master's API in one
# process; and a sample of 50 fetched with hio results get, as a user does.
eq "results whose sha256 mismatched or could not be fetched" \
	"$(python3 "$(dirname "$0")/../tools/result_shas.py" "$(cat "$STATE/master.url")" "$STATE/token" sizes)" 0
eq "of 50 fetched with hio results get, mismatched" "$(sha_mismatches sizes 50)" 0

rx=$(counter rx_bytes)
# A file waiting spill_ms (1 s) while all 4 PEs are busy goes to the backlog (SPEC), as
# on a loaded machine: only those bytes may pass through the master.
spilled=$(awk 'NR == FNR { sz[$1] = $2; next } $NF == "backlog" { s += sz[$1] } END { print s + 0 }' sizes sent.txt)
echo "data bytes $total_bytes, $spilled of them spilled to the backlog, master received $rx"
check "master received under 1% of the data bytes beyond the spilled ones" \
	test $((rx - spilled)) -lt $((total_bytes / 100))
eq "in (distinct messages)" "$(pfield default in)" 1000
eq "done" "$(pfield default done)" 1000

# A name that is not UTF-8 (Latin-1 "café") is refused at once, with the reason, and
# the rest is sent: names travel in JSON; before, such a file was retried forever.
mkdir names
printf 'latin' >"names/$(printf 'caf\xe9.txt')"
printf 'utf8' >names/café.txt
timeout 60 "$HIO" send --state-dir "$STATE" names >names.out 2>names.err
eq "hio send with a Latin-1 name exits 1" "$?" 1
check "... saying so ($(tail -n 1 names.err))" grep -q "name is not UTF-8" names.err
check "... and that 1 of 2 was not sent" grep -q "1 of 2 file(s) not sent" names.err
check "hio wait after it" "$HIO" wait --timeout 60 --state-dir "$STATE"
eq "names/café.txt processed" "$("$HIO" results --json --state-dir "$STATE" |
	jq -r '.[] | select(.name == "names/café.txt") | .state')" done
eq "in after it" "$(pfield default in)" 1001
finish
