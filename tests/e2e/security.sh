#!/usr/bin/env bash
# The cluster token on every endpoint and on P2P; malformed and hostile input gets a
# clear error, the daemons keep serving, and no state changes.
. "$(dirname "$0")/lib.sh"
PROBE="$HIO_BUILD/tests/hio-probe"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

"$HIO" up --pes 1 --state-dir "$STATE" --exec 'wc -c <"$HIO_INPUT"' >"$T/url" ||
	{ fail "hio up"; finish; }
url=$(cat "$T/url")
tok=$(cat "$STATE/token")
cd "$T" || exit 1
id=0123456789abcdef0123456789abcdef

# code METHOD PATH [curl args...]: prints the HTTP status only.
code() { local m=$1 p=$2; shift 2; curl -s -o body.txt -w '%{http_code}' -X "$m" "$@" "$url$p"; }

endpoints=(
	"PUT /v1/workers/$id"
	"POST /v1/workers/$id/heartbeat"
	"GET /v1/workers/$id/commands?wait=0"
	"DELETE /v1/workers/$id"
	"POST /v1/pes/$id/register"
	"POST /v1/pes/$id/heartbeat"
	"POST /v1/pes/$id/gone"
	"POST /v1/pes/$id/release"
	"POST /v1/pipelines/default"
	"POST /v1/pipelines/default/allocate"
	"POST /v1/pipelines/default/backlog"
	"GET /v1/pipelines/default/backlog/next?pe=$id&wait=0"
	"GET /v1/pipelines/default/series"
	"PUT /v1/results"
	"GET /v1/results?pipeline=default"
	"GET /v1/results?pipeline=default&limit=5"
	"DELETE /v1/results?pipeline=default&name=a"
	"DELETE /v1/results?pipeline=default&older_than=0"
	"GET /v1/results/file?pipeline=default&name=a&file=b"
	"GET /v1/status"
)
for e in "${endpoints[@]}"; do
	set -- $e
	eq "$1 $2 without a token" "$(code "$1" "$2" -d '{}')" 401
	eq "$1 $2 with a wrong token" "$(code "$1" "$2" -H "Authorization: Bearer nope" -d '{}')" 401
done
check "401 says why" grep -q '"error"' body.txt
# Refusals are logged, naming the peer, but a flood cannot fill the log: at most one
# line per 10 s, which counts the ones it did not log.
refusal_lines() { grep -c "from 127.0.0.1: missing or wrong token" "$STATE/master.log"; }
check "the master logs a refused token with the peer's address" test "$(refusal_lines)" -ge 1
urls=()
for i in $(seq 1 300); do urls+=("$url/v1/status"); done
curl -s -H "Authorization: Bearer nope" "${urls[@]}" >/dev/null
lines=$(refusal_lines)
check "300 refused requests more add at most 2 log lines (the log has $lines)" test "$lines" -le 3
A=(-H "Authorization: Bearer $tok")
snapshot() { status_json | jq -c '{w: [.workers[].id], p: [.pes[] | {id, state}], q: [.pipelines[] | {name, queue_length, in, done, failed}]}'; }
before=$(snapshot)

# Malformed JSON, wrong types, oversized bodies.
eq "malformed JSON" "$(code POST /v1/pipelines/default "${A[@]}" -d '{"pes": ')" 400
check "malformed JSON says so" grep -q '"error"' body.txt
eq "wrong field type" "$(code POST /v1/pipelines/default "${A[@]}" -d '{"pes": "many"}')" 400
eq "bad pipeline name" "$(code POST '/v1/pipelines/..%2fetc' "${A[@]}" -d '{}')" 400
# A refused configuration of a pipeline that does not exist yet creates nothing.
eq "impossible bounds for a new pipeline" \
	"$(code POST /v1/pipelines/newpl "${A[@]}" -d '{"min_pes": 5, "max_pes": 2}')" 400
