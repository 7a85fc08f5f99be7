#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/test.sh - set up, build and run every test. Exits non-zero on any
# failure.
#
# Passes: 1. dev (Debug): the whole suite;
#         2. asan (ASan + UBSan): the whole suite again;
#         3. tsan: the concurrency tests (CTest label "concurrency");
#         4. fuzz: each libFuzzer target for GV_FUZZ_SECONDS (default 10)
#            with clang, ASan and UBSan (tools/fuzz.sh); a crash fails.
# (The checked-in fuzz corpus is also replayed by CTest in passes 1-2.)
# Set GV_TEST_QUICK=1 to run only the dev pass.
set -uo pipefail
cd "$(dirname "$0")/.."

tools/bootstrap.sh || exit 1
jobs=$(nproc 2>/dev/null || echo 2)
total_pass=0
total_fail=0
status=0

# run_pass PRESET [ctest args...]
run_pass() {
	local preset=$1
	shift
	echo "=== test.sh: $preset: configure and build"
	if ! cmake --preset "$preset" >/dev/null ||
		! cmake --build --preset "$preset" -j "$jobs"; then
		echo "=== test.sh: $preset: BUILD FAILED"
		status=1
		total_fail=$((total_fail + 1))
		return
	fi
	echo "=== test.sh: $preset: ctest"
	local log
	log=$(mktemp)
	ctest --preset "$preset" -j "$jobs" "$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local line
	line=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -n 1)
	if [ -n "$line" ]; then
		local failed total
		failed=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\1/' <<<"$line")
		total=$(sed -E 's/.* ([0-9]+) tests failed out of ([0-9]+).*/\2/' <<<"$line")
		local skipped
		skipped=$(grep -cE '\*\*\*Skipped|Not Run' "$log" || true)
		total_pass=$((total_pass + total - failed - skipped))
		total_fail=$((total_fail + failed))
		echo "=== test.sh: $preset: $line"
	elif [ "$rc" -ne 0 ]; then
		total_fail=$((total_fail + 1))
	fi
	rm -f "$log"
	[ "$rc" -eq 0 ] || status=1
}

run_pass dev
if [ "${GV_TEST_QUICK:-0}" != "1" ]; then
	run_pass asan
	run_pass tsan -L concurrency
	echo "=== test.sh: fuzz: tools/fuzz.sh ${GV_FUZZ_SECONDS:-10}"
	nfuzz=9 # wire sealed resp node node_sealed keyring stream compressed persist
	if tools/fuzz.sh "${GV_FUZZ_SECONDS:-10}"; then
		total_pass=$((total_pass + nfuzz))
		echo "=== test.sh: fuzz: $nfuzz targets, no crash"
	else
		total_fail=$((total_fail + 1))
		status=1
		echo "=== test.sh: fuzz: FAILED"
	fi
fi

echo "=== test.sh: summary (all passes)"
echo "${total_pass} passed, ${total_fail} failed"
exit $status
