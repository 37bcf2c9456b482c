#!/usr/bin/env bash
# A hostile analysis goes after the credentials and the other messages (SPEC, Security;
# issue 14): it reads its parent's command line, environment and descriptors, every
# process's environment, the state dir's credentials, the PE credential files, the
# other PE's scratch, and tries to change its own input and the PE's files. The PEs run
# as root, so each analysis runs as a user of its own: it gets no credential and no other
# input's bytes into any result, its only descriptors are 0, 1 and 2, and every input
# is done once. Before, it read HIO_TOKEN from /proc/$PPID/environ and the token file
# named on hio-pe's command line.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CRED="$ROOT/tests/tools/cred.py"
N=20
cd "$T" || exit 1
[ "$(id -u)" -eq 0 ] || { fail "this test runs the PEs as root (it is run as uid $(id -u))"; finish; }

mkdir -p data
for i in $(seq 1 $N); do
	{ echo "MARK-$i-MARK"; head -c $((3000 + i * 41)) /dev/urandom; } >"data/f$i"
done

# The attack. The paths it tries are what an attacker on the machine knows or finds;
# the test writes them where the analysis can read them.
cat >attack.sh <<'EOF'
out="$HIO_OUTPUT"
loot="$out/loot"
: >"$loot"
grab() { # grab WHAT FILE: appends FILE's bytes, or "WHAT: denied"
	if [ -r "$2" ] && cat "$2" >>"$loot" 2>/dev/null; then
		echo "" >>"$loot"; echo "$1: read" >>"$out/report"
	else
		echo "$1: denied" >>"$out/report"
	fi
}
id -u >"$out/uid"
sleep 0.2 # long enough for the messages to spread over both PEs
# The PE: the parent of the /bin/sh -c that runs this script.
pe=$(cut -d' ' -f4 "/proc/$PPID/stat")
echo "$pe" >"$out/pe_pid"
grab parent-cmdline "/proc/$pe/cmdline"
grab parent-environ "/proc/$pe/environ"
for f in /proc/$pe/fd/*; do grab parent-fd "$f"; done
for f in /proc/[0-9]*/environ; do grab environ "$f"; done
while read -r f; do grab target "$f"; done <"$TARGETS"
# The credential file named on the parent's command line (a path, not the token).
f=$(tr '\0' '\n' <"/proc/$pe/cmdline" | sed -n '/^--token-file$/{n;p;}')
[ -n "$f" ] && grab cmdline-file "$f"
# Everything below the worker's workdir: credentials, the other PE's inputs.
find "$WORKDIR" -type f 2>/dev/null | while read -r f; do grab workdir "$f"; done
# Its own input is read-only to it; the PE's files are not its to write.
if echo tamper >>"$HIO_INPUT" 2>/dev/null; then echo "input: written" >>"$out/report"; fi
sha256sum "$HIO_INPUT" | cut -c1-64
EOF
# The descriptors the command starts with, seen by a process /bin/sh -c runs first.
cat >fds.py <<'EOF'
import os
fds = sorted(int(x) for x in os.listdir("/proc/self/fd"))
with open(os.path.join(os.environ["HIO_OUTPUT"], "fds"), "w") as f:
    f.write("%s\n" % fds)
EOF
chmod 644 attack.sh fds.py

# The cluster's credentials and the PE credential files, as an attacker would guess them.
"$HIO" up --pes 2 --min-pes 2 --max-pes 2 --state-dir "$STATE" --exec 'true' >"$T/url" ||
	{ fail "hio up"; finish; }
WD=$(worker_workdir) || { fail "the worker's workdir is not found"; finish; }
{
	echo "$STATE/token"; echo "$STATE/join-token"; echo "$STATE/metrics-token"
	find "$WD" -path '*/.credentials/*'
	for p in master worker; do echo "/proc/$(cat "$STATE/$p.pid")/environ"; done
} >targets.txt
chmod 644 targets.txt
check "the PE credential files exist (so the attack has something to find)" \
	test "$(find "$WD" -path '*/.credentials/*' | wc -l)" -eq 2
