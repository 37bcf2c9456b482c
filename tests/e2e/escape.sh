#!/usr/bin/env bash
# An analysis that leaves processes behind with setsid (out of its process group, so the
# group kill at its end misses them): they are killed with the message, before its
# output is read (SPEC: every process the command started has ended when the message's
# result is stored). Before, they outlived the message and hio down, and one that wrote
# into $HIO_OUTPUT late landed in a later message's result. With --serve, whatever the
# resident started ends with the resident (it may keep helpers across messages).
. "$(dirname "$0")/lib.sh"
PYDIR=$(cd "$(dirname "$0")/../../python" && pwd)
PY=${HIO_PYTHON:-/usr/bin/python3}
eval "_lib_cleanup() $(declare -f cleanup | tail -n +2)"
cleanup() { pkill -9 -xf "sleep 300[78]" 2>/dev/null; _lib_cleanup; }
cd "$T" || exit 1
N=20
mkdir -p data
for i in $(seq 1 $N); do head -c $((700 + i * 31)) /dev/urandom >"data/f$i"; done
left() { pgrep -xfc "$1" || true; }

# The escapee waits a moment, writes into the output dir, then lingers.
"$HIO" up --pes 1 --min-pes 1 --max-pes 1 --state-dir "$STATE" --exec \
	'setsid sh -c '\''sleep 0.3; echo evil >"$0/evil"; exec sleep 3007'\'' "$HIO_OUTPUT" </dev/null >/dev/null 2>&1 &
	sha256sum "$HIO_INPUT" | cut -c1-64' >/dev/null || { fail "exec: hio up"; finish; }
"$HIO" send data >sent.txt 2>send.err
check "exec: hio send exits 0" test $? -eq 0
check "exec: hio wait" "$HIO" wait --timeout 120
eq "exec: done" "$(pfield default done)" $N
"$HIO" results --json >r.json
eq "exec: results with a file other than stdout" "$(jq '[.[] | select([.files[].name] != ["stdout"])] | length' r.json)" 0
eq "exec: escaped processes left running" "$(left 'sleep 3007')" 0
check "exec: the PE says it killed them" grep -q "left running by an analysis" "$STATE/worker.log"
"$HIO" down >/dev/null
rm -rf "$STATE"

cat >h.py <<'PYEOF'
import hashlib, subprocess
import hio

@hio.handler
def process(msg):
    subprocess.Popen(["setsid", "sleep", "3008"], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return hashlib.sha256(msg.data).hexdigest() + "\n"
PYEOF
"$HIO" up --pes 1 --min-pes 1 --max-pes 1 --state-dir "$STATE" \
	--serve "PYTHONPATH='$PYDIR' exec $PY '$T/h.py'" >/dev/null || { fail "serve: hio up"; finish; }
"$HIO" send data >sent2.txt 2>send2.err
check "serve: hio send exits 0" test $? -eq 0
check "serve: hio wait" "$HIO" wait --timeout 120
eq "serve: done" "$(pfield default done)" $N
eq "serve: the resident itself kept running (started once)" \
	"$(grep -c 'resident command started' "$STATE/worker.log")" 1
# A resident may keep helpers across messages (a pool); what it started ends with it.
check "serve: hio down" "$HIO" down
eq "serve: escaped processes left running after hio down" "$(left 'sleep 3008')" 0
finish
