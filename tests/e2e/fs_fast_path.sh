#!/usr/bin/env bash
# The mount's fast paths on one host (docs/fs.md, "Passthrough"; docs/protocol.md,
# "Local handover"), and the rules they bring:
#  1. files written through the kernel's FUSE passthrough and handed to the local PEs
#     as descriptors are each processed once with their sha256 (the metrics say both
#     paths were taken, so this cannot pass over the old ones);
#  2. a file read while it is written reads back what was written; rewriting it while
#     that reader still holds it works as on a local disk (the reader sees the new
#     bytes), with the first version with the connector but unsent (the cluster is
#     frozen): it is copied apart and processed with its own bytes;
#  3. past the spool's limit a passthrough writer's close fails with ENOSPC and the
#     file is not streamed; on a full disk its write fails too; either way nothing
#     accepted is lost and the next file streams;
#  4. a local connection to a PE without the ticket is refused, as on TCP;
#  5. an input over 1 MiB handed over on this host is read in place by the run-as
#     analysis (a link to the spooled file, the PE metric says so): the analysis cannot
#     change it, and a rewrite while the analysis holds it leaves its bytes alone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

FS2_PID='' MNT2="$T/mnt2" SP2="$T/spool2"
eval "_fs_cleanup() $(declare -f cleanup | tail -n +2)"
cleanup() {
	if [ -n "$FS2_PID" ]; then
		kill "$FS2_PID" 2>/dev/null
		wait "$FS2_PID" 2>/dev/null
		mountpoint -q "$MNT2" && { fusermount3 -u "$MNT2" 2>/dev/null || umount -l "$MNT2"; }
	fi
	mountpoint -q "$SP2" && umount -l "$SP2"
	_fs_cleanup
}

