#!/usr/bin/env bash
# /metrics on every daemon of a cluster with a mount: each answers only with a credential,
# and all take the scrape credential (STATE/metrics-token; workers, PEs and mounts learn it
# from the master when they announce their endpoint),
# `promtool check metrics` accepts each one's text, and a real Prometheus server that
# finds them through the master (HTTP service discovery, GET /v1/metrics/targets)
# scrapes them all; PromQL then counts exactly the files the test wrote.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

N=40
# Every daemon serves its metrics on a port of its own choosing and announces it: hio up
# turns that on with no setting at all (SPEC: every daemon).
unset HIO_METRICS_LISTEN

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >"$T/apt.log" 2>&1 ||
		{ fail "cannot install Debian's prometheus (see below)"; tail -5 "$T/apt.log" >&2; finish; }
fi

mkdir -p "$MNT"
fs_up 'sha256sum "$HIO_INPUT" | cut -d" " -f1' || { fail "hio up --mount"; finish; }
U=$(cat "$T/url")
TOKF="$STATE/metrics-token"
TOK=$(cat "$TOKF")

for i in $(seq 1 "$N"); do
	head -c $((i * 1000)) /dev/urandom >"$MNT/m$i.bin" || fail "write m$i.bin"
done
check "hio-fs spool drains" wait_for 60 spool_empty
check "master idle (hio wait)" "$HIO" wait --timeout 60 --state-dir "$STATE"
eq "pipeline done" "$(pfield default done)" "$N"

targets() { curl -sf -H "Authorization: Bearer $TOK" "$U/v1/metrics/targets"; }
# jobs_seen: the master lists a target of each kind of daemon.
jobs_seen() {
	targets | jq -e '[.[].labels.job] | (index("hio-master") and index("hio-worker") and
		index("hio-pe") and index("hio-fs")) != null' >/dev/null
}
check "the master lists master, worker, PE and mount targets" wait_for 20 jobs_seen
targets >"$T/targets.json"
eq "targets without a token are refused" \
	"$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/metrics/targets")" 401

while read -r job addr; do
	code=$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/metrics")
	eq "$job at $addr: /metrics without a token" "$code" 401
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer x$TOK" \
		"http://$addr/metrics")
	eq "$job at $addr: /metrics with a wrong token" "$code" 401
	if curl -sf -H "Authorization: Bearer $TOK" "http://$addr/metrics" >"$T/m.txt"; then
		check "promtool check metrics accepts $job's /metrics" \
			sh -c "promtool check metrics <'$T/m.txt' >'$T/promtool.out' 2>&1"
		[ -s "$T/promtool.out" ] && cat "$T/promtool.out" >&2
		check "$job's /metrics has HELP and TYPE lines" grep -q '^# TYPE hio_' "$T/m.txt"
	else
		fail "GET http://$addr/metrics ($job) with the token"
	fi
done < <(jq -r '.[] | "\(.labels.job) \(.targets[0])"' "$T/targets.json")

# ---- a real Prometheus server, on a loopback port of its own ----
PP=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: hio
    authorization:
      type: Bearer
      credentials_file: $TOKF
    http_sd_configs:
      - url: $U/v1/metrics/targets
        refresh_interval: 1s
        # Prometheus 2.42 sends the bare token here unless the type is spelt out.
        authorization:
          type: Bearer
          credentials_file: $TOKF
EOF
check "promtool check config" promtool check config "$T/prometheus.yml"
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom-data" \
	--web.listen-address="127.0.0.1:$PP" >"$T/prometheus.log" 2>&1 &
FS_BG_PIDS+=($!)

# q EXPR: the value of an instant query (empty when there is none yet).
q() {
	curl -sf --data-urlencode "query=$1" "http://127.0.0.1:$PP/api/v1/query" |
		jq -r '.data.result[0].value[1] // empty'
}
q_is() { [ "$(q "$1")" = "$2" ]; }
q_ge() { local v; v=$(q "$1") && [ -n "$v" ] && awk -v v="$v" -v n="$2" 'BEGIN { exit !(v >= n) }'; }

check "Prometheus serves its API" wait_for 30 curl -sf "http://127.0.0.1:$PP/-/ready"
for job in hio-master hio-worker hio-pe hio-fs; do
	check "Prometheus scrapes $job (up == 1)" wait_for 30 q_ge "min(up{job=\"$job\"})" 1
done
check "every target Prometheus found is up" wait_for 30 q_is 'count(up == 0) or vector(0)' 0
check "PromQL: messages done (master) is $N" wait_for 30 \
	q_is 'sum(hio_master_messages_done_total{pipeline="default"})' "$N"
eq "PromQL: messages done (master)" "$(q 'sum(hio_master_messages_done_total)')" "$N"
eq "PromQL: messages failed (master)" "$(q 'sum(hio_master_messages_failed_total)')" 0
eq "PromQL: files acknowledged (mount)" "$(q 'sum(hio_fs_files_acked_total)')" "$N"
eq "PromQL: files the mount still holds" "$(q 'sum(hio_fs_spooled_files)')" 0
eq "PromQL: the mount's spool as the master sees it" "$(q 'sum(hio_mount_spooled_files)')" 0
check "PromQL: the master timed the allocations" q_ge 'sum(hio_master_allocate_seconds_count)' 1
check "PromQL: the master timed the result storage" q_ge \
	'sum(hio_master_result_store_seconds_count)' 1
check "PromQL: the mount timed P2P transfers of its files" q_ge \
	'sum(hio_stream_p2p_send_seconds_count{job="hio-fs"})' 1
check "PromQL: a PE timed its processing" q_ge 'sum(hio_pe_process_seconds_count)' 1
check "PromQL: a 0.99 quantile of processing time" q_ge \
	'histogram_quantile(0.99, sum by (le) (hio_pe_process_seconds_bucket))' 0
check "PromQL: P2P bytes counted by the mount" q_ge \
	'sum(hio_fs_sent_bytes_total{via="p2p"}) + sum(hio_fs_sent_bytes_total{via="backlog"})' \
	$((N * (N + 1) / 2 * 1000))

[ "$FAILS" -ne 0 ] && tail -n 20 "$T/prometheus.log" >&2
finish
