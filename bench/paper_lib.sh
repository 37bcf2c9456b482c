# shellcheck shell=bash
# Shared by bench/fig4, fig6 and fig7 (the paper's experiments, section IV): a pinned
# cluster of W workers x P PEs, the time hio takes to process a directory sent with
# `hio send`, the time the same analysis takes without hio (`xargs -P` over the same
# files, one `sh -c` per file with the same HIO_* variables), and gnuplot.
# Sourced with B (the build dir) set; sets W (the work dir, removed at exit).
set -euo pipefail
# Figures must not depend on a config file of the machine (docs/operations.md).
export HIO_CONFIG=none
hio=$B/hio/hio
GFP=$B/examples/hio-gfp
SIM=$B/examples/hio-microscope-sim
[ -x "$GFP" ] && [ -x "$SIM" ] || {
	echo "no $GFP or $SIM: build first (meson setup build --buildtype=release && ninja -C build)" >&2
	exit 1
}
if ! command -v gnuplot >/dev/null; then
	echo "installing gnuplot-nox (bash scripts/deps)" >&2
	bash "$(dirname "${BASH_SOURCE[0]}")/../scripts/deps" >&2
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/hio-paper.XXXXXX")
# Readable by the analyses, which run as users of their own when this runs as root.
chmod 755 "$W"
REPS=${REPS:-2}
# The second worker's pid is kept in a file: timings run in $(...) subshells.
cluster_down() {
	local pid
	"$hio" down --state-dir "$W/state" >/dev/null 2>&1 || true
	if [ -f "$W/worker2.pid" ]; then
		pid=$(cat "$W/worker2.pid")
		kill "$pid" 2>/dev/null || true
		while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
		rm -f "$W/worker2.pid"
	fi
	rm -rf "$W/state" "$W/worker2"
}
trap 'cluster_down; rm -rf "$W"' EXIT
export HIO_LOG=error

now() { date +%s.%N; }
status() { "$hio" status --json --state-dir "$W/state"; }
finished() { status | jq '[.pipelines[] | select(.name == "default") | .done + .failed] | add // 0'; }
failed() { status | jq '[.pipelines[] | select(.name == "default") | .failed] | add // 0'; }
idle_on_each() { # WORKERS PES: every worker runs PES idle PEs
	status | jq -e --argjson w "$1" --argjson p "$2" \
		'[.pes[] | select(.state == "idle") | .worker] | group_by(.) | map(length) |
		 length == $w and all(. == $p)' >/dev/null
}

# cluster_up WORKERS PES CMD: hio up starts the master, one worker and its PEs; a second
# worker joins by hand, each capped at PES, and the pipeline is pinned to WORKERS x PES
# (min = max) so that no autoscaler changes the count during a run.
cluster_up() {
	local workers=$1 pes=$2 cmd=$3 total=$(($1 * $2)) url
	"$hio" up --state-dir "$W/state" --pes "$pes" --min-pes "$pes" --max-pes "$pes" \
		--exec "$cmd" >/dev/null
	if [ "$workers" = 2 ]; then
		url=$(cat "$W/state/master.url")
		mkdir -p "$W/worker2"
		"$B/worker/hio-worker" --master "$url" --token-file "$W/state/token" --runtime process \
			--max-pes "$pes" --state-dir "$W/worker2" --name worker2 \
			>"$W/worker2.log" 2>&1 &
		echo $! >"$W/worker2.pid"
		curl -sf -X POST -H "Authorization: Bearer $(cat "$W/state/token")" \
			-H 'Content-Type: application/json' \
			-d "{\"pes\": $total, \"min_pes\": $total, \"max_pes\": $total}" \
			"$url/v1/pipelines/default" >/dev/null
	fi
	local end=$((SECONDS + 60))
	until idle_on_each "$workers" "$pes"; do
		[ $SECONDS -lt $end ] || { echo "cluster: $workers x $pes PEs not idle in 60 s" >&2; exit 1; }
		sleep 0.1
	done
}

# hio_time DIR COUNT: seconds from the start of `hio send DIR` until the master counts
# COUNT inputs finished (polled every 0.05 s). Fails when any failed.
hio_time() {
	local t0 t1 end
	t0=$(now)
	"$hio" send --state-dir "$W/state" "$1" >/dev/null
	end=$((SECONDS + 300))
	while [ "$(finished)" -lt "$2" ]; do
		[ $SECONDS -lt $end ] || { echo "hio: $(finished) of $2 finished after 300 s" >&2; exit 1; }
		sleep 0.05
	done
	t1=$(now)
	[ "$(failed)" = 0 ] || { echo "hio: $(failed) inputs failed" >&2; exit 1; }
	echo "$t1 - $t0" | bc -l
}

# hio_run WORKERS PES CMD DIR COUNT: hio_time on a fresh pinned cluster.
hio_run() {
	cluster_up "$1" "$2" "$3"
	hio_time "$4" "$5"
	cluster_down
}

# best FUNCTION ARGS...: the lowest of REPS timings. This host is shared with other
# builds and tests; their load only ever adds time, so the minimum is the estimate.
best() {
	local b='' t
	for _ in $(seq 1 "$REPS"); do
		t=$("$@")
		if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
	done
	echo "$b"
}

# median VALUES...: the middle one (of an odd count; the lower middle of an even one).
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }

# xargs_time DIR P CMD: the same analysis without hio: P at a time, each file in its
# own output directory with HIO_INPUT, HIO_NAME, HIO_OUTPUT set, stdout kept.
xargs_time() {
	local t0 t1
	rm -rf "$W/xout" && mkdir -p "$W/xout"
	t0=$(now)
	# shellcheck disable=SC2016 # expanded by the per-file shell
	find "$1" -type f -print0 | XOUT=$W/xout XCMD=$3 xargs -0 -P "$2" -n 1 sh -c \
		'o=$(mktemp -d "$XOUT/o.XXXXXX") && HIO_INPUT=$1 HIO_NAME=$1 HIO_OUTPUT=$o sh -c "$XCMD" >"$o/stdout"' sh
	t1=$(now)
	rm -rf "$W/xout"
	echo "$t1 - $t0" | bc -l
}

# sim_images DIR N MB: N images of MB (2.5, 5, 10) from the microscope simulator, 8
# wells (half positive), as many time points as needed; exactly N files kept.
sim_images() {
	local times=$((($2 + 7) / 8))
	"$SIM" --wells 8 --times "$times" --size "$3" "$1" >/dev/null
	find "$1" -type f | sort | tail -n +$(($2 + 1)) | xargs -r rm -f
	[ "$(find "$1" -type f | wc -l)" -eq "$2" ]
}

# subset SRC DEST N: hard links to the first N files of SRC (same names) in DEST.
subset() {
	rm -rf "$2" && mkdir -p "$2"
	(cd "$1" && find . -type f | sort | head -n "$3" | xargs cp -l --parents -t "$2")
}
