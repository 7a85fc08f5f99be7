#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/run.sh - set up, build in Release and run the main job.
#
# The main job: `gvbench sim --table` (dissemination on the simulated
# network, N = 10 .. 10000), the loopback UDP ceiling and 150 nodes
# converging on real sockets (gvbench ceiling, converge), then the core
# micro-benchmarks (bench_core); about 45 s. gvbench throughput, partition
# and churn arrive later. With arguments, runs `gvbench "$@"` instead.
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

# Real sockets: the loopback ceiling, then 150 nodes converging through
# io_uring, eager and pushpull.
real=results/real.jsonl
: >"$real"
"$bin/bench/gvbench" ceiling --seconds 1 --json "$real"
"$bin/bench/gvbench" converge --nodes 150 --mode eager --updates 50 --json "$real"
"$bin/bench/gvbench" converge --nodes 150 --mode pushpull --updates 20 --json "$real"
echo "run.sh: JSON lines written to $real"
echo "run.sh: (gvbench throughput, partition and churn arrive later)"

echo "run.sh: core micro-benchmarks (bench_core)"
out=results/bench_core.jsonl
: >"$out"
for b in store dedup; do
	"$bin/bench/bench_core" "$b" | tee -a "$out"
done
echo "run.sh: JSON lines written to $out"
