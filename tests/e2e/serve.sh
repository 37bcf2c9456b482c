#!/usr/bin/env bash
# Resident analyses (hio up --serve): one Python analysis run on 300 files with --exec
# and as a resident handler gives identical results; a resident handler that raises,
# one that crashes (os._exit) and one that hangs fail only their own message, and the
# same PE goes on with the rest.
. "$(dirname "$0")/lib.sh"

PYDIR=$(cd "$(dirname "$0")/../../python" && pwd)
cd "$T" || exit 1

# The same analysis code both ways: a script run per message, and a resident handler.
cat >analysis.py <<'EOF'
import hashlib, os, sys

def analyse(name, data, outdir, path):
    hist = [0] * 16
    for b in data[:65536]:
        hist[b & 15] += 1
    os.makedirs(os.path.join(outdir, "stats"), exist_ok=True)
    with open(os.path.join(outdir, "stats", "hist.txt"), "w") as f:
        f.write(" ".join(map(str, hist)) + "\n")
    with open(os.path.join(outdir, "input.txt"), "w") as f:
        f.write(os.path.basename(path) + "\n")
    return "%s %d %s\n" % (name, len(data), hashlib.sha256(data).hexdigest())

if sys.argv[1] == "exec":
    with open(os.environ["HIO_INPUT"], "rb") as f:
        data = f.read()
    sys.stdout.write(analyse(os.environ["HIO_NAME"], data, os.environ["HIO_OUTPUT"],
                             os.environ["HIO_INPUT"]))
else:
    from hio._serve import handler

    @handler
    def process(msg):
        return analyse(msg.name, msg.data, msg.output, msg.path)
EOF

# Log-uniform sizes from 100 B to 3 MB: bodies given inline and bodies received to disk.
mkdir -p data
awk 'BEGIN { srand(13); for (i = 0; i < 300; i++) {
	printf "data/p%d/f%03d.%s %d\n", i % 4, i, (i % 2 ? "tif" : "bin"), int(100 * exp(rand() * log(30000))) } }' >sizes
while read -r f sz; do
	mkdir -p "$(dirname "$f")"
	head -c "$sz" /dev/urandom >"$f"
done <sizes

# run MODE OUTDIR: a cluster with the analysis as MODE, all files sent, every result
# fetched into OUTDIR/<name>/.
run() {
	local mode=$1 out=$2
	"$HIO" up --pes 2 --min-pes 2 --max-pes 2 --state-dir "$STATE" --"$mode" \
		"PYTHONPATH='$PYDIR' exec python3 -S '$T/analysis.py' $mode" >/dev/null ||
		{ fail "hio up --$mode"; return 1; }
	"$HIO" send data >"sent.$mode" 2>"send.$mode.err"
	check "$mode: hio send exit 0" test $? -eq 0
	check "$mode: hio wait" "$HIO" wait --timeout 600
	"$HIO" results --json >"results.$mode.json"
	eq "$mode: result entries" "$(jq length "results.$mode.json")" 300
	eq "$mode: entries done" \
		"$(jq '[.[] | select(.state == "done")] | length' "results.$mode.json")" 300
	eq "$mode: pipeline in" "$(pfield default in)" 300
	# Four at a time: 300 CLI runs of an ASan build are most of this test's time.
	cut -d' ' -f1 sizes | xargs -P 4 -I{} sh -c '"$1" results get "$2" "$3/$2" >/dev/null ||
		echo "$2"' _ "$HIO" {} "$out" >"unfetched.$mode"
	eq "$mode: results that could not be fetched" "$(wc -l <"unfetched.$mode")" 0
	"$HIO" down --state-dir "$STATE" >/dev/null
	rm -rf "$STATE"
}
run exec res-exec
run serve res-serve
check "serve results identical to exec results (300 files)" diff -r res-exec res-serve
# The results are the analysis's, not empty files that happen to agree.
bad=0
while read -r f sz; do
	want="$f $sz $(sha256sum "$f" | cut -c1-64)"
	[ "$(cat "res-serve/$f/stdout" 2>/dev/null)" = "$want" ] || bad=$((bad + 1))
	[ "$(cat "res-serve/$f/input.txt" 2>/dev/null)" = "$(basename "$f")" ] || bad=$((bad + 1))
	[ -s "res-serve/$f/stats/hist.txt" ] || bad=$((bad + 1))
done <sizes
eq "serve results that are not the analysis's" "$bad" 0

# Faults: on one PE, with a 3 s per-message limit.
cat >faulty.py <<'EOF'
import os, sys, time
from hio._serve import handler

