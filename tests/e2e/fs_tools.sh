#!/usr/bin/env bash
# hio-fs with ordinary tools against a real mount: cp -r (500 files in subdirectories),
# rsync -a (dot temp names renamed), tar -x, dd, mv across devices, an editor's save
# via name.tmp: exactly one result per final file and none for a temp name, each the
# file's sha256; results/ read with cat, cp -r and find; an overwrite replaces the
# result; a name that is not UTF-8 refused when made; and overall no entry beyond the
# final files written.
. "$(dirname "$0")/lib.sh"

MNT="$T/mnt"
SRC="$T/src"
EXPECTED="$T/expected" # every final input name written, one a line
EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

mounted() { grep -q " $MNT fuse" /proc/mounts; }
# hio down must take the mount away; a mount left behind is a failure, and is detached
# so that removing $T cannot walk into it.
TORN=
teardown() {
	[ -n "$TORN" ] && return
	TORN=1
	cd / || true
	"$HIO" down --state-dir "$STATE" >/dev/null 2>&1
	if mounted; then
		fail "hio down left $MNT mounted"
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT"
	fi
}
trap 'teardown; cleanup' EXIT
end_test() { teardown; finish; }

"$HIO" up --pes 2 --exec 'sha256sum "$HIO_INPUT" | cut -d" " -f1' --mount "$MNT" \
	--state-dir "$STATE" >"$T/url" || { fail "hio up --mount"; end_test; }
check "mount is a FUSE mount" mounted
check "results/ is a directory once hio up returns" test -d "$MNT/results"

# A crashed hio-fs leaves "Transport endpoint is not connected": stop waiting then.
DEAD=
serving() { stat "$MNT/results" >/dev/null 2>&1; }
cond_or_dead() { "$@" && return 0; serving || { DEAD=1; return 0; }; return 1; }
# wait_fs SECS CMD...: wait_for that gives up at once when the mount dies.
wait_fs() { local secs=$1; shift; wait_for "$secs" cond_or_dead "$@" && [ -z "$DEAD" ]; }
# Each section starts with a live mount, or the test ends here.
need_mount() {
	serving && return 0
	fail "hio-fs no longer serves $MNT (before: $1)"
	end_test
}
results_json() { "$HIO" results --json --state-dir "$STATE"; }
# n_results PREFIX: result entries whose name starts with PREFIX ("" = all).
n_results() { results_json | jq --arg p "$1" '[.[] | select(.name | startswith($p))] | length'; }
# at_least PREFIX N: at least N result entries under PREFIX, all of them done.
at_least() {
	local j
	j=$(results_json) || return 1
	jq -e --arg p "$1" --argjson n "$2" \
		'[.[] | select(.name | startswith($p))] | length >= $n and all(.state == "done")' \
		<<<"$j" >/dev/null
}
# names_for PREFIX: sorted names of result entries under PREFIX.
names_for() { results_json | jq -r --arg p "$1" '.[] | select(.name | startswith($p)) | .name' | sort; }
# Nothing in flight anywhere: hio-fs holds no completed-but-unacknowledged version
# (spool out/ empty) and the master has nothing queued, leased or unfinished.
spool_out_empty() { [ -z "$(ls -A "$STATE/spool/out" 2>/dev/null)" ]; }
settle() {
	wait_fs 120 spool_out_empty || { fail "spool out/ still holds: $(ls "$STATE/spool/out" | head)"; return 1; }
	"$HIO" wait --timeout 120 --state-dir "$STATE" >/dev/null
}
# hashes DIR: "sha256  relative-name" for every file under $SRC/DIR, sorted by name.
hashes() { (cd "$SRC" && find "$1" -type f | sort | xargs -r sha256sum); }
# verify_hashes FILE: every "sha256  name" line has results/<name>/stdout (read through
# the mount) equal to the sha256; prints how many did not.
verify_hashes() {
	local want name got bad=0
	while read -r want name; do
		got=
		read -r got <"$MNT/results/$name/stdout" 2>/dev/null
		[ "$got" = "$want" ] || { bad=$((bad + 1)); [ $bad -le 5 ] && echo "  $name: want $want got '$got'" >&2; }
	done <"$1"
	echo "$bad"
}
# visible PREFIX N: results/PREFIX in the mount shows N stdout files (hio-fs lists
# results/ from the master's index, cached for about a second).
visible() { [ "$(find "$MNT/results/$1" -type f -name stdout 2>/dev/null | wc -l)" -eq "$2" ]; }
# state FILE: user.hio.state of an input.
state() { getfattr -n user.hio.state --only-values "$1" 2>/dev/null; }
state_is() { [ "$(state "$1")" = "$2" ]; }
# stdout_is NAME SHA: results/NAME/stdout (through the mount) is SHA.
stdout_is() { local got=; read -r got <"$MNT/results/$1/stdout" 2>/dev/null && [ "$got" = "$2" ]; }
# done_inputs DIR: inputs under DIR whose user.hio.state is done (one getfattr for all).
done_inputs() { getfattr -R -n user.hio.state -e text "$1" 2>/dev/null | grep -c '^user.hio.state="done"'; }
all_done() { [ "$(done_inputs "$1")" -eq "$2" ]; }
quiet() { "$@" >/dev/null; }

