#!/usr/bin/env bash
# The slurm runtime on a real one-node SLURM (munged, slurmctld, slurmd started here,
# in the test's temp dir, on loopback ports): hio up --runtime slurm runs each PE as a
# job; 200 files come back correct while one PE job is scancelled mid-stream; a worker
# killed -9 and restarted leaves no orphan job; hio down leaves no job.
# Skips (77) only when slurm-wlm and munge are missing and cannot be installed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/slurm_lib.sh"

# hio down while SLURM still answers, then SLURM, then lib.sh's cleanup (which removes
# the temp dir with SLURM's state and pid files).
stop_all() { "$HIO" down --state-dir "$STATE" >/dev/null 2>&1; slurm_stop; cleanup; }
trap stop_all EXIT
sfinish() { stop_all; trap - EXIT; [ "$FAILS" -eq 0 ]; exit $?; }

mkdir -p "$T/slurm"
SLURM_DIR="$T/slurm"
if ! slurm_install; then
	echo "SKIP: SLURM's tools are not installed and cannot be installed here"
	trap - EXIT
	rm -rf "$T"
	exit 77
fi
if ! slurm_start "$T/slurm" 8; then
	fail "a one-node SLURM did not come up"
	sfinish
fi
ok "SLURM is up: $(sinfo -h -N -o '%N %T %c CPUs')"

# Our jobs, by state ("running", "pending"), or "live" (not yet final).
jobs_in() {
	local states=$1
	[ "$1" = live ] && states=pending,running,suspended,completing,configuring
	squeue --me -h -t "$states" -o '%i %j' | awk '$2 ~ /^hio-/ { print $1 }' | sort -n
}
njobs() { jobs_in "$1" | wc -l; }
# The job ids the master lists for its live PEs (the slurm worker reports them as pid).
status_jobs() {
	status_json | jq -r '.pes[] | select(.state == "idle" or .state == "busy" or
		.state == "starting") | .pid' | sort -n
}
three_idle() { test "$(pe_count idle)" -eq 3 && test "$(njobs running)" -eq 3; }

"$HIO" up --runtime slurm --pes 3 --state-dir "$STATE" --slurm-pending-warn 2 \
	--exec 'sleep 0.1; sha256sum "$HIO_INPUT" | cut -c1-64' >"$T/url" ||
	{ fail "hio up --runtime slurm"; sfinish; }
check "hio scale 3" "$HIO" scale 3
eq "PE jobs running (squeue)" "$(njobs running)" 3
eq "idle PEs" "$(pe_count idle)" 3
eq "the master's PEs are exactly the running jobs" "$(status_jobs | tr '\n' ' ')" \
	"$(jobs_in running | tr '\n' ' ')"
eq "worker runtime" "$(status_json | jq -r '.workers[0].runtime')" slurm
wid=$(status_json | jq -r '.workers[0].id')
check "jobs are named hio-<worker id>-<pe id>" \
	test "$(squeue --me -h -o '%j' | grep -c "^hio-$wid-")" -eq 3

cd "$T" || exit 1
mkdir -p data
awk 'BEGIN { srand(7); for (i = 0; i < 200; i++) {
	printf "data/d%d/f%03d.bin %d\n", i % 4, i, int(1024 * exp(rand() * log(256))) } }' >sizes
while read -r f sz; do
	mkdir -p "$(dirname "$f")"
	head -c "$sz" /dev/urandom >"$f"
done <sizes

