#!/usr/bin/env bash
# hio-master and hio-worker on the command line alone: --help exits 0 with the usage
# on stdout (and hio CMD --help, every --version), a bad option or value exits 2 with a message on stderr, and neither
# leaks or trips a sanitizer (LeakSanitizer would turn the exit code into 1, and
# lib.sh's cleanup fails the test on any report in $T).
. "$(dirname "$0")/lib.sh"

MASTER="$HIO_BUILD/master/hio-master"
WORKER="$HIO_BUILD/worker/hio-worker"

# run NAME WANT_RC GREP_STREAM PATTERN PROGRAM ARGS...: checks the exit code and that
# the stream (out or err) says what it should.
run() {
	local what=$1 want=$2 stream=$3 pat=$4 rc
	shift 4
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	eq "$what: exit code" "$rc" "$want"
	check "$what: $stream mentions '$pat'" grep -q -- "$pat" "$T/$stream"
}

run "hio-master --help" 0 out "usage: hio-master" "$MASTER" --help
run "hio-master --bogus" 2 err "unrecognized option" "$MASTER" --bogus
run "hio-master --pe-lease-ms 5x" 2 err "pe-lease-ms" "$MASTER" --state-dir "$T/m" --pe-lease-ms 5x
run "hio-master --backlog-max-bytes 9Q" 2 err "backlog-max-bytes" \
	"$MASTER" --state-dir "$T/m" --backlog-max-bytes 9Q
run "hio-master without --state-dir" 2 err "state-dir is required" "$MASTER"
run "hio-worker --help" 0 out "usage: hio-worker" "$WORKER" --help
run "hio-worker --bogus" 2 err "unknown option" "$WORKER" --bogus
run "hio-worker --max-pes 5x" 2 err "max-pes: '5x'" "$WORKER" --master http://127.0.0.1:1 --max-pes 5x
run "hio-worker --max-pes 0" 2 err "max-pes: '0'" "$WORKER" --master http://127.0.0.1:1 --max-pes 0
run "hio-worker without --master" 2 err "master URL is required" "$WORKER"
run "hio-worker --master not-a-url" 2 err "is not a master URL" "$WORKER" --master not-a-url
# A loopback address advertised to a remote master: refused in one line (nothing is sent).
run "hio-worker --host 127.0.0.1 to a remote master" 2 err "--host 127.0.0.1 is loopback" \
	"$WORKER" --master http://10.199.0.1:7700 --host 127.0.0.1
check "no state dir made by a refused start" test ! -e "$T/m"

# --version and CMD --help as every Unix tool: exit 0, the text on stdout (SPEC).
run "hio --version" 0 out "^hio [0-9]" "$HIO_BUILD/hio/hio" --version
for d in master/hio-master worker/hio-worker pe/hio-pe fs/hio-fs; do
	run "$(basename "$d") --version" 0 out "^$(basename "$d") [0-9]" "$HIO_BUILD/$d" --version
done
for c in up down status send results scale wait master join mount pipeline retry config; do
	run "hio $c --help" 0 out "^usage: hio $c" "$HIO_BUILD/hio/hio" "$c" --help
	eq "hio $c --help: nothing on stderr" "$(wc -c <"$T/err")" 0
done
# Wherever it stands among the options, and -h too; not after "--" (a file's name).
run "hio send --pipeline x -h" 0 out "^usage: hio send" "$HIO_BUILD/hio/hio" send --pipeline x -h
run "hio wait --timeout 3 --help" 0 out "^usage: hio wait" "$HIO_BUILD/hio/hio" wait --timeout 3 --help
run "hio send -- --help (a file named --help)" 1 err "no cluster in" \
	"$HIO_BUILD/hio/hio" send --state-dir "$T/none" -- --help
finish
