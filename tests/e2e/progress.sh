#!/usr/bin/env bash
# Progress on a terminal (SPEC, Operations): hio send and hio wait, run under a real
# pseudo-terminal (script(1)), draw "D of T sent|done, R/s, ETA" on stderr and take it off
# before every other line, so the ack lines stay whole; with output to files, or with
# --no-progress, no progress line is drawn at all.
. "$(dirname "$0")/lib.sh"
command -v script >/dev/null || { fail "script (bsdutils) is missing: bash scripts/deps"; finish; }
N=40
"$HIO" up --pes 2 --state-dir "$STATE" --exec 'sleep 0.05; sha256sum "$HIO_INPUT" | cut -c1-64' \
	>/dev/null || { fail "hio up"; finish; }
cd "$T" || exit 1
for d in tty file quiet; do
	mkdir -p "$d"
	for i in $(seq 1 $N); do head -c $((1000 + i * 37)) /dev/urandom >"$d/f$i"; done
done
# tty DIR CMD...: runs CMD with stdout and stderr on one pseudo-terminal; its screen
# output, carriage returns and erase sequences kept, in DIR.out.
tty() {
	local out=$1
	shift
	script -qec "$(printf '%q ' "$@")" /dev/null >"$out" </dev/null
}
# The lines as they stand on the screen once every \r + erase-line has acted.
screen() { sed -e 's/.*\r\x1b\[K//' -e 's/\r$//' "$1" | grep -v '^$'; }

# An ack line: NAME done|queued ID via pe|backlog (queued: in the master's backlog).
ACK="^tty/f[0-9]+ (done|queued) [0-9a-f]{32} via (pe|backlog)$"
tty tty.out "$HIO" send tty
check "hio send on a terminal exits 0" test $? -eq 0
check "it drew the progress line" grep -q "hio send: [0-9]* of $N sent" tty.out
check "and ends on $N of $N" grep -q "hio send: $N of $N sent" <(screen tty.out)
eq "ack lines on the screen, each whole" \
	"$(screen tty.out | grep -cE "$ACK")" $N
eq "no other line is left on the screen but the last progress line" \
	"$(screen tty.out | grep -vcE "$ACK|^hio send: $N of $N sent")" 0

"$HIO" send file >file.out 2>file.err
check "hio send to files exits 0" test $? -eq 0
eq "ack lines in the file" "$(grep -cE '^file/f[0-9]+ (done|queued) [0-9a-f]{32} via (pe|backlog)$' file.out)" $N
eq "no progress in stderr's file" "$(grep -c 'hio send:' file.err)" 0

tty quiet.out "$HIO" send --no-progress quiet
check "hio send --no-progress on a terminal exits 0" test $? -eq 0
eq "--no-progress draws nothing" "$(grep -c 'hio send:' quiet.out)" 0
eq "and still prints every ack" "$(grep -cE '^quiet/f[0-9]+ (done|queued) ' quiet.out)" $N

tty wait.out "$HIO" wait --timeout 120
check "hio wait on a terminal exits 0" test $? -eq 0
check "hio wait ends on all done" grep -q "hio wait: $((3 * N)) of $((3 * N)) done" <(screen wait.out)

# An error line is a line of its own, not glued to the progress line.
tty err.out "$HIO" send tty/f1 "$T/no-such-file"
check "a missing file fails the send" test $? -ne 0
check "its error stands on a line of its own" grep -q "^hio: cannot read $T/no-such-file" <(screen err.out)
finish
