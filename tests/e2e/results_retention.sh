#!/usr/bin/env bash
# Retention and journal compaction on a real master: with --retention 4s, 10,000 stored
# entries expire, their directories go and the journal (20,000 lines written) is
# compacted below COMPACT_MIN_LINES; a restart brings none back. Then, without
# retention, 20,100 entries of which 20,000 were stored three times (60,100 lines
# written): compaction (online, or the restart's) leaves at most two lines per entry
# kept, and every entry lists as before (same ids). Bad --retention values are refused.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MASTER="$HIO_BUILD/master/hio-master"
mkdir -p "$STATE"
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"
export HIO_TOKEN=$(cat "$T/token")

start_master() {
	rm -f "$STATE/master.url"
	"$MASTER" --state-dir "$STATE" --listen 127.0.0.1:0 --token-file "$T/token" "$@" \
		>>"$STATE/master.log" 2>&1 &
	MPID=$!
	echo "$MPID" >"$STATE/master.pid"
	wait_for 30 test -s "$STATE/master.url" || fail "master start"
	export HIO_MASTER=$(cat "$STATE/master.url")
}
stop_master() { kill "$MPID"; wait "$MPID"; }
put() { python3 "$ROOT/tests/tools/put_results.py" "$HIO_MASTER" "$T/token" "$@" >/dev/null; }
count() { curl -sf -H "Authorization: Bearer $HIO_TOKEN" "$HIO_MASTER/v1/results?pipeline=default" | jq '.results | length'; }
jlines() { wc -l <"$STATE/results.journal"; }
no_entries() { [ "$(count)" = 0 ]; }
journal_short() { [ "$(jlines)" -lt 10000 ]; }

"$MASTER" --state-dir "$STATE" --retention 0s 2>"$T/err"
eq "--retention 0s: exit" $? 2
eq "--retention 0s says why" "$(cat "$T/err")" \
	"hio-master: --retention: '0s' is not an age (a whole number above 0, then s, m, h, d or w; at most 100 years)"
"$MASTER" --state-dir "$STATE" --retention 101y 2>/dev/null
eq "--retention 101y: exit" $? 2

start_master --retention 4s
check "10,000 entries stored" put 10000 a/
check "every entry expires" wait_for 60 no_entries
check "the journal is compacted below 10,000 lines" wait_for 60 journal_short
check "the master said so" grep -q 'compacted the result journal' "$STATE/master.log"
# Directories go after their entries leave the index (no lock held): wait for them.
only_tmp() { [ "$(ls "$STATE/results")" = tmp ]; }
check "every result directory removed" wait_for 30 only_tmp
stop_master

start_master
eq "entries after a restart" "$(count)" 0
: >"$STATE/master.log"
check "20,000 entries stored" put 20000 b/ 0
check "stored again" put 20000 b/ 0
check "and again" put 20000 b/ 0
check "100 more" put 100 c/ 0
"$HIO" results --json | jq -c '.[] | [.name, .id, .state]' >before.lines
eq "entries before the restart" "$(wc -l <before.lines)" 20100
stop_master

start_master
lines=$(jlines)
echo "journal: $lines lines for 20100 entries after 60,100 written"
check "at most two journal lines per entry kept" test "$lines" -ge 20100 -a "$lines" -le 40200
check "the master compacted it" grep -q 'compacted the result journal' "$STATE/master.log"
"$HIO" results --json | jq -c '.[] | [.name, .id, .state]' >after.lines
check "the same entries, ids and states" cmp before.lines after.lines
eq "result directories: one per entry, and tmp" "$(ls "$STATE/results" | wc -l)" 20101
check "an entry's file after compaction" test "$("$HIO" results show b/0012345 | jq -c '[.files, .exit, .pe]')" = \
	'[[{"name":"stdout","size":6}],0,"0123456789abcdef0123456789abcdef"]'
stop_master
finish
