#!/usr/bin/env bash
# The result commands on a real cluster: hio results --failed, show (provenance: the
# version's command, PE, host, start, duration, exit status), hio retry NAME|--failed
# (from where the inputs are), hio results rm NAME|--older-than AGE, deletions that a
# master restart keeps, and every bad argument refused with one line.
. "$(dirname "$0")/lib.sh"

"$HIO" up --retention 3y --state-dir "$T/none" >/dev/null 2>"$T/err"
eq "hio up --retention 3y: exit" $? 1
eq "hio up --retention 3y says why" "$(cat "$T/err")" \
	"hio: --retention: '3y' is not an age (a whole number above 0, then s, m, h, d or w; at most 100 years)"
check "nothing started" test ! -e "$T/none/master.pid"

EXEC='case "$(cat "$HIO_INPUT")" in bad*) echo nope >&2; exit 3;; esac; wc -c <"$HIO_INPUT"'
"$HIO" up --pes 2 --retention 30d --state-dir "$STATE" --exec "$EXEC" >"$T/url" || { fail "hio up"; finish; }
cd "$T" || exit 1
mkdir -p in
for i in 1 2 3 4 5 6; do echo "x$i" >"in/a$i"; done
echo bad >in/b1
echo bad >in/b2
t_before=$(($(date +%s%N) / 1000))
check "hio send" "$HIO" send in >/dev/null
check "hio wait" "$HIO" wait --timeout 60
t_after=$(($(date +%s%N) / 1000))

eq "hio results --failed" "$("$HIO" results --failed)" "$(printf 'in/b1\tfailed\terror\nin/b2\tfailed\terror')"
"$HIO" results --failed --json >failed.json
eq "failed entries as JSON" "$(jq -c '[.[] | [.name, .state, .exit, .version, .host, .error]]' failed.json)" \
	'[["in/b1","failed",3,1,"127.0.0.1","exit status 3"],["in/b2","failed",3,1,"127.0.0.1","exit status 3"]]'
eq "the command recorded" "$(jq -r '.[0].command' failed.json)" "$EXEC"
pes=$(status_json | jq -r '[.pes[].id] | sort | join(" ")')
check "the PE recorded is one of the cluster's" grep -qw "$(jq -r '.[0].pe' failed.json)" <<<"$pes"
check "start within the run" jq -e --argjson a "$t_before" --argjson b "$t_after" \
	'all(.[]; .start >= $a and .start <= $b and .duration_ms >= 0 and .duration_ms < 60000 and .stored >= .start)' failed.json
"$HIO" results show in/a1 >a1.json
eq "hio results show" "$(jq -c '[.name, .state, .exit, .files]' a1.json)" '["in/a1","done",0,[{"name":"stdout","size":2}]]'
"$HIO" results show in/a >/dev/null 2>err
eq "show of a name that only prefixes others: exit" $? 1
eq "show of a missing name says so" "$(cat err)" "hio: no result entry named 'in/a' in pipeline default"
api() { curl -s -o body -w '%{http_code}' -X "$1" -H "Authorization: Bearer $(cat "$STATE/token")" "$(cat url)$2"; }
eq "GET state=failed over the API" "$(api GET '/v1/results?pipeline=default&state=failed' && jq -c '[.results[].name]' body)" \
	'200["in/b1","in/b2"]'

master_has_retention() { tr '\0' ' ' <"/proc/$(cat "$STATE/master.pid")/cmdline" | grep -q -- '--retention 30d '; }
check "hio up passed --retention to the master" master_has_retention

