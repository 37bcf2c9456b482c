#!/usr/bin/env bash
# Any user writes into a `hio up --mount` mount (issue 11): a user made here owns what
# it creates, with exactly its umask's mode, and its files are streamed; a root-owned
# file is not writable by it (EACCES); a write clears set-user-ID; a file created with
# the sticky bit works; st_ino of a file and a directory stays across the kernel
# forgetting its inodes (drop_caches).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "needs root (useradd, drop_caches)"; exit 77; }
U="hiofs$$"
# The user goes at cleanup, whatever happened (lib.sh's trap calls cleanup).
eval "_fs_cleanup() $(declare -f cleanup | tail -n +2)"
cleanup() {
	_fs_cleanup
	id "$U" >/dev/null 2>&1 && userdel "$U"
}
check "useradd $U" useradd -M -U -s /bin/sh "$U" || finish
# as UMASK CMD...: runs CMD as the user, with that umask.
as() {
	local m=$1
	shift
	setpriv --reuid="$U" --regid="$U" --init-groups --reset-env \
		sh -c 'umask "$1"; shift; exec "$@"' sh "$m" "$@"
}
# errno_of FILE: how an O_WRONLY open of FILE by the user ends (OK or the errno name).
errno_of() {
	as 022 python3 -c '
import errno, os, sys
try:
    os.close(os.open(sys.argv[1], os.O_WRONLY))
    print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])' "$1"
}

fs_up_seen || { fail "hio up --mount"; finish; }
chmod 711 "$T" # mktemp's 0700 would stop the user before the mount
: >"$T/list"

# 1. the user's files and directory: its owner, its umask's mode
check "user mkdir (umask 002)" as 002 mkdir "$MNT/u"
check "user writes a file (umask 002)" as 002 sh -c "echo 'group-writable' >$MNT/u/g.txt"
check "user writes a file (umask 077)" as 077 sh -c "echo 'private' >$MNT/u/p.txt"
eq "owner of u/" "$(stat -c %U:%G "$MNT/u")" "$U:$U"
eq "mode of u/ (umask 002)" "$(stat -c %a "$MNT/u")" 775
eq "owner of u/g.txt" "$(stat -c %U:%G "$MNT/u/g.txt")" "$U:$U"
eq "mode of u/g.txt (umask 002)" "$(stat -c %a "$MNT/u/g.txt")" 664
eq "owner of u/p.txt" "$(stat -c %U "$MNT/u/p.txt")" "$U"
eq "mode of u/p.txt (umask 077)" "$(stat -c %a "$MNT/u/p.txt")" 600
echo "u/g.txt $T/g.src" >>"$T/list"
echo "u/p.txt $T/p.src" >>"$T/list"
echo 'group-writable' >"$T/g.src"
echo 'private' >"$T/p.src"

# 2. a root-owned file (644) is not the user's to write; root's own umask applies
echo "root's" >"$MNT/root.txt"
echo "root's" >"$T/root.src"
echo "root.txt $T/root.src" >>"$T/list"
eq "owner and mode of root.txt" "$(stat -c %U:%a "$MNT/root.txt")" "root:$(printf '%o' $((0666 & ~$(umask))))"
eq "user opening root.txt for writing" "$(errno_of "$MNT/root.txt")" EACCES
eq "user opening its own u/p.txt for writing" "$(errno_of "$MNT/u/p.txt")" OK

