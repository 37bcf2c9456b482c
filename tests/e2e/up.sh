#!/usr/bin/env bash
# hio up starts everything or leaves nothing behind (SPEC, Operations; issue 15):
# - after a master crash, hio up stops the old cluster's worker and mount before it
#   starts new ones: one worker and one hio-fs per state dir, and hio down finds them;
# - a state dir that holds a pipeline keeps its analysis when hio up has no --exec;
# - a hio up that fails half-way (its mount point cannot be made) stops the master and
#   worker it had started.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"
CMD='sha256sum "$HIO_INPUT" | cut -c1-64'
# daemons NAME: pids of NAME processes run for this test's state dir.
daemons() { pgrep -f -- "$1 .*$STATE" | sort; }

fs_up "$CMD" || { fail "hio up --mount"; finish; }
old_worker=$(cat "$STATE/worker.pid")
old_fs=$(fs_pid)
kill -9 "$(cat "$STATE/master.pid")"
wait_for 30 proc_gone "$(cat "$STATE/master.pid")"
check "the old worker lives on without its master" kill -0 "$old_worker"

# No --exec: the pipeline the state dir holds keeps its analysis.
"$HIO" up --pes 2 --mount "$MNT" --state-dir "$STATE" >"$T/url" 2>"$T/up2.err"
check "hio up over a crashed cluster exits 0" test $? -eq 0
check "it says it stops what the crashed cluster left" grep -q "lost its master; stopping" "$T/up2.err"
check "the old worker is gone" proc_gone "$old_worker"
check "the old hio-fs is gone" proc_gone "$old_fs"
eq "hio-worker processes for this state dir" "$(daemons hio-worker | wc -l)" 1
eq "hio-fs processes for this state dir" "$(daemons hio-fs | wc -l)" 1
check "it says the analysis is kept" grep -q "pipeline default keeps its analysis" "$T/up2.err"
eq "the analysis kept" "$(status_json | jq -r '.pipelines[] | select(.name == "default") | .exec')" "$CMD"

head -c 54321 /dev/urandom >"$MNT/after.bin"
check "hio wait" "$HIO" wait --timeout 60
eq "a file written after the restart has its result" \
	"$(cat "$MNT/results/after.bin/stdout" 2>&1)" "$(sha256sum <"$MNT/after.bin" | cut -c1-64)"
check "hio down" "$HIO" down
eq "no hio daemon left for this state dir" "$(daemons 'hio-(master|worker|fs|pe)' | wc -l)" 0

# Half-way: the master and worker start, the PEs come up, then the mount point cannot
# be made. Nothing may stay running.
"$HIO" up --pes 1 --exec "$CMD" --mount /proc/hio-cannot-be-here --state-dir "$STATE" \
	>/dev/null 2>"$T/up3.err"
check "hio up with an impossible mount point fails" test $? -ne 0
check "it names the mount point" grep -q "cannot create the mount point /proc/hio-cannot-be-here" "$T/up3.err"
check "and says it stopped what it started" grep -q "stopped what this hio up had started" "$T/up3.err"
gone_all() { [ "$(daemons 'hio-(master|worker|fs|pe)' | wc -l)" = 0 ]; }
check "no hio daemon left for this state dir" wait_for 10 gone_all
check "no master.pid left" test ! -e "$STATE/master.pid"
finish
