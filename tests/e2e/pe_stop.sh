#!/usr/bin/env bash
# A PE stopped from outside while its command runs (scancel, docker stop, systemd: the
# runtime signals the PE and its command together): the message is not failed, it goes
# back unacknowledged and a replacement PE processes it; exactly one result, done.
# Once with --exec, once with --serve (the resident handler dies with the PE).
. "$(dirname "$0")/lib.sh"
PYDIR=$(cd "$(dirname "$0")/../../python" && pwd)
PY=${HIO_PYTHON:-/usr/bin/python3}
cd "$T" || exit 1
# Where the analysis (a user of its own) leaves its pid for the test.
W="$T/w"
mkdir -m 1777 "$W"

# round MODE CMD: the first message's command blocks (it leaves $W/MODE.running); the
# PE and that command then get SIGTERM at once.
round() {
	local mode=$1 cmd=$2 pe cmdpid
	"$HIO" up --pes 1 --min-pes 1 --max-pes 1 --state-dir "$STATE" "--$mode" "$cmd" >/dev/null ||
		{ fail "$mode: hio up"; return; }
	head -c 4321 /dev/urandom >"$mode.bin"
	"$HIO" send "$mode.bin" >"$mode.sent" 2>"$mode.err" &
	local send=$!
	running() { [ -s "$W/$mode.running" ]; }
	check "$mode: the command runs" wait_for 60 running
	# The busy PE's pid, once its worker has reported it (0 or null until then; kill 0
	# would signal this test's own process group).
	pe_pid() { pe=$(status_json | jq -r '[.pes[] | select(.state == "busy") | .pid][0] // 0'); [ "$pe" -gt 1 ]; }
	check "$mode: the busy PE's pid is known" wait_for 30 pe_pid
	cmdpid=$(cat "$W/$mode.running")
	[ "${pe:-0}" -gt 1 ] && [ "${cmdpid:-0}" -gt 1 ] || { fail "$mode: no pids ($pe, $cmdpid)"; return; }
	kill -TERM "$pe" "$cmdpid"
	ended() { ! kill -0 "$send" 2>/dev/null; }
	check "$mode: hio send ends" wait_for 90 ended
	wait "$send"
	check "$mode: hio send exits 0" test $? -eq 0
	check "$mode: hio wait" "$HIO" wait --timeout 60
	eq "$mode: done" "$(pfield default done)" 1
	eq "$mode: failed" "$(pfield default failed)" 0
	rm -rf out
	"$HIO" results get "$mode.bin" out >/dev/null
	eq "$mode: the result is the file's sha256" "$(cat out/stdout 2>/dev/null)" "$(sha256sum <"$mode.bin" | cut -c1-64)"
	check "$mode: the PE said it left the message unacknowledged" \
		grep -q "left unacknowledged: its command got signal 15" "$STATE/worker.log"
	"$HIO" down >/dev/null 2>&1
	rm -rf "$STATE"
}
# The first run writes its pid and blocks; later runs (the replacement PE) hash.
round exec 'if [ ! -e "'"$W"'/exec.running" ]; then echo $$ >"'"$W"'/exec.running.tmp"; mv "'"$W"'/exec.running.tmp" "'"$W"'/exec.running"; exec sleep 60; fi; sha256sum "$HIO_INPUT" | cut -c1-64'
cat >serve.py <<PYEOF
import hashlib, os, time
import hio
flag = "$W/serve.running"

@hio.handler
def process(msg):
    if not os.path.exists(flag):
        with open(flag + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.rename(flag + ".tmp", flag)
        time.sleep(60)
    return hashlib.sha256(msg.data).hexdigest() + "\n"
PYEOF
round serve "PYTHONPATH='$PYDIR' exec $PY '$T/serve.py'"
finish
