#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# perf/hyperfine.sh - wall time of whole gvbench scenarios with hyperfine.
# The scenario table below is the one place scenarios are named: record.sh
# and stat.sh read it through `perf/hyperfine.sh --list`.
set -euo pipefail

# name             timed  gvbench arguments
# (timed: y = hyperfine runs it; n = profile-only, e.g. fixed-length runs
# whose wall time says nothing)
SCENARIOS='
sim-push-50        y  sim --nodes 50 --updates 20 --mode push
sim-pull-50        y  sim --nodes 50 --updates 20 --mode pull
sim-pushpull-50    y  sim --nodes 50 --updates 20 --mode pushpull
sim-eager-50       y  sim --nodes 50 --updates 20 --mode eager
sim-pushpull-1000  y  sim --nodes 1000 --updates 20 --mode pushpull
converge-50        y  converge --nodes 50
ceiling-1400       n  ceiling --seconds 2 --threads 1
ceiling-200        n  ceiling --seconds 2 --threads 1 --payload 200
'

usage() {
	cat <<'EOF'
usage: perf/hyperfine.sh [--runs N] [--warmup N] [--only REGEX] [-- HYPERFINE_ARGS...]
       perf/hyperfine.sh --list

Times each scenario of the table at the top of this script (those marked
timed) as a whole command with hyperfine, after warm-up runs. Scenarios
whose subcommand this gvbench does not have yet are skipped, and said so.

  --runs N      timed runs per scenario (default 5)
  --warmup N    untimed runs first (default 1)
  --only REGEX  only scenarios whose name matches (grep -E)
  --list        print "name<TAB>timed<TAB>gvbench args" for every scenario
  -- ARGS       passed to hyperfine as they are

Output: the hyperfine table on stdout, results/hyperfine.json
(--export-json) and results/hyperfine.md. gvbench is build/release/bench/
gvbench (GVBENCH=path overrides); it is built with the release preset when
missing.
EOF
}

cd "$(dirname "$0")/.."

list() {
	printf '%s\n' "$SCENARIOS" | awk 'NF >= 3 {
		args = $3; for (i = 4; i <= NF; i++) args = args " " $i
		printf "%s\t%s\t%s\n", $1, $2, args }'
}

runs=5 warmup=1 only=
extra=()
while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help) usage; exit 0 ;;
	--list) list; exit 0 ;;
	--runs) runs=${2:?--runs needs a value}; shift 2 ;;
	--warmup) warmup=${2:?--warmup needs a value}; shift 2 ;;
	--only) only=${2:?--only needs a value}; shift 2 ;;
	--) shift; extra=("$@"); break ;;
	*) echo "perf/hyperfine.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done

command -v hyperfine >/dev/null || {
	echo "perf/hyperfine.sh: hyperfine not found (apt-get install hyperfine, or tools/bootstrap.sh)" >&2
	exit 1
}
me=perf/hyperfine.sh
# shellcheck source=perf/lib.sh
. perf/lib.sh
gvbench_bin

args=()
names=()
while IFS=$'\t' read -r name timed cmd; do
	[ "$timed" = y ] || continue
	if [ -n "$only" ] && ! grep -Eq -- "$only" <<<"$name"; then
		continue
	fi
	sub=${cmd%% *}
	# An unknown subcommand exits 2; a known one prints its usage.
	if ! "$bin" "$sub" --help >/dev/null 2>&1; then
		echo "skipped $name: this gvbench has no '$sub' subcommand yet"
		continue
	fi
	names+=("$name")
	args+=(-n "$name" "$bin $cmd")
done < <(list)
[ ${#names[@]} -gt 0 ] || { echo "perf/hyperfine.sh: no scenario to run" >&2; exit 1; }

mkdir -p results
echo "running: ${names[*]}"
hyperfine --warmup "$warmup" --runs "$runs" \
	--export-json results/hyperfine.json \
	--export-markdown results/hyperfine.md \
	"${extra[@]}" "${args[@]}"
echo "wrote results/hyperfine.json and results/hyperfine.md"
