#!/usr/bin/env bash
# Resident analyses pipelined (hio up --serve, a hello with max_inflight > 1): 150 files
# give the same results as the same handler given one message at a time, and the
# handler sees more than one request outstanding. A handler that crashes, one that
# raises and one that hangs, each with the next message already in flight behind it:
# exactly that message fails, with its reason, the one behind is sent again to the
# restarted command, every other message is handled exactly once, and the same PE goes on.
. "$(dirname "$0")/lib.sh"

PYDIR=$(cd "$(dirname "$0")/../../python" && pwd)
cd "$T" || exit 1
# Where the analysis logs its calls for the test: each PE's analysis is a user of its
# own, and both append to one log.
W="$T/w"
mkdir -m 1777 "$W"
for f in outstanding.1 outstanding.16 calls; do : >"$W/$f" && chmod 666 "$W/$f"; done

# The analysis, served with the max_inflight given as its argument. Each call records
# how many requests it had read and not answered (itself and those queued behind it).
cat >analysis.py <<'EOF'
import hashlib, os, sys
from hio._serve import serve

log = sys.argv[2]

def process(msg):
    data = msg.data
    hist = [0] * 16
    for b in data[:16384]:
        hist[b & 15] += 1
    os.makedirs(os.path.join(msg.output, "stats"), exist_ok=True)
    with open(os.path.join(msg.output, "stats", "hist.txt"), "w") as f:
        f.write(" ".join(map(str, hist)) + "\n")
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, b"%d\n" % (msg.queued + 1))
    os.close(fd)
    return "%s %d %s\n" % (msg.name, len(data), hashlib.sha256(data).hexdigest())

serve(process, max_inflight=int(sys.argv[1]))
EOF

# Sizes from 100 B to 300 KB, all inline bodies: many messages a second.
mkdir -p data
awk 'BEGIN { srand(17); for (i = 0; i < 150; i++) {
	printf "data/d%d/f%03d.bin %d\n", i % 3, i, int(100 * exp(rand() * log(3000))) } }' >sizes
while read -r f sz; do
	mkdir -p "$(dirname "$f")"
	head -c "$sz" /dev/urandom >"$f"
done <sizes

# run INFLIGHT OUTDIR: 2 PEs whose handler announces INFLIGHT, all files sent, every
# result fetched into OUTDIR/<name>/.
run() {
	local n=$1 out=$2
	"$HIO" up --pes 2 --min-pes 2 --max-pes 2 --state-dir "$STATE" --serve \
		"PYTHONPATH='$PYDIR' exec python3 -S '$T/analysis.py' $n '$W/outstanding.$n'" \
		>/dev/null || { fail "hio up (max_inflight $n)"; return 1; }
	"$HIO" send data >"sent.$n" 2>"send.$n.err"
	check "max_inflight $n: hio send exit 0" test $? -eq 0
	check "max_inflight $n: hio wait" "$HIO" wait --timeout 600
	"$HIO" results --json >"results.$n.json"
	eq "max_inflight $n: entries done" \
		"$(jq '[.[] | select(.state == "done")] | length' "results.$n.json")" 150
	eq "max_inflight $n: handler calls" "$(wc -l <"$W/outstanding.$n")" 150
	cut -d' ' -f1 sizes | xargs -P 4 -I{} sh -c '"$1" results get "$2" "$3/$2" >/dev/null ||
		echo "$2"' _ "$HIO" {} "$out" >"unfetched.$n"
	eq "max_inflight $n: results that could not be fetched" "$(wc -l <"unfetched.$n")" 0
	"$HIO" down --state-dir "$STATE" >/dev/null
	rm -rf "$STATE"
}
run 1 res-one
run 16 res-pipelined
check "pipelined results identical to one at a time (150 files)" diff -r res-one res-pipelined
bad=0
while read -r f sz; do
	[ "$(cat "res-pipelined/$f/stdout" 2>/dev/null)" = "$f $sz $(sha256sum "$f" | cut -c1-64)" ] ||
		bad=$((bad + 1))
done <sizes
eq "pipelined results that are not the analysis's" "$bad" 0
eq "max_inflight 1: most requests outstanding at once" "$(sort -n "$W/outstanding.1" | tail -1)" 1
max=$(sort -n "$W/outstanding.16" | tail -1)
check "max_inflight 16: more than one request outstanding at some point ($max)" \
	test "${max:-0}" -gt 1

# Faults, on one PE with a 3 s per-message limit. A faulty message's handler first waits
# until the PE has placed the next message's input (a body over 1 MiB is linked into
# its scratch directory just before its request is written), so that one is in flight
# behind it when it crashes, hangs or raises (a poll for a condition, with a deadline).
cat >faulty.py <<'EOF'
import glob, hashlib, os, sys, time
from hio._serve import handler

log = sys.argv[1]

