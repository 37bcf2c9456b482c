#!/usr/bin/env bash
# Bounded, rotated logs (issue "Operations"): with HIO_LOG_MAX=32K and debug lines, a
# few hundred messages rotate master.log and worker.log (which the PEs share with their
# worker) several times; no file is over 32K by more than 2 KiB, only the 3 old files of
# the default HIO_LOG_KEEP are kept, every result is there, and the daemons, the PEs
# included, go on logging into the new NAME.log. A hio-fs started by hand without -f
# keeps the log its stderr was pointed at across daemonizing, and rotates it.
. "$(dirname "$0")/lib.sh"

LIMIT=$((32 * 1024))
SLACK=2048
N=400
MNT="$T/mnt"
FS_BG=0

eval "_lib_cleanup() $(declare -f cleanup | tail -n +2)"
cleanup() {
	if [ "$FS_BG" = 1 ]; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT" 2>/dev/null
		FS_BG=0
	fi
	_lib_cleanup
}

# too_big: the log files (NAME.log, NAME.log.N) over LIMIT + SLACK, with their sizes.
too_big() { find "$1" -maxdepth 1 -name "${2:-*}.log*" -size +$((LIMIT + SLACK))c -printf '%f %s\n'; }
# past_keep DIR: kept files past NAME.log.3.
past_keep() { find "$1" -maxdepth 1 -regextype egrep -regex '.*\.log\.([4-9]|[0-9]{2,})' -printf '%f\n'; }
# in_new_log FILE INODE PATTERN: PATTERN is in FILE, the log written now; or, if FILE
# was rotated since it had INODE, in FILE.1.
in_new_log() {
	grep -q -- "$3" "$1" 2>/dev/null ||
		{ [ "$(stat -c %i "$1")" != "$2" ] && grep -q -- "$3" "$1.1"; }
}

HIO_LOG_MAX=32K HIO_LOG=debug "$HIO" up --pes 2 --state-dir "$STATE" \
	--exec 'wc -c <"$HIO_INPUT"' >"$T/url" 2>"$T/up.err" || { fail "hio up"; finish; }
check "hio scale 2 (the autoscaler off)" "$HIO" scale 2

mkdir -p "$T/data"
for i in $(seq 1 $N); do echo "input $i" >"$T/data/f$i.txt"; done
(cd "$T" && "$HIO" send data >sent.txt 2>send.err)
check "hio send exit 0" test $? -eq 0
eq "acknowledged lines" "$(wc -l <"$T/sent.txt")" $N
check "hio wait" "$HIO" wait --timeout 120
eq "result entries" "$("$HIO" results --json | jq length)" $N

for n in master worker; do
	check "$n.log was rotated" test -s "$STATE/$n.log.1"
done
# Three old worker logs, so a fourth (one too many for HIO_LOG_KEEP=3) would show.
check "worker.log was rotated at least 3 times" test -s "$STATE/worker.log.3"
eq "log files over $LIMIT + $SLACK bytes" "$(too_big "$STATE")" ""
eq "log files past NAME.log.3" "$(past_keep "$STATE")" ""
check "the PEs' lines are in worker.log's files" grep -q 'hio-pe\[' "$STATE"/worker.log*
ls -l "$STATE"/*.log*

# After the rotations: each daemon, and a PE, writes into the new NAME.log.
mino=$(stat -c %i "$STATE/master.log")
wino=$(stat -c %i "$STATE/worker.log")
marker="after-rotation-$$"
curl -s -o /dev/null -H "Authorization: Bearer wrong" "$(cat "$STATE/master.url")/v1/$marker"
check "the master logs into the new master.log" wait_for 10 in_new_log "$STATE/master.log" "$mino" "$marker"
echo "marker" >"$T/$marker.txt"
(cd "$T" && "$HIO" send "$marker.txt" >/dev/null 2>>send.err)
check "a PE logs into the new worker.log" wait_for 10 in_new_log "$STATE/worker.log" "$wino" "($marker.txt)"
check "hio scale 3" "$HIO" scale 3
check "the worker logs into the new worker.log" \
	wait_for 30 in_new_log "$STATE/worker.log" "$wino" 'hio-worker\[.*started PE'

# hio-fs by hand, without -f: it daemonizes, and keeps logging into (and rotating) the
# file its stderr was appending to.
if [ -x "$HIO_BUILD/fs/hio-fs" ] && [ -e /dev/fuse ]; then
	mkdir -p "$MNT"
	HIO_LOG_MAX=32K HIO_LOG=debug "$HIO_BUILD/fs/hio-fs" --token-file "$STATE/token" \
		--spool "$T/spool" "$(cat "$STATE/master.url")" "$MNT" 2>>"$T/fsbg.log"
	check "hio-fs without -f exits 0 once mounted" test $? -eq 0
	FS_BG=1
	check "the mount serves" wait_for 30 test -d "$MNT/results"
	for i in $(seq 1 $N); do echo "mounted $i" >"$MNT/m$i.txt"; done
	check "hio wait (the mount's files)" "$HIO" wait --timeout 120
	eq "result entries" "$("$HIO" results --json | jq length)" $((2 * N + 1))
	check "hio-fs's log was rotated" test -s "$T/fsbg.log.1"
	eq "hio-fs log files over $LIMIT + $SLACK bytes" "$(too_big "$T" fsbg)" ""
	eq "hio-fs log files past fsbg.log.3" "$(past_keep "$T")" ""
	fino=$(stat -c %i "$T/fsbg.log")
	echo "marker" >"$MNT/$marker.txt"
	check "hio-fs logs into the new fsbg.log" \
		wait_for 10 in_new_log "$T/fsbg.log" "$fino" "spooled $marker.txt"
	fusermount3 -u "$MNT" && FS_BG=0
fi
finish
