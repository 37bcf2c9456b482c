#!/usr/bin/env bash
# kill -9 of the master mid-stream (with a backlog queued), then a restart on the same
# state dir and port: nothing lost, one result per input.
. "$(dirname "$0")/lib.sh"

"$HIO" up --pes 2 --state-dir "$STATE" --exec 'sleep 0.1; wc -c <"$HIO_INPUT"' >"$T/url" ||
	{ fail "hio up"; finish; }
url=$(cat "$T/url")
port=${url##*:}
cd "$T" || exit 1
mkdir -p in
for i in $(seq 1 100); do head -c $((500 + i)) /dev/zero >"in/m$i"; done

"$HIO" send in >sent.txt 2>send.err &
send_pid=$!
queue_over3() { test "$(pfield default queue_length)" -gt 3; }
check "backlog holds messages before the crash" wait_for 60 queue_over3
mpid=$(cat "$STATE/master.pid")
kill -9 "$mpid"
before=$(ls "$STATE"/backlog/default/*.frame 2>/dev/null | wc -l)
echo "master killed with $before message(s) in its backlog directory"
# The stream keeps retrying while the master is away.
"$HIO_BUILD/master/hio-master" --state-dir "$STATE" --listen "127.0.0.1:$port" \
	--token-file "$STATE/token" >>"$STATE/master.log" 2>&1 &
echo $! >"$STATE/master.pid"
check "master back on the same port" wait_for 30 curl -sf "$url/v1/health"

wait $send_pid
check "hio send exit 0 across the restart" test $? -eq 0
eq "acknowledged" "$(sort -u sent.txt | wc -l)" 100
check "every message processed (hio wait)" "$HIO" wait --timeout 180
"$HIO" results --json >results.json
eq "result entries" "$(jq length results.json)" 100
bad=0
for i in $(seq 1 100); do
	n=$(jq -r --arg n "in/m$i" '[.[] | select(.name == $n)] | length' results.json)
	[ "$n" = 1 ] || bad=$((bad + 1))
done
eq "inputs without exactly one entry" "$bad" 0
finish
