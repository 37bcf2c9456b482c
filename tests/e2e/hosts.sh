#!/usr/bin/env bash
# Several hosts, set up only with the documented commands (docs/deploy.md) and the
# master's URL and a token file: a master, two compute hosts and an instrument PC, each
# in its own network namespace. 150 files through the mount and 150 through hio send
# come back correct, and the PEs advertise their hosts' addresses, never loopback.
# Refused with one line: a loopback --advertise towards a remote master.
# Faults: a busy compute host cut off for 15 s mid-stream (every input exactly once,
# its PEs back within 10 s of the heal: the bound is 5 s, bench/hosts measures it; a
# loaded CI machine gets twice that); a silent host death (cut, then everything on it
# killed): acks resume within 10 s, the send ends, every input exactly once; the
# instrument PC cut off from the master only: hio wait neither returns 0 nor hangs;
# kill -9 of a busy PE, of a compute host's worker and PEs (then hio join again), of
# the master (then hio master again), of hio-fs (then hio mount again): every input
# exactly once, correct, and hio wait truthful.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/hosts_lib.sh"
N=${HOSTS_N:-150}
CMD='sha256sum "$HIO_INPUT" | cut -c1-64'

# A container without CAP_NET_ADMIN cannot make hosts: say so and skip (tests/run
# names every skip); on a machine, as root, this runs.
if ! hosts_net 2>"$T/netns.err"; then
	echo "SKIP: cannot make network namespaces here: $(tail -1 "$T/netns.err")"
	cleanup
	trap - EXIT
	exit 77
fi
host_add master 1 && host_add c1 11 && host_add c2 12 && host_add inst 21 ||
	{ fail "cannot make the host namespaces"; finish; }

# The master: listening on every address, it prints a URL the other hosts can use.
on master "$HIO" master --listen 0.0.0.0:7700 >"$T/url" 2>"$T/master.hint" ||
	{ fail "hio master: $(cat "$T/master.hint")"; finish; }
URL=$(cat "$T/url")
eq "the master's URL is its host's address" "$URL" "http://$(host_ip master):7700"
check "hio master prints the join line" grep -q "hio join $URL --token-file" "$T/master.hint"
# The credentials travel to each host (as a lab would scp them): the join credential
# to the compute hosts, the cluster token to the instrument PC.
for h in c1 c2; do install -m 0600 "$T/master/state/join-token" "$T/$h/token"; done
install -m 0600 "$T/master/state/token" "$T/inst/token"
check "the compute hosts' file is a join credential" grep -q '^hio-join\.' "$T/c1/token"
check "hio pipeline set" on master "$HIO" pipeline set default --exec "$CMD" --pes 4 --min-pes 4 --max-pes 4

# A loopback advertise cannot work for a remote master: one line that says what to change.
on c1 "$HIO" join "$URL" --token-file "$T/c1/token" --advertise 127.0.0.1 2>"$T/adv.err"
check "join --advertise 127.0.0.1 is refused" test $? -ne 0
check "and the reason names the flag" grep -q -- '--advertise 127.0.0.1 is loopback' "$T/adv.err"
eq "in one line" "$(wc -l <"$T/adv.err")" 1
# The master refuses it too, whatever the client: a worker and a PE that register
# 127.0.0.1 from c1 get a 400 that names the fix; nothing is listed.
for what in "workers/0123456789abcdef0123456789abcdef:PUT:{\"name\":\"x\",\"host\":\"127.0.0.1\",\"max_pes\":1}" \
	"pes/0123456789abcdef0123456789abcdef/register:POST:{\"pipeline\":\"default\",\"host\":\"127.0.0.1\",\"port\":9}"; do
	IFS=: read -r path method body <<<"$what"
	code=$(on c1 curl -s -o "$T/lo.json" -w '%{http_code}' -X "$method" \
		-H "Authorization: Bearer $(cat "$T/inst/token")" -d "$body" "$URL/v1/$path")
	eq "the master refuses a loopback registration ($method /v1/$path) from c1" "$code" 400
	check "and says what to change" grep -q -- "is loopback.*give this host's address" "$T/lo.json"
done
eq "nothing loopback is listed" "$(hstatus master | jq '[.workers[], .pes[] | select(.host == "127.0.0.1")] | length')" 0

for h in c1 c2; do
	on "$h" "$HIO" join "$URL" --token-file "$T/$h/token" --max-pes 2 >"$T/$h/join.out" 2>&1 ||
		fail "hio join on $h: $(cat "$T/$h/join.out")"
