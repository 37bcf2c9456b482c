#!/usr/bin/env bash
# 100,000 result entries (stored straight into a real master by put_results.py, as PEs
# upload them) list completely and exactly through hio results --json, the API's pages,
# the unpaged (streamed) listing hio-fs reads, hio results --failed and Python's
# Client.results() and ls -R of a mount; the master's memory grows by pages, not by the
# listing, and hio-fs's stays under 128 MiB.
. "$(dirname "$0")/lib.sh"
# ASan holds up to 256 MiB of freed memory in quarantine, which counts in RSS: the
# master's growth over the listings below measured its quarantine (151 and 155 MiB in
# two runs; 17 MiB with a 16 MiB quarantine), not its own memory. A small quarantine
# keeps this a measure of the master's memory, as fs_big.sh does for hio-fs; ASan still
# checks everything else.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=16"
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

# The mount: ls -R of results/ lists every entry and its one file, from a sanitized
# hio-fs; then the memory of a plain (unsanitized) hio-fs over two such listings, the
# second with the listing refreshed under it. hio-fs's own memory: ASan's shadow,
# redzones and quarantine would be most of a sanitized one's RSS.
PLAIN=${HIO_PLAIN_BUILD:-$ROOT/build-clang}
mkdir -p "$T/mnt" "$T/mnt2"
trap 'fusermount3 -u -z "$T/mnt" 2>/dev/null; fusermount3 -u -z "$T/mnt2" 2>/dev/null; cleanup' EXIT
"$HIO_BUILD/fs/hio-fs" -f --token-file "$T/token" --spool "$T/spool" "$HIO_MASTER" "$T/mnt" \
	2>"$STATE/fs.log" &
FSPID=$!
check "hio-fs mounted" wait_for 30 test -d "$T/mnt/results"
awk '{ print $1; print $1 "/" ((NR - 1) % 10 == 0 ? "error" : "stdout") }' names.txt |
	cat - <(echo r) | LC_ALL=C sort >want.txt
ls_paths() { # ls -R of results/ under mount $1, as paths relative to results/
	(cd "$1/results" && ls -R .) | awk '/:$/ { d = substr($0, 1, length($0) - 1)
		sub(/^\.\/?/, "", d); if (d != "") d = d "/"; next } NF { print d $0 }' | LC_ALL=C sort
}
t0=$SECONDS
ls_paths "$T/mnt" >lsr.txt
echo "ls -R of the sanitized mount: $((SECONDS - t0)) s, $(wc -l <lsr.txt) paths"
eq "paths ls -R lists" "$(wc -l <lsr.txt)" $((2 * N + 1))
check "ls -R lists exactly each entry and its file" cmp lsr.txt want.txt
eq "cat results/r/0099999/stdout" "$(cat "$T/mnt/results/r/0099999/stdout")" 99999
check "results/r/0000000/error says the exit" grep -q 'exit status 3' "$T/mnt/results/r/0000000/error"
fusermount3 -u "$T/mnt"
wait "$FSPID"
eq "sanitized hio-fs exit status" $? 0

if [ -x "$PLAIN/fs/hio-fs" ]; then
	"$PLAIN/fs/hio-fs" -f --token-file "$T/token" --spool "$T/spool2" "$HIO_MASTER" "$T/mnt2" \
		2>"$STATE/fs2.log" &
	FSPID=$!
	check "plain hio-fs mounted" wait_for 30 test -d "$T/mnt2/results"
	t0=$SECONDS
	ls_paths "$T/mnt2" >lsr2.txt
	t1=$SECONDS
	ls_paths "$T/mnt2" >lsr3.txt
	hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$FSPID/status")
	echo "plain hio-fs: ls -R $((t1 - t0)) s then $((SECONDS - t1)) s; peak RSS $hwm kB, now $(awk '/^VmRSS/ { print $2 }' "/proc/$FSPID/status") kB"
	check "the plain mount lists the same twice" cmp lsr2.txt want.txt
	check "and again" cmp lsr3.txt want.txt
	check "plain hio-fs peak RSS over two ls -R of $N results under 128 MiB ($hwm kB)" test "$hwm" -lt 131072
	fusermount3 -u "$T/mnt2"
	wait "$FSPID"
else
	fail "no unsanitized hio-fs at $PLAIN/fs/hio-fs to measure (tests/run builds build-clang; or set HIO_PLAIN_BUILD)"
fi
kill "$MPID"
wait "$MPID"
finish
