# shellcheck shell=bash
# Several hosts on one machine, sourced after lib.sh: each host is a network namespace
# of this test's own (HP<pid>-NAME), wired to a bridge in a switch namespace, with an
# address in 10.199.0.0/24 that exists only inside these namespaces. Commands run on
# a host through `nsenter --net` only, so a FUSE mount made on a host is visible to the
# test. A link is cut with an nft drop table inside the host (this kernel has no
# netem) and healed by deleting it. Everything is removed at cleanup, even on failure.
HP="hio$$"
HOSTS=()     # names made by host_add
HOST_PIDS=() # background jobs started on hosts, killed at cleanup

command -v ip >/dev/null || { echo "FAIL: ip (iproute2) is missing: bash scripts/deps" >&2; exit 1; }
command -v nft >/dev/null || { echo "FAIL: nft (nftables) is missing: bash scripts/deps" >&2; exit 1; }
command -v nsenter >/dev/null || { echo "FAIL: nsenter (util-linux) is missing" >&2; exit 1; }

# kill_host H: every process of host H dies at once, as in a power cut. All are stopped
# first (twice round, for a child forked meanwhile), then killed: killed one by one, a
# PE could see its analysis die first and store that message as failed ("killed by
# signal 9") before its own turn came, which no real host death does.
kill_host() {
	local p
	for p in $(ip netns pids "$HP-$1") $(ip netns pids "$HP-$1"); do kill -STOP "$p" 2>/dev/null; done
	for p in $(ip netns pids "$HP-$1"); do kill -9 "$p" 2>/dev/null; done
}

eval "_hosts_prev_cleanup() $(declare -f cleanup | tail -n +2)"
cleanup() {
	local h p
	for p in "${HOST_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for h in "${HOSTS[@]}"; do
		on "$h" "$HIO" down --state-dir "$T/$h/state" >/dev/null 2>&1
	done
	# Whatever still runs inside a host (a daemon of a failed start) goes with it.
	for h in "${HOSTS[@]}"; do
		for p in $(ip netns pids "$HP-$h" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	done
	for h in "${HOSTS[@]}"; do
		[ -d "$T/$h/mnt" ] && { fusermount3 -u -z "$T/$h/mnt" 2>/dev/null || true; }
	done
	for h in "${HOSTS[@]}" sw; do ip netns del "$HP-$h" 2>/dev/null; done
	for h in "${HOSTS[@]}"; do
		# A sanitizer report of a daemon on any host fails the test.
		if sanitizer_reports "$T/$h" >/dev/null; then
			echo "FAIL: sanitizer reports on $h:" >&2
			sanitizer_reports "$T/$h" | xargs head -c 6000 >&2
			FAILS=$((FAILS + 1))
		fi
		if [ "$FAILS" -ne 0 ]; then
			for f in "$T/$h"/state/*.log; do
				[ -f "$f" ] && { echo "--- $h: $f (tail)"; tail -n 30 "$f"; }
			done >&2
		fi
	done
	_hosts_prev_cleanup
}
trap cleanup EXIT

# The switch: one bridge that every host's link plugs into.
hosts_net() {
	ip netns add "$HP-sw" || return 1
	ip -n "$HP-sw" link add br0 type bridge || return 1
	ip -n "$HP-sw" link set br0 up
}

# host_add NAME N: a host with address 10.199.0.N, its own dir $T/NAME (state, logs).
host_add() {
	local h=$1 n=$2
	ip netns add "$HP-$h" || return 1
	HOSTS+=("$h")
	ip -n "$HP-sw" link add "v-$h" type veth peer name eth0 netns "$HP-$h" || return 1
	ip -n "$HP-sw" link set "v-$h" master br0 up
	ip -n "$HP-$h" addr add "10.199.0.$n/24" dev eth0
	ip -n "$HP-$h" link set eth0 up
	ip -n "$HP-$h" link set lo up
	mkdir -p "$T/$h/state"
	eval "IP_$h=10.199.0.$n"
}
host_ip() { eval "echo \$IP_$1"; }

# on HOST CMD...: runs CMD in HOST's network, with its own state dir and sanitizer logs.
on() {
	local h=$1
	shift
	HIO_STATE_DIR="$T/$h/state" \
		ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$T/$h/asan" \
		UBSAN_OPTIONS="print_stacktrace=1:log_path=$T/$h/ubsan" \
		nsenter --net="/run/netns/$HP-$h" -- "$@"
}

# host_cut HOST / host_heal HOST: drops every packet to and from HOST's link (loopback stays).
host_cut() {
	ip netns exec "$HP-$1" nft -f - <<-EOF
		table inet hio_cut {
			chain in { type filter hook input priority -300; policy drop; iif lo accept; }
			chain out { type filter hook output priority -300; policy drop; oif lo accept; }
		}
	EOF
}
host_heal() { ip netns exec "$HP-$1" nft delete table inet hio_cut; }
# host_cut_between A B: drops only what goes between hosts A and B (both directions, on A).
host_cut_between() {
	local b
	b=$(host_ip "$2")
	ip netns exec "$HP-$1" nft -f - <<-EOF
		table inet hio_cut_$2 {
			chain in { type filter hook input priority -300; ip saddr $b drop; }
			chain out { type filter hook output priority -300; ip daddr $b drop; }
		}
	EOF
}
host_heal_between() { ip netns exec "$HP-$1" nft delete table inet "hio_cut_$2"; }
# host_refuse_between A B: A's TCP connections to B are refused at once (a reset, as
# from a firewall or a PE address that is wrong), and counted; host_refused A B prints
# how many were tried; host_heal_between A B ends it.
host_refuse_between() {
	ip netns exec "$HP-$1" nft -f - <<-EOF
		table inet hio_cut_$2 {
			chain out { type filter hook output priority -300; ip daddr $(host_ip "$2") meta l4proto tcp tcp flags & (syn | ack) == syn counter reject with tcp reset; }
		}
	EOF
}
host_refused() {
	ip netns exec "$HP-$1" nft list table inet "hio_cut_$2" | sed -n 's/.*counter packets \([0-9]*\).*/\1/p'
}

# Status as seen from HOST (its state dir knows the master's URL and the token).
hstatus() { on "$1" "$HIO" status --json; }
# pes_idle_on HOST_IP N: at least N idle PEs advertise HOST_IP.
pes_idle_at() {
	[ "$(hstatus master | jq --arg h "$1" '[.pes[] | select(.state == "idle" and .host == $h)] | length')" -ge "$2" ]
}