done
check "2 idle PEs advertise c1's address" wait_for 60 pes_idle_at "$(host_ip c1)" 2
check "2 idle PEs advertise c2's address" wait_for 60 pes_idle_at "$(host_ip c2)" 2
eq "no PE advertises loopback" "$(hstatus master | jq '[.pes[] | select(.host | startswith("127."))] | length')" 0

# The instrument PC: a mount against the remote master, and hio send from there.
check "hio mount" on inst "$HIO" mount "$URL" "$T/inst/mnt" --token-file "$T/inst/token"
MNT="$T/inst/mnt"
mkdir -p "$T/src/mnt" "$T/src/send"
for i in $(seq 1 $N); do
	head -c $((2000 + i * 997)) /dev/urandom >"$T/src/mnt/f$i.bin"
	head -c $((3000 + i * 613)) /dev/urandom >"$T/src/send/g$i.bin"
done
mkdir -p "$MNT/plate"
cp "$T/src/mnt"/*.bin "$MNT/plate/" || fail "cp into the mount"
(cd "$T/src" && on inst "$HIO" send send >"$T/sent.txt" 2>"$T/send.err")
check "hio send from the instrument PC" test $? -eq 0
eq "hio send acknowledged lines" "$(wc -l <"$T/sent.txt")" "$N"
check "hio wait (instrument PC)" on inst "$HIO" wait --timeout 120

on master "$HIO" results --json >"$T/results.json"
eq "mount results done" "$(jq '[.[] | select(.state == "done" and (.name | startswith("plate/")))] | length' "$T/results.json")" "$N"
eq "send results done" "$(jq '[.[] | select(.state == "done" and (.name | startswith("send/")))] | length' "$T/results.json")" "$N"
bad=0
for i in $(seq 1 $N); do
	want=$(sha256sum <"$T/src/mnt/f$i.bin" | cut -c1-64)
	got=$(cat "$MNT/results/plate/f$i.bin/stdout" 2>&1)
	[ "$got" = "$want" ] || { bad=$((bad + 1)); [ $bad -le 3 ] && echo "  plate/f$i.bin: want $want, got '$got'" >&2; }
done
eq "mount results read through results/ that differ from the file's sha256" "$bad" 0
bad=0
for i in $(seq 1 $N); do
	rm -rf "$T/get"
	on inst "$HIO" results get "send/g$i.bin" "$T/get" >/dev/null 2>&1
	[ "$(cat "$T/get/stdout" 2>/dev/null)" = "$(sha256sum <"$T/src/send/g$i.bin" | cut -c1-64)" ] ||
		bad=$((bad + 1))
done
eq "send results that differ from the file's sha256" "$bad" 0
# The data went host to host: what the master received beyond the backlog's share
# (messages no PE was free for) is metadata and results, under 1% of the files' bytes.
total=$(cat "$T/src/mnt"/*.bin "$T/src/send"/*.bin | wc -c)
read -r rx blog < <(hstatus master | jq -r '"\(.counters.rx_bytes) \(.counters.backlog_bytes)"')
echo "files $total bytes; the master received $rx, of which $blog for its backlog"
check "the master carried no P2P data (under 1 KiB a message beside the backlog's)" \
	test $((rx - blog)) -lt $((2 * N * 1024))

# A compute host cut off for 15 s during a stream: nothing lost, nothing doubled.
mkdir -p "$T/src/cut"
for i in $(seq 1 $N); do head -c $((5000 + i * 211)) /dev/urandom >"$T/src/cut/h$i.bin"; done
(cd "$T/src" && on inst "$HIO" send cut >"$T/cut.txt" 2>"$T/cut.err") &
send_pid=$!
HOST_PIDS+=("$send_pid")
acked() { [ "$(wc -l <"$T/cut.txt")" -ge "$1" ]; }
check "messages flow before the cut" wait_for 60 acked 10
c2_pes() { hstatus master | jq -r --arg h "$(host_ip c2)" '[.pes[] | select(.host == $h and (.state == "idle" or .state == "busy")) | .id] | sort | join(",")'; }
c2_before=$(c2_pes)
host_cut c2
cut_at=$SECONDS
sleep 15 # the fault itself: how long the host stays cut off
host_heal c2
heal_at=$SECONDS
wait_for 60 pes_idle_at "$(host_ip c2)" 2
back=$((SECONDS - heal_at))
echo "c2's PEs idle again $back s after the heal"
check "c2's PEs are idle again within 10 s of the heal ($back s)" test "$back" -le 10
# The same PEs: the master, which gave them up during the cut, counts them again when
# the worker lists them, and neither starts extra ones (which the full worker would
# refuse) nor stops healthy ones.
eq "c2 kept its PEs through the cut" "$(c2_pes)" "$c2_before"
eq "starts c2's worker refused around the cut" "$(grep -c "refusing to start PE" "$T/c2/state/worker.log")" 0
wait "$send_pid"
check "hio send through the cut exits 0" test $? -eq 0
check "hio wait after the cut" on inst "$HIO" wait --timeout 120
on master "$HIO" results --json >"$T/results2.json"
eq "cut: inputs with a result" "$(jq '[.[] | select(.name | startswith("cut/"))] | length' "$T/results2.json")" "$N"
eq "cut: done" "$(jq '[.[] | select(.state == "done" and (.name | startswith("cut/")))] | length' "$T/results2.json")" "$N"
bad=0
for i in $(seq 1 $N); do
	grep -q "cut/h$i.bin" "$T/cut.txt" || bad=$((bad + 1))
done
eq "cut: acknowledged lines missing" "$bad" 0
echo "cut lasted $((heal_at - cut_at)) s"

# The instrument PC cut off from the master only: files written meanwhile wait in its
# spool, and hio wait (on the master) says it waits for that silent mount instead of
# returning 0; after the heal they go out and hio wait returns 0.
host_cut_between inst master
mkdir -p "$MNT/iso"
for i in $(seq 1 20); do head -c $((1000 + i * 97)) /dev/urandom >"$MNT/iso/i$i.bin"; done
on master "$HIO" wait --timeout 8 2>"$T/iso_wait.err"
check "hio wait during the cut does not return 0" test $? -ne 0
check "it names the silent mount it waits for" grep -q "silent for" "$T/iso_wait.err"
on master "$HIO" status >"$T/iso_status.txt" 2>&1
check "hio status shows the mount as silent" grep -qE "^$MNT .* silent [0-9]+s " "$T/iso_status.txt" || cat "$T/iso_status.txt" >&2
host_heal_between inst master
check "hio wait after the heal" on master "$HIO" wait --timeout 60
eq "isolated mount's files done" "$(on master "$HIO" results --json | jq '[.[] | select(.state == "done" and (.name | startswith("iso/")))] | length')" 20

# A silent host death: c1 cut off, then everything on it killed, mid-stream. Its
# in-flight messages go elsewhere within 10 s, the send ends within its give-up, and
# every input has exactly one result.
mkdir -p "$T/src/death"
for i in $(seq 1 $N); do head -c $((4000 + i * 173)) /dev/urandom >"$T/src/death/d$i.bin"; done
(cd "$T/src" && on inst "$HIO" send death >"$T/death.txt" 2>"$T/death.err") &
send_pid=$!
HOST_PIDS+=("$send_pid")
dacked() { [ "$(wc -l <"$T/death.txt")" -ge "$1" ]; }
check "messages flow before the death" wait_for 60 dacked 10
# The mount streams at the same time: what it held on c1 must leave its spool too.
mkdir -p "$MNT/dm"
for i in $(seq 1 30); do head -c $((3000 + i * 57)) /dev/urandom >"$MNT/dm/m$i.bin"; done
host_cut c1
kill_host c1
death_at=$SECONDS
n_at_death=$(wc -l <"$T/death.txt")
# Progress resumes on c2 alone: more acks than at the death within 10 s.
more_acks() { [ "$(wc -l <"$T/death.txt")" -gt "$n_at_death" ]; }
check "acks resume within 10 s of the death" wait_for 10 more_acks
# No sender waits forever on a dead peer: bounded here, or the test would hang.
send_ended() { ! kill -0 "$send_pid" 2>/dev/null; }
check "hio send ends within 60 s of the death" wait_for 60 send_ended
kill "$send_pid" 2>/dev/null
wait "$send_pid"
check "hio send through a host's death exits 0" test $? -eq 0
echo "the send ended $((SECONDS - death_at)) s after the death"
check "hio wait after the death" on inst "$HIO" wait --timeout 120
on master "$HIO" results --json >"$T/results3.json"
eq "death: inputs with a result" "$(jq '[.[] | select(.name | startswith("death/"))] | length' "$T/results3.json")" "$N"
eq "death: done" "$(jq '[.[] | select(.state == "done" and (.name | startswith("death/")))] | length' "$T/results3.json")" "$N"
eq "death: acknowledged lines" "$(sort -u "$T/death.txt" | wc -l)" "$N"
eq "death: the mount's files done" "$(jq '[.[] | select(.state == "done" and (.name | startswith("dm/")))] | length' "$T/results3.json")" 30
eq "death: files left in the mount's spool" "$(hstatus master | jq '[.mounts[].spooled] | add')" 0
c1_pes_gone() { [ "$(hstatus master | jq --arg h "$(host_ip c1)" '[.pes[] | select(.host == $h and .state != "gone")] | length')" = 0 ]; }
check "death: c1's PEs are gone within 10 s" wait_for $((death_at + 10 - SECONDS)) c1_pes_gone

# c1 comes back: hio join again (same state dir, so the same worker id).
host_heal c1
rm -f "$T/c1/state/"*.pid
join_at=$SECONDS
check "hio join again after the death" on c1 "$HIO" join "$URL" --token-file "$T/c1/token" --max-pes 2
# Its PEs come back within 10 s (SPEC: 5 s; bench/hosts measures it). The start
# commands the master sent while c1 was dead went into the dead worker's parked poll;
# they are acknowledged by seq, so the new worker gets them again.
check "c1's PEs idle again within 10 s of hio join" wait_for 10 pes_idle_at "$(host_ip c1)" 2
echo "c1's PEs idle $((SECONDS - join_at)) s after hio join"

# PEs the instrument PC cannot reach (c1 refuses its connections at once): the sender
# reports each to the master, which hands it out no more for 10 s, so the files go to
# c2 without a tight retry loop; every input exactly once.
host_refuse_between inst c1
mkdir -p "$T/src/unreach"
for i in $(seq 1 30); do head -c $((2000 + i * 89)) /dev/urandom >"$T/src/unreach/u$i.bin"; done
unreach_at=$SECONDS
(cd "$T/src" && on inst "$HIO" send unreach >"$T/unreach.txt" 2>"$T/unreach.err")
check "hio send with c1 unreachable exits 0" test $? -eq 0
unreach_s=$((SECONDS - unreach_at))
tries=$(host_refused inst c1)
host_heal_between inst c1
echo "with c1 unreachable: $tries connection attempts to it in $unreach_s s"
# At most one per c1 PE per 10 s (and one spare each); a retry loop makes hundreds.
check "connection attempts to unreachable PEs are bounded ($tries)" \
	test "$tries" -le $((2 * (unreach_s / 10 + 2)))
check "the master was told they are unreachable" \
	grep -q "is unreachable from a sender" "$T/master/state/master.log"
eq "unreachable: acknowledged" "$(sort -u "$T/unreach.txt" | wc -l)" 30
check "hio wait after the unreachable round" on inst "$HIO" wait --timeout 60
eq "unreachable: done, exactly once" "$(on master "$HIO" results --json | jq '[.[] | select(.state == "done" and (.name | startswith("unreach/")))] | length')" 30

# round_report NAME: what a failed count was made of: entries not done (with their
# error), and inputs without an entry, with the master's and the sender's lines on them.
round_report() {
	local name=$1 i
	jq -c --arg p "$1/" '.[] | select((.name | startswith($p)) and .state != "done")' "$T/$name.json" >&2
	for i in $(seq 1 60); do
		jq -e --arg n "$name/k$i.bin" 'any(.[]; .name == $n)' "$T/$name.json" >/dev/null && continue
		echo "no entry for $name/k$i.bin; sender: $(grep -c "k$i.bin" "$T/$name.txt") ack line(s)" >&2
		grep -h "k$i.bin" "$T/$name.err" "$T"/*/state/*.log 2>/dev/null | tail -5 >&2
	done
	return 0
}

# kill_round NAME ACTION: a stream from the instrument PC during which ACTION runs once
# 10 files are acknowledged; then every input of NAME has exactly one result, done.
kill_round() {
	local name=$1 action=$2 i
	mkdir -p "$T/src/$name"
	for i in $(seq 1 60); do head -c $((3000 + i * 131)) /dev/urandom >"$T/src/$name/k$i.bin"; done
	(cd "$T/src" && on inst "$HIO" send "$name" >"$T/$name.txt" 2>"$T/$name.err") &
	local pid=$!
	HOST_PIDS+=("$pid")
	kacked() { [ "$(wc -l <"$T/$name.txt")" -ge 10 ]; }
	check "$name: messages flow" wait_for 60 kacked || tail -5 "$T/$name.err" >&2
	$action
	ended() { ! kill -0 "$pid" 2>/dev/null; }
	check "$name: hio send ends within 90 s" wait_for 90 ended
	kill "$pid" 2>/dev/null
	wait "$pid"
	check "$name: hio send exits 0" test $? -eq 0 || tail -5 "$T/$name.err" >&2
	check "$name: hio wait" on master "$HIO" wait --timeout 60
	on master "$HIO" results --json >"$T/$name.json"
	local ndone
	ndone=$(jq --arg p "$name/" '[.[] | select(.state == "done" and (.name | startswith($p)))] | length' "$T/$name.json")
	eq "$name: inputs with exactly one entry, done" "$ndone" 60
	[ "$ndone" = 60 ] || round_report "$name"
	local bad=0
	for i in $(seq 1 60); do
		rm -rf "$T/kget"
		on master "$HIO" results get "$name/k$i.bin" "$T/kget" >/dev/null 2>&1
		[ "$(cat "$T/kget/stdout" 2>/dev/null)" = "$(sha256sum <"$T/src/$name/k$i.bin" | cut -c1-64)" ] ||
			bad=$((bad + 1))
	done
	eq "$name: results that differ from the file's sha256" "$bad" 0
}
busy_pe() {
	local p
	p=$(hstatus master | jq -r --arg h "$(host_ip c2)" '[.pes[] | select(.host == $h and .state == "busy")][0].id // empty')
	[ -n "$p" ] || p=$(hstatus master | jq -r --arg h "$(host_ip c2)" '[.pes[] | select(.host == $h)][0].id')
	pkill -9 -f -- "--id $p" || pkill -9 -f -- "$p"
}
kill_worker() {
	local p
	kill_host c2
	for p in $(ip netns pids "$HP-c2"); do wait_for 30 gone "$p"; done
	rm -f "$T/c2/state/"*.pid
	on c2 "$HIO" join "$URL" --token-file "$T/c2/token" --max-pes 2 >/dev/null 2>&1 ||
		fail "hio join after kill -9 of c2's worker"
}
# gone PID: the process has exited, all its threads too (a zombie nobody reaps counts:
# PID 1 here may not). A killed thread group's leader turns zombie while its other
# threads still exit, holding the descriptors (the listening socket) until the last.
gone() {
	[ ! -e "/proc/$1" ] && return 0
	grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null &&
		[ "$(ls "/proc/$1/task" 2>/dev/null | wc -l)" -le 1 ]
}
kill_master() {
	local pid
	pid=$(cat "$T/master/state/master.pid")
	kill -9 "$pid"
	# Its listening socket is free only once it has exited.
	wait_for 30 gone "$pid"
	rm -f "$T/master/state/master.pid"
	on master "$HIO" master --listen 0.0.0.0:7700 >"$T/mrestart.out" 2>&1 ||
		fail "hio master restart: $(cat "$T/mrestart.out")"
}
kill_mount() {
	local pid
	pid=$(cat "$T/inst/state/fs.pid")
	kill -9 "$pid"
	wait_for 30 gone "$pid"
	fusermount3 -u -z "$MNT" 2>/dev/null
	rm -f "$T/inst/state/fs.pid"
	on inst "$HIO" mount "$URL" "$MNT" --token-file "$T/inst/token" >"$T/fsrestart.out" 2>&1 ||
		fail "hio mount again after kill -9 of hio-fs: $(cat "$T/fsrestart.out")"
}
kill_round killpe busy_pe
kill_round killworker kill_worker
check "c2's PEs back after its worker's restart" wait_for 10 pes_idle_at "$(host_ip c2)" 2
kill_round killmaster kill_master
# hio-fs killed mid-stream, with files in its spool, then mounted again.
mkdir -p "$MNT/fsk"
for i in $(seq 1 40); do head -c $((2000 + i * 71)) /dev/urandom >"$MNT/fsk/m$i.bin"; done
kill_mount
check "hio wait after the remount" on master "$HIO" wait --timeout 90
eq "hio-fs killed: every file done once" \
	"$(on master "$HIO" results --json | jq '[.[] | select(.state == "done" and (.name | startswith("fsk/")))] | length')" 40
finish
