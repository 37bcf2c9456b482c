#!/usr/bin/env bash
# Two writers stream files into the mount while the master goes away twice for 10 s:
# first frozen (SIGSTOP: connections hang), then killed (kill -9: connections refused)
# and restarted on the same port and state dir. No writer sees an error or a slow
# close; a file written while the master is away is spooled (or sent); when the master
# is back every file is processed exactly once with its sha256.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

DOWN_S=10      # how long the master stays away, each time (the scenario, not a wait)
MAX_CLOSE_US=5000000

fs_up 'sha256sum "$HIO_INPUT" | cut -d" " -f1' || { fail "hio up --mount"; finish; }
cd "$T" || exit 1
url=$(cat "$STATE/master.url")
port=${url##*:}
mkdir -p src
for s in $(seq 1 40); do head -c $((2048 + s * 1531)) /dev/urandom >"src/s$s"; done
check "mkdir w1 w2 in the mount" mkdir "$MNT/w1" "$MNT/w2"
: >log1
: >log2

# writer K: copies source files into w$K/ one after another until $T/stop exists; a
# line per cp: NAME SRC EXIT_STATUS MICROSECONDS END_TIME_US.
writer() {
	local k=$1 i=0 s t0 t1 rc
	while [ ! -e stop ] && [ $i -lt 3000 ]; do
		i=$((i + 1))
		s=$(((i * k) % 40 + 1))
		t0=${EPOCHREALTIME/./}
		timeout -k 5 60 cp "src/s$s" "$MNT/w$k/f$i" 2>>"cp$k.err"
		rc=$?
		t1=${EPOCHREALTIME/./}
		echo "w$k/f$i $T/src/s$s $rc $((t1 - t0)) $t1" >>"log$k"
		sleep 0.05 # pacing: a steady stream of files, not synchronisation
	done
}
written() { cat log1 log2 | wc -l; }
written_at_least() { [ "$(written)" -ge "$1" ]; }
# down_sample STARTED_US: user.hio.state of the last file writer 1 finished, which
# must have been written after STARTED_US (while the master is away).
down_sample() {
	local line name t1 st
	line=$(tail -n1 log1)
	name=${line%% *}
	t1=${line##* }
	if [ "$t1" -le "$1" ]; then
		fail "writer 1 finished no file while the master was away (last: $line)"
		return
	fi
	st=$(xstate "$MNT/$name")
	case $st in
	spooled | sent) ok "user.hio.state of $name, written while the master is away ($st)" ;;
	*) fail "user.hio.state of $name, written while the master is away: expected spooled or sent, got '$st'" ;;
	esac
}

writer 1 &
w1=$!
writer 2 &
w2=$!
FS_BG_PIDS+=("$w1" "$w2")
check "writers under way" wait_for 30 written_at_least 40

# 1. The master frozen for 10 s.
mpid=$(cat "$STATE/master.pid")
t_stop=${EPOCHREALTIME/./}
kill -STOP "$mpid"
FS_STOPPED+=("$mpid")
n0=$(written)
sleep $((DOWN_S / 2))
down_sample "$t_stop"
sleep $((DOWN_S / 2))
n1=$(written)
kill -CONT "$mpid"
echo "$((n1 - n0)) file(s) written while the master was stopped"
check "writers kept writing while the master was stopped" test $((n1 - n0)) -ge 20

# 2. The master killed, and 10 s later started again on the same port and state dir.
check "writers write after SIGCONT" wait_for 30 written_at_least $((n1 + 40))
t_kill=${EPOCHREALTIME/./}
kill -9 "$mpid"
check "master gone after kill -9" wait_for 10 proc_gone "$mpid"
n0=$(written)
sleep $((DOWN_S / 2))
down_sample "$t_kill"
sleep $((DOWN_S / 2))
n1=$(written)
echo "$((n1 - n0)) file(s) written while the master was dead"
check "writers kept writing while the master was dead" test $((n1 - n0)) -ge 20
"$HIO_BUILD/master/hio-master" --state-dir "$STATE" --listen "127.0.0.1:$port" \
	--token-file "$STATE/token" >>"$STATE/master.log" 2>&1 &
echo $! >"$STATE/master.pid"
check "master back on the same port" wait_for 30 curl -sf "$url/v1/health"
check "writers write after the restart" wait_for 30 written_at_least $((n1 + 40))
touch stop
wait "$w1" "$w2"

cat log1 log2 >log
awk '{ print $1, $2 }' log >list
echo "$(wc -l <list) files written by 2 writers"
eq "cp that returned non-zero" "$(awk '$3 != 0' log | wc -l)" 0
[ -s cp1.err ] || [ -s cp2.err ] && head -n 5 cp1.err cp2.err >&2
max_us=$(awk 'BEGIN { m = 0 } $4 > m { m = $4 } END { print m }' log)
echo "slowest cp: $((max_us / 1000)) ms"
check "every cp (open, write, close) took under $((MAX_CLOSE_US / 1000000)) s" test "$max_us" -lt "$MAX_CLOSE_US"
check "all files done" wait_for 120 done_at_least w "$(wc -l <list)"
check_exactly_once list
check_state "$MNT/$(head -n1 list | cut -d' ' -f1)" done
finish