# scancel of one PE job while the stream runs.
"$HIO" send data >sent.txt 2>send.err &
send_pid=$!
some_done() { test "$(pfield default done)" -ge 30; }
check "30 results before the scancel" wait_for 60 some_done
# A PE in the middle of a message, by its job id (what the worker reports as pid).
busy_job() { status_json | jq -er '[.pes[] | select(.state == "busy")][0].pid // empty'; }
check "a PE busy mid-stream" wait_for 30 busy_job
victim=$(busy_job || jobs_in running | head -1)
check "scancel of PE job $victim" scancel "$victim"
done_at_cancel=$(pfield default done)
wait $send_pid
check "hio send exit 0" test $? -eq 0
eq "acknowledged" "$(wc -l <sent.txt)" 200
check "hio wait" "$HIO" wait --timeout 300
check "the cancel was mid-stream (done then: $done_at_cancel)" test "$done_at_cancel" -lt 200
"$HIO" results --json >results.json
eq "result entries (exactly one per file)" "$(jq length results.json)" 200
eq "entries done" "$(jq '[.[] | select(.state == "done")] | length' results.json)" 200
bad=0
while read -r f sz; do
	rm -rf out
	"$HIO" results get "$f" out >/dev/null &&
		[ "$(cat out/stdout)" = "$(sha256sum "$f" | cut -c1-64)" ] || bad=$((bad + 1))
done <sizes
eq "results whose sha256 mismatched or could not be fetched" "$bad" 0
eq "in (distinct messages)" "$(pfield default in)" 200
check "the worker reported the job with SLURM's state" \
	grep -q "SLURM job $victim CANCELLED" "$STATE/worker.log"
check "PE count back to 3 (idle, 3 running jobs)" wait_for 60 three_idle
check "the cancelled job is not among them" sh -c "! squeue --me -h -t running -o %i | grep -qx $victim"

# kill -9 of the worker: its jobs run on; the restarted worker (same id, from the
# state dir) cancels them, reports their PEs gone, and the master starts new ones.
wpid=$(cat "$STATE/worker.pid")
mapfile -d '' wargv <"/proc/$wpid/cmdline"
before=$(jobs_in running | tr '\n' ' ')
kill -9 "$wpid"
check "jobs outlive a killed worker" test "$(njobs running)" -eq 3
setsid "${wargv[@]}" </dev/null >>"$STATE/worker.log" 2>&1 &
echo $! >"$STATE/worker.pid"
new_jobs() {
	three_idle || return 1
	for j in $before; do jobs_in live | grep -qx "$j" && return 1; done
	[ "$(status_jobs | tr '\n' ' ')" = "$(jobs_in live | tr '\n' ' ')" ]
}
check "after the restart: 3 new jobs, the old ones gone, no other job" wait_for 90 new_jobs
check "the restart said it cancelled the old jobs" \
	grep -q "was left by an earlier run of worker $wid; cancelling it" "$STATE/worker.log"
eq "jobs of this worker not known to the master" \
	"$(comm -13 <(status_jobs) <(jobs_in live) | wc -l)" 0

# A job pending in SLURM's queue is a starting PE, and one pending too long is logged
# with SLURM's reason. Someone else's job holds the node's other 5 CPUs.
blocker=$(sbatch --parsable -J blocker -n 5 -o /dev/null --wrap 'sleep 600')
blocker_runs() { squeue -h -j "$blocker" -t running -o %i | grep -qx "$blocker"; }
check "a blocker job holds the other CPUs" wait_for 30 blocker_runs
check "hio scale 4" "$HIO" scale 4
one_pending() { test "$(njobs pending)" -eq 1 && test "$(pe_count starting)" -eq 1; }
check "the 4th PE's job pends, and the master counts it as starting" wait_for 30 one_pending
check "the worker logs the job pending too long, with SLURM's reason" wait_for 30 \
	grep -q "still pending after 2 s (reason: Resources)" "$STATE/worker.log"
scancel "$blocker"
four_idle() { test "$(pe_count idle)" -eq 4 && test "$(njobs running)" -eq 4; }
check "once the CPUs are free it runs: 4 idle PEs, 4 jobs" wait_for 60 four_idle

check "hio down" "$HIO" down --state-dir "$STATE"
eq "live jobs after hio down" "$(njobs live)" 0
sfinish