# mkfiles DIR NDIR NSUB NFILE SEED: NDIR x NSUB x NFILE files of 1..16384 random bytes.
mkfiles() {
	local d s f n=0 sizes
	mapfile -t sizes < <(awk -v seed="$5" -v n=$(($2 * $3 * $4)) \
		'BEGIN { srand(seed); for (i = 0; i < n; i++) print 1 + int(rand() * 16384) }')
	for ((d = 0; d < $2; d++)); do
		for ((s = 0; s < $3; s++)); do
			mkdir -p "$SRC/$1/d$d/s$s"
			for ((f = 0; f < $4; f++)); do
				head -c "${sizes[n]}" /dev/urandom >"$SRC/$1/d$d/s$s/f$f.bin"
				n=$((n + 1))
			done
		done
	done
}

mkdir -p "$SRC"
: >"$EXPECTED"

# ---- 1. cp -r of a 500-file tree (5 dirs x 10 subdirs x 10 files)
need_mount "1 cp"
mkfiles cp 5 10 10 1
hashes cp >"$T/cp.sha"
eq "source files for cp" "$(wc -l <"$T/cp.sha")" 500
cut -c67- "$T/cp.sha" >>"$EXPECTED"
check "1 cp -r into the mount exits 0" cp -r "$SRC/cp" "$MNT/"
check "1 cp: 500 results arrive, all done" wait_fs 120 at_least cp/ 500
settle
eq "1 cp: result entries under cp/" "$(n_results cp/)" 500
check "1 cp: result names are exactly the source files" \
	diff <(names_for cp/) <(cut -c67- "$T/cp.sha")
check "1 cp: results/cp shows 500 stdout files" wait_fs 30 visible cp 500
eq "1 cp: results/<name>/stdout differing from the file's sha256" "$(verify_hashes "$T/cp.sha")" 0
check "1 cp: all 500 inputs come to user.hio.state done" wait_fs 30 all_done "$MNT/cp" 500
eq "1 cp: inputs reporting user.hio.state done" "$(done_inputs "$MNT/cp")" 500

# ---- 2. rsync -a (writes .name.XXXXXX, then renames it to name)
need_mount "2 rsync"
mkfiles rs 3 4 5 2
hashes rs >"$T/rs.sha"
cut -c67- "$T/rs.sha" >>"$EXPECTED"
check "2 rsync -a into the mount exits 0" rsync -a "$SRC/rs" "$MNT/"
check "2 rsync: 60 results arrive, all done" wait_fs 120 at_least rs/ 60
settle
eq "2 rsync: result entries under rs/" "$(n_results rs/)" 60
check "2 rsync: result names are exactly the final files" \
	diff <(names_for rs/) <(cut -c67- "$T/rs.sha")
eq "2 rsync: entries for a dot (temp) name" \
	"$(results_json | jq '[.[] | select(.name | test("(^|/)\\."))] | length')" 0
eq "2 rsync: dot files left in the mount" "$(find "$MNT/rs" -name '.*' | wc -l)" 0
check "2 rsync: results/rs shows 60 stdout files" wait_fs 30 visible rs 60
eq "2 rsync: stdout differing from the sha256" "$(verify_hashes "$T/rs.sha")" 0

# ---- 3. tar -x of a tarball (50 files and one empty file)
need_mount "3 tar"
mkfiles tar 2 5 5 3
: >"$SRC/tar/empty"
hashes tar >"$T/tar.sha"
cut -c67- "$T/tar.sha" >>"$EXPECTED"
tar -cf "$T/t.tar" -C "$SRC" tar
check "3 tar -x into the mount exits 0" tar -xf "$T/t.tar" -C "$MNT"
check "3 tar: 51 results arrive, all done" wait_fs 120 at_least tar/ 51
settle
eq "3 tar: result entries under tar/" "$(n_results tar/)" 51
check "3 tar: result names are exactly the archive's files" \
	diff <(names_for tar/) <(cut -c67- "$T/tar.sha")
check "3 tar: results/tar shows 51 stdout files" wait_fs 30 visible tar 51
eq "3 tar: stdout differing from the sha256" "$(verify_hashes "$T/tar.sha")" 0
check "3 tar: the empty file's result is the sha256 of nothing" stdout_is tar/empty "$EMPTY_SHA"

