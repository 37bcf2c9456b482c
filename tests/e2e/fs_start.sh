#!/usr/bin/env bash
# How hio-fs starts. Over a directory that holds a file it refuses to mount, with one
# line naming the directory, and the file stays visible. Started without -f (in the
# background, as docs/fs.md shows) it streams like the foreground one: 20 files copied
# in each get exactly one result, their sha256, read through the mount's results/. A
# second hio-fs on the same spool is refused, naming the first one's pid, and the first
# goes on.
. "$(dirname "$0")/lib.sh"

FS="$HIO_BUILD/fs/hio-fs"
MNT="$T/mnt"
FULL="$T/full"
mounted() { grep -q " $1 fuse" /proc/mounts; }
# The background hio-fs: the process whose command line names $MNT (we started it).
fs_bg_pid() {
	local p
	for p in /proc/[0-9]*; do
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "--spool $T/spool " && { echo "${p#/proc/}"; return 0; }
	done
	return 1
}
fs_gone() { ! fs_bg_pid >/dev/null; }
teardown() {
	local m
	for m in "$MNT" "$FULL" "$T/mnt2"; do
		mounted "$m" && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m"; }
	done
	# hio-fs ends once unmounted; its sanitizer report (if any) must be written first.
	wait_for 20 fs_gone || fail "hio-fs did not exit after the unmount"
}
trap 'teardown; cleanup' EXIT

# shellcheck disable=SC2016 # expanded by the PE's shell
"$HIO" up --pes 2 --exec 'sha256sum "$HIO_INPUT" | cut -d" " -f1' --state-dir "$STATE" >"$T/url" ||
	{ fail "hio up"; finish; }
URL=$(cat "$T/url")
fsargs=(--token-file "$STATE/token" --spool "$T/spool" "$URL")

# ---- 1. a non-empty mount point is refused, with its name, and nothing is hidden
mkdir -p "$FULL"
echo "instrument data" >"$FULL/run1.dat"
timeout -k 5 30 "$FS" -f "${fsargs[@]}" "$FULL" >"$T/full.out" 2>"$T/full.err"
rc=$?
check "1 hio-fs over a non-empty directory exits non-zero (rc $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
eq "1 lines on stderr" "$(wc -l <"$T/full.err")" 1
check "1 the error names the directory: $(cat "$T/full.err")" grep -qF "$FULL" "$T/full.err"
check "1 nothing is mounted there" bash -c "! grep -q ' $FULL fuse' /proc/mounts"
eq "1 the directory's file is still visible" "$(cat "$FULL/run1.dat" 2>&1)" "instrument data"

# ---- 2. in the background (no -f): it returns once mounted, then streams
mkdir -p "$MNT" "$T/src"
check "2 hio-fs without -f exits 0 (it went to the background)" timeout -k 5 60 "$FS" "${fsargs[@]}" "$MNT"
check "2 the mount is up" mounted "$MNT"
check "2 the background hio-fs runs" fs_bg_pid
: >"$T/list"
for i in $(seq 1 20); do
	head -c $((100 + i * 997)) /dev/urandom >"$T/src/f$i"
	echo "f$i" >>"$T/list"
done
check "2 cp of 20 files into the mount exits 0" cp "$T/src"/f* "$MNT/"
n_done() { "$HIO" results --json --state-dir "$STATE" | jq '[.[] | select(.state == "done")] | length'; }
all_done() { [ "$(n_done)" -ge 20 ]; }
check "2 the 20 files are processed" wait_for 60 all_done
"$HIO" wait --timeout 60 --state-dir "$STATE" >/dev/null
eq "2 result entries (one per file)" "$("$HIO" results --json --state-dir "$STATE" | jq length)" 20
bad=0
while read -r f; do
	want=$(sha256sum <"$T/src/$f" | cut -c1-64)
	got=$(timeout -k 2 20 cat "$MNT/results/$f/stdout" 2>/dev/null)
	[ "$want" = "$got" ] || { bad=$((bad + 1)); echo "  $f: want $want got '$got'" >&2; }
done <"$T/list"
eq "2 results/<file>/stdout differing from the file's sha256" "$bad" 0
check "2 user.hio.state of f1 is done" \
	test "$(getfattr -n user.hio.state --only-values "$MNT/f1" 2>/dev/null)" = "done"

# ---- 3. a second hio-fs on the same spool is refused; the first goes on
mkdir -p "$T/mnt2"
first=$(fs_bg_pid)
timeout -k 5 30 "$FS" -f "${fsargs[@]}" "$T/mnt2" >"$T/second.out" 2>"$T/second.err"
rc=$?
check "3 a second hio-fs on the spool exits non-zero (rc $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "3 it says the spool is in use, by the first one's pid: $(tail -n 1 "$T/second.err")" \
	grep -q "in use by another hio-fs (pid $first)" "$T/second.err"
check "3 nothing is mounted on its directory" bash -c "! grep -q ' $T/mnt2 fuse' /proc/mounts"
head -c 4321 /dev/urandom >"$T/src/g1"
check "3 the first mount still takes a file" cp "$T/src/g1" "$MNT/g1"
g1_done() { [ "$(timeout -k 2 10 cat "$MNT/results/g1/stdout" 2>/dev/null)" = "$(sha256sum <"$T/src/g1" | cut -c1-64)" ]; }
check "3 and streams it (its sha256 in results/g1/stdout)" wait_for 60 g1_done
teardown
finish
