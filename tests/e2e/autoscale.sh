#!/usr/bin/env bash
# The autoscaler: 1 PE grows under a burst (within --max-pes), every result arrives,
# the PEs shrink back to --min-pes once idle, and each decision is in the series with
# its reason. Then `hio scale N` pins the count by hand and `hio scale auto` frees it.
. "$(dirname "$0")/lib.sh"

"$HIO" up --pes 1 --max-pes 4 --state-dir "$STATE" --exec 'sleep 0.3; wc -c <"$HIO_INPUT"' \
	>/dev/null || { fail "hio up"; finish; }
check "idle delay 1.5 s" "$HIO" scale --idle-ms 1500 auto
url=$(cat "$STATE/master.url")
tok=$(cat "$STATE/token")
series() { curl -sf -H "Authorization: Bearer $tok" "$url/v1/pipelines/default/series"; }
running() { status_json | jq '[.pes[] | select(.state == "idle" or .state == "busy" or .state == "starting")] | length'; }
cd "$T" || exit 1
mkdir -p in
for i in $(seq 1 60); do head -c $((i * 100)) /dev/zero >"in/f$i"; done

eq "starts with" "$(running)" 1
"$HIO" send in >sent.txt 2>send.err &
send_pid=$!
grown() { test "$(running)" -ge 3; }
check "PEs grow under the burst" wait_for 60 grown
wait $send_pid
check "hio send exit 0" test $? -eq 0
eq "acknowledged" "$(wc -l <sent.txt)" 60
check "hio wait" "$HIO" wait --timeout 120
"$HIO" results --json >results.json
eq "result entries" "$(jq '[.[] | select(.state == "done")] | length' results.json)" 60
bad=0
for i in $(seq 1 60); do
	rm -rf out
	"$HIO" results get "in/f$i" out >/dev/null && [ "$(tr -d ' ' <out/stdout)" = $((i * 100)) ] ||
		bad=$((bad + 1))
done
eq "wrong or missing results" "$bad" 0

shrunk() { test "$(running)" -eq 1; }
check "PEs shrink to --min-pes when idle" wait_for 60 shrunk
series >series.json
check "series answers" test -s series.json
eq "peak PEs within --max-pes" \
	"$(jq '[.samples[] | .starting + .idle + .busy] | max <= 4' series.json)" true
check "the queue was seen in the series" test "$(jq '[.samples[].queue] | max' series.json)" -gt 0
check "a scale-up with its reason" \
	test "$(jq '[.events[] | select(.action == "up" and (.reason | test("backlog")))] | length' series.json)" -ge 1
check "a scale-down with its reason" \
	test "$(jq '[.events[] | select(.action == "down" and (.reason | test("idle")))] | length' series.json)" -ge 1
check "new PEs timed from the backlog push" \
	test "$(jq '[.events[] | select(.action == "ready" and .reaction_ms >= 0)] | length' series.json)" -ge 1
check "the decisions are logged" grep -q 'autoscale default: 1 -> ' "$STATE/master.log"

# By hand: the count stays where it is put, and the autoscaler is off until "auto".
check "hio scale 3" "$HIO" scale 3
three() { test "$(pe_count idle)" -eq 3; }
check "3 PEs idle" wait_for 30 three
eq "autoscale off" "$(pfield default autoscale)" false
check "hio scale auto" "$HIO" scale auto
eq "autoscale on" "$(pfield default autoscale)" true
check "idle PEs released again" wait_for 60 shrunk
over_max() { ! "$HIO" scale 9 2>/dev/null; }
check "refused: a count above --max-pes" over_max
finish