@handler
def process(msg):
    print("handling", msg.name)  # to the PE's log, never into the protocol
    if "raise" in msg.name:
        raise ValueError("asked to raise on " + msg.name)
    if "crash" in msg.name:
        sys.stderr.write("about to crash\n")
        sys.stderr.flush()
        os._exit(7)
    if "hang" in msg.name:
        time.sleep(3600)
    return "%s %d\n" % (msg.name, len(msg.data))
EOF
mkdir -p faults
for i in $(seq 1 40); do head -c $((i * 100)) /dev/urandom >"faults/ok$i"; done
for k in raise crash hang; do head -c 500 /dev/urandom >"faults/$k"; done
"$HIO" up --pes 1 --max-pes 1 --timeout-ms 3000 --state-dir "$STATE" \
	--serve "PYTHONPATH='$PYDIR' exec python3 '$T/faulty.py'" >/dev/null ||
	{ fail "hio up --serve faulty.py"; finish; }
pe_before=$(status_json | jq -r '.pes[0].id')
"$HIO" send faults >sent.faults 2>send.faults.err
check "faults: hio send exit 0" test $? -eq 0
check "faults: hio wait" "$HIO" wait --timeout 120
"$HIO" results --json >results.faults.json
eq "faults: inputs" "$(pfield default in)" 43
eq "faults: done" "$(pfield default done)" 40
eq "faults: failed" "$(pfield default failed)" 3
eq "faults: result entries" "$(jq length results.faults.json)" 43
eq "faults: duplicates (entries per name beyond one)" \
	"$(($(jq length results.faults.json) - $(jq -r '.[].name' results.faults.json | sort -u | wc -l)))" 0
eq "faults: lost (inputs without a result)" \
	"$(comm -23 <(ls faults | sed 's|^|faults/|' | sort) <(jq -r '.[].name' results.faults.json | sort) | wc -l)" 0
eq "faults: the failed ones" \
	"$(jq -r '[.[] | select(.state == "failed") | .name] | sort | join(" ")' results.faults.json)" \
	"faults/crash faults/hang faults/raise"
eq "faults: the same PE throughout" "$(status_json | jq -r '[.pes[].id] | join(" ")')" "$pe_before"
rm -rf e && "$HIO" results get faults/raise e >/dev/null
check "raise: the traceback is the error" grep -q 'ValueError: asked to raise on faults/raise' e/error
check "raise: a Python traceback" grep -q '^Traceback' e/error
rm -rf e && "$HIO" results get faults/crash e >/dev/null
check "crash: exit status in the error" grep -q 'exited with status 7' e/error
check "crash: its stderr in the error" grep -q 'about to crash' e/error
rm -rf e && "$HIO" results get faults/hang e >/dev/null
check "hang: timed out" grep -q 'timed out after 3000 ms' e/error
bad=0
for i in $(seq 1 40); do
	rm -rf e
	"$HIO" results get "faults/ok$i" e >/dev/null &&
		[ "$(cat e/stdout)" = "faults/ok$i $((i * 100))" ] ||
		bad=$((bad + 1))
done
eq "faults: wrong or missing results of the good messages" "$bad" 0
eq "resident starts (the first, after the crash, after the hang)" \
	"$(grep -c 'resident command started' "$STATE"/worker.log)" 3
check "print() went to the PE's log" grep -q 'handling faults/ok1$' "$STATE"/*.log
"$HIO" down --state-dir "$STATE" >/dev/null
rm -rf "$STATE"

# A resident that dies before its hello (a script its user cannot read, say) fails each
# message with why as soon as it died: not at the hello's deadline (120 s) as "no hello",
# which "hio wait --timeout 60" would not see the end of.
"$HIO" up --pes 1 --max-pes 1 --state-dir "$STATE" \
	--serve 'echo cannot start the handler >&2; exit 3' >/dev/null ||
	{ fail "hio up --serve 'exit 3'"; finish; }
mkdir -p dead && for i in 1 2; do head -c 100 /dev/urandom >"dead/d$i"; done
"$HIO" send dead >sent.dead 2>&1
check "dead start: hio send exit 0" test $? -eq 0
check "dead start: hio wait" "$HIO" wait --timeout 60
eq "dead start: failed" "$(pfield default failed)" 2
for i in 1 2; do
	rm -rf e && "$HIO" results get "dead/d$i" e >/dev/null
	check "dead start d$i: why" grep -q 'did not start: its stdout closed; it exited with status 3' e/error
	check "dead start d$i: its stderr" grep -q 'cannot start the handler' e/error
done
finish
