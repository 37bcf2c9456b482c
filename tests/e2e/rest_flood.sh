#!/usr/bin/env bash
# 1,200 slow REST connections (a "slowloris": request heads that never end, one header
# line every 5 s, reopened when closed) from another address (127.0.0.2) run through a
# 300-file hio send (SPEC, Security; issue 14). Before, the master's 1,024 connections
# were all taken and everyone was locked out. Now one address holds at most
# --max-conns-per-ip (256 by default) and the master closes the rest at once: the
# send finishes, /v1/health and hio status answer, every file has its result, and the
# refusals make a few log lines, not one per connection.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=300
FLOOD=1200
ATTACK_PID=''
eval "_lib_cleanup() $(declare -f cleanup | tail -n +2)"
cleanup() {
	[ -n "$ATTACK_PID" ] && kill "$ATTACK_PID" 2>/dev/null
	_lib_cleanup
}

"$HIO_BUILD/master/hio-master" --state-dir "$T/x" --max-conns-per-ip 12x 2>"$T/err"
eq "--max-conns-per-ip 12x: exit" $? 2
check "--max-conns-per-ip 12x: the flag and the value are named" grep -q -- "--max-conns-per-ip: '12x'" "$T/err"

"$HIO" up --pes 2 --state-dir "$STATE" --exec 'sha256sum "$HIO_INPUT" | cut -c1-64' >/dev/null ||
	{ fail "hio up"; finish; }
check "hio scale 2 (autoscaler off)" "$HIO" scale 2
url=$(cat "$STATE/master.url")
hp=${url#http://}
host=${hp%:*}
port=${hp##*:}
check "the master says its connection bounds" grep -q "REST connections: at most" "$STATE/master.log"
cd "$T" || exit 1
mkdir -p data
for i in $(seq 1 $N); do head -c $((500 + i * 37)) /dev/urandom >"data/f$i"; done

python3 "$ROOT/tests/tools/slow_clients.py" "$host" "$port" 127.0.0.2 $FLOOD "$T/flood" 5 &
ATTACK_PID=$!
flood() { tr ' ' '\n' <"$T/flood" 2>/dev/null | sed -n "s/^$1=//p"; }
refused() { [ "$(flood closed)" -ge $((FLOOD - 256)) ]; }
check "the master closes what one address holds past its bound" wait_for 30 refused
# Settled: what stays open is the address's share (and a few reopened, about to close).
settled() { [ "$(flood open)" -le 300 ]; }
check "at most ~256 stay open from one address" wait_for 30 settled
echo "flood: $(cat "$T/flood")"

check "/v1/health answers during the flood" curl -sf --max-time 5 "$url/v1/health" -o /dev/null
status_answers() { timeout 10 "$HIO" status --state-dir "$STATE" >/dev/null; }
check "hio status answers during the flood" status_answers
timeout 180 "$HIO" send data >sent.txt 2>send.err
check "hio send during the flood exits 0" test $? -eq 0 || tail -5 send.err >&2
eq "acknowledged" "$(wc -l <sent.txt)" $N
check "hio wait" "$HIO" wait --timeout 120
eq "done" "$(pfield default done)" $N
eq "sampled results that differ from their file's sha256" "$(sha_mismatches sent.txt 20)" 0
still() { [ "$(flood open)" -ge 200 ]; }
check "the slow connections were held all along (not a quiet master)" still
echo "flood at the end: $(cat "$T/flood")"
lines=$(grep -c "libmicrohttpd" "$STATE/master.log")
echo "libmicrohttpd lines in the master's log: $lines"
check "refusals are rate-limited in the log ($lines lines)" test "$lines" -le 40
kill "$ATTACK_PID"
wait "$ATTACK_PID"
ATTACK_PID=''
finish
