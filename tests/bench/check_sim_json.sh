#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/bench/check_sim_json.sh GVBENCH - smoke test of `gvbench sim`: two
# small runs (pushpull and eager, 50 nodes, 20 updates, loss 0) append
# their JSON lines to a temporary file; python3 then checks each line is
# well-formed and internally consistent. Exits non-zero on any failure,
# 77 (skipped) without python3.
set -euo pipefail

bin=${1:?usage: check_sim_json.sh path/to/gvbench}
command -v python3 >/dev/null || { echo "python3 not found (tools/bootstrap.sh installs it): skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json=$tmp/sim.jsonl

for mode in pushpull eager; do
	"$bin" sim --nodes 50 --updates 20 --mode "$mode" --json "$json" \
		>"$tmp/$mode.txt"
	cat "$tmp/$mode.txt"
done

# Usage errors exit 2.
for args in "sim --nodes 1" "sim --nodes 50 --mode gossip" "sim --bogus" \
	"nosuch" "sim --table --nodes 50" "sim --nodes 50 --loss 1"; do
	rc=0
	# shellcheck disable=SC2086 # word splitting wanted
	"$bin" $args >/dev/null 2>&1 || rc=$?
	if [ "$rc" -ne 2 ]; then
		echo "FAIL: gvbench $args exited $rc, expected 2"
		exit 1
	fi
done

python3 - "$json" <<'PY'
import json, sys

path = sys.argv[1]
fails = []
lines = open(path).read().splitlines()
if len(lines) != 2:
    fails.append(f"expected 2 JSON lines, got {len(lines)}")
modes = []
for n, line in enumerate(lines, 1):
    try:
        r = json.loads(line)
    except ValueError as e:
        fails.append(f"line {n}: not JSON: {e}")
        continue
    def check(cond, what):
        if not cond:
            fails.append(f"line {n} ({r.get('mode')}): {what}")
    need = ["bench", "mode", "nodes", "fanout", "interval_ms", "loss",
            "updates", "seed", "converged", "rounds", "convergence_ms",
            "t50_ms", "t90_ms", "t100_ms", "messages_per_node",
            "messages_per_node_per_update", "rmr", "membership",
            "anti_entropy", "wall_s", "virtual_s", "machine"]
    missing = [k for k in need if k not in r]
    check(not missing, f"missing fields {missing}")
    if missing:
        continue
    modes.append(r["mode"])
    c, rd = r["convergence_ms"], r["rounds"]
    check(r["bench"] == "sim", "bench != sim")
    check(r["nodes"] == 50, f"nodes {r['nodes']} != 50")
    check(r["updates"] == 20, f"updates {r['updates']} != 20")
    check(0 <= r["converged"] <= r["updates"], "converged not in [0, updates]")
    if r["loss"] == 0:
        check(r["converged"] == r["updates"],
              f"converged {r['converged']}/{r['updates']} at loss 0")
    check(r["membership"] == "prejoined", "membership != prejoined")
    check(r["anti_entropy"] is False, "anti-entropy on at loss 0")
    if r["converged"] > 0:
        check(0 <= c["p50"] <= c["p95"] <= c["p99"] <= c["max"],
              f"convergence_ms not ordered: {c}")
        check(1 <= rd["p50"] <= rd["p99"] <= rd["max"],
              f"rounds not ordered: {rd}")
        check(1 <= rd["mean"] <= rd["max"], f"rounds mean out of range: {rd}")
        check(r["t50_ms"] <= r["t90_ms"] <= r["t100_ms"] <= c["max"],
              "t50 <= t90 <= t100 <= max violated")
        check(r["t100_ms"] == c["p50"], "t100_ms != convergence p50")
    check(r["rmr"] is not None and r["rmr"] >= 0, f"rmr {r['rmr']} < 0")
    check(r["messages_per_node"] > 0, "no messages")
    check(abs(r["messages_per_node_per_update"] * r["updates"]
              - r["messages_per_node"]) <= 1e-3 * r["messages_per_node"],
          "messages_per_node_per_update * updates != messages_per_node")
    check(r["virtual_s"] > 1 and r["wall_s"] > 0, "times not positive")
    m = r["machine"]
    check(isinstance(m.get("cores"), int) and m["cores"] >= 1, "machine.cores")
    check(isinstance(m.get("kernel"), str) and m["kernel"], "machine.kernel")
if sorted(modes) != ["eager", "pushpull"]:
    fails.append(f"modes {modes}, expected pushpull and eager")
for f in fails:
    print("FAIL:", f)
if fails:
    sys.exit(1)
print(f"ok: {len(lines)} JSON lines consistent")
PY
