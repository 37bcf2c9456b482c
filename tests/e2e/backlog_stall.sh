#!/usr/bin/env bash
# A stalled backlog push does not hold the backlog (issue 14). With a 32 MiB backlog, a
# chunked push declares a message of 32 MiB less 64 KiB, sends 2 MiB of it and stalls. Before, its
# declared size was held from the start and every other push got 503 "backlog full";
# now room is held as bytes arrive, so 20 pushes of 100 KB go through beside it, a push
# whose Content-Length cannot fit is still refused before its body, and once the
# stalled one is gone its room (and temp file) are too.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MASTER="$HIO_BUILD/master/hio-master"
PUSH="$ROOT/tests/tools/backlog_push.py"
STALL_PID=''
eval "_lib_cleanup() $(declare -f cleanup | tail -n +2)"
cleanup() {
	[ -n "$STALL_PID" ] && kill "$STALL_PID" 2>/dev/null
	_lib_cleanup
}
mkdir -p "$STATE"
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"
export HIO_TOKEN=$(cat "$T/token")
"$MASTER" --state-dir "$STATE" --listen 127.0.0.1:0 --token-file "$T/token" \
	--backlog-max-bytes 32M >>"$STATE/master.log" 2>&1 &
echo $! >"$STATE/master.pid"
wait_for 30 test -s "$STATE/master.url" || { fail "master start"; finish; }
URL=$(cat "$STATE/master.url")
export HIO_MASTER=$URL
queue() { curl -sf -H "Authorization: Bearer $HIO_TOKEN" "$URL/v1/status" |
	jq '[.pipelines[] | select(.name == "default") | .queue_length][0] // 0'; }

python3 "$PUSH" "$URL" "$T/token" stall $(((32 << 20) - (64 << 10))) $((2 << 20)) >"$T/stall.out" 2>&1 &
STALL_PID=$!
stalled() { grep -q stalled "$T/stall.out"; }
check "a push declaring almost 32 MiB sent 2 MiB and stalls" wait_for 30 stalled
tmp_count() { find "$STATE/backlog" -name '*.frame.tmp' 2>/dev/null | wc -l; }
eq "its temp file" "$(tmp_count)" 1

python3 "$PUSH" "$URL" "$T/token" push 20 102400 small/ >"$T/small.out"
eq "pushes of 100 KB beside it: 201" "$(grep -c '^201$' "$T/small.out")" 20
eq "queued" "$(queue)" 20
eq "a Content-Length that cannot fit: refused before its body" \
	"$(python3 "$PUSH" "$URL" "$T/token" declare $((40 << 20)))" 503
check "the stalled push is still there" kill -0 "$STALL_PID"

kill "$STALL_PID"
wait "$STALL_PID"
STALL_PID=''
no_tmp() { [ "$(tmp_count)" -eq 0 ]; }
check "its temp file is removed once it is gone" wait_for 60 no_tmp
# Its held room is released: 25 MiB fits beside the 2 MB queued.
eq "a 25 MiB push after it: 201" "$(python3 "$PUSH" "$URL" "$T/token" push 1 $((25 << 20)) big/)" 201
eq "queued" "$(queue)" 21
kill "$(cat "$STATE/master.pid")"
finish