check "hio pipeline set (the attack)" "$HIO" pipeline set default \
	--exec "python3 '$T/fds.py'; TARGETS='$T/targets.txt' WORKDIR='$WD' sh '$T/attack.sh'"
"$HIO" send data >sent.txt 2>send.err
check "hio send exits 0" test $? -eq 0
check "hio wait" "$HIO" wait --timeout 180
eq "done" "$(pfield default done)" $N
eq "failed" "$(pfield default failed)" 0

# Every secret the cluster has: the token, the derived credentials, each PE's own.
status_json | jq -r '.pes[].id' >pes.txt
{
	cat "$STATE/token"; echo
	python3 "$CRED" "$STATE/token" join
	python3 "$CRED" "$STATE/token" metrics
	while read -r p; do
		python3 "$CRED" "$STATE/token" pe "$p"
		python3 "$CRED" "$STATE/token" p2p "$p"
	done <pes.txt
} | grep . >secrets.txt
eq "secrets known to the test (token, join, metrics, each PE's and its ticket)" \
	"$(wc -l <secrets.txt)" $((3 + 2 * $(wc -l <pes.txt)))

mkdir -p got
leaks=0 cross=0 badsha=0
for i in $(seq 1 $N); do
	"$HIO" results get "data/f$i" "got/$i" >/dev/null 2>&1 || fail "results get data/f$i"
	[ "$(cat "got/$i/stdout" 2>/dev/null)" = "$(sha256sum <"data/f$i" | cut -c1-64)" ] ||
		badsha=$((badsha + 1))
	grep -rqFf secrets.txt "got/$i" && leaks=$((leaks + 1))
	grep -rqF "hio-pe." "got/$i" && leaks=$((leaks + 1))
	for j in $(seq 1 $N); do
		[ "$j" = "$i" ] && continue
		grep -rqaF "MARK-$j-MARK" "got/$i" && cross=$((cross + 1))
	done
done
eq "results whose stdout is not their input's sha256" "$badsha" 0
eq "results holding a credential" "$leaks" 0
eq "results holding another input's bytes" "$cross" 0
eq "inputs the analysis could write to" "$(cat got/*/report | grep -c '^input: written')" 0
# What it tried and was refused: each kind, in every message.
for what in parent-environ target cmdline-file; do
	eq "$what reads that succeeded" "$(cat got/*/report | grep -c "^$what: read")" 0
done
check "the parent's environment was tried (and refused)" \
	test "$(cat got/*/report | grep -c '^parent-environ: denied')" -eq $N
check "the credential files named on the PE's command line were tried" \
	test "$(cat got/*/report | grep -c '^cmdline-file: denied')" -ge $N
# listdir's own descriptor is the 3.
eq "descriptors the analysis starts with" "$(cat got/*/fds | sort -u)" "[0, 1, 2, 3]"
# One user per PE, none shared, none root.
"$HIO" results --json | jq -r '.[] | "\(.name) \(.pe)"' >by_pe.txt
while read -r name pe; do echo "$pe $(cat "got/${name#data/f}/uid")"; done <by_pe.txt | sort -u >pe_uid.txt
eq "PEs with more than one analysis user" "$(cut -d' ' -f1 pe_uid.txt | uniq -d | wc -l)" 0
eq "analysis users shared by two PEs" "$(cut -d' ' -f2 pe_uid.txt | sort | uniq -d | wc -l)" 0
eq "analyses run as root" "$(cut -d' ' -f2 pe_uid.txt | grep -cx 0)" 0
eq "PEs that ran the attack" "$(wc -l <pe_uid.txt)" 2
eq "the parent each analysis found is its PE (hio-pe)" \
	"$(for i in $(seq 1 $N); do cat "/proc/$(cat "got/$i/pe_pid")/comm" 2>/dev/null; done | sort -u)" hio-pe
finish
