#!/usr/bin/env bash
# Open/close churn: 4 writer processes at once, each creating 770 small files in its own
# directory and, as it goes, truncating and appending to files it wrote before (whose
# versions are still pending, so each open copies them first), holding one handle open
# while a second writes, renaming held .tmp names to final ones, and overwriting 20
# names shared by all writers. Afterwards hio-fs still runs with its mount up, no
# sanitizer reported anything, every write returned 0, and every final file has
# exactly one result, the sha256 of what the file holds now: no input lost, none
# duplicated, no result for a name that is not a final file. Over 10,000 operations
# (each an open, write and close of the mount, or a rename), counted as they are made.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

W=4   # writer processes
N=770 # files each writer creates: 2,514 operations a writer
SHARED=20

fs_up 'sha256sum "$HIO_INPUT" | cut -d" " -f1' || { fail "hio up --mount"; finish; }
cd "$T" || exit 1
pid=$(fs_pid)
check "hio-fs runs (pid $pid)" test -d "/proc/$pid"
check "mkdir in the mount" mkdir "$MNT/s"

# writer W: its files go to $MNT/wW, and the same bytes to $T/mirror/wW (what each
# must read back). Builtins only (printf and redirections), so the churn is opens and
# closes, not process starts. Each failure is a line in $T/err.wW.
writer() {
	local w=$1 d="$MNT/w$1" m="$T/mirror/w$1" i r c fd err="$T/err.w$1" ops=0
	: >"$err"
	mkdir -p "$d" "$m" || { echo "mkdir $d" >>"$err"; return; }
	for i in $(seq 1 "$N"); do
		c="w$w f$i v1 $RANDOM$RANDOM"
		printf '%s\n' "$c" >"$d/f$i" 2>>"$err" || echo "create f$i" >>"$err"
		ops=$((ops + 1))
		printf '%s\n' "$c" >"$m/f$i"
		if [ $((i % 3)) -eq 0 ]; then
			r=$((i - 2))
			printf 'w%s f%s v2\n' "$w" "$r" >"$d/f$r" 2>>"$err" || echo "truncate f$r" >>"$err"
			printf 'w%s f%s v2\n' "$w" "$r" >"$m/f$r"
			printf 'appended %s\n' "$i" >>"$d/f$r" 2>>"$err" || echo "append f$r" >>"$err"
			printf 'appended %s\n' "$i" >>"$m/f$r"
			ops=$((ops + 2))
		fi
		if [ $((i % 5)) -eq 0 ]; then
			# Two writing handles on one file: it completes at the last close.
			r=$((i - 1))
			if exec {fd}>>"$d/f$r"; then
				printf 'held %s\n' "$i" >&"$fd" || echo "held write f$r" >>"$err"
				printf 'second %s\n' "$i" >>"$d/f$r" || echo "second write f$r" >>"$err"
				exec {fd}>&-
				printf 'held %s\nsecond %s\n' "$i" "$i" >>"$m/f$r"
				ops=$((ops + 2))
			else
				echo "hold f$r" >>"$err"
			fi
		fi
		if [ $((i % 10)) -eq 0 ]; then
			printf 'w%s t%s\n' "$w" "$i" >"$d/t$i.tmp" 2>>"$err" || echo "tmp t$i" >>"$err"
			mv "$d/t$i.tmp" "$d/t$i" 2>>"$err" || echo "rename t$i" >>"$err"
			printf 'w%s t%s\n' "$w" "$i" >"$m/t$i"
			ops=$((ops + 2))
		fi
		printf 'w%s i%s\n' "$w" "$i" >"$MNT/s/g$((i % SHARED))" 2>>"$err" ||
			echo "shared g$((i % SHARED))" >>"$err"
		ops=$((ops + 1))
	done
	echo "$ops" >"$T/ops.w$w"
}

for w in $(seq 1 "$W"); do
	writer "$w" &
	FS_BG_PIDS+=($!)
done
wait "${FS_BG_PIDS[@]}"
FS_BG_PIDS=()

ops=$(cat "$T"/ops.w* | awk '{ n += $1 } END { print n + 0 }')
echo "operations on the mount: $ops"
check "at least 10,000 operations ($ops)" test "$ops" -ge 10000
check "hio-fs still runs after the churn" test -d "/proc/$pid"
check "the mount is still up (results/ is a directory)" mounted || finish
cat "$T"/err.w* >"$T/err"
eq "failed operations of the writers" "$(wc -l <"$T/err")" 0
head -n 5 "$T/err" >&2

bad=0
for w in $(seq 1 "$W"); do
	for f in "$T/mirror/w$w"/*; do
		cmp -s "$f" "$MNT/w$w/${f##*/}" || bad=$((bad + 1))
	done
done
eq "files that do not read back what was written" "$bad" 0

# The final files: every regular file of the mount outside results/. A result must be
# the sha256 of the file as it is now (for the shared names, whichever writer closed
# last).
(cd "$MNT" && find . -path ./results -prune -o -type f -printf '%P\n') | LC_ALL=C sort >final
awk -v m="$MNT" '{ print $1, m "/" $1 }' final >list
inputs=$(wc -l <list)
eq "final files" "$inputs" $((W * N + W * (N / 10) + SHARED))

check "hio-fs spool drains (nothing left unacknowledged)" wait_for 120 spool_empty
check "master idle (hio wait)" "$HIO" wait --timeout 120 --state-dir "$STATE"
results_json >"$T/results.json"
jq -r '.[].name' "$T/results.json" | LC_ALL=C sort >names
eq "result entries" "$(wc -l <names)" "$inputs"
eq "duplicates (names with more than one result entry)" "$(uniq -d names | wc -l)" 0
eq "lost (final files without a result entry)" "$(LC_ALL=C comm -23 final names | wc -l)" 0
eq "result entries for names that are not final files" "$(LC_ALL=C comm -13 final names | wc -l)" 0
eq "entries not done" "$(jq '[.[] | select(.state != "done")] | length' "$T/results.json")" 0
eq "pipeline failed" "$(pfield default failed)" 0
check "results/ in the mount lists $inputs stdout files" wait_for 30 listed_at_least "" "$inputs"
eq "results whose stdout is not the final file's sha256" "$(bad_results list)" 0
check "hio-fs still runs at the end" test -d "/proc/$pid"
finish
