#!/usr/bin/env bash
# A hostile or careless analysis's output (SPEC "Security": the PE uploads nothing from
# outside HIO_OUTPUT; a message's output is capped). Through the real daemons: inputs
# whose analysis leaves a hard link (to the outside file, or when its user may not link
# that, to a copy in its HOME) or a symbolic link to a file outside HIO_OUTPUT, or
# more output than HIO_MAX_OUTPUT allows, fail with the reason and store none of their
# files; no result anywhere holds the outside file's bytes; the other inputs are done
# with their own result, and the pipeline goes on after the failures. A result file
# with the longest name a directory takes (255 bytes) is fetched by hio results get.
# Output nested past PATH_MAX fails its input and leaves no debris in the PE's scratch.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
SECRET="the secret $RANDOM$RANDOM$RANDOM"
echo "$SECRET" >secret
mkdir -p data more
for i in 1 2 3 4 5 6; do head -c $((900 + i * 37)) /dev/urandom >"data/ok$i"; done
for n in link1 link2 sym1 big1 long1 deep1; do head -c 100 /dev/urandom >"data/$n"; done
for i in 1 2 3; do head -c 500 /dev/urandom >"more/ok$i"; done

export HIO_MAX_OUTPUT=1M
# shellcheck disable=SC2016 # expanded by the PE's shell
"$HIO" up --pes 1 --min-pes 1 --max-pes 1 --state-dir "$STATE" --exec '
	case "$HIO_NAME" in
	data/link*) ln "'"$T"'/secret" "$HIO_OUTPUT/leak" 2>/dev/null ||
		{ cat "'"$T"'/secret" >"$HOME/leak" && ln "$HOME/leak" "$HIO_OUTPUT/leak"; } ;;
	data/sym*) ln -s "'"$T"'/secret" "$HIO_OUTPUT/leak" ;;
	data/big*) head -c 2097152 /dev/zero >"$HIO_OUTPUT/big" ;;
	data/long*) printf long >"$HIO_OUTPUT/$(printf "%0255d" 0)" ;;
	data/deep*) cd "$HIO_OUTPUT" && mkdir a && echo x >a/f || exit 9
		# Nested from the top, by renames: no path here is ever long.
		for i in $(seq 1 40); do
			mkdir t && mv a "t/$(printf "%0200d" "$i")" && mv t a || exit 9
		done ;;
	esac
	sha256sum "$HIO_INPUT" | cut -c1-64' >/dev/null || { fail "hio up"; finish; }
"$HIO" send data >sent.txt 2>send.err
check "hio send exits 0" test $? -eq 0
check "hio wait" "$HIO" wait --timeout 120
eq "done" "$(pfield default done)" 7
eq "failed" "$(pfield default failed)" 5
"$HIO" results --json >r.json
eq "result entries (one per input, none lost or doubled)" "$(jq -r '.[].name' r.json | sort -u | wc -l) $(jq length r.json)" "12 12"

# reason NAME: the error file of NAME's result.
reason() {
	rm -rf "$T/get"
	"$HIO" results get "$1" "$T/get" >/dev/null 2>&1
	cat "$T/get/error" 2>/dev/null
}
files_of() { jq -r --arg n "$1" '[.[] | select(.name == $n) | .files[].name] | sort | join(",")' r.json; }
for n in link1 link2; do
	eq "data/$n: state" "$(jq -r --arg n "data/$n" '.[] | select(.name == $n) | .state' r.json)" failed
	check "data/$n: the reason names the hard link" grep -q "links; a result must be a file of its own" <<<"$(reason "data/$n")"
	eq "data/$n: files stored" "$(files_of "data/$n")" error
done
check "data/sym1: the reason names the symlink" grep -q "is a symlink" <<<"$(reason data/sym1)"
eq "data/sym1: files stored" "$(files_of data/sym1)" error
check "data/big1: the reason names the limit" grep -q "over the limit of 1048576 bytes" <<<"$(reason data/big1)"
eq "data/big1: files stored" "$(files_of data/big1)" error
bad=0
for i in 1 2 3 4 5 6; do
	rm -rf get
	"$HIO" results get "data/ok$i" get >/dev/null 2>&1
	[ "$(cat get/stdout 2>/dev/null)" = "$(sha256sum <"data/ok$i" | cut -c1-64)" ] || bad=$((bad + 1))
done
eq "ok inputs whose result is not their sha256" "$bad" 0
check "data/deep1: the reason names the path" grep -q "output path too long" <<<"$(reason data/deep1)"
WD=$(worker_workdir) || fail "the worker's workdir is not found"
debris() { find "$WD" -name "$(printf "%0200d" 1)" | wc -l; }
no_debris() { [ "$(debris)" -eq 0 ]; }
wait_for 30 no_debris
eq "directories of data/deep1's output left in the PE's scratch" "$(debris)" 0
rm -rf get
"$HIO" results get data/long1 get >/dev/null 2>get.err
check "hio results get of a 255-byte result name exits 0 ($(head -c 200 get.err))" test $? -eq 0
eq "the 255-byte result file's bytes" "$(cat "get/$(printf "%0255d" 0)" 2>/dev/null)" long
eq "no temporary file left beside it" "$(find get -name '.hio-get-*' | wc -l)" 0
eq "result files in the state dir holding the secret" "$(grep -rlF "$SECRET" "$STATE" 2>/dev/null | wc -l)" 0
check "the PE log says why big1 failed" grep -q "over the limit" "$STATE/worker.log"

# The pipeline goes on after the failures.
"$HIO" send more >/dev/null 2>&1
check "hio send after the failures" test $? -eq 0
check "hio wait after the failures" "$HIO" wait --timeout 120
eq "done after the failures" "$(pfield default done)" 10
finish
