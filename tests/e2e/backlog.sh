#!/usr/bin/env bash
# Every PE busy (a slow command): messages spill to the master's backlog, the queue
# length shows in hio status, then it drains and every message gets its result.
. "$(dirname "$0")/lib.sh"

"$HIO" up --pes 2 --state-dir "$STATE" --exec 'sleep 0.3; wc -c <"$HIO_INPUT"' >/dev/null ||
	{ fail "hio up"; finish; }
cd "$T" || exit 1
mkdir -p in
for i in $(seq 1 40); do head -c $((i * 1000)) /dev/zero >"in/f$i"; done

"$HIO" send in >sent.txt 2>send.err &
send_pid=$!
# The queue must be seen non-empty while the send runs.
queue_nonempty() { test "$(pfield default queue_length)" -gt 0; }
check "backlog grows while every PE is busy" wait_for 60 queue_nonempty
wait $send_pid
check "hio send exit 0" test $? -eq 0
eq "acknowledged" "$(wc -l <sent.txt)" 40
check "some messages went via the backlog" grep -q 'via backlog' sent.txt
check "backlog bytes counted" test "$(counter backlog_bytes)" -gt 0

check "backlog drains (hio wait)" "$HIO" wait --timeout 120
eq "queue length after draining" "$(pfield default queue_length)" 0
"$HIO" results --json >results.json
eq "result entries" "$(jq length results.json)" 40
bad=0
for i in $(seq 1 40); do
	rm -rf out
	"$HIO" results get "in/f$i" out >/dev/null && [ "$(tr -d ' ' <out/stdout)" = $((i * 1000)) ] ||
		bad=$((bad + 1))
done
eq "wrong or missing results" "$bad" 0
finish
