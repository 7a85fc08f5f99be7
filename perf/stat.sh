#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# perf/stat.sh - counters of a gvbench scenario: perf stat where the
# hardware counters work, callgrind instruction counts where they do not.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: perf/stat.sh [--repeat N] [--callgrind] SCENARIO

SCENARIO is a name from the table in perf/hyperfine.sh (perf/hyperfine.sh
--list shows them) or a quoted gvbench command line, e.g.
  perf/stat.sh sim-pushpull-50
  perf/stat.sh 'gvbench sim --nodes 150 --updates 20'

Runs perf stat -e cycles,instructions,context-switches (N runs, mean and
spread). Where the hardware counters are not supported (virtual machines:
`perf stat -e instructions true` says <not supported>) it says so and
counts instructions with valgrind --tool=callgrind instead: the total (Ir)
and the top functions. Instruction counts repeat exactly for the same
binary and input, so they are the figures to compare across commits on a
noisy machine; for fixed-length runs (ceiling, converge) compare them per
datagram or per update, not in total.

  --repeat N    perf stat runs (default 5; callgrind runs once)
  --callgrind   use callgrind even where the counters work

Writes results/perf/NAME.stat.txt, or NAME.callgrind.out and
NAME.callgrind.txt. gvbench is built with the release preset when missing
(GVBENCH=path overrides).
EOF
}

me=perf/stat.sh
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"

cd "$(dirname "$0")/.."
repeat=5 force_cg=0 scenario=
while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help) usage; exit 0 ;;
	--repeat) repeat=${2:?--repeat needs a value}; shift 2 ;;
	--callgrind) force_cg=1; shift ;;
	-*) echo "perf/stat.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	*) [ -z "$scenario" ] || { echo "perf/stat.sh: one SCENARIO only (quote a command line)" >&2; exit 2; }
	   scenario=$1; shift ;;
	esac
done
[ -n "$scenario" ] || { usage >&2; exit 2; }

gvbench_bin
resolve_scenario "$scenario"

out=results/perf
mkdir -p "$out"

use_cg=$force_cg
if [ "$use_cg" = 0 ]; then
	if ! command -v perf >/dev/null; then
		echo "perf not found (apt-get install linux-perf): counting with callgrind instead"
		use_cg=1
	elif probe=$(perf stat -x, -e instructions true 2>&1) &&
		! grep -q '<not supported>\|<not counted>' <<<"$probe"; then
		:
	else
		echo "hardware counters not supported here (perf stat -e instructions true: <not supported>): counting instructions with callgrind instead"
		use_cg=1
	fi
fi

if [ "$use_cg" = 0 ]; then
	echo "perf stat: $bin $cmd ($repeat runs)"
	perf stat -r "$repeat" -e cycles,instructions,context-switches \
		-o "$out/$name.stat.txt" -- "$bin" "${argv[@]}" >"$out/$name.out"
	cat "$out/$name.stat.txt"
	echo "wrote $out/$name.stat.txt"
	exit 0
fi

command -v valgrind >/dev/null ||
	die "valgrind not found (apt-get install valgrind, or tools/bootstrap.sh)"
command -v callgrind_annotate >/dev/null ||
	die "callgrind_annotate not found (it comes with valgrind)"
echo "callgrind: $bin $cmd (one run; valgrind is ~50x slower)"
valgrind --tool=callgrind --callgrind-out-file="$out/$name.callgrind.out" \
	-- "$bin" "${argv[@]}" >"$out/$name.out" 2>"$out/$name.valgrind.log" ||
	die "valgrind failed: see $out/$name.valgrind.log"
{
	grep -E "Collected" "$out/$name.valgrind.log" || true
	callgrind_annotate "$out/$name.callgrind.out" 2>/dev/null | head -40
} >"$out/$name.callgrind.txt"
cat "$out/$name.callgrind.txt"
echo "wrote $out/$name.callgrind.out and $out/$name.callgrind.txt (callgrind_annotate for more)"
