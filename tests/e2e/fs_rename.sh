#!/usr/bin/env bash
# Renames and quick temporaries: sed -i (a sedXXXXXX file renamed over the target), mv
# over an input, a file renamed over or removed right after it was written, a directory
# renamed right after it was filled, vim's save
# with its default backup settings (as outside /tmp: the 4913 probe, the name~ backup),
# sqlite3 filling a database (its -journal), and a rename while a version is in flight.
# The PE command logs every message it gets (name and sha256): each final file has
# exactly the messages expected, with the bytes it had, and no temporary name has any.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

# SEEN (fs_lib.sh): "NAME SHA256" for every message a PE processed
seen_reset
# shellcheck disable=SC2016 # expanded by the PE's shell
fs_up 'case "$HIO_NAME" in e/slow*) sleep 3 ;; esac
h=$(sha256sum "$HIO_INPUT" | cut -c1-64); echo "$HIO_NAME $h" >>'"$SEEN"'; echo "$h"' ||
	{ fail "hio up --mount"; finish; }
seen_reset
check "mkdir in the mount" mkdir "$MNT/e"
cd "$T" || exit 1
E="$MNT/e"
sha() { sha256sum <"$1" | cut -c1-64; }
# seen NAME: the sha256 of each message for NAME, in the order processed, on one line.
seen() { awk -v n="$1" '$1 == n { printf "%s ", $2 }' "$SEEN"; }
n_seen() { [ "$(wc -l <"$SEEN")" -ge "$1" ]; }
quiet_now() { spool_empty && "$HIO" wait --timeout 30 --state-dir "$STATE" >/dev/null; }

# ---- 1. inputs to edit later: each processed once first
printf 'alpha\nbeta\n' >"$E/conf.txt"
echo "file a" >"$E/a.txt"
echo "file b" >"$E/b.txt"
printf 'one\ntwo\n' >"$E/vim.txt"
for f in conf a b vim; do cp "$E/$f.txt" "$T/v1.$f"; done
check "1 four inputs processed" wait_for 30 n_seen 4
check "1 settled" wait_for 30 quiet_now

# ---- 2. edits and quick temporaries
check "2 sed -i exits 0" sed -i 's/alpha/gamma/' "$E/conf.txt"
check "2 mv a.txt over b.txt exits 0" mv "$E/a.txt" "$E/b.txt"
# written, then at once renamed over (c.txt), removed (gone.txt) or renamed to a held name
echo "c v1" >"$E/c.txt"
echo "c v2" >"$E/c2.txt"
mv "$E/c2.txt" "$E/c.txt"
echo "short-lived" >"$E/gone.txt"
rm "$E/gone.txt"
echo "parked" >"$E/park.txt"
mv "$E/park.txt" "$E/park.txt.part"
# a directory filled, then at once renamed: its files go out under the new names
mkdir "$E/incoming"
echo "run f1" >"$E/incoming/f1"
echo "run f2" >"$E/incoming/f2"
mv "$E/incoming" "$E/run1"
check "2 vim edits and saves vim.txt" timeout -k 5 30 vim -u NONE -N -n -es \
	-c 'set backupskip=' -c '%s/one/three/' -c 'wq' "$E/vim.txt"
check "2 sqlite3 creates and fills x.db" sqlite3 "$E/x.db" \
	"create table t(a, b); insert into t values (1, 'x'); insert into t values (2, 'y');
	 begin; insert into t select a + 2, b from t; commit;"
check "2 settled" wait_for 60 quiet_now
for f in conf b c vim; do cp "$E/$f.txt" "$T/v2.$f"; done
cp "$E/x.db" "$T/v2.x.db"
eq "2 conf.txt after sed" "$(cat "$T/v2.conf")" "$(printf 'gamma\nbeta')"
eq "2 b.txt after mv" "$(cat "$T/v2.b")" "file a"
eq "2 vim.txt after vim" "$(cat "$T/v2.vim")" "$(printf 'three\ntwo')"
eq "2 sqlite3 reads its rows back" "$(sqlite3 "$E/x.db" 'select count(*) from t')" 4

eq "2 sed -i: conf.txt's messages (old, new)" "$(seen e/conf.txt)" "$(sha "$T/v1.conf") $(sha "$T/v2.conf") "
eq "2 mv over: b.txt's messages (old b, then a's bytes)" "$(seen e/b.txt)" "$(sha "$T/v1.b") $(sha "$T/v1.a") "
eq "2 mv over: a.txt's messages (its first version only)" "$(seen e/a.txt)" "$(sha "$T/v1.a") "
eq "2 renamed over at once: c.txt's messages (v2 only)" "$(seen e/c.txt)" "$(sha "$T/v2.c") "
eq "2 vim: vim.txt's messages (old, new)" "$(seen e/vim.txt)" "$(sha "$T/v1.vim") $(sha "$T/v2.vim") "
eq "2 sqlite3: x.db's messages (the final file once)" "$(seen e/x.db)" "$(sha "$T/v2.x.db") "
for f in f1 f2; do
	eq "2 directory renamed at once: run1/$f's messages" "$(seen "e/run1/$f")" "$(sha "$E/run1/$f") "
done
check "2 run1/f1 comes to user.hio.state done" wait_for 10 state_is "$E/run1/f1" "done"
eq "2 messages for any other name (sedXXXXXX, c2.txt, gone.txt, park.txt, 4913, vim.txt~, x.db-journal, incoming/)" \
	"$(awk '$1 !~ /^e\/(conf|a|b|c|vim)\.txt$/ && $1 !~ /^e\/run1\/f[12]$/ && $1 != "e/x.db"' "$SEEN" | cut -d' ' -f1 | tr '\n' ' ')" ""
check "2 results/e/b.txt/stdout is a's sha256" \
	test "$(cat "$MNT/results/e/b.txt/stdout" 2>/dev/null)" = "$(sha "$T/v1.a")"
check "2 results/e/conf.txt/stdout is the edited sha256" \
	test "$(cat "$MNT/results/e/conf.txt/stdout" 2>/dev/null)" = "$(sha "$T/v2.conf")"
check "2 b.txt comes to user.hio.state done" wait_for 10 state_is "$E/b.txt" "done"

# ---- 3. a rename while the version is in flight: its state does not stay at sent
echo "slow one" >"$E/slow.txt"
cp "$E/slow.txt" "$T/v1.slow"
in_flight() { local s; s=$(xstate "$E/slow.txt"); [ "$s" = sent ] || [ "$s" = processing ]; }
check "3 slow.txt is handed to a PE" wait_for 10 in_flight
check "3 mv slow.txt slow2.txt exits 0" mv "$E/slow.txt" "$E/slow2.txt"
check_state "$E/slow2.txt" "done"
check "3 settled" wait_for 30 quiet_now
eq "3 slow.txt's messages (one, under the name it was sent with)" "$(seen e/slow.txt)" "$(sha "$T/v1.slow") "
eq "3 slow2.txt's messages (none: a rename to a new name is not a new version)" "$(seen e/slow2.txt)" ""
finish