# fs_up_seen's command, and for inputs named w*: log the name in $T/w/started, wait
# for $T/w/go (the test rewrites the input meanwhile), try to append to the input, and
# log whether that worked in $T/w/tries; then the sha256 as for every input.
# shellcheck disable=SC2016 # expanded by the PE's shell
w_cmd='case $HIO_NAME in w*) W='"$T/w"'; echo "$HIO_NAME" >>$W/started
	i=0; while [ ! -e $W/go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
	if (echo tampered >>"$HIO_INPUT") 2>/dev/null; then r=wrote; else r=refused; fi
	echo "$HIO_NAME $r" >>$W/tries ;; esac
	h=$(sha256sum "$HIO_INPUT" | cut -c1-64); echo "$HIO_NAME $h" >>'"$SEEN"'; echo "$h"'
# Two PEs throughout: the autoscaler stopping an idle one would take its metrics along.
if ! { seen_reset && fs_up "$w_cmd" --min-pes 2 --max-pes 2 && seen_reset; }; then
	fail "hio up --mount"
	finish
fi
cd "$T" || exit 1
for t in python3 curl getfattr; do
	command -v "$t" >/dev/null || { fail "$t is missing (bash scripts/deps)"; finish; }
done
# metric URL NAME: the value of an unlabelled metric of the daemon serving URL.
metric() {
	curl -sf -H "Authorization: Bearer $(cat "$STATE/metrics-token")" "$1" |
		awk -v n="$2" '$1 == n { print $2 }'
}
fs_metrics=$(grep -o 'metrics at http://[^ ]*' "$STATE/fs.log" | head -1 | cut -d' ' -f3)
check "hio-fs serves /metrics" test -n "$fs_metrics"

# ---- 1. the fast paths, exactly once
mkdir -p src
: >list
for i in $(seq 1 20); do head -c $((1 << 20)) /dev/urandom >"src/m$i"; done
for i in 1 2; do head -c $((5 << 20)) /dev/urandom >"src/b$i"; done
for i in $(seq 1 20); do head -c $((i * 997)) /dev/urandom >"src/s$i"; done
check "cp of 42 files into the mount" cp src/* "$MNT/"
for f in src/*; do echo "${f#src/} $T/$f" >>list; done
check "42 inputs done" wait_for 60 done_at_least "" 42
check "spool drains" wait_for 60 spool_empty
results_json >results.json
eq "result entries" "$(jq length results.json)" 42
eq "inputs without exactly one result entry" "$(names_not_once list)" 0
eq "messages the PEs processed (seen log)" "$(wc -l <"$SEEN")" 42
check "results/ lists 42 stdout files" wait_for 15 listed_at_least "" 42
eq "results whose stdout is not the input's sha256" "$(bad_results list)" 0
pt=$(metric "$fs_metrics" hio_fs_passthrough)
if [ "$pt" = 1 ]; then
	n=$(metric "$fs_metrics" hio_fs_passthrough_opens_total)
	check "every file opened in passthrough ($n of 42)" test "${n:-0}" -ge 42
else
	# A kernel before 6.9, no CAP_SYS_ADMIN, or a container that denies the ioctl.
	check "hio-fs says why passthrough is off (metric '$pt')" \
		grep -q 'passthrough: unavailable' "$STATE/fs.log"
	grep -o 'passthrough: unavailable.*' "$STATE/fs.log" | head -1
fi
# A file that waited a second for a free PE went to the backlog instead.
n=$(metric "$fs_metrics" hio_fs_files_handed_over_total)
p2p=$(curl -sf -H "Authorization: Bearer $(cat "$STATE/metrics-token")" "$fs_metrics" |
	awk '$1 == "hio_fs_files_sent_total{via=\"p2p\"}" { print $2 }')
check "files handed to the local PEs as descriptors: some ($n)" test "${n:-0}" -ge 1
eq "files handed over as descriptors, of those sent to PEs" "$n" "$p2p"

# ---- 2. a reader during the write; a rewrite while it holds the old version
# The cluster is frozen meanwhile (SIGSTOP), so the first version is still in the
# spool when the rewrite comes.
wpid=$(cat "$STATE/worker.pid")
for p in $(cat "$STATE/master.pid") "$wpid" $(pgrep -P "$wpid"); do
	[ "$p" -gt 1 ] && kill -STOP "$p" && FS_STOPPED+=("$p")
done
python3 - "$MNT/r" >py.out 2>&1 <<'EOF'
import os, sys, time
p = sys.argv[1]
w = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(w, b"first version\n" * 1000)
r = os.open(p, os.O_RDONLY)
got = os.read(r, 1 << 20)
print("read while written:", len(got), got == b"first version\n" * 1000)
os.close(w)
# The first version is committed and with the connector (so the rewrite cannot
# supersede it: it must go out with its own bytes); the state says so.
deadline = time.time() + 10
while time.time() < deadline:
    try:
        if os.getxattr(p, "user.hio.state") == b"sent":
            break
    except OSError:
        pass
    time.sleep(0.01)
print("first version:", os.getxattr(p, "user.hio.state"))
# As on a local disk: the rewrite opens, and the reader sees the new bytes.
w = os.open(p, os.O_WRONLY | os.O_TRUNC)
os.write(w, b"second version\n")
os.close(w)
print("rewrite with the reader open: ok")
print("the reader reads:", os.pread(r, 100, 0))
os.close(r)
EOF
cat py.out
v1=$(python3 -c 'import sys; sys.stdout.buffer.write(b"first version\n" * 1000)' | sha256sum | cut -c1-64)
kept=0
for f in "$STATE"/spool/out/*; do
	case $f in *.json) continue ;; esac
	[ "$(sha256sum <"$f" | cut -c1-64)" = "$v1" ] && kept=$((kept + 1))
done
eq "unsent first versions of r in the spool with their own bytes" "$kept" 1
for p in "${FS_STOPPED[@]}"; do kill -CONT "$p"; done
FS_STOPPED=()
check "a reader sees what is being written" grep -q 'read while written: 14000 True' py.out
check "a rewrite with that reader still open works" grep -q 'rewrite with the reader open: ok' py.out
if [ "$pt" = 1 ]; then
	check "the reader then reads the new bytes, as on a local disk" \
		grep -q "the reader reads: b'second version" py.out
else
	check "without passthrough the reader keeps the version it opened" \
		grep -q "the reader reads: b'first version" py.out
fi
check "the first version was with the connector before the rewrite" grep -q "first version: b'sent'" py.out
want=$(printf 'second version\n' | sha256sum | cut -c1-64)
r_done() { [ "$(cut -c1-64 "$MNT/results/r/stdout" 2>/dev/null)" = "$want" ]; }
check "r's result is its second version's sha256" wait_for 30 r_done
check "master idle after r" "$HIO" wait --timeout 60 --state-dir "$STATE"
n=$(grep -c '^r ' "$SEEN")
eq "versions of r processed" "$n" 2
eq "r's first version was processed with its own bytes" "$(grep -c "^r $v1" "$SEEN")" 1

# ---- 3. the spool's limit and a full disk, with passthrough
# A second mount of the same cluster on a 96 MiB tmpfs spool, where a writer goes
# passthrough with 16 MiB free (the default asks 1 GiB): first with a 48 MiB limit,
# then, remounted on the same spool, with a limit larger than the disk.
mkdir -p "$SP2" "$MNT2"
mount -t tmpfs -o size=96m tmpfs "$SP2" || { fail "cannot mount a tmpfs on $SP2"; finish; }
m2up() { test -d "$MNT2/results"; }
mount2() {
	"$HIO_BUILD/fs/hio-fs" -f --token-file "$STATE/token" --spool "$SP2" --spool-max "$1" \
		--passthrough-reserve 16M --pipeline default \
		"$(cat "$STATE/master.url")" "$MNT2" 2>>fs2.log &
	FS2_PID=$!
	check "second mount up (limit $1)" wait_for 15 m2up
}
umount2() {
	kill "$FS2_PID"
	wait "$FS2_PID"
	FS2_PID=''
	! mountpoint -q "$MNT2"
}
# ok_file NAME MiB: a fresh file of that size through the second mount, processed.
ok_file() {
	head -c $(($2 << 20)) /dev/urandom >"src/$1"
	check "cp of $1 ($2 MiB) into the second mount" cp "src/$1" "$MNT2/$1"
	check "$1 done" wait_for 30 done_at_least "$1" 1
	eq "$1's result" "$(cut -c1-64 "$MNT2/results/$1/stdout" 2>/dev/null)" \
		"$(sha256sum <"src/$1" | cut -c1-64)"
}
mount2 48M
ok_file ok1 8
# refused NAME MiB WHAT WHY: a dd of that many MiB into the second mount fails with
# ENOSPC and, with passthrough, hio-fs logs WHY for the failed close.
refused() {
	local rc
	timeout -k 5 60 dd if=/dev/urandom of="$MNT2/$1" bs=1M count="$2" 2>"dd-$1.err"
	rc=$?
	echo "dd of $2 MiB $3: exit $rc: $(tr '\n' ' ' <"dd-$1.err")"
	check "dd $3 fails" test "$rc" -ne 0 -a "$rc" -ne 124
	check "dd $3 says: No space left on device" grep -q 'No space left on device' "dd-$1.err"
	if [ "$pt" = 1 ]; then
		check "hio-fs says why the close of $1 failed" grep -q "$4" fs2.log
	fi
}
refused over 64 "past the 48 MiB limit" "more than the spool's limit has room for"
rm -f "$MNT2/over"
ok_file ok2 4
check "second mount stops and unmounts" umount2
mount2 1G
refused full 200 "onto the 96 MiB disk" "a write may have failed"
check "hio-fs says full was not streamed" grep -q 'not streaming /full' fs2.log
rm -f "$MNT2/full"
ok_file ok3 4
check "master idle" "$HIO" wait --timeout 60 --state-dir "$STATE"
eq "results of the refused files (over, full)" \
	"$(results_json | jq '[.[] | select(.name == "over" or .name == "full")] | length')" 0
eq "pipeline failed" "$(pfield default failed)" 0

# ---- 4. the local socket wants the ticket too
# Every live PE is tried until one answers: the autoscaler may be stopping an idle one.
pes=$(status_json | jq -r '[.pes[] | select(.state == "idle" or .state == "busy") | .id] | join(" ")')
echo "PEs $pes"

# shellcheck disable=SC2086 # one argument per PE
python3 - $pes >hello.out 2>&1 <<'EOF'
import json, socket, struct, sys
for pe in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect("\0hio-pe/" + pe)
    except OSError as e:
        print("PE", pe, "not reachable:", e)
        continue
    break
else:
    sys.exit("no PE reachable")
meta = json.dumps({"token": "not-the-ticket", "pipeline": "default"}).encode()
s.sendall(b"HIO1" + bytes([1, 0, 0, 0]) + struct.pack(">IQ", len(meta), 0) + meta)
s.settimeout(10)
data = b""
while len(data) < 20:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print("answer type", data[4] if len(data) > 4 else None)
print(data[20:].decode(errors="replace"))
EOF
cat hello.out
check "a local HELLO without the ticket gets ERROR unauthorized" \
	grep -q 'unauthorized' hello.out

# ---- 5. read in place: linked, read-only, untouched by a rewrite
# pe_linked: hio_pe_inputs_linked_total summed over the PEs the master knows.
pe_linked() {
	local tok u
	tok=$(cat "$STATE/metrics-token")
	u=$(cat "$STATE/master.url")
	curl -sf -H "Authorization: Bearer $tok" "$u/v1/metrics/targets" |
		jq -r '.[] | select(.labels.job == "hio-pe") | .targets[0]' |
		while read -r a; do curl -sf -H "Authorization: Bearer $tok" "http://$a/metrics"; done |
		awk '$1 == "hio_pe_inputs_linked_total" { s += $2 } END { print s + 0 }'
}
ho0=$(metric "$fs_metrics" hio_fs_files_handed_over_total)
ln0=$(pe_linked)
: >"$T/w/started"
: >"$T/w/tries"
chmod 666 "$T/w/started" "$T/w/tries"
head -c $((3 << 20)) /dev/urandom >src/w1
head -c $((3 << 20)) /dev/urandom >src/w1b
chmod 644 src/w1 src/w1b
check "cp of w1 (3 MiB) into the mount" cp src/w1 "$MNT/w1"
w1_started() { grep -qx w1 "$T/w/started"; }
check "the analysis holds w1" wait_for 30 w1_started
check "w1 rewritten while the analysis holds it" cp src/w1b "$MNT/w1"
touch "$T/w/go"
check "master idle after w1" "$HIO" wait --timeout 60 --state-dir "$STATE"
check "spool drains after w1" wait_for 30 spool_empty
sha() { sha256sum <"$1" | cut -c1-64; }
cat "$T/w/tries"
eq "w1 versions the analysis could append to" "$(grep -c ' wrote$' "$T/w/tries")" 0
eq "w1 versions whose analysis was refused the append" "$(grep -c '^w1 refused$' "$T/w/tries")" 2
eq "w1's first version processed with its own bytes" "$(grep -c "^w1 $(sha src/w1)$" "$SEEN")" 1
eq "w1's second version processed with its own bytes" "$(grep -c "^w1 $(sha src/w1b)$" "$SEEN")" 1
eq "w1 in the mount is the second version" "$(sha "$MNT/w1")" "$(sha src/w1b)"
w1_result() { [ "$(cut -c1-64 "$MNT/results/w1/stdout" 2>/dev/null)" = "$(sha src/w1b)" ]; }
check "w1's result is its second version's sha256" wait_for 15 w1_result
eq "w1's versions handed over as descriptors" \
	"$(($(metric "$fs_metrics" hio_fs_files_handed_over_total) - ho0))" 2
eq "w1's versions the PEs linked rather than copied" "$(($(pe_linked) - ln0))" 2
finish
