#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/run.sh - set up, build in Release and run the main job.
#
# The main job: `gvbench sim --table` (dissemination on the simulated
# network, N = 10 .. 10000), then the core micro-benchmarks (bench_core).
# The real-socket cluster benchmark (gvbench converge, throughput, ...)
# arrives later. With arguments, runs `gvbench "$@"` instead.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/bootstrap.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"

mkdir -p results
bin=build/release
if [ "$#" -gt 0 ]; then
	exec "$bin/bench/gvbench" "$@"
fi

sim=results/sim_table.jsonl
: >"$sim"
"$bin/bench/gvbench" sim --table --json "$sim"
echo "run.sh: JSON lines written to $sim"

echo "run.sh: the real-socket cluster benchmark (gvbench converge, throughput,"
echo "run.sh: partition, churn, ceiling) arrives later; running the core"
echo "run.sh: micro-benchmarks (bench_core)."
out=results/bench_core.jsonl
: >"$out"
for b in store dedup; do
	"$bin/bench/bench_core" "$b" | tee -a "$out"
done
echo "run.sh: JSON lines written to $out"
