#!/usr/bin/env bash
# One 2 GiB file of pseudo-random bytes written into the mount with dd: hio-fs streams
# it without holding it in memory (peak VmRSS, sampled every 0.2 s while it is written,
# sent and read back, stays under 256 MiB in the ASan build), and the PE sees all
# 2147483648 bytes with the same sha256 as the mount reads back.
# HIO_BIG_SOURCE=zero writes zeros instead (which compress on the wire).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"
# ASan keeps up to 256 MiB of freed memory in quarantine, and libfuse allocates a fresh
# buffer per read request: reading the 2 GiB back fills it (measured: 324 MiB peak with
# the default, 44 MiB with 8 MiB of quarantine, 14 MiB without ASan). A small quarantine
# keeps this a measure of hio-fs's own memory; ASan still checks everything else.
export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=16"

SIZE=$((2 << 30))
RSS_MAX_KB=$((256 << 10))
NEED=$((5 << 30)) # the spool's copy, the PE's copy of its input, and room to spare
source_dev=/dev/${HIO_BIG_SOURCE:-urandom}

avail=$(df --output=avail -B1 "$T" | tail -n1)
if [ "$avail" -lt "$NEED" ]; then
	echo "SKIP: $T has $((avail >> 20)) MiB free; this test needs $((NEED >> 20)) MiB"
	cleanup
	trap - EXIT
	exit 77
fi

fs_up 'wc -c <"$HIO_INPUT"; sha256sum <"$HIO_INPUT" | cut -c1-64' --spool-max 8G || { fail "hio up --mount --spool-max 8G"; finish; }
cd "$T" || exit 1
pid=$(fs_pid)

# The sampler: hio-fs's VmRSS (kB), one line per 0.2 s, until $T/stop_rss exists.
sample_rss() {
	while [ ! -e stop_rss ] && [ -e "/proc/$pid/status" ]; do
		awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" >>rss 2>/dev/null
		sleep 0.2 # the sampling period
	done
}
sample_rss &
sampler=$!
FS_BG_PIDS+=("$sampler")

t0=$SECONDS
timeout -k 5 300 dd if="$source_dev" of="$MNT/big" bs=1M count=2048 iflag=fullblock \
	status=none 2>dd.err
rc=$?
check "dd of 2 GiB ($source_dev) into the mount returns 0" test "$rc" -eq 0
[ "$rc" -eq 0 ] || cat dd.err >&2
echo "written in $((SECONDS - t0)) s"
eq "size in the mount" "$(stat -c %s "$MNT/big")" "$SIZE"
check "big done" wait_for 240 done_at_least big 1
echo "written and processed in $((SECONDS - t0)) s"
want=$(timeout -k 5 120 sha256sum <"$MNT/big" | cut -c1-64)
echo "read back and hashed in $((SECONDS - t0)) s"
touch stop_rss
wait "$sampler"

peak=$(sort -n rss | tail -n1)
echo "hio-fs VmRSS: $(wc -l <rss) samples, peak ${peak:-?} kB ($((${peak:-0} >> 10)) MiB), first $(head -n1 rss) kB"
check "peak VmRSS of hio-fs under $((RSS_MAX_KB >> 10)) MiB" test "${peak:-999999999}" -lt "$RSS_MAX_KB"
check "results/big/stdout listed" wait_for 15 test -f "$MNT/results/big/stdout"
eq "result line 1 (wc -c of the PE's input)" "$(sed -n 1p "$MNT/results/big/stdout" | tr -d ' ')" "$SIZE"
eq "result line 2 (sha256 of the PE's input)" "$(sed -n 2p "$MNT/results/big/stdout")" "$want"
check "spool drains" wait_for 60 spool_empty
check "master idle (hio wait)" "$HIO" wait --timeout 60 --state-dir "$STATE"
eq "pipeline in" "$(pfield default in)" 1
eq "pipeline done" "$(pfield default done)" 1
check_state "$MNT/big" done
finish
