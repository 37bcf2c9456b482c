#!/usr/bin/env bash
# Runs each libFuzzer target of tests/fuzz for a bounded time on a copy of its kept
# corpus (the tree's corpus never grows in CI), prints executions and coverage per
# target, and fails on any crash, leak, timeout or out-of-memory, naming the reproducer.
#   tests/fuzz/run.sh [TARGET...]     default: every target
#   HIO_FUZZ_TIME=S   seconds per target (default 10: the suite stays under 30 minutes)
#   HIO_FUZZ_BUILD=D  the clang -Dfuzz=true build dir (default build-fuzz)
# A missing clang or libFuzzer runtime is a failure, never a silent pass.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
secs=${HIO_FUZZ_TIME:-10}
build=${HIO_FUZZ_BUILD:-build-fuzz}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_frame fuzz_names fuzz_master_req)

command -v clang >/dev/null || { echo "fuzz: clang is missing (bash scripts/deps)"; exit 1; }
if [ ! -f "$build/build.ninja" ]; then
	rm -rf "$build"
	CC=clang nice -n 10 meson setup "$build" -Dfuzz=true -Db_lundef=false -Dwerror=true \
		>"/tmp/hio-fuzz-setup.$$" 2>&1 ||
		{ tail -n 20 "/tmp/hio-fuzz-setup.$$"; rm -f "/tmp/hio-fuzz-setup.$$"; echo "fuzz: meson setup failed"; exit 1; }
	rm -f "/tmp/hio-fuzz-setup.$$"
fi
# Only the targets and what they link: the rest of the tree is not needed here. A
# missing libclang_rt.fuzzer fails this link.
if ! nice -n 10 ninja -C "$build" "${targets[@]/#/tests/fuzz/}" >"$build/fuzz-ninja.out" 2>&1; then
	tail -n 40 "$build/fuzz-ninja.out"
	echo "fuzz: build failed (libFuzzer needs libclang-rt-14-dev: bash scripts/deps)"
	exit 1
fi

work=$(mktemp -d /tmp/hio-fuzz.XXXXXX)
failed=0
for t in "${targets[@]}"; do
	mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
	cp tests/fuzz/corpus/"$t"/* "$work/$t/corpus/"
	log="$work/$t/log"
	# -timeout: one input over 10 s is a hang; -rss_limit_mb: a blow-up fails, not swaps.
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
		nice -n 10 "$build/tests/fuzz/$t" -max_total_time="$secs" -rss_limit_mb=2048 \
		-timeout=10 -print_final_stats=1 -artifact_prefix="$work/$t/artifacts/" \
		"$work/$t/corpus" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
	repro=$(ls "$work/$t/artifacts/" 2>/dev/null | head -n 1)
	if [ "$rc" != 0 ] || [ -n "$repro" ]; then
		failed=$((failed + 1))
		grep -E -A 25 'ERROR|property failed|deadly signal|timeout|out-of-memory' "$log" | head -n 60
		echo "$t: FAIL (exit $rc) after ${execs:-?} executions"
		if [ -n "$repro" ]; then
			mkdir -p "$top/$build/fuzz-artifacts"
			cp "$work/$t/artifacts/$repro" "$top/$build/fuzz-artifacts/$t-$repro"
			echo "  reproducer: $top/$build/fuzz-artifacts/$t-$repro"
			echo "  replay: $build/tests/fuzz/$t $top/$build/fuzz-artifacts/$t-$repro"
		fi
	else
		echo "$t: ${execs:-?} executions in ${secs} s (${rate:-?}/s), ${cov:-no coverage line}"
	fi
done
rm -rf "$work"
[ "$failed" = 0 ]
