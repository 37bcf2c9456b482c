#!/usr/bin/env bash
# A change of the analysis on a running master (hio pipeline set) rolls the pipeline's
# PEs, mid-stream: every result records the analysis version that made it, and what it
# holds agrees with that version (no message processed by a mix); what is sent after
# the set returned meets only the new version; the old PEs are replaced; every input
# exactly once. An unchanged set keeps the version and the PEs.
. "$(dirname "$0")/lib.sh"

"$HIO" up --pes 2 --state-dir "$STATE" --exec 'sleep 0.1; echo v1' >/dev/null ||
	{ fail "hio up"; finish; }
check "hio scale 2" "$HIO" scale 2
eq "version after up" "$(pfield default version)" 1
cd "$T" || exit 1
mkdir -p a b
for i in $(seq 1 40); do head -c $((1000 + i * 31)) /dev/urandom >"a/f$i"; done
for i in $(seq 1 20); do head -c $((1000 + i * 29)) /dev/urandom >"b/f$i"; done

# The change lands while a stream is under way.
"$HIO" send a >sent_a.txt 2>send_a.err &
send_pid=$!
acked() { [ "$(wc -l <sent_a.txt)" -ge "$1" ]; }
check "messages flow before the change" wait_for 60 acked 8
check "hio pipeline set --exec v2" "$HIO" pipeline set default --exec 'sleep 0.1; echo v2'
eq "version after the change" "$(pfield default version)" 2
check "hio pipeline show names the version" sh -c "'$HIO' pipeline show default | grep -q 'version=2'"
# Sent after the set returned: only version 2 may process these.
"$HIO" send b >sent_b.txt 2>send_b.err
check "hio send b (after the change) exit 0" test $? -eq 0
wait "$send_pid"
check "hio send a (across the change) exit 0" test $? -eq 0
check "hio wait" "$HIO" wait --timeout 120

"$HIO" results --json >results.json
eq "entries, exactly one per input" "$(jq length results.json)" 60
eq "entries done" "$(jq '[.[] | select(.state == "done")] | length' results.json)" 60
# Each entry's output agrees with the version it records.
mix=0 v1=0 v2=0
while read -r name ver; do
	rm -rf out
	"$HIO" results get "$name" out >/dev/null || { mix=$((mix + 1)); continue; }
	[ "$(cat out/stdout)" = "v$ver" ] || mix=$((mix + 1))
	[ "$ver" = 1 ] && v1=$((v1 + 1))
	[ "$ver" = 2 ] && v2=$((v2 + 1))
done < <(jq -r '.[] | "\(.name) \(.version)"' results.json)
eq "entries whose output is not their recorded version's" "$mix" 0
check "some of a ran as version 1 ($v1)" test "$v1" -gt 0
check "some ran as version 2 ($v2)" test "$v2" -gt 0
eq "b entries of version 2 (sent after the change)" \
	"$(jq '[.[] | select((.name | startswith("b/")) and .version == 2)] | length' results.json)" 20
# The old PEs are replaced by PEs of the new version.
v2_pes() { [ "$(status_json | jq '[.pes[] | select((.state == "idle" or .state == "busy") and .version == 2)] | length')" = 2 ]; }
check "2 PEs of version 2 within 30 s" wait_for 30 v2_pes
eq "no PE of version 1 left running" "$(status_json | jq '[.pes[] | select(.state != "gone" and .version == 1)] | length')" 0

# The same analysis set again: same version, no roll.
before=$(status_json | jq -r '[.pes[] | select(.state == "idle") | .id] | sort | join(",")')
check "hio pipeline set, unchanged" "$HIO" pipeline set default --exec 'sleep 0.1; echo v2'
eq "version after an unchanged set" "$(pfield default version)" 2
eq "the same PEs" "$(status_json | jq -r '[.pes[] | select(.state == "idle") | .id] | sort | join(",")')" "$before"
finish
