#!/usr/bin/env bash
# The autoscaler counts what a mount holds back. 150 files copied into the mount of a
# 1-PE pipeline (max 4) with a slow analysis wait in the mount's spool, not in the
# master's backlog: hio-fs reports them as waiting, the master shows them (status,
# /metrics), grows the PEs with a reason that names them, every input gets exactly one
# result, and once the spool is empty the PEs shrink back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

N=150
# shellcheck disable=SC2016 # expanded by the PE's shell
fs_up 'sleep 0.3; wc -c <"$HIO_INPUT"' --pes 1 --max-pes 4 || { fail "hio up"; finish; }
check "idle delay 1.5 s" "$HIO" scale --idle-ms 1500 auto
url=$(cat "$STATE/master.url")
tok=$(cat "$STATE/token")
series() { curl -sf -H "Authorization: Bearer $tok" "$url/v1/pipelines/default/series"; }
running() { status_json | jq '[.pes[] | select(.state == "idle" or .state == "busy" or .state == "starting")] | length'; }
mounts_waiting() { pfield default waiting_at_mounts; }
waiting_seen() { [ "$(mounts_waiting)" -gt 10 ]; }
nothing_waits() { [ "$(mounts_waiting)" -eq 0 ]; }

eq "starts with" "$(running)" 1
mkdir -p "$T/src"
for i in $(seq 1 $N); do head -c $((i * 10)) /dev/zero >"$T/src/f$i"; done
check "cp into the mount" cp -r "$T/src" "$MNT/in"
check "the master sees files waiting at the mount" wait_for 30 waiting_seen
"$HIO" status --state-dir "$STATE" >"$T/status.txt"
check "hio status has a WAITING column" grep -q 'SPOOLED  WAITING' "$T/status.txt"
curl -sf -H "Authorization: Bearer $tok" "$url/metrics" >"$T/metrics.txt"
check "the master exports hio_mount_waiting_files" \
	grep -Eq '^hio_mount_waiting_files\{[^}]*\} [1-9]' "$T/metrics.txt"
grown() { test "$(running)" -ge 3; }
check "PEs grow while the mount holds files" wait_for 60 grown

check "hio wait" "$HIO" wait --timeout 180 --state-dir "$STATE"
results_json >"$T/results.json"
eq "result entries" "$(jq '[.[] | select(.name | startswith("in/"))] | length' "$T/results.json")" $N
eq "done" "$(done_count in/)" $N
check "nothing waits at the mount" wait_for 10 nothing_waits
bad=0
for i in 1 7 $N; do
	rm -rf "$T/out"
	"$HIO" results get "in/f$i" "$T/out" --state-dir "$STATE" >/dev/null &&
		[ "$(tr -d ' ' <"$T/out/stdout")" = $((i * 10)) ] || bad=$((bad + 1))
done
eq "wrong or missing results (3 looked at)" "$bad" 0

shrunk() { test "$(running)" -eq 1; }
check "PEs shrink back once the spool is empty" wait_for 60 shrunk
series >"$T/series.json"
check "a scale-up names the files at the mount" \
	test "$(jq '[.events[] | select(.action == "up" and (.reason | test("[0-9]+ at mounts")))] | length' "$T/series.json")" -ge 1
eq "peak PEs within --max-pes" \
	"$(jq '[.samples[] | .starting + .idle + .busy] | max <= 4' "$T/series.json")" true
finish