# ---- 4. dd bs=1M count=8
need_mount "4 dd"
head -c $((8 << 20)) /dev/urandom >"$SRC/big"
big_sha=$(sha256sum "$SRC/big" | cut -c1-64)
echo x >>"$EXPECTED"
check "4 dd of=mnt/x exits 0" dd if="$SRC/big" of="$MNT/x" bs=1M count=8 status=none
check "4 dd: result for x is the file's sha256" wait_fs 120 stdout_is x "$big_sha"
settle
eq "4 dd: result entries named x" "$(results_json | jq '[.[] | select(.name == "x")] | length')" 1
eq "4 dd: size of mnt/x" "$(stat -c %s "$MNT/x")" $((8 << 20))

# ---- 5. mv from outside the mount (cross-device: copy, then unlink)
need_mount "5 mv"
head -c 70000 /dev/urandom >"$SRC/moved.bin"
mv_sha=$(sha256sum "$SRC/moved.bin" | cut -c1-64)
echo moved.bin >>"$EXPECTED"
check "5 mv into the mount exits 0" mv "$SRC/moved.bin" "$MNT/moved.bin"
check "5 mv: the source is gone" test ! -e "$SRC/moved.bin"
check "5 mv: result for moved.bin is its sha256" wait_fs 120 stdout_is moved.bin "$mv_sha"
settle
eq "5 mv: result entries named moved.bin" \
	"$(results_json | jq '[.[] | select(.name == "moved.bin")] | length')" 1

# ---- 6. an editor's save: write name.tmp, then mv name.tmp name inside the mount
need_mount "6 save"
mkdir -p "$MNT/doc"
head -c 3000 /dev/urandom >"$T/doc.src"
doc_sha=$(sha256sum "$T/doc.src" | cut -c1-64)
check "6 save: cp to doc/name.tmp exits 0" cp "$T/doc.src" "$MNT/doc/name.tmp"
# Everything completed so far has gone out and been processed: the held name.tmp
# must not be among it.
settle
eq "6 save: messages in while name.tmp is held (the files before it)" \
	"$(pfield default in)" "$(wc -l <"$EXPECTED")"
echo doc/name >>"$EXPECTED"
# Held until renamed: it must not be on its way (no state, or spooled).
held_state=$(state "$MNT/doc/name.tmp")
check "6 save: held name.tmp is not streamed (user.hio.state '$held_state')" \
	test -z "$held_state" -o "$held_state" = spooled
check "6 save: mv name.tmp name exits 0" mv "$MNT/doc/name.tmp" "$MNT/doc/name"
check "6 save: result for doc/name is its sha256" wait_fs 120 stdout_is doc/name "$doc_sha"
settle
eq "6 save: entries under doc/" "$(n_results doc/)" 1
eq "6 save: entries for doc/name.tmp" \
	"$(results_json | jq '[.[] | select(.name == "doc/name.tmp")] | length')" 0
check "6 save: mnt/doc/name reads back as written" cmp -s "$T/doc.src" "$MNT/doc/name"

# ---- 7. results/ with cat, cp -r, find
need_mount "7 results"
check "7 cat results/x/stdout" test "$(cat "$MNT/results/x/stdout")" = "$big_sha"
check "7 ls -R results/ exits 0" quiet ls -R "$MNT/results"
check "7 cp -r results/cp exits 0" cp -r "$MNT/results/cp" "$T/out"
eq "7 cp -r: files copied out of results/cp" "$(find "$T/out" -type f | wc -l)" 500
bad=0
while read -r want name; do
	got=
	read -r got <"$T/out/${name#cp/}/stdout" 2>/dev/null
	[ "$got" = "$want" ] || bad=$((bad + 1))
done <"$T/cp.sha"
eq "7 cp -r: copied stdout files differing from the sha256" "$bad" 0
n_expected=$(wc -l <"$EXPECTED")
eq "7 find results/ -type f (one stdout per input)" "$(find "$MNT/results" -type f | wc -l)" "$n_expected"
check "7 results/ refuses a new file" bash -c "! : 2>/dev/null >'$MNT/results/new'"

# ---- 8. overwrite a done file: the new version's result replaces the old one
need_mount "8 overwrite"
ow=cp/d2/s3/f4.bin
head -c 5000 /dev/urandom >"$T/ow.src"
ow_sha=$(sha256sum "$T/ow.src" | cut -c1-64)
check "8 overwrite: old result was the old sha256" \
	stdout_is "$ow" "$(grep " $ow\$" "$T/cp.sha" | cut -c1-64)"
