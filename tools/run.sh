#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/run.sh - set up, build in Release and run the main job.
#
# The main job will be the local cluster benchmark (gvbench). Until the
# benchmark driver exists, it runs what does exist: the core
# micro-benchmarks (bench_core), and says so.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/bootstrap.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"

mkdir -p results
bin=build/release
if [ -x "$bin/bench/gvbench" ]; then
	exec "$bin/bench/gvbench" "$@"
fi
echo "run.sh: gvbench (the cluster benchmark) does not exist yet;"
echo "run.sh: running the core micro-benchmarks instead (bench_core)."
out=results/bench_core.jsonl
: >"$out"
for b in store dedup; do
	"$bin/bench/bench_core" "$b" | tee -a "$out"
done
echo "run.sh: JSON lines written to $out"
