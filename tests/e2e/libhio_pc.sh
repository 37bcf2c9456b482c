#!/usr/bin/env bash
# libhio as a program outside the tree uses it: meson install into a staging root,
# then tests/external/send.c compiled with nothing but `pkg-config --cflags --libs hio`
# (and hio-pe's .pc resolved), linked to the installed shared library, streams 50
# messages to a real cluster; every one is acknowledged and has its result.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
ROOT="$T/root"

meson install -C "$HIO_BUILD" --no-rebuild --quiet --destdir "$ROOT" >"$T/install.log" 2>&1 ||
	{ cat "$T/install.log" >&2; fail "meson install"; finish; }
pcdir=$(dirname "$(find "$ROOT" -name hio.pc | head -1)")
check "hio.pc installed" test -f "$pcdir/hio.pc"
check "hio-pe.pc installed" test -f "$pcdir/hio-pe.pc"
export PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$ROOT"
check "pkg-config resolves hio-pe (requires hio)" pkg-config --exists hio-pe
check "hio_stream.h installed under include/hio" test -f "$(pkg-config --variable=includedir hio)/hio/hio_stream.h"
# The sanitized build's library wants the program sanitized too (its runtime first).
san=()
grep -q -- '-fsanitize=address' "$HIO_BUILD/build.ninja" && san=(-fsanitize=address,undefined)
# shellcheck disable=SC2046
cc -std=c17 -Wall -Wextra -Werror "${san[@]}" $(pkg-config --cflags hio) \
	"$SRC/tests/external/send.c" -o "$T/send" $(pkg-config --libs hio) 2>"$T/cc.err"
check "external program builds against the installed libhio" test -x "$T/send"
[ -s "$T/cc.err" ] && cat "$T/cc.err" >&2
libdir=$(pkg-config --variable=libdir hio)
check "linked to the installed shared libhio" sh -c "LD_LIBRARY_PATH='$libdir' ldd '$T/send' | grep -q '$libdir/libhio.so'"

"$HIO" up --pes 2 --state-dir "$STATE" --exec 'sha256sum "$HIO_INPUT" | cut -c1-64' >/dev/null ||
	{ fail "hio up"; finish; }
LD_LIBRARY_PATH="$libdir" "$T/send" "$STATE" 50 >"$T/out" 2>"$T/err"
check "external program exit 0" test $? -eq 0
eq "external program's acks" "$(cat "$T/out")" "acked 50 failed 0"
check "hio wait" "$HIO" wait --timeout 60
"$HIO" results --json >"$T/results.json"
eq "result entries from the external program" \
	"$(jq '[.[] | select(.name | startswith("external/")) | select(.state == "done")] | length' "$T/results.json")" 50
"$HIO" results get external/m00007.txt "$T/r7" >/dev/null
eq "a result is the message's sha256" "$(cat "$T/r7/stdout")" \
	"$(printf 'message 7 from outside the tree\n' | sha256sum | cut -c1-64)"
finish
