#!/usr/bin/env bash
# 100,000 result entries (stored straight into a real master by put_results.py, as PEs
# upload them) list completely and exactly through hio results --json, the API's pages,
# the unpaged (streamed) listing hio-fs reads, hio results --failed and Python's
# Client.results(); and the master's memory grows by pages, not by the listing.
. "$(dirname "$0")/lib.sh"
N=100000
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

mkdir -p "$STATE"
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"
"$HIO_BUILD/master/hio-master" --state-dir "$STATE" --listen 127.0.0.1:0 \
	--token-file "$T/token" >"$STATE/master.log" 2>&1 &
MPID=$!
echo "$MPID" >"$STATE/master.pid"
check "master up" wait_for 30 test -s "$STATE/master.url"
export HIO_MASTER=$(cat "$STATE/master.url")
export HIO_TOKEN=$(cat "$T/token")
api() { curl -sf -H "Authorization: Bearer $HIO_TOKEN" "$HIO_MASTER$1"; }
code() { curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $HIO_TOKEN" "$HIO_MASTER$1"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$MPID/status"; }

t0=$SECONDS
check "put_results stored $N entries" python3 "$ROOT/tests/tools/put_results.py" \
	"$HIO_MASTER" "$T/token" "$N"
echo "stored $N entries in $((SECONDS - t0)) s; master RSS $(rss_kb) kB (ASan build)"
rss0=$(rss_kb)

cd "$T" || exit 1
t0=$SECONDS
"$HIO" results --json >all.json
check "hio results --json exit 0" test $? -eq 0
echo "hio results --json: $((SECONDS - t0)) s, master RSS $(rss_kb) kB"
jq -r '.[].name' all.json >names.txt
eq "entries listed by hio results --json" "$(wc -l <names.txt)" $N
eq "distinct names" "$(sort -u names.txt | wc -l)" $N
check "names in sorted order" cmp names.txt <(LC_ALL=C sort names.txt)
eq "first and last names" "$(head -n 1 names.txt) $(tail -n 1 names.txt)" "r/0000000 r/0099999"
# One pass over the listing: failed entries, and entry 4242 with its provenance.
eq "failed entries; entry 4242" \
	"$(jq -c '[([.[] | select(.state == "failed")] | length), (.[4242] | [.name, .state, .files[0].size, .pe, .host, .exit, .duration_ms])]' all.json)" \
	'['$((N / 10))',["r/0004242","done",5,"0123456789abcdef0123456789abcdef","127.0.0.1",0,7]]'

# The API's own pages: limit 10000, next as the cursor, the last page's next null.
after="" pages=0
: >paged.txt
while :; do
	api "/v1/results?pipeline=default&limit=10000${after:+&after=$after}" >page.json || break
	pages=$((pages + 1))
	jq -r '.results[].name' page.json >>paged.txt
	next=$(jq -r '.next // empty' page.json)
	[ -n "$next" ] || break
	after=$(jq -rn --arg s "$next" '$s | @uri')
done
eq "API pages of 10000" "$pages" 10
check "the pages hold every name once, in order" cmp paged.txt names.txt
eq "the last page's next" "$(jq -c .next page.json)" null

# The unpaged form (hio-fs's), streamed by the master a page at a time.
api "/v1/results?pipeline=default" >whole.json
jq -c '.[]' all.json >all.lines
check "unpaged listing equals hio results --json" cmp <(jq -c '.results[]' whole.json) all.lines
eq "unpaged listing ends with next null" "$(tail -c 14 whole.json)" '],"next":null}'
eq "hio results --failed lines" "$("$HIO" results --failed | wc -l)" $((N / 10))
t0=$SECONDS
eq "Python Client.results(): entries, failed, entry 99999's exit" "$(PYTHONPATH="$ROOT/python" python3 -c '
import hio
r = hio.Client().results()
print(len(r), sum(1 for x in r if x.state == "failed"), r[-1].name, r[-1].exit)')" \
	"$N $((N / 10)) r/0099999 0"
echo "Client.results(): $((SECONDS - t0)) s"

rss1=$(rss_kb)
echo "master RSS before the listings $rss0 kB, after $rss1 kB"
# Five full listings of ~30 MB of JSON each: memory that followed the listing's size
# would grow by far more than a page's worth plus the sanitizer's quarantine.
check "master RSS grew by under 128 MiB over five full listings" test $((rss1 - rss0)) -lt 131072

# Bad queries: one clear 400 each, and the listing unchanged.
eq "limit=0" "$(code '/v1/results?pipeline=default&limit=0')" 400
check "limit=0 says the range" grep -q 'limit must be a whole number, 1..10000' body
eq "limit=10001" "$(code '/v1/results?pipeline=default&limit=10001')" 400
eq "limit=abc" "$(code '/v1/results?pipeline=default&limit=abc')" 400
eq "after=../x" "$(code '/v1/results?pipeline=default&after=../x')" 400
check "a bad cursor names after" grep -q 'bad after' body
eq "after= (empty)" "$(code '/v1/results?pipeline=default&after=')" 400
eq "state=lost" "$(code '/v1/results?pipeline=default&state=lost')" 400
eq "a cursor past the end" "$(api '/v1/results?pipeline=default&after=s' | jq -c .)" '{"results":[],"next":null}'
eq "limit=3 after r/0000001" "$(api '/v1/results?pipeline=default&limit=3&after=r/0000001' | jq -c '[.results[].name, .next]')" \
	'["r/0000002","r/0000003","r/0000004","r/0000004"]'
eq "failed page" "$(api '/v1/results?pipeline=default&state=failed&limit=2' | jq -c '[.results[].name, .next]')" \
	'["r/0000000","r/0000010","r/0000010"]'
kill "$MPID"
wait "$MPID"
finish
