#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/run.sh - set up, build in Release and run the main job.
#
# The main job, about a minute on a 2-core machine, all on real loopback
# UDP sockets through io_uring (the default suite of issue 5):
#   gvbench converge   --nodes 150 (eager under 10,000 background writes/s,
#                      then pushpull with 100 ms rounds)
#   gvbench throughput --nodes 8 --max (measures the loopback ceiling first)
#   gvbench partition  --nodes 150 (50/100 split, 100 ms probes)
#   gvbench join       --nodes 1000 --seeds 1 (a join storm; a cluster
#                      that does not form is reported, the job goes on)
# then prints the summary table (tools/summary.py). JSON lines and PNGs go
# to results/ (git-ignored): results/suite.jsonl, results/*.png.
#
#   tools/run.sh          the main job
#   tools/run.sh --all    also `gvbench sim --table`, `gvbench churn`, a
#                         short `gvbench cache` (grapevined against Redis
#                         replication at N = 1, 2) and the core
#                         micro-benchmarks (bench_core), ~3 min more
#   tools/run.sh ARGS...  run `gvbench ARGS...` instead (after the build)
set -euo pipefail
cd "$(dirname "$0")/.."

tools/bootstrap.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"

mkdir -p results
bin=build/release
all=0
if [ "${1:-}" = "--all" ]; then
	all=1
	shift
fi
if [ "$#" -gt 0 ]; then
	exec "$bin/bench/gvbench" "$@"
fi

gvb="$bin/bench/gvbench"
out=results/suite.jsonl
: >"$out"
echo "run.sh: gvbench converge --nodes 150 (eager at 10,000 background" \
	"writes/s, pushpull)"
"$gvb" converge --nodes 150 --fanout 3 --mode eager --background-ups 10000 \
	--updates 100 --json "$out" --plot results/converge_eager.png
"$gvb" converge --nodes 150 --mode pushpull --interval-ms 100 --updates 20 \
	--json "$out" --plot results/converge_pushpull.png
echo "run.sh: gvbench throughput --nodes 8 --max"
"$gvb" throughput --nodes 8 --max --budget-s 25 --json "$out" \
	--plot results/throughput.png
echo "run.sh: gvbench partition --nodes 150"
"$gvb" partition --nodes 150 --json "$out"
echo "run.sh: gvbench join --nodes 1000 --seeds 1"
"$gvb" join --nodes 1000 --seeds 1 --seconds 30 --json "$out" \
	--plot results/join.png ||
	echo "run.sh: gvbench join: the cluster did not form (see above)"

if [ "$all" = 1 ]; then
	echo "run.sh: gvbench churn --nodes 50 --kill 5 --restart --probe-ms 100"
	"$gvb" churn --nodes 50 --kill 5 --restart --probe-ms 100 --json "$out"
	echo "run.sh: gvbench cache --nodes 1,2 --seconds 2 --pipeline 1,16"
	"$gvb" cache --nodes 1,2 --seconds 2 --pipeline 1,16 --json "$out" \
		--plot results/cache
	echo "run.sh: gvbench sim --table"
	"$gvb" sim --table --json results/sim_table.jsonl
	echo "run.sh: core micro-benchmarks (bench_core)"
	: >results/bench_core.jsonl
	for b in store dedup; do
		"$bin/bench/bench_core" "$b" | tee -a results/bench_core.jsonl
	done
fi

echo
python3 tools/summary.py "$out"
echo "run.sh: JSON lines in $out, plots in results/*.png"
