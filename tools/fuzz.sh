#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/fuzz.sh [SECONDS] [TARGET...] - build the libFuzzer targets with
# clang (ASan + UBSan) in build/fuzz and run each for SECONDS (default
# 60), starting from its checked-in corpus (tests/fuzz/corpus/TARGET; the
# corpus grown goes to build/fuzz/corpus/TARGET). Targets: wire (the
# clear datagram decoder), sealed (sealed datagrams: forgeries never open,
# sealed records round-trip, a flipped byte never opens), resp (the RESP
# request parser), node (arbitrary datagrams into a live node), node_sealed
# (the same into a node with a keyring, each datagram sealed), keyring
# (the keyring file, key and key-id parsers), stream (the stream
# channel's messages into a live node), compressed (compressed
# datagrams: the zstd frame decoder under its bound, and round trips),
# persist (--dir snapshot and log files: the record decoder, and their
# loading into a live node). Prints
# each target's executions, coverage and corpus size; exits non-zero on
# any crash, leak or undefined behaviour, leaving the input in
# build/fuzz/crashes/ -- add it to tests/fuzz/corpus/TARGET/ so CTest
# replays it from then on (fuzz_replay_TARGET).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(wire sealed resp node node_sealed keyring stream compressed persist)
case $secs in
'' | *[!0-9]*)
	echo "fuzz.sh: SECONDS must be a whole number, got '$secs'" >&2
	exit 2
	;;
esac

tools/bootstrap.sh >/dev/null
command -v clang >/dev/null || {
	echo "fuzz.sh: clang not found (tools/bootstrap.sh installs it)" >&2
	exit 1
}
jobs=$(nproc 2>/dev/null || echo 2)
CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DGV_SANITIZE=asan -DGV_FUZZ=ON -DGV_WERROR=OFF -DGV_MIMALLOC=OFF \
	>/dev/null
cmake --build build/fuzz -j "$jobs" --target \
	"${targets[@]/#/fuzz_}" >/dev/null

mkdir -p build/fuzz/crashes
status=0
for t in "${targets[@]}"; do
	corpus=build/fuzz/corpus/$t
	mkdir -p "$corpus"
	log=build/fuzz/$t.log
	echo "fuzz.sh: $t for ${secs}s"
	rc=0
	# node: an input's time grows with its datagrams; weight the
	# corpus by speed so that a few slow inputs do not set the pace
	extra=()
	case $t in node*) extra=(-entropic_scale_per_exec_time=1) ;; esac
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"build/fuzz/tests/fuzz_$t" -max_total_time="$secs" \
		-print_final_stats=1 -timeout=10 -rss_limit_mb=4096 \
		-artifact_prefix="build/fuzz/crashes/$t-" "${extra[@]}" \
		"$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" |
		grep -o '[0-9]*$' || echo "?")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' ||
		echo "?")
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' ||
		echo "?")
	n=$(find "$corpus" -type f | wc -l)
	if [ "$rc" -ne 0 ]; then
		echo "fuzz.sh: $t FAILED (exit $rc): see $log and build/fuzz/crashes/"
		grep -E "ERROR|SUMMARY|runtime error" "$log" | head -5 || true
		status=1
	else
		echo "fuzz.sh: $t ok: $execs executions, coverage $cov edges, $ft features, corpus $n"
	fi
done
exit $status
