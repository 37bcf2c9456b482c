# shellcheck shell=bash
# Shared by the hio-fs end-to-end tests, sourced after lib.sh: the mount point, the
# result checks (by the master's index and by the mount's results/), and a cleanup
# that first undoes what a test did to the daemons (SIGSTOP) and stops the background
# jobs it started.
MNT="$T/mnt"
FS_BG_PIDS=() # background jobs of the test (writers, samplers): stopped at cleanup
FS_STOPPED=() # daemons the test sent SIGSTOP: continued at cleanup

eval "_lib_cleanup() $(declare -f cleanup | tail -n +2)"
cleanup() {
	local p
	for p in "${FS_STOPPED[@]}"; do kill -CONT "$p" 2>/dev/null; done
	for p in "${FS_BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	cd / || true
	_lib_cleanup
}

# fs_up EXEC [hio up options...]: a cluster of 2 PEs running EXEC, mounted on $MNT.
fs_up() {
	local exec_cmd=$1
	shift
	"$HIO" up --pes 2 --exec "$exec_cmd" --mount "$MNT" --state-dir "$STATE" "$@" >"$T/url"
}

# fs_up_seen [hio up options...]: a mount whose PE command answers the input's sha256
# and logs every message it processes as "NAME SHA256" in $SEEN, so an extra or an
# intermediate version of a file shows up there.
# Each PE's analysis is a user of its own (hio-pe --run-as): the log is a file of
# ours every one may append to, in a dir they may enter.
mkdir -m 1777 "$T/w"
SEEN="$T/w/seen"
seen_reset() { : >"$SEEN" && chmod 666 "$SEEN"; }
fs_up_seen() {
	seen_reset || return 1
	# shellcheck disable=SC2016 # expanded by the PE's shell
	fs_up 'h=$(sha256sum "$HIO_INPUT" | cut -c1-64); echo "$HIO_NAME $h" >>'"$SEEN"'; echo "$h"' "$@" &&
		seen_reset
}

fs_pid() { cat "$STATE/fs.pid"; }
# A process that is gone, or a zombie nobody reaped (PID 1 here may not reap).
proc_gone() { [ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
mounted() { test -d "$MNT/results"; }

results_json() { "$HIO" results --json --state-dir "$STATE"; }
# done_count PREFIX: result entries in state done whose name starts with PREFIX.
done_count() {
	results_json | jq --arg p "$1" '[.[] | select(.state == "done" and (.name | startswith($p)))] | length'
}
done_at_least() { local n; n=$(done_count "$1") && [ "$n" -ge "$2" ]; }
# Completed versions hio-fs still holds unacknowledged (SPOOL/out/<id>.json).
spool_pending() { find "$STATE/spool/out" -maxdepth 1 -name '*.json' 2>/dev/null | wc -l; }
spool_empty() { [ "$(spool_pending)" -eq 0 ]; }
# How many results/PREFIX.../stdout files the mount lists (its listing is cached ~1 s).
listed_at_least() { [ "$(find "$MNT/results/$1" -name stdout 2>/dev/null | wc -l)" -ge "$2" ]; }
xstate() { timeout -k 2 10 getfattr -n user.hio.state --only-values "$1" 2>/dev/null; }
state_is() { [ "$(xstate "$1")" = "$2" ]; }
# check_state FILE STATE: user.hio.state of FILE becomes STATE within 10 s.
check_state() {
	wait_for 10 state_is "$1" "$2"
	eq "user.hio.state of ${1#"$MNT"/}" "$(xstate "$1")" "$2"
}

# bad_results LIST: LIST has lines "NAME SRC"; prints how many of them lack exactly the
# sha256 of SRC in the mount's results/NAME/stdout (the first few go to stderr).
bad_results() {
	# One process for the lot: a shell loop spent four processes a file.
	python3 - "$1" "$MNT/results" <<'EOF'
import hashlib, signal, sys
def timeout(*_):
    raise TimeoutError("no answer in 20 s")
signal.signal(signal.SIGALRM, timeout)
bad = 0
for line in open(sys.argv[1]):
    name, src = line.rstrip("\n").split(" ", 1)
    with open(src, "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    signal.alarm(20)  # a hung read is one bad result, not a hung test
    try:
        with open(sys.argv[2] + "/" + name + "/stdout", "rb") as f:
            got = f.read().decode(errors="replace").strip()
    except OSError as e:
        got = str(e)
    signal.alarm(0)
    if got != want:
        bad += 1
        if bad <= 5:
            print("  %s: expected %s, got '%s'" % (name, want, got[:80]), file=sys.stderr)
print(bad)
EOF
}

# names_not_once LIST: of the names in LIST, how many do not have exactly one entry in
# the master's result index ($T/results.json, fetched just before).
names_not_once() {
	jq -r '.[].name' "$T/results.json" | LC_ALL=C sort | LC_ALL=C uniq -c |
		awk '{ print $2, $1 }' >"$T/counts"
	cut -d' ' -f1 "$1" | LC_ALL=C sort | LC_ALL=C join -a1 - "$T/counts" | awk '$2 != 1' | wc -l
}

# check_exactly_once LIST: every input of LIST is done exactly once, with its sha256,
# the pipeline counted one message per input, and hio-fs holds nothing unacknowledged.
# Assumes LIST names every input of the pipeline.
check_exactly_once() {
	local list=$1 n
	n=$(wc -l <"$list")
	check "hio-fs spool drains (nothing left unacknowledged)" wait_for 60 spool_empty
	check "master idle (hio wait)" "$HIO" wait --timeout 60 --state-dir "$STATE"
	results_json >"$T/results.json"
	eq "result entries" "$(jq length "$T/results.json")" "$n"
	eq "entries done" "$(jq '[.[] | select(.state == "done")] | length' "$T/results.json")" "$n"
	eq "inputs without exactly one result entry" "$(names_not_once "$list")" 0
	eq "pipeline in (distinct messages: one version per input)" "$(pfield default in)" "$n"
	eq "pipeline done" "$(pfield default done)" "$n"
	eq "pipeline failed" "$(pfield default failed)" 0
	check "results/ in the mount lists $n stdout files" wait_for 15 listed_at_least "" "$n"
	eq "results whose stdout is not the input's sha256" "$(bad_results "$list")" 0
}
