# Shared by the end-to-end tests: a private cluster per test (own state dir, ports
# picked by the kernel), assertions that say what they expected, and a cleanup that
# stops the daemons and fails the test if a sanitizer reported anything.
set -uo pipefail
: "${HIO_BUILD:?HIO_BUILD must point at the meson build dir}"
HIO="$HIO_BUILD/hio/hio"
T=$(mktemp -d /tmp/hio-e2e.XXXXXX)
# Readable by others, as a lab's shared analysis folder is: PEs run as root here, so
# each analysis runs as a user of its own (hio-pe --run-as) and reads its scripts from
# the test's dir. What it writes goes to HIO_OUTPUT, never here.
chmod 755 "$T"
STATE="$T/state"
export HIO_STATE_DIR="$STATE"
# Hermetic: no config file of the machine's or the user's (/etc/hio/hio.conf,
# ~/.config/hio/hio.conf) may add options to the commands a test runs.
export HIO_CONFIG=none
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$T/asan"
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$T/ubsan"
FAILS=0

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
# sanitizer_reports DIR: prints the sanitizer logs in DIR, one per line; status 1 when
# there are none. (Each kind alone counts: an ASan report with no UBSan one is one.)
sanitizer_reports() {
	local f found=1
	for f in "$1"/asan.* "$1"/ubsan.*; do
		[ -e "$f" ] && { echo "$f"; found=0; }
	done
	return "$found"
}
ok() { echo "ok: $*"; }
# check DESCRIPTION COMMAND...: runs the command, records a failure when it fails.
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
eq() { if [ "$2" = "$3" ]; then ok "$1 ($2)"; else fail "$1: expected '$3', got '$2'"; fi; }

cleanup() {
	HIO_CONFIG=none "$HIO" down --state-dir "$STATE" >/dev/null 2>&1
	# The daemons' own logs: any sanitizer report is a failure of this test.
	if sanitizer_reports "$T" >/dev/null; then
		echo "FAIL: sanitizer reports:" >&2
		sanitizer_reports "$T" | xargs head -c 6000 >&2
		FAILS=$((FAILS + 1))
	fi
	if [ "$FAILS" -ne 0 ]; then
		for f in "$STATE"/*.log; do
			[ -f "$f" ] && { echo "--- $f (tail)"; tail -n 40 "$f"; }
		done >&2
	fi
	[ -n "${KEEP:-}" ] || rm -rf "$T"
}
finish() { cleanup; trap - EXIT; [ "$FAILS" -eq 0 ]; exit $?; }
trap 'cleanup' EXIT

# The worker's PE scratch: STATE/work, or /var/tmp/hio-worker-ID when the state dir is
# not searchable by the analyses' users (hio-worker). Fails when neither exists, so a
# check of what is in there cannot pass by looking at nothing.
worker_workdir() {
	local id d
	id=$(cat "$STATE/worker.id" 2>/dev/null) || return 1
	for d in "/var/tmp/hio-worker-$id" "$STATE/work"; do
		[ -d "$d" ] && { echo "$d"; return 0; }
	done
	return 1
}

# Waits up to $1 seconds for a command to succeed (polling a condition, not a sleep
# standing in for synchronisation).
wait_for() {
	local secs=$1; shift
	local end=$((SECONDS + secs))
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.05
	done
}

status_json() { "$HIO" status --json --state-dir "$STATE"; }
# pfield PIPELINE FIELD: one number of a pipeline from hio status --json.
pfield() { status_json | jq -r --arg p "$1" ".pipelines[] | select(.name == \$p) | .$2"; }
counter() { status_json | jq -r ".counters.$1"; }
pe_count() { status_json | jq -r --arg s "$1" '[.pes[] | select(.state == $s)] | length'; }
# sha_mismatches LIST N: of N names sampled (deterministically) from LIST (lines "NAME
# ..." of hio send, run from where the files are), how many results are not the file's
# sha256.
sha_mismatches() {
	local bad=0 name _
	while read -r name _; do
		rm -rf "$T/sha_out"
		"$HIO" results get "$name" "$T/sha_out" >/dev/null 2>&1
		[ "$(cat "$T/sha_out/stdout" 2>/dev/null)" = "$(sha256sum <"$name" | cut -c1-64)" ] ||
			bad=$((bad + 1))
	done < <(shuf -n "$2" --random-source=<(yes) "$1")
	echo "$bad"
}
