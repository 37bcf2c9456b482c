#!/usr/bin/env bash
# I/O modes and hard links: fallocate (mode 0), dd oflag=direct, ln into the mount,
# and tar -x and cp -a of trees with hard links; then rsync --inplace and
# --partial-dir, cp --sparse=always, unzip and git clone (its .git/ is held). Each final name is an input with its
# own message (a link is a second input with the same bytes), each the sha256 of what
# the name reads back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

fs_up_seen || { fail "hio up --mount"; finish; }
check "mkdir in the mount" mkdir "$MNT/i"
cd "$T" || exit 1
mkdir -p src
I="$MNT/i"

# fallocate mode 0: a new file of 64 KiB of zeros, and an existing one grown
check "fallocate -l 64KiB of a new file exits 0" fallocate -l 65536 "$I/alloc.bin"
# (one open: a file closed twice would be two versions, the first perhaps sent)
check "posix_fallocate of 8 KiB after 4 bytes written exits 0" python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"head")
os.posix_fallocate(fd, 0, 8192)
os.close(fd)' "$I/grown.bin"
eq "alloc.bin size" "$(stat -c %s "$I/alloc.bin")" 65536
eq "grown.bin size" "$(stat -c %s "$I/grown.bin")" 8192
check "fallocate --punch-hole is refused (only mode 0)" bash -c "! fallocate -p -o 0 -l 4096 '$I/alloc.bin' 2>/dev/null"

# dd with O_DIRECT
head -c $((1 << 20)) /dev/urandom >src/direct.src
check "dd oflag=direct exits 0" dd if=src/direct.src of="$I/direct.bin" bs=64k oflag=direct status=none
check "direct.bin reads back as written" cmp -s src/direct.src "$I/direct.bin"

# ln into the mount
head -c 5000 /dev/urandom >"$I/orig.bin"
check "ln orig.bin hard.bin exits 0" ln "$I/orig.bin" "$I/hard.bin"
check "hard.bin reads back as orig.bin" cmp -s "$I/orig.bin" "$I/hard.bin"
check "ln over an existing name fails with EEXIST" bash -c "! ln '$I/orig.bin' '$I/hard.bin' 2>/dev/null"

# tar -x and cp -a of a tree whose files are hard links of each other
mkdir -p src/t/sub
head -c 30000 /dev/urandom >src/t/a
ln src/t/a src/t/b
ln src/t/a src/t/sub/c
echo other >src/t/d
tar -cf t.tar -C src t
check "tar -x of a tree with hard links exits 0" tar -xf t.tar -C "$I"
check "cp -a of a tree with hard links exits 0" cp -a src/t "$I/t2"
check "cp -a: t2/b reads back as a" cmp -s src/t/a "$I/t2/b"

# more tools that write in place or through temporaries of their own
mkdir -p src/r
for n in 1 2 3; do head -c $((7000 * n)) /dev/urandom >"src/r/f$n"; done
check "rsync -a --inplace exits 0" rsync -a --inplace src/r/ "$I/rsi/"
check "rsync -a --partial-dir exits 0" rsync -a --partial-dir=.rsync-partial src/r/ "$I/rsp/"
truncate -s 300000 src/sparse && echo tail >>src/sparse
check "cp --sparse=always exits 0" cp --sparse=always src/sparse "$I/sparse"
(cd src && zip -qr ../r.zip r) || fail "zip"
check "unzip exits 0" unzip -q r.zip -d "$I/uz"
git init -q repo && (cd repo && echo hello >a.txt && mkdir d && echo x >d/b && git add . &&
	git -c user.email=t@t -c user.name=t commit -qm m) || fail "git init"
check "git clone into the mount exits 0" git clone -q repo "$I/clone"
more=(rsi/f1 rsi/f2 rsi/f3 rsp/f1 rsp/f2 rsp/f3 sparse uz/r/f1 uz/r/f2 uz/r/f3 clone/a.txt clone/d/b)

: >list
for f in "${more[@]}" alloc.bin grown.bin direct.bin orig.bin hard.bin t/a t/b t/sub/c t/d t2/a t2/b t2/sub/c t2/d; do
	cp "$I/$f" "copy.${f//\//_}" || fail "read back $f"
	echo "i/$f $T/copy.${f//\//_}" >>list
done
eq "t/sub/c reads back as src/t/a" "$(cmp -s src/t/a copy.t_sub_c && echo same)" same
check_exactly_once "$T/list"
while read -r name src; do
	want=$(sha256sum <"$src" | cut -c1-64)
	eq "messages for $name" "$(awk -v n="$name" '$1 == n { print $2 }' "$SEEN" | sort | uniq -c | awk '{ print $1 "x" $2 }')" "1x$want"
done <list
eq "messages in all" "$(wc -l <"$SEEN")" "$(wc -l <list)"
finish
