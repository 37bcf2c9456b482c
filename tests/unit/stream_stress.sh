#!/usr/bin/env bash
# Starts a private hio-master (own state dir, a port the kernel picks, a fresh token)
# and runs test_stream_stress against it. The test program's sanitizer reports go to
# stderr and fail it; the master's go to files here, and any of them fails the test too.
set -uo pipefail
: "${HIO_BUILD:?HIO_BUILD must point at the meson build dir}"
MASTER_BIN=$HIO_BUILD/master/hio-master
STRESS=$HIO_BUILD/tests/test_stream_stress
T=$(mktemp -d /tmp/hio-stream-stress.XXXXXX)
MPID=
cleanup() {
	[ -n "$MPID" ] && kill "$MPID" 2>/dev/null && wait "$MPID"
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' TERM INT

HIO_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export HIO_TOKEN
ASAN_OPTIONS="detect_leaks=1:log_path=$T/asan" UBSAN_OPTIONS="print_stacktrace=1:log_path=$T/ubsan" \
	"$MASTER_BIN" --state-dir "$T/state" --listen 127.0.0.1:0 2>"$T/master.log" &
MPID=$!
# The master writes master.url once it listens; poll for it with a deadline.
end=$((SECONDS + 30))
until [ -s "$T/state/master.url" ]; do
	if [ $SECONDS -ge $end ] || ! kill -0 "$MPID" 2>/dev/null; then
		echo "FAIL: hio-master did not start" >&2
		tail -n 40 "$T/master.log" >&2
		exit 1
	fi
	sleep 0.05
done

HIO_MASTER=$(cat "$T/state/master.url") UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$STRESS"
rc=$?
kill "$MPID" && wait "$MPID"
mrc=$?
MPID=
if [ "$mrc" -ne 0 ]; then
	echo "FAIL: hio-master exited $mrc" >&2
	rc=1
fi
# Each kind alone counts (ls of both globs fails when one kind has no file).
reports=$(find "$T" -maxdepth 1 \( -name 'asan.*' -o -name 'ubsan.*' \))
if [ -n "$reports" ]; then
	echo "FAIL: sanitizer reports from hio-master:" >&2
	xargs head -c 6000 <<<"$reports" >&2
	rc=1
fi
[ "$rc" -eq 0 ] || tail -n 40 "$T/master.log" >&2
exit "$rc"
