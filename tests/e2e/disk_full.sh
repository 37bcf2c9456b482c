#!/usr/bin/env bash
# The master's state disk fills up (SPEC: a result that cannot be stored fails its input
# with a clear reason after bounded retries; disk-full shows in hio status; nothing is
# rewritten in a loop). The master's state directory is a 8 MiB tmpfs; the worker's is
# elsewhere. Inputs whose result (12 MiB) cannot fit are failed with the reason after a
# few tries; the small ones are done; hio status says the disk is full; the counts add
# up (no input lost or doubled); and once space is free the pipeline goes on.
. "$(dirname "$0")/lib.sh"
MST="$T/mstate"
WST="$T/wstate"
eval "_lib_cleanup() $(declare -f cleanup | tail -n +2)"
cleanup() {
	"$HIO" down --state-dir "$WST" >/dev/null 2>&1
	"$HIO" down --state-dir "$MST" >/dev/null 2>&1
	STATE=$MST _lib_cleanup
	umount "$MST" 2>/dev/null
}
cd "$T" || exit 1
mkdir -p "$MST" "$WST" data more
command -v mount >/dev/null || { fail "mount is missing (bash scripts/deps)"; finish; }
mount -t tmpfs -o size=8m tmpfs "$MST" || { fail "cannot mount a tmpfs on $MST"; finish; }
export HIO_STATE_DIR="$MST"
"$HIO" master --listen 127.0.0.1:0 >url 2>master.hint || { fail "hio master: $(cat master.hint)"; finish; }
URL=$(cat url)
"$HIO" join "$URL" --token-file "$MST/token" --max-pes 1 --state-dir "$WST" >join.out 2>&1 ||
	{ fail "hio join: $(cat join.out)"; finish; }
# shellcheck disable=SC2016 # expanded by the PE's shell
check "hio pipeline set" "$HIO" pipeline set default --pes 1 --min-pes 1 --max-pes 1 --exec '
	case "$HIO_NAME" in data/big*) head -c 12582912 /dev/zero >"$HIO_OUTPUT/big" ;; esac
	sha256sum "$HIO_INPUT" | cut -c1-64'
for i in 1 2 3 4; do head -c $((300 + i)) /dev/urandom >"data/s$i"; done
head -c 100 /dev/urandom >data/big1
head -c 100 /dev/urandom >data/big2
"$HIO" send data >sent.txt 2>send.err
check "hio send exits 0" test $? -eq 0
check "hio wait" "$HIO" wait --timeout 180
"$HIO" results --json >r.json
eq "result entries (one per input, none lost or doubled)" \
	"$(jq -r '.[].name' r.json | sort -u | wc -l) $(jq length r.json)" "6 6"
eq "small inputs done" "$(jq '[.[] | select(.state == "done")] | length' r.json)" 4
eq "big inputs failed" "$(jq -r '[.[] | select(.state == "failed") | .name] | sort | join(" ")' r.json)" \
	"data/big1 data/big2"
rm -rf get
"$HIO" results get data/big1 get >/dev/null 2>&1
check "the reason says the master could not store it: $(head -c 300 get/error 2>/dev/null)" \
	grep -q "the master could not store the result after 3 tries: .*disk full" get/error
"$HIO" status >status.txt
check "hio status says the state disk is full" grep -q "STATE DISK FULL" status.txt
tries=$(grep -c "disk full" "$MST/master.log")
refused=$(jq '.counters.disk_full_refused' <<<"$("$HIO" status --json)")
# 2 inputs x 3 tries, and each failed entry may be refused once more while it still
# does not fit. Before, every result was sent again every 2 s for ever.
check "results refused for the full disk: 6 to 8 (got $refused)" test "$refused" -ge 6 -a "$refused" -le 8
check "the master logged it (at most one line per 10 s; $tries lines)" test "$tries" -ge 1 -a "$tries" -le 3
for i in 1 2; do
	rm -rf get
	"$HIO" results get "data/s$i" get >/dev/null 2>&1
	eq "data/s$i: its result is its sha256" "$(cat get/stdout 2>/dev/null)" "$(sha256sum <"data/s$i" | cut -c1-64)"
done
eq "the master's disk holds no half-stored result" "$(find "$MST" -size +1M | wc -l)" 0

# The pipeline goes on.
for i in 1 2 3; do head -c 200 /dev/urandom >"more/m$i"; done
"$HIO" send more >/dev/null 2>&1
check "hio send afterwards" test $? -eq 0
check "hio wait afterwards" "$HIO" wait --timeout 120
eq "done afterwards" "$("$HIO" results --json | jq '[.[] | select(.state == "done")] | length')" 7
finish