# 3. a write by the user clears its file's set-user-ID bit, as on a local disk
check "user writes u/s.sh" as 022 sh -c "echo '#!/bin/sh' >$MNT/u/s.sh"
check "user sets u+s on u/s.sh" as 022 chmod 4755 "$MNT/u/s.sh"
eq "mode of u/s.sh before" "$(stat -c %a "$MNT/u/s.sh")" 4755
check "user appends to u/s.sh" as 022 sh -c "echo 'echo hi' >>$MNT/u/s.sh"
# The kernel clears the bits (a setattr before a write by a user without CAP_FSETID);
# the mode it cached before may show for up to the attribute timeout (1 s).
mode_is() { [ "$(stat -c %a "$1")" = "$2" ]; }
check "mode of u/s.sh after the write becomes 755" wait_for 3 mode_is "$MNT/u/s.sh" 755
eq "mode of u/s.sh in the spool" "$(stat -c %a "$STATE/spool/tree/u/s.sh")" 755
# A truncating open drops it too, set-group-ID goes when group-executable, and root
# keeps both (CAP_FSETID). hio-fs does this itself: it asks the kernel to leave it to
# it (FUSE_HANDLE_KILLPRIV_V2, docs/fs.md), so writes need no xattr lookup each.
rewrite() { printf '#!/bin/sh\necho hi\n' >"$MNT/u/s.sh"; }
check "user sets u+s on u/s.sh again" as 022 chmod 4755 "$MNT/u/s.sh"
check "user rewrites u/s.sh (truncating open)" as 022 bash -c "$(declare -f rewrite); MNT=$MNT rewrite"
check "mode of u/s.sh after the truncating open becomes 755" wait_for 3 mode_is "$MNT/u/s.sh" 755
check "user sets g+s on u/s.sh (group-executable)" as 022 chmod 2755 "$MNT/u/s.sh"
check "user rewrites u/s.sh again" as 022 bash -c "$(declare -f rewrite); MNT=$MNT rewrite"
check "mode of u/s.sh after that becomes 755" wait_for 3 mode_is "$MNT/u/s.sh" 755
check "root sets 4755 on u/s.sh" chmod 4755 "$MNT/u/s.sh"
check "root rewrites u/s.sh" rewrite
spool_mode_4755() { [ "$(stat -c %a "$STATE/spool/tree/u/s.sh")" = 4755 ]; }
check "root's write keeps set-user-ID (in the spool)" spool_mode_4755
printf '#!/bin/sh\necho hi\n' >"$T/s.src"
echo "u/s.sh $T/s.src" >>"$T/list"

# 4. creating a file with the sticky bit works (the bit itself is not kept: the spool
# uses it to mark evicted files, docs/fs.md)
eq "user creates u/t.txt with mode 1644" "$(as 022 python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o1644)
os.write(fd, b"sticky\n")
os.close(fd)
print("OK")' "$MNT/u/t.txt" 2>&1)" OK
eq "owner and mode of u/t.txt" "$(stat -c %U:%a "$MNT/u/t.txt")" "$U:644"
echo 'sticky' >"$T/t.src"
echo "u/t.txt $T/t.src" >>"$T/list"

# 5. every file streamed once done, its result the sha256 of its final bytes
check "hio-fs spool drains" wait_for 60 spool_empty
check "master idle (hio wait)" "$HIO" wait --timeout 60 --state-dir "$STATE"
check "results/ lists the 5 files" wait_for 15 listed_at_least "" 5
eq "results whose stdout is not the input's sha256" "$(bad_results "$T/list")" 0
eq "done entries" "$(done_count "")" 5

# 6. st_ino stays while the file exists, also when the kernel forgets the inode
ino_f=$(stat -c %i "$MNT/u/g.txt")
ino_d=$(stat -c %i "$MNT/u")
eq "st_ino of u/g.txt is its backing file's" "$ino_f" "$(stat -c %i "$STATE/spool/tree/u/g.txt")"
sync
echo 2 >/proc/sys/vm/drop_caches
eq "st_ino of u/g.txt after drop_caches" "$(stat -c %i "$MNT/u/g.txt")" "$ino_f"
eq "st_ino of u/ after drop_caches" "$(stat -c %i "$MNT/u")" "$ino_d"
eq "ls -i agrees with stat" "$(ls -i "$MNT/u" | awk '$2 == "g.txt" { print $1 }')" "$ino_f"
finish