eq "the refused pipeline was not created" \
	"$(status_json | jq '[.pipelines[] | select(.name == "newpl")] | length')" 0
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >big.json
eq "oversized JSON body" "$(code POST /v1/pipelines/default "${A[@]}" --data-binary @big.json)" 413

# Frames into the backlog: truncated, escaping names, garbage.
echo hello >body.bin
"$PROBE" frame "$id" ok/name body.bin >good.frame
head -c $(($(stat -c %s good.frame) - 3)) good.frame >trunc.frame
eq "truncated frame" "$(code POST /v1/pipelines/default/backlog "${A[@]}" --data-binary @trunc.frame)" 400
for bad in /etc/passwd ../../x a/../../b; do
	"$PROBE" frame "$id" "$bad" body.bin >bad.frame
	eq "escaping name '$bad'" "$(code POST /v1/pipelines/default/backlog "${A[@]}" --data-binary @bad.frame)" 400
done
"$PROBE" frame not-an-id x body.bin >bad.frame
eq "bad message id" "$(code POST /v1/pipelines/default/backlog "${A[@]}" --data-binary @bad.frame)" 400
head -c 5000 /dev/urandom >garbage.bin
eq "garbage instead of a frame" "$(code POST /v1/pipelines/default/backlog "${A[@]}" --data-binary @garbage.bin)" 400
eq "results file outside its dir" "$(code GET '/v1/results/file?pipeline=default&name=../x&file=../../token' "${A[@]}")" 400

eq "state unchanged by refused requests" "$(snapshot)" "$before"

# P2P: a PE started by a worker holds its own credential and takes only the master's
# ticket to it (what an allocation gives a sender); the cluster token, the PE's own
# credential, another PE's ticket, a wrong or no token are refused and closed.
CRED="$ROOT/tests/tools/cred.py"
pe=$(status_json | jq -r '.pes[0] | "\(.host) \(.port) \(.id)"')
set -- $pe
ticket=$(python3 "$CRED" "$STATE/token" p2p "$3")
eq "P2P wrong token" "$("$PROBE" hello "$1" "$2" wrong default | cut -d: -f1)" ERROR
eq "P2P empty token" "$("$PROBE" hello "$1" "$2" "" default | cut -d: -f1)" ERROR
eq "P2P garbage instead of HELLO" "$("$PROBE" raw "$1" "$2" garbage.bin | cut -d: -f1)" ERROR
eq "P2P the cluster token" "$("$PROBE" hello "$1" "$2" "$tok" default | cut -d: -f1)" ERROR
eq "P2P the PE's own credential" \
	"$("$PROBE" hello "$1" "$2" "$(python3 "$CRED" "$STATE/token" pe "$3")" default | cut -d: -f1)" ERROR
eq "P2P another PE's ticket" \
	"$("$PROBE" hello "$1" "$2" "$(python3 "$CRED" "$STATE/token" p2p "$id")" default | cut -d: -f1)" ERROR
eq "P2P the master's ticket" "$("$PROBE" hello "$1" "$2" "$ticket" default)" WELCOME
# A session sending a truncated frame and then a frame with an escaping name.
eq "P2P truncated MSG" "$("$PROBE" session "$1" "$2" "$ticket" default trunc.frame | tail -1 | cut -d: -f1)" ERROR
"$PROBE" frame "$id" ../../evil body.bin >bad.frame
eq "P2P escaping name" "$("$PROBE" session "$1" "$2" "$ticket" default bad.frame | tail -1 | cut -d: -f1)" ERROR

# Roles (SPEC, Security). Each derived credential does what its holder does and
# nothing else; a refusal is 403 with the reason and changes nothing.
pid_=$3
before=$(snapshot)
python3 "$CRED" "$STATE/token" pe "$pid_" >pe.cred
B() { echo "Authorization: Bearer $1"; }
J=(-H "$(B "$(cat "$STATE/join-token")")")
P=(-H "$(B "$(cat pe.cred)")")
M=(-H "$(B "$(cat "$STATE/metrics-token")")")
eq "join-token is the join credential" "$(cat "$STATE/join-token")" "$(python3 "$CRED" "$STATE/token" join)"
eq "metrics-token is the scrape credential" "$(cat "$STATE/metrics-token")" \
	"$(python3 "$CRED" "$STATE/token" metrics)"
