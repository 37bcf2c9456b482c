# A private one-node SLURM (munged, slurmctld, slurmd) in a temp dir, for
# tests/e2e/slurm.sh and bench/slurm. Source it, then `slurm_start DIR NCPUS`; the
# caller's EXIT trap must call `slurm_stop`. Exports SLURM_CONF so sbatch, squeue,
# scancel (and hio-worker) talk to this cluster only.

# Installs Debian's slurm-wlm and munge when missing. 1 with the reason on stderr.
slurm_install() {
	local p
	for p in sbatch squeue scancel slurmctld slurmd munged mungekey; do
		command -v "$p" >/dev/null 2>&1 && continue
		echo "slurm_lib: $p missing; installing slurm-wlm and munge" >&2
		if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq slurm-wlm munge; } >"${SLURM_DIR:-/tmp}/apt.log" 2>&1; then
			echo "slurm_lib: cannot install slurm-wlm and munge:" >&2
			tail -n 5 "${SLURM_DIR:-/tmp}/apt.log" >&2
			return 1
		fi
		break
	done
	for p in sbatch squeue scancel slurmctld slurmd munged mungekey; do
		command -v "$p" >/dev/null 2>&1 || { echo "slurm_lib: no $p after install" >&2; return 1; }
	done
	[ "$(id -u)" -eq 0 ] || { echo "slurm_lib: slurmd must run as root" >&2; return 1; }
}

# A free loopback TCP port (bound to 0, the kernel's pick).
slurm_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# slurm_start DIR NCPUS: starts the daemons; 1 when the cluster does not come up.
slurm_start() {
	SLURM_DIR=$1
	local ncpus=$2 node ctl_port d_port i
	node=$(hostname -s)
	mkdir -p "$SLURM_DIR"/{ctld,d,munge,log}
	# munged runs as its own user and must reach its socket, key and log.
	chmod o+x "$(dirname "$SLURM_DIR")" "$SLURM_DIR"
	chmod 700 "$SLURM_DIR/munge"
	chown munge:munge "$SLURM_DIR/munge"
	mungekey -c -f -k "$SLURM_DIR/munge/munge.key" >/dev/null 2>&1 ||
		dd if=/dev/urandom of="$SLURM_DIR/munge/munge.key" bs=1024 count=1 2>/dev/null
	chown munge:munge "$SLURM_DIR/munge/munge.key"
	chmod 400 "$SLURM_DIR/munge/munge.key"
	runuser -u munge -- munged --socket="$SLURM_DIR/munge/sock" \
		--key-file="$SLURM_DIR/munge/munge.key" --pid-file="$SLURM_DIR/munge/pid" \
		--log-file="$SLURM_DIR/munge/log" --seed-file="$SLURM_DIR/munge/seed" --force ||
		{ echo "slurm_lib: munged did not start" >&2; return 1; }
	ctl_port=$(slurm_free_port)
	d_port=$(slurm_free_port)
	cat >"$SLURM_DIR/slurm.conf" <<CONF
ClusterName=hiotest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
AuthType=auth/munge
AuthInfo=socket=$SLURM_DIR/munge/sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$SLURM_DIR/ctld
SlurmdSpoolDir=$SLURM_DIR/d
SlurmctldPidFile=$SLURM_DIR/ctld.pid
SlurmdPidFile=$SLURM_DIR/d.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
DefMemPerCPU=256
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerParameters=sched_interval=1
MinJobAge=300
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$node NodeAddr=127.0.0.1 CPUs=$ncpus RealMemory=4096 State=UNKNOWN
PartitionName=hio Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
	export SLURM_CONF="$SLURM_DIR/slurm.conf"
	slurmctld -f "$SLURM_CONF" -i || { echo "slurm_lib: slurmctld did not start" >&2; return 1; }
	slurmd -f "$SLURM_CONF" -N "$node" || { echo "slurm_lib: slurmd did not start" >&2; return 1; }
	for i in $(seq 1 300); do
		if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
			# Kept here too: a caller's cleanup may remove DIR before slurm_stop.
			SLURM_PIDS=$(cat "$SLURM_DIR"/d.pid "$SLURM_DIR"/ctld.pid \
				"$SLURM_DIR"/munge/pid 2>/dev/null | tr '\n' ' ')
			return 0
		fi
		sleep 0.1
	done
	echo "slurm_lib: the node did not become idle in 30 s:" >&2
	sinfo -N 2>&1 | head >&2
	tail -n 20 "$SLURM_DIR/log/slurmctld.log" "$SLURM_DIR/log/slurmd.log" >&2
	return 1
}

slurm_stop() {
	[ -n "${SLURM_DIR:-}" ] || return 0
	local pids pid i
	# Callers may run under set -e: nothing here may fail the caller's exit.
	[ -n "${SLURM_CONF:-}" ] && { scancel --full -u root >/dev/null 2>&1 || true; }
	# slurmd first (it ends the jobs' steps), munged last (the others talk to it).
	pids="$(cat "$SLURM_DIR"/d.pid "$SLURM_DIR"/ctld.pid "$SLURM_DIR"/munge/pid \
		2>/dev/null | tr '\n' ' ') ${SLURM_PIDS:-}"
	for pid in $pids; do
		kill "$pid" 2>/dev/null || continue
		for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	done
	SLURM_DIR=
	return 0
}
