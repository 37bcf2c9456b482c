#!/usr/bin/env bash
# The man pages and the bash completion: each page renders without a groff warning and
# names every command (hio.1) or flag (the daemons' pages) the program's --help lists,
# so a new flag without documentation fails here; the completion offers commands, flags
# and values taken from the real hio.
set -uo pipefail
: "${HIO_BUILD:?}"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
MAN="$SRC/docs/man"
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
command -v groff >/dev/null || { echo "FAIL: groff is missing (bash scripts/deps)" >&2; exit 1; }

render() { groff -man -Tascii -P -cbou "$1" 2>/dev/null; }
for page in "$MAN"/*.1; do
	w=$(groff -man -ww -z "$page" 2>&1)
	[ -z "$w" ] && ok "${page##*/} renders without warnings" || fail "${page##*/}: $w"
done

# hio.1 names each command hio --help lists.
cmds=$("$HIO_BUILD/hio/hio" --help | awk '/^  [a-z]+( |$)/ { print $1 }' | sort -u)
[ -n "$cmds" ] || fail "hio --help listed no command"
text=$(render "$MAN/hio.1")
for c in $cmds; do
	grep -qE "^ {7}$c\b" <<<"$text" || fail "hio.1 does not describe the command '$c'"
done
ok "hio.1 describes $(wc -w <<<"$cmds") commands"

# Each daemon's page names each flag its --help lists.
for prog in master/hio-master worker/hio-worker pe/hio-pe fs/hio-fs; do
	name=${prog##*/}
	flags=$("$HIO_BUILD/$prog" --help 2>&1 | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
	[ -n "$flags" ] || fail "$name --help listed no flag"
	text=$(render "$MAN/$name.1")
	missing=0
	for f in $flags; do
		grep -q -- "$f" <<<"$text" || { fail "$name.1 does not describe $f"; missing=1; }
	done
	[ "$missing" -eq 0 ] && ok "$name.1 describes its $(wc -w <<<"$flags") flags"
done

# The completion, driven as bash drives it.
complete_of() {
	PATH="$HIO_BUILD/hio:$PATH" bash -c '
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_hio; printf "%s\n" "${COMPREPLY[@]}"' _ "$SRC/contrib/completion/hio.bash" "$@" | sort | tr '\n' ' '
}
expect() {
	local want=$1
	shift
	[ "$(complete_of "$@")" = "$want" ] && ok "completion of '$*': $want" ||
		fail "completion of '$*': expected '$want', got '$(complete_of "$@")'"
}
expect "results retry " hio re
expect "--max-pes --min-pes --mount " hio up --m
expect "show " hio results s
expect "docker " hio up --runtime d
expect "set show " hio pipeline s
expect "--older-than " hio results rm --o
expect "config " hio con
expect "up " hio config u

[ "$FAILS" -eq 0 ] && echo "man_completion: all passed" && exit 0
echo "man_completion: $FAILS failed" >&2
exit 1
