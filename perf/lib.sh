# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# perf/lib.sh - shared by the perf scripts (sourced, not run). The caller
# sets `me` (its name, for messages) before sourcing.

die() { echo "${me:?}: $*" >&2; exit 1; }

# gvbench_bin: set $bin to gvbench ($GVBENCH, or the release build, built
# if missing).
gvbench_bin() {
	bin=${GVBENCH:-build/release/bench/gvbench}
	if [ ! -x "$bin" ]; then
		[ -z "${GVBENCH:-}" ] || die "GVBENCH=$bin is not executable"
		command -v cmake >/dev/null || die "$bin missing and cmake not found"
		echo "$me: $bin missing: building the release preset" >&2
		cmake --preset release >&2 && cmake --build --preset release -j2 >&2
	fi
}

# resolve_scenario SCENARIO: a name from perf/hyperfine.sh's table, else a
# gvbench command line (a leading "gvbench" or path to it dropped). Sets
# $cmd (gvbench arguments), $name (for file names) and the array $argv.
# shellcheck disable=SC2034 # name and argv are for the caller
resolve_scenario() {
	local scenario=$1
	cmd=$(perf/hyperfine.sh --list | awk -F'\t' -v n="$scenario" '$1 == n { print $3 }')
	if [ -n "$cmd" ]; then
		name=$scenario
	else
		local words
		read -r -a words <<<"$scenario"
		case "${words[0]}" in gvbench | */gvbench) words=("${words[@]:1}") ;; esac
		[ ${#words[@]} -gt 0 ] || die "empty command line"
		cmd="${words[*]}"
		name=$(tr -cs 'A-Za-z0-9.' '_' <<<"$cmd" | sed 's/^_*//; s/_*$//' | cut -c1-60)
	fi
	read -r -a argv <<<"$cmd"
	"$bin" "${argv[0]}" --help >/dev/null 2>&1 ||
		die "'$scenario' is neither a scenario (perf/hyperfine.sh --list) nor a gvbench subcommand"
}
