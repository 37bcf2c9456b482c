#!/usr/bin/env bash
# The daemons' paths under valgrind: hio-master, hio-pe and hio-fs run under memcheck
# while files stream P2P, through the backlog and through the mount, then stop
# cleanly; any error or leak fails.
# Needs a build without sanitizers: HIO_BUILD=build-vg tests/valgrind.sh
. "$(dirname "$0")/e2e/lib.sh"
unset ASAN_OPTIONS UBSAN_OPTIONS
command -v valgrind >/dev/null || { echo "FAIL: valgrind is not installed (bash scripts/deps)"; exit 1; }
VG=(valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=9)

"$HIO" up --state-dir "$STATE" --pes 0 --exec true >"$T/url" || { fail "hio up"; finish; }
# No worker PEs: the backlog is for the PE under valgrind, not for the autoscaler.
"$HIO" scale 0 || fail "hio scale 0"
url=$(cat "$T/url")
port=${url##*:}
tok=$(cat "$STATE/token")
# Swap the master for one under valgrind, on the same port and state dir.
mpid=$(cat "$STATE/master.pid")
kill "$mpid"
master_gone() { ! kill -0 "$mpid" 2>/dev/null; }
wait_for 30 master_gone
"${VG[@]}" --log-file="$T/master.vg" "$HIO_BUILD/master/hio-master" --state-dir "$STATE" \
	--listen "127.0.0.1:$port" --token-file "$STATE/token" >>"$STATE/master.log" 2>&1 &
vg_master=$!
echo "$vg_master" >"$STATE/master.pid"
check "master under valgrind serves" wait_for 120 curl -sf "$url/v1/health"

cd "$T" || exit 1
mkdir -p in
for i in $(seq 1 20); do head -c $((i * 5000)) /dev/urandom >"in/f$i"; done
# First through the backlog (no PE yet), then P2P once a PE under valgrind is up.
"$HIO" send in/f1 in/f2 in/f3 >sent.txt || fail "send to the backlog"
HIO_TOKEN=$tok "${VG[@]}" --log-file="$T/pe.vg" "$HIO_BUILD/pe/hio-pe" --master "$url" \
	--exec 'wc -c <"$HIO_INPUT"' >"$T/pe.log" 2>&1 &
vg_pe=$!
pe_idle() { test "$(pe_count idle)" -ge 1; }
check "PE under valgrind registers" wait_for 120 pe_idle
"$HIO" send in >>sent.txt || fail "send P2P"
check "every message processed" "$HIO" wait --timeout 120
eq "result entries" "$("$HIO" results --json | jq length)" 20

# hio-fs: files written, renamed from a held name, overwritten, results read back.
mnt="$T/mnt"
mkdir -p "$mnt"
"${VG[@]}" --log-file="$T/fs.vg" "$HIO_BUILD/fs/hio-fs" -f --token-file "$STATE/token" \
	--spool "$T/spool" "$url" "$mnt" >"$T/fs.log" 2>&1 &
vg_fs=$!
mounted() { test -d "$mnt/results"; }
check "hio-fs under valgrind mounts" wait_for 120 mounted
mkdir -p "$mnt/d"
cp in/f1 in/f2 "$mnt/d/" || fail "cp into the mount"
cp in/f3 "$mnt/d/f3.tmp" && mv "$mnt/d/f3.tmp" "$mnt/d/f3" || fail "rename into the mount"
cp in/f4 "$mnt/d/f1" || fail "overwrite in the mount"
fs_results() { test "$(find "$mnt/results/d" -name stdout 2>/dev/null | wc -l)" -eq 3; }
check "mount results listed" wait_for 120 fs_results
f1_new() { test "$(cat "$mnt/results/d/f1/stdout")" = "$(wc -c <in/f4)"; }
check "overwrite's result read through the mount" wait_for 120 f1_new
eq "state of d/f2" "$(getfattr -n user.hio.state --only-values "$mnt/d/f2")" done
fusermount3 -u "$mnt"
wait "$vg_fs"
eq "hio-fs exit status under valgrind" "$?" 0

kill -TERM "$vg_pe"
wait "$vg_pe"
eq "hio-pe exit status under valgrind" "$?" 0
kill -TERM "$vg_master"
wait "$vg_master"
eq "hio-master exit status under valgrind" "$?" 0
for f in master.vg pe.vg fs.vg; do
	grep -E "ERROR SUMMARY|in use at exit" "$T/$f"
	check "$f: no errors" grep -q "ERROR SUMMARY: 0 errors" "$T/$f"
done
finish
