#!/usr/bin/env bash
# kill -9 of PEs while they hold messages (P2P in flight and leased from the backlog),
# then SIGSTOP of a busy one: still exactly one result per input, each correct, and the
# sender never waits on the stopped PE.
. "$(dirname "$0")/lib.sh"

"$HIO" up --pes 3 --state-dir "$STATE" --exec 'sleep 0.2; sha256sum "$HIO_INPUT" | cut -c1-64' \
	>/dev/null || { fail "hio up"; finish; }
# A count set by hand (the autoscaler off), so "back to 3" means the killed PEs were
# replaced rather than whatever the autoscaler chose for the load.
check "hio scale 3" "$HIO" scale 3
cd "$T" || exit 1
mkdir -p in
for i in $(seq 1 80); do head -c $((2000 + i * 37)) /dev/urandom >"in/m$i"; done

some_idle() { test "$(pe_count idle)" -ge 1; }
busy_pe_pid() {
	local id
	id=$(status_json | jq -r '[.pes[] | select(.state == "busy")][0].id // empty')
	[ -n "$id" ] && pgrep -f -- "--id $id" | head -1
}

"$HIO" send in >sent.txt 2>send.err &
send_pid=$!
killed=0
for round in 1 2; do
	if wait_for 30 busy_pe_pid; then
		pid=$(busy_pe_pid)
		[ -n "$pid" ] && kill -9 "$pid" && killed=$((killed + 1))
		# The worker notices and the master replaces the PE before the next round.
		wait_for 30 some_idle
	fi
done
eq "PEs killed while busy" "$killed" 2
wait $send_pid
check "hio send exit 0" test $? -eq 0
eq "acknowledged" "$(wc -l <sent.txt)" 80
check "hio wait" "$HIO" wait --timeout 120
"$HIO" results --json >results.json
eq "result entries (exactly one per input)" "$(jq length results.json)" 80
eq "entries done" "$(jq '[.[] | select(.state == "done")] | length' results.json)" 80
# wrong_results FILE...: how many of the files have no result, or not their sha256.
wrong_results() {
	local f bad=0
	for f in "$@"; do
		rm -rf out
		"$HIO" results get "$f" out >/dev/null &&
			[ "$(cat out/stdout)" = "$(sha256sum "$f" | cut -c1-64)" ] || bad=$((bad + 1))
	done
	echo "$bad"
}
eq "wrong or missing results" "$(wrong_results in/m*)" 0
eq "PEs back to 3" "$(status_json | jq '[.pes[] | select(.state == "idle" or .state == "busy")] | length')" 3

# A busy PE that stops answering without dying (SIGSTOP: its sockets stay open and its
# kernel still ACKs TCP): the master sees its heartbeats stop, the sender asks it and
# sends the messages it held elsewhere. The send ends; every input exactly once.
mkdir -p in2
for i in $(seq 1 40); do head -c $((3000 + i * 41)) /dev/urandom >"in2/s$i"; done
"$HIO" send in2 >sent2.txt 2>send2.err &
send_pid=$!
stopped=
if wait_for 30 busy_pe_pid; then
	stopped=$(busy_pe_pid)
	kill -STOP "$stopped"
fi
check "a busy PE stopped" test -n "$stopped"
stop_at=$SECONDS
send_ended() { ! kill -0 "$send_pid" 2>/dev/null; }
check "hio send ends within 60 s of the SIGSTOP" wait_for 60 send_ended
echo "the send ended $((SECONDS - stop_at)) s after the SIGSTOP"
kill "$send_pid" 2>/dev/null
wait "$send_pid"
check "hio send exit 0" test $? -eq 0
[ -n "$stopped" ] && kill -9 "$stopped"
eq "acknowledged" "$(sort -u sent2.txt | wc -l)" 40
check "hio wait" "$HIO" wait --timeout 120
"$HIO" results --json >results2.json
eq "in2: entries (exactly one per input)" "$(jq '[.[] | select(.name | startswith("in2/"))] | length' results2.json)" 40
eq "in2: entries done" "$(jq '[.[] | select(.state == "done" and (.name | startswith("in2/")))] | length' results2.json)" 40
eq "in2: wrong or missing results" "$(wrong_results in2/s*)" 0

# hio down: the worker says it is stopping before it stops its PEs, so the master sends
# it no start to refuse (each used to count as a failed start, with a back-off).
check "hio down" "$HIO" down --state-dir "$STATE"
check "the master heard the worker is stopping" grep -q "is stopping: no PE starts there" "$STATE/master.log"
eq "starts the stopping worker refused" "$(grep -c "refusing to start PE" "$STATE/worker.log")" 0
finish
