#!/usr/bin/env bash
# A peer that has not authenticated cannot hold a PE (SPEC, Security; issue 14): three
# connections per PE that never say HELLO, each reconnecting as soon as it is dropped,
# run through a 300-file hio send. The PEs drop them within their HELLO deadline
# without giving up their one session, so the sender is never refused "busy" (before,
# each idle connection held the PE for 10 s), files still go peer to peer, every file
# has its result, and a flood beyond PE_PENDING_MAX is cut off at accept.
. "$(dirname "$0")/lib.sh"
N=300
ATTACK_PIDS=()
eval "_lib_cleanup() $(declare -f cleanup | tail -n +2)"
cleanup() {
	local p
	for p in "${ATTACK_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	_lib_cleanup
}

"$HIO" up --pes 2 --state-dir "$STATE" --exec 'sha256sum "$HIO_INPUT" | cut -c1-64' >/dev/null ||
	{ fail "hio up"; finish; }
check "hio scale 2 (autoscaler off)" "$HIO" scale 2
cd "$T" || exit 1
mkdir -p data
for i in $(seq 1 $N); do head -c $((500 + i * 37)) /dev/urandom >"data/f$i"; done

# idle HOST PORT: connects, says nothing, and connects again once dropped (the PE
# closes it at its HELLO deadline; holding it is the attack, not a wait for anything).
idle() {
	while :; do
		exec 3<>"/dev/tcp/$1/$2" || { sleep 0.2; continue; }
		cat <&3 >/dev/null
		exec 3<&-
	done
}
while read -r host port; do
	for k in 1 2 3; do
		idle "$host" "$port" 2>/dev/null &
		ATTACK_PIDS+=($!)
	done
done < <(status_json | jq -r '.pes[] | select(.state == "idle") | "\(.host) \(.port)"')
eq "attackers (3 per PE)" "${#ATTACK_PIDS[@]}" 6
# The attack is on: the PEs have dropped idle connections already.
dropped() { grep -q "sent no HELLO within" "$STATE"/worker.log; }
check "the PEs drop connections that say no HELLO" wait_for 30 dropped

"$HIO" send data >sent.txt 2>send.err
check "hio send under attack exits 0" test $? -eq 0
eq "acknowledged" "$(wc -l <sent.txt)" $N
via_pe=$(grep -c ' via pe$' sent.txt)
echo "under attack: $via_pe of $N files went peer to peer (the rest spilled while both PEs were busy)"
# The sender's sessions were never refused: no idle connection held a PE's session.
# (Before, each one held it for 10 s and the PE answered the sender "busy".)
eq "sessions the PEs refused as busy" "$(grep -c "refused: a session is already active" "$STATE"/worker.log)" 0
# How many go P2P rather than spill depends on the machine's load (68 of 300 were seen
# at a load of 24): the check is that the attack did not shut P2P out, and the busy
# refusals above are the precise one.
check "files still went peer to peer ($via_pe of $N)" test "$via_pe" -gt 0
check "hio wait" "$HIO" wait --timeout 120
eq "done" "$(pfield default done)" $N
eq "sampled results that differ from their file's sha256" "$(sha_mismatches sent.txt 20)" 0

# A flood: far more connections than PE_PENDING_MAX (16) at once; the PE closes the
# excess at accept and stays usable.
for k in $(seq 1 40); do
	read -r host port < <(status_json | jq -r '.pes[0] | "\(.host) \(.port)"')
	idle "$host" "$port" 2>/dev/null &
	ATTACK_PIDS+=($!)
done
cut_off() { grep -q "connections have not said HELLO yet" "$STATE"/worker.log; }
check "a flood beyond 16 pending connections is cut off at accept" wait_for 30 cut_off
mkdir -p more
for i in $(seq 1 20); do head -c 999 /dev/urandom >"more/m$i"; done
"$HIO" send more >more.txt 2>more.err
check "hio send during the flood exits 0" test $? -eq 0
eq "acknowledged during the flood" "$(wc -l <more.txt)" 20
finish