def record(line):
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (line + "\n").encode())
    os.close(fd)

def wait_behind(msg, nxt):
    work = os.path.dirname(os.path.dirname(msg.output))
    end = time.monotonic() + 30
    while not glob.glob(os.path.join(work, "s*", "input", nxt + "*")):
        if time.monotonic() > end:
            record("nothing behind " + msg.name)
            return
        time.sleep(0.01)

@handler
def process(msg):
    base = os.path.basename(msg.name)
    record("start " + msg.name)
    if base == "m10-crash":
        wait_behind(msg, "m11")
        sys.stderr.write("about to crash\n")
        sys.stderr.flush()
        os._exit(7)
    if base == "m20-hang":
        wait_behind(msg, "m21")
        time.sleep(3600)
    if base == "m30-raise":
        wait_behind(msg, "m31")
        raise ValueError("asked to raise on " + msg.name)
    record("done " + msg.name)
    return "%s %s\n" % (msg.name, hashlib.sha256(msg.data).hexdigest())
EOF
mkdir -p faults
for i in $(seq 0 39); do
	case $i in
	10) f=m10-crash ;; 20) f=m20-hang ;; 30) f=m30-raise ;; *) f=$(printf 'm%02d' "$i") ;;
	esac
	case $i in 11 | 21 | 31) sz=1300000 ;; *) sz=$((i * 100 + 50)) ;; esac
	head -c "$sz" /dev/urandom >"faults/$f"
done
"$HIO" up --pes 1 --max-pes 1 --timeout-ms 3000 --state-dir "$STATE" \
	--serve "PYTHONPATH='$PYDIR' exec python3 '$T/faulty.py' '$W/calls'" >/dev/null ||
	{ fail "hio up --serve faulty.py"; finish; }
pe_before=$(status_json | jq -r '.pes[0].id')
# Each faulty message is sent with the one after it, so both reach the PE at once (the
# connector starts with two in flight): sent as one batch of 40, messages would wait
# behind the hang and go to the backlog, which the busy PE does not pull.
sends=0
for batch in "faults/m0*" "faults/m10-crash faults/m11" "faults/m1[2-9]" \
	"faults/m20-hang faults/m21" "faults/m2[2-9]" "faults/m30-raise faults/m31" "faults/m3[2-9]"; do
	# shellcheck disable=SC2086 # the batch is a list of globs
	"$HIO" send $batch >>sent.faults 2>>send.faults.err || sends=$((sends + 1))
done
eq "faults: hio send failures" "$sends" 0
check "faults: hio wait" "$HIO" wait --timeout 180
"$HIO" results --json >results.faults.json
eq "faults: result entries" "$(jq length results.faults.json)" 40
eq "faults: done" "$(pfield default done)" 37
eq "faults: the failed ones" \
	"$(jq -r '[.[] | select(.state == "failed") | .name] | sort | join(" ")' results.faults.json)" \
	"faults/m10-crash faults/m20-hang faults/m30-raise"
eq "faults: the same PE throughout" "$(status_json | jq -r '[.pes[].id] | join(" ")')" "$pe_before"
eq "faults: a message was behind each faulty one" "$(grep -c '^nothing behind' "$W/calls")" 0
# Sent again, not failed: what was in flight behind the crash and the hang.
for k in m11 m21; do
	check "faults: $k, in flight behind the fault, was sent again" \
		grep -q "message [0-9a-f]* (faults/$k) was in flight behind it" "$STATE/worker.log"
done
# Exactly once: every good message's handler finished once, none twice.
eq "faults: good messages handled (each once)" "$(grep -c '^done ' "$W/calls")" 37
eq "faults: good messages handled twice" "$(grep '^done ' "$W/calls" | sort | uniq -d | wc -l)" 0
bad=0
for f in faults/*; do
	case $f in *crash | *hang | *raise) continue ;; esac
	rm -rf e
	"$HIO" results get "$f" e >/dev/null &&
		[ "$(cat e/stdout)" = "$f $(sha256sum "$f" | cut -c1-64)" ] || bad=$((bad + 1))
done
eq "faults: wrong or missing results of the good messages" "$bad" 0
rm -rf e && "$HIO" results get faults/m10-crash e >/dev/null
check "crash: exit status in the error" grep -q 'exited with status 7' e/error
check "crash: its stderr in the error" grep -q 'about to crash' e/error
rm -rf e && "$HIO" results get faults/m20-hang e >/dev/null
check "hang: timed out" grep -q 'timed out after 3000 ms' e/error
rm -rf e && "$HIO" results get faults/m30-raise e >/dev/null
check "raise: the traceback is the error" grep -q 'ValueError: asked to raise on faults/m30-raise' e/error
eq "resident starts (the first, after the crash, after the hang)" \
	"$(grep -c 'resident command started' "$STATE"/worker.log)" 3
finish