# retry: b1 fixed where it lives, b2 still bad; both sent again, each a new message.
old_b2=$(jq -r '.[1].id' failed.json)
echo good >in/b1
"$HIO" retry --failed >retry.out 2>retry.err
eq "hio retry --failed exit" $? 0
eq "hio retry --failed sent both" "$(awk '{ print $1 }' retry.out | sort | tr '\n' ' ')" "in/b1 in/b2 "
check "hio wait after retry" "$HIO" wait --timeout 60
eq "failed after retry" "$("$HIO" results --failed | cut -f1)" in/b2
check "b2's entry is the new message's" test "$("$HIO" results show in/b2 | jq -r .id)" != "$old_b2"
rm -rf out && "$HIO" results get in/b1 out
eq "b1's new result" "$(cat out/stdout)" 5
eq "entries after retry" "$("$HIO" results | wc -l)" 8
"$HIO" retry --from /nonexistent in/a1 >/dev/null 2>err
eq "retry without the input's bytes: exit" $? 1
check "retry without the input's bytes says where it looked" grep -q '^hio: cannot retry in/a1: /nonexistent/in/a1 is not a readable file' err
"$HIO" retry in/zz >/dev/null 2>err
eq "retry of an unknown name: exit" $? 1
check "retry of an unknown name says so" grep -q "no result entry named 'in/zz'" err
"$HIO" retry >/dev/null 2>err
eq "retry without names: exit" $? 1
eq "retry without names: usage" "$(cat err)" "hio: usage: hio retry [--from DIR] NAME...|--failed"

# rm NAME: the entry and its directory go.
a1=$(jq -r .id a1.json)
check "a1's directory exists" test -d "$STATE/results/$a1"
eq "hio results rm in/a1" "$("$HIO" results rm in/a1)" "deleted 1"
check "a1's directory is gone" test ! -e "$STATE/results/$a1"
"$HIO" results rm in/a1 >/dev/null 2>err
eq "rm of a deleted name: exit" $? 1
eq "rm of a deleted name says so" "$(cat err)" "hio: no result entry named in/a1 in pipeline default"
eq "hio results rm --older-than 1h" "$("$HIO" results rm --older-than 1h)" "deleted 0"
# The age is what this part tests: the entries above must be 3 s old, c1 not.
sleep 3
echo c >in/c1
check "hio send c1" "$HIO" send in/c1 >/dev/null
check "hio wait c1" "$HIO" wait --timeout 60
eq "hio results rm --older-than 2s" "$("$HIO" results rm --older-than 2s)" "deleted 7"
eq "left after rm" "$("$HIO" results | cut -f1)" in/c1

# Bad arguments: one line each, nothing deleted.
"$HIO" results rm --older-than 1y >/dev/null 2>err
eq "--older-than 1y: exit" $? 1
eq "--older-than 1y says why" "$(cat err)" \
	"hio: --older-than: '1y' is not an age (a whole number, then s, m, h, d or w; at most 100 years)"
"$HIO" results rm >/dev/null 2>err
eq "rm without a name: exit" $? 1
check "rm without a name prints the usage" grep -q '^hio: usage: hio results' err
"$HIO" results rm in/c1 --older-than 1d >/dev/null 2>&1
eq "rm with a name and an age: exit" $? 1
eq "DELETE without name or older_than" "$(api DELETE '/v1/results?pipeline=default')" 400
eq "DELETE with both" "$(api DELETE '/v1/results?pipeline=default&name=x&older_than=1')" 400
eq "DELETE older_than=-1" "$(api DELETE '/v1/results?pipeline=default&older_than=-1')" 400
check "older_than's reason" grep -q 'older_than must be seconds' body
eq "DELETE name=../x" "$(api DELETE '/v1/results?pipeline=default&name=../x')" 400
eq "still listed" "$("$HIO" results | cut -f1)" in/c1

# A restart replays the deletions from the journal: nothing comes back.
eq "rm lines in the journal" "$(grep -c '"op":"rm"' "$STATE/results.journal")" 8
"$HIO" down --state-dir "$STATE" >/dev/null
"$HIO" up --pes 1 --state-dir "$STATE" --exec "$EXEC" >/dev/null || fail "hio up again"
eq "entries after a restart" "$("$HIO" results | cut -f1)" in/c1
c1=$("$HIO" results show in/c1 | jq -r .id)
eq "result directories after a restart" "$(ls "$STATE/results" | sort | tr '\n' ' ')" "$c1 tmp "

# A name with a newline, a tab and a backslash cannot forge lines of the plain listing.
mkdir -p odd
nl=$'odd/two\nlines\tand\\x'
echo hi >"$nl"
check "hio send of a name with a newline" "$HIO" send "$nl" >/dev/null
check "hio wait" "$HIO" wait --timeout 60
eq "plain listing: one line per entry" "$("$HIO" results | wc -l)" 2
eq "the odd name, escaped" "$("$HIO" results | grep '^odd/' | cut -f1)" 'odd/two\nlines\tand\\x'
finish
