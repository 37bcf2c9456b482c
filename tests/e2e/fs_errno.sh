#!/usr/bin/env bash
# hio-fs's input namespace answers like Linux tmpfs: the same fixed sequence of filesystem
# operations (tests/tools/fs-errno.c) runs in a tmpfs and in a directory of a hio-fs mount, and
# every line that differs (an errno, a size, a content, a mode, a listing) is a failure. Lines
# labelled x-... (hard links, a copy on hio-fs by design; informational ones) are left out of
# the comparison; x-link and x-fallocate (mode 0) must succeed on hio-fs. Skipped (77)
# without root.
. "$(dirname "$0")/lib.sh"
ERRNO="$HIO_BUILD/tests/hio-fs-errno"
[ -x "$ERRNO" ] || { fail "$ERRNO is not built"; exit 1; }

MNT="$T/mnt"

# Neither mount may be left for lib.sh's cleanup to walk into when it removes $T: the
# tmpfs is ours to unmount, and hio down must take the hio-fs mount away (a mount left
# behind is a failure, detached here).
mounted() { grep -q "^[^ ]* $MNT fuse" /proc/mounts; }
TORN=
teardown() {
	[ -n "$TORN" ] && return
	TORN=1
	cd / || true
	umount "$T/tmpfs" 2>/dev/null
	"$HIO" down --state-dir "$STATE" >/dev/null 2>&1
	if mounted; then
		fail "hio down left $MNT mounted"
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT"
	fi
}
trap 'teardown; cleanup' EXIT
end_test() { teardown; finish; }

mkdir -p "$T/tmpfs" "$MNT"
if ! mount -t tmpfs -o size=64m hio-e2e "$T/tmpfs" 2>"$T/mount.err"; then
	echo "SKIP: cannot mount a tmpfs at $T/tmpfs (needs root): $(cat "$T/mount.err")" >&2
	exit 77
fi
eq "reference filesystem type" "$(stat -f -c %T "$T/tmpfs")" tmpfs
mkdir "$T/tmpfs/errno"
timeout 120 "$ERRNO" "$T/tmpfs/errno" >"$T/tmpfs.out"
check "fs-errno on tmpfs exit 0" test $? -eq 0

"$HIO" up --pes 1 --exec true --mount "$MNT" --state-dir "$STATE" >"$T/url" ||
	{ fail "hio up --mount"; end_test; }
check "hio-fs is mounted (FUSE) at $MNT" mounted
mkdir "$MNT/errno"
check "mkdir in the hio-fs mount" test -d "$MNT/errno"
timeout 120 "$ERRNO" "$MNT/errno" >"$T/hiofs.out"
check "fs-errno on hio-fs exit 0" test $? -eq 0
check "hio-fs still serves the mount after the run" test -d "$MNT/results"

# Labels are unique, so the outputs pair up line by line by label; tmpfs gives the order.
awk -F': ' '
	function val() { return substr($0, length($1) + 3) }
	FNR == NR { if ($1 !~ /^x-/) { ref[$1] = val(); order[n++] = $1 } next }
	$1 !~ /^x-/ { got[$1] = val() }
	END {
		for (i = 0; i < n; i++) {
			l = order[i]
			if (!(l in got))
				printf "%s: tmpfs \"%s\", hio-fs (no line)\n", l, ref[l]
			else if (got[l] != ref[l])
				printf "%s: tmpfs \"%s\", hio-fs \"%s\"\n", l, ref[l], got[l]
		}
		for (l in got)
			if (!(l in ref))
				printf "%s: tmpfs (no line), hio-fs \"%s\"\n", l, got[l]
	}' "$T/tmpfs.out" "$T/hiofs.out" >"$T/diff"
while IFS= read -r line; do
	fail "differs from tmpfs: $line"
done <"$T/diff"
eq "lines compared" "$(grep -vc '^x-' "$T/tmpfs.out")" "$(grep -vc '^x-' "$T/hiofs.out")"
eq "lines differing from tmpfs" "$(wc -l <"$T/diff")" 0
# The informational lines, for the log.
grep '^x-' "$T/hiofs.out" | sed 's/^/hio-fs /'
eq "x-link on hio-fs (a copy: a second input)" "$(grep "^x-link:" "$T/hiofs.out")" "x-link: ok"
eq "x-fallocate on hio-fs (mode 0)" "$(grep "^x-fallocate:" "$T/hiofs.out")" "x-fallocate: ok"

end_test
