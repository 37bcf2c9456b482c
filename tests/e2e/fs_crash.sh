#!/usr/bin/env bash
# kill -9 of hio-fs after 200 of 500 files were written into the mount (with a slow PE
# command, so some are still pending in the spool), a lazy unmount of the dead mount
# and hio-fs started again with the same arguments: the 200 are replayed without being
# written again, the other 300 go through the new mount, and each of the 500 has
# exactly one result, its sha256.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

fs_up 'sleep 0.1; sha256sum "$HIO_INPUT" | cut -d" " -f1' || { fail "hio up --mount"; finish; }
cd "$T" || exit 1
pid=$(fs_pid)
check "hio-fs runs (pid $pid)" test -d "/proc/$pid"
mapfile -d '' fsargv <"/proc/$pid/cmdline"
echo "hio-fs command line: ${fsargv[*]}"

mkdir -p src
: >list
for i in $(seq 1 500); do
	head -c $((1024 + (i * 7919) % 65536)) /dev/urandom >"src/f$i"
	echo "c/f$i $T/src/f$i" >>list
done
check "mkdir in the mount" mkdir "$MNT/c"

# write_range FROM TO: one cp per file, in order; stops at the first failure.
write_range() {
	local i
	for i in $(seq "$1" "$2"); do
		if ! timeout -k 5 30 cp "src/f$i" "$MNT/c/f$i" 2>>cp.err; then
			fail "cp src/f$i into the mount returned non-zero: $(tail -n1 cp.err)"
			return 1
		fi
		written=$i
	done
}
written=0
write_range 1 200 || finish
eq "writes returned 0 before the crash" "$written" 200

pending=$(spool_pending)
kill -9 "$pid"
check "hio-fs is gone after kill -9" wait_for 10 proc_gone "$pid"
echo "hio-fs killed with $pending version(s) unacknowledged in its spool"
[ "$pending" -gt 0 ] || echo "note: nothing was pending at the crash; the replay had nothing to do"
check "fusermount3 -u -z of the dead mount" fusermount3 -u -z "$MNT"

# The same arguments, in the foreground (-f), in the background; fs.pid makes
# hio down (cleanup) stop it.
args=("${fsargv[@]:1}")
has_f=0
for a in "${args[@]}"; do [ "$a" = -f ] && has_f=1; done
[ "$has_f" = 1 ] || args=(-f "${args[@]}")
"${fsargv[0]}" "${args[@]}" >>"$STATE/fs.log" 2>&1 &
pid=$!
echo "$pid" >"$STATE/fs.pid"
check "hio-fs mounted again (results/ is a directory)" wait_for 30 mounted || finish

# The first 200 are not written again: their results must come from the replay.
check "the 200 written before the crash all have results" wait_for 90 done_at_least c/ 200
eq "files under c/ after the restart" "$(find "$MNT/c" -type f | wc -l)" 200
bad=0
for i in $(seq 1 200); do cmp -s "src/f$i" "$MNT/c/f$i" || bad=$((bad + 1)); done
eq "files written before the crash that do not read back the same" "$bad" 0

write_range 201 500 || finish
eq "writes returned 0 in all" "$written" 500
check "all 500 done" wait_for 120 done_at_least c/ 500
check_exactly_once list
eq "files under c/" "$(find "$MNT/c" -type f | wc -l)" 500
check_state "$MNT/c/f1" done
check_state "$MNT/c/f500" done
finish
