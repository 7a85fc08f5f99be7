#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# perf/callgrind.sh BENCH [OPS] - instruction count of a bench_core
# micro-benchmark under callgrind (repeatable, unlike wall time).
set -euo pipefail
cd "$(dirname "$0")/.."
bench=${1:?usage: perf/callgrind.sh store|dedup [OPS]}
ops=${2:-200000}
bin=build/release/bench/bench_core
[ -x "$bin" ] || { echo "build first: cmake --preset release && cmake --build --preset release" >&2; exit 1; }
out=$(mktemp -d)
valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" \
	"$bin" "$bench" --ops "$ops" >/dev/null 2>"$out/log"
grep -E "Collected" "$out/log" || true
callgrind_annotate "$out/cg.out" 2>/dev/null | head -30
rm -rf "$out"
