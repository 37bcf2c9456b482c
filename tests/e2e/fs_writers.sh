#!/usr/bin/env bash
# Writers that close duplicate descriptors: a shell's { a; b; c; } > f and a loop's
# done > f (children inherit the descriptor and close it as they exit), Python's
# subprocess.run(stdout=f), numpy's tofile pattern (the file object's descriptor
# dup()ed, written and closed while the original stays open), tifffile's TiffWriter and
# ImageJ saving a stack headless. Each file gives exactly one message, with the bytes it has after its last close: the PE command logs every
# message it gets (name and sha256), so an intermediate version shows up there.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

fs_up_seen || { fail "hio up --mount"; finish; }
check "mkdir in the mount" mkdir "$MNT/w"
cd "$T" || exit 1
: >"$T/list" # NAME LOCAL-COPY of every file written, as check_exactly_once wants

# 1. a brace group: three processes write through one descriptor
{ echo header; /bin/echo a; /bin/echo b; } >"$MNT/w/group.txt"
# 2. a loop's redirection: every iteration's child closes its copy
for i in 1 2 3 4 5; do /bin/echo "line $i"; done >"$MNT/w/loop.txt"
# 3. subprocess.run(stdout=f), twice into one file object
python3 - "$MNT/w/sub.txt" <<'EOF'
import subprocess, sys
with open(sys.argv[1], "wb") as f:
    subprocess.run(["/bin/echo", "first"], stdout=f, check=True)
    subprocess.run(["/bin/echo", "second"], stdout=f, check=True)
EOF
check "3 subprocess.run(stdout=f) exits 0" test $? -eq 0
# 4. numpy's tofile/np.save: the descriptor is dup()ed, written and closed (numpy does
# this inside tofile when it is there; the same calls are made by hand otherwise).
# Debian's python3-numpy (scripts/deps) is for /usr/bin/python3, which may not be the
# python3 first in PATH.
PY=python3
/usr/bin/python3 -c 'import numpy' 2>/dev/null && PY=/usr/bin/python3
echo "numpy: $($PY -c 'import numpy; print(numpy.__version__)' 2>/dev/null || echo 'not found, dup() by hand')"
"$PY" - "$MNT/w/array.bin" <<'EOF'
import os, sys
with open(sys.argv[1], "wb") as f:
    f.write(b"HDR1" * 16)
    f.flush()
    try:
        import numpy as np
        np.arange(100000, dtype=np.int32).tofile(f)
        np.arange(50000, dtype=np.float64).tofile(f)
    except ImportError:
        for n in (400000, 400000):
            f.flush()
            dup = os.fdopen(os.dup(f.fileno()), "wb")
            dup.seek(f.tell())
            dup.write(os.urandom(n))
            dup.close()
            f.seek(0, os.SEEK_END)
    f.write(b"TRAILER")
EOF
check "4 the tofile pattern exits 0" test $? -eq 0
# 5. a plain cp, and a file written through two opens of one process (not duplicates:
# two handles; the file completes when the second, last writer closes)
head -c 200000 /dev/urandom >"$T/plain.src"
check "5 cp exits 0" cp "$T/plain.src" "$MNT/w/plain.bin"
exec 7>"$MNT/w/two.txt"
echo "through fd 7" >&7
echo "through fd 8" >>"$MNT/w/two.txt"
echo "fd 7 again" >&7
exec 7>&-

# 6. tifffile (Debian's python3-tifffile), as a lab's acquisition script writes a
# stack: TiffWriter, three pages, one file (before: 11 messages for one TIFF)
"$PY" - "$MNT/w/stack.tif" <<'EOF'
import sys
import numpy as np
import tifffile
with tifffile.TiffWriter(sys.argv[1]) as tw:
    for i in range(3):
        tw.write(np.full((64, 64), 1000 + i, dtype=np.uint16), photometric="minisblack")
EOF
check "6 tifffile's TiffWriter exits 0" test $? -eq 0
eq "6 stack.tif reads back as 3 pages" \
	"$("$PY" -c 'import sys, tifffile; print(len(tifffile.TiffFile(sys.argv[1]).pages))' "$MNT/w/stack.tif" 2>&1)" 3

# 7. ImageJ (Debian's imagej package, its ij.jar in batch mode without a display, as a
# lab's macro runs on a server): a 4-slice 16-bit stack saved as TIFF
IJ_JAR=/usr/share/java/ij.jar
check "7 ImageJ is installed ($IJ_JAR)" test -r "$IJ_JAR"
cat >"$T/save.ijm" <<'EOF'
out = getArgument();
newImage("stack", "16-bit ramp", 128, 96, 4);
saveAs("Tiff", out);
close();
EOF
check "7 ImageJ's macro exits 0" java -Djava.awt.headless=true -jar "$IJ_JAR" -batch "$T/save.ijm" "$MNT/w/imagej.tif"
eq "7 imagej.tif reads back as 4 slices of 128x96" \
	"$("$PY" -c 'import sys, tifffile; print(tifffile.imread(sys.argv[1]).shape)' "$MNT/w/imagej.tif" 2>&1)" "(4, 96, 128)"

for f in group.txt loop.txt sub.txt array.bin plain.bin two.txt stack.tif imagej.tif; do
	cp "$MNT/w/$f" "$T/copy.$f" || fail "read back $f"
	echo "w/$f $T/copy.$f" >>"$T/list"
done
eq "1 group.txt holds the three writes" "$(cat "$T/copy.group.txt")" "$(printf 'header\na\nb')"
eq "3 sub.txt holds both runs" "$(cat "$T/copy.sub.txt")" "$(printf 'first\nsecond')"
eq "5 two.txt holds the three writes" "$(wc -l <"$T/copy.two.txt")" 3

check_exactly_once "$T/list"
# Every message the PEs saw, not just the index's last word: one per file, its final bytes.
while read -r name src; do
	want=$(sha256sum <"$src" | cut -c1-64)
	eq "messages for $name (all with the final bytes)" \
		"$(awk -v n="$name" '$1 == n { print $2 }' "$SEEN" | sort | uniq -c | awk '{ print $1 "x" $2 }')" "1x$want"
done <"$T/list"
eq "messages in all" "$(wc -l <"$SEEN")" "$(wc -l <"$T/list")"
finish