eq "join: status" "$(code GET /v1/status "${J[@]}")" 200
eq "join: results" "$(code GET '/v1/results?pipeline=default' "${J[@]}")" 403
check "join: the refusal says why" grep -q 'a join credential may not' body.txt
eq "join: allocate" "$(code POST /v1/pipelines/default/allocate "${J[@]}")" 403
eq "join: register a PE" "$(code POST "/v1/pes/$id/register" "${J[@]}" -d '{}')" 403
eq "join: push to the backlog" "$(code POST /v1/pipelines/default/backlog "${J[@]}" --data-binary @good.frame)" 403
eq "join: configure a pipeline" "$(code POST /v1/pipelines/default "${J[@]}" -d '{"pes": 3}')" 403
eq "pe: register another PE" "$(code POST "/v1/pes/$id/register" "${P[@]}" -d '{}')" 403
eq "pe: heartbeat of another PE" "$(code POST "/v1/pes/$id/heartbeat" "${P[@]}" -d '{}')" 403
eq "pe: another PE's backlog" "$(code GET "/v1/pipelines/default/backlog/next?pe=$id&wait=0" "${P[@]}")" 403
eq "pe: status" "$(code GET /v1/status "${P[@]}")" 403
eq "pe: results" "$(code GET '/v1/results?pipeline=default' "${P[@]}")" 403
eq "pe: a result file" "$(code GET '/v1/results/file?pipeline=default&name=a&file=b' "${P[@]}")" 403
eq "pe: delete results" "$(code DELETE '/v1/results?pipeline=default&older_than=0' "${P[@]}")" 403
eq "pe: allocate" "$(code POST /v1/pipelines/default/allocate "${P[@]}")" 403
eq "pe: stop a worker" "$(code DELETE "/v1/workers/$id" "${P[@]}")" 403
eq "pe: metrics" "$(code GET /metrics "${P[@]}")" 403
eq "pe: announce another id's metrics" "$(code PUT "/v1/metrics/targets/$id?job=x&port=1" "${P[@]}")" 403
eq "metrics: /metrics" "$(code GET /metrics "${M[@]}")" 200
eq "metrics: targets" "$(code GET /v1/metrics/targets "${M[@]}")" 200
eq "metrics: results" "$(code GET '/v1/results?pipeline=default' "${M[@]}")" 403
eq "metrics: announce" "$(code PUT "/v1/metrics/targets/$id?job=x&port=1" "${M[@]}")" 403
# A PE's credential uploads only results that name that PE, in its own pipeline.
check "pe: an upload naming another PE is refused" \
	sh -c '! python3 "$1" "$2" pe.cred 1 stolen/ 0 2>put.err' _ "$ROOT/tests/tools/put_results.py" "$url"
check "pe: the refusal says why" grep -q "only its own results" put.err
eq "state unchanged by the refused roles" "$(snapshot)" "$before"
eq "pe: an upload as itself is stored" \
	"$(PUT_RESULTS_PE=$pid_ python3 "$ROOT/tests/tools/put_results.py" "$url" pe.cred 1 own/ 0)" 1

# hio send refuses names that try to escape, and says why.
mkdir -p sub && echo x >sub/f
( cd sub && "$HIO" send ./f >../ok.txt 2>../err.txt )
check "hio send of ./f works" grep -q '^f done' ok.txt

# Everyone still serves after all that.
check "master still serves" curl -sf "$url/v1/health"
echo data >real.txt
check "a real send still works" "$HIO" send real.txt
check "hio wait" "$HIO" wait --timeout 60
eq "results: only the real inputs and the PE's own upload" \
	"$("$HIO" results --json | jq -r '.[].name' | sort | tr '\n' ' ')" "f own/0000000 real.txt "
finish