check "8 overwrite: cp over mnt/$ow exits 0" cp "$T/ow.src" "$MNT/$ow"
check "8 overwrite: result shows the new sha256" wait_fs 120 stdout_is "$ow" "$ow_sha"
settle
eq "8 overwrite: entries for $ow" "$(results_json | jq --arg n "$ow" '[.[] | select(.name == $n)] | length')" 1
check "8 overwrite: user.hio.state becomes done" wait_fs 30 state_is "$MNT/$ow" "done"
eq "8 overwrite: user.hio.state" "$(state "$MNT/$ow")" "done"
check "8 overwrite: mnt/$ow reads back as the new content" cmp -s "$T/ow.src" "$MNT/$ow"

# ---- 8b. hio wait right after cp: it returns only once the mount's inputs are processed
need_mount "8b hio wait"
mkfiles hwait 1 1 30 8
hashes hwait >"$T/hwait.sha"
cut -c67- "$T/hwait.sha" >>"$EXPECTED"
check "8b cp into the mount exits 0" cp -r "$SRC/hwait" "$MNT/"
check "8b hio wait exits 0" "$HIO" wait --timeout 120 --state-dir "$STATE"
# No polling from here: hio wait has already seen the spool drained.
eq "8b result entries right after hio wait" "$(n_results hwait/)" 30
check "8b all of them done" at_least hwait/ 30
# And the mount shows them at once: a name its results/ snapshot lacks is looked up anew.
eq "8b results/hwait/*/stdout read through the mount, differing from the sha256" \
	"$(verify_hashes "$T/hwait.sha")" 0

# ---- 8c. a name that is not UTF-8 (Latin-1 "café", as an old instrument PC writes it):
# refused where it is made (EILSEQ: cp, mkdir and mv say so; names travel in JSON, and
# such a file used to be retried forever); the same name in UTF-8 is an ordinary input.
need_mount "8c names"
mkdir -p "$MNT/names"
latin=$(printf 'caf\xe9.txt')
head -c 1000 /dev/urandom >"$T/names.src"
names_sha=$(sha256sum "$T/names.src" | cut -c1-64)
cp "$T/names.src" "$MNT/names/$latin" 2>"$T/names.err"
check "8c cp to a Latin-1 name fails" test $? -ne 0
check "8c ... with EILSEQ ($(head -c 160 "$T/names.err"))" \
	grep -q "Invalid or incomplete multibyte" "$T/names.err"
check "8c mkdir of a Latin-1 name fails" bash -c '! mkdir "$1" 2>/dev/null' _ \
	"$MNT/names/$(printf 'dir\xe9')"
check "8c cp to a held name (names/x.tmp) exits 0" cp "$T/names.src" "$MNT/names/x.tmp"
check "8c mv of it to a Latin-1 name fails" bash -c '! mv "$1" "$2" 2>/dev/null' _ \
	"$MNT/names/x.tmp" "$MNT/names/$latin"
check "8c ... and it keeps its name" test -f "$MNT/names/x.tmp"
check "8c rm of the held file exits 0" rm "$MNT/names/x.tmp"
check "8c cp to the UTF-8 name names/café.txt exits 0" cp "$T/names.src" "$MNT/names/café.txt"
echo "names/café.txt" >>"$EXPECTED"
check "8c result for names/café.txt is its sha256" wait_fs 120 stdout_is "names/café.txt" "$names_sha"
eq "8c entries under names/" "$(n_results names/)" 1

# ---- 9. overall: one entry per final file written, nothing else
need_mount "9 totals"
settle
n_expected=$(wc -l <"$EXPECTED")
eq "9 total result entries" "$(n_results "")" "$n_expected"
check "9 result names are exactly the final files written" \
	diff <(names_for "") <(sort "$EXPECTED")
eq "9 entries not done" "$(results_json | jq '[.[] | select(.state != "done")] | length')" 0
check "9 the mount lists exactly the final files" diff \
	<(cd "$MNT" && find . -path ./results -prune -o -type f -print | cut -c3- | sort) <(sort "$EXPECTED")
eq "9 messages in (one per final file, plus the overwrite's new version)" \
	"$(pfield default in)" $((n_expected + 1))
eq "9 failed" "$(pfield default failed)" 0

# ---- 10. hio down with a reader still inside the mount: it unmounts anyway (lazily)
(cd "$MNT/cp" && exec sleep 300) &
reader=$!
in_mount() { [ "$(readlink "/proc/$reader/cwd")" = "$MNT/cp" ]; }
check "10 a reader sits inside the mount" wait_for 10 in_mount
check "10 hio down exits 0" "$HIO" down --state-dir "$STATE"
check "10 the mount is gone after hio down" bash -c "! grep -q ' $MNT fuse' /proc/mounts"
kill "$reader" 2>/dev/null
wait "$reader" 2>/dev/null
end_test
