#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/bench/check_converge_json.sh GVBENCH - smoke test of `gvbench
# converge` on real loopback sockets: two small runs (eager and pushpull,
# 20 nodes on 2 workers, 10 updates, loss 0) and one with background load
# (10 nodes, pushpull) append their JSON lines to a temporary file; python3
# then checks each line is well-formed and internally consistent. Exits
# non-zero on any failure, 77 (skipped) without python3.
set -euo pipefail

bin=${1:?usage: check_converge_json.sh path/to/gvbench}
command -v python3 >/dev/null || { echo "python3 not found (tools/bootstrap.sh installs it): skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json=$tmp/converge.jsonl

for mode in eager tree pushpull; do
	"$bin" converge --nodes 20 --updates 10 --workers 2 --mode "$mode" \
		--warmup-ms 300 --json "$json" >"$tmp/$mode.txt"
	cat "$tmp/$mode.txt"
done
"$bin" converge --nodes 10 --updates 5 --workers 2 --mode pushpull \
	--interval-ms 50 --background-ups 200 --warmup-ms 300 \
	--json "$json" >"$tmp/bg.txt"
cat "$tmp/bg.txt"

# Usage errors exit 2.
for args in "converge" "converge --nodes 1" "converge --nodes 20 --mode gossip" \
	"converge --nodes 20 --bogus" "converge --nodes 20 --loss 1" \
	"converge --nodes 20 --io carrier-pigeon" "converge --nodes 20 --workers 0"; do
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
if len(lines) != 4:
    fails.append(f"expected 4 JSON lines, got {len(lines)}")
runs = []
for n, line in enumerate(lines, 1):
    try:
        r = json.loads(line)
    except ValueError as e:
        fails.append(f"line {n}: not JSON: {e}")
        continue
    def check(cond, what):
        if not cond:
            fails.append(f"line {n} ({r.get('mode')}): {what}")
    need = ["bench", "version", "mode", "nodes", "fanout", "interval_ms",
            "loss", "updates", "background_ups", "value_size", "seed",
            "workers", "io_backend", "membership", "anti_entropy",
            "converged", "rounds", "rounds_meaningful", "convergence_ms",
            "t50_ms", "t90_ms", "t100_ms", "datagrams_sent",
            "update_records", "messages_per_node",
            "messages_per_node_per_update", "rmr", "rmr_basis",
            "background_ups_achieved", "io", "member_events", "wall_s",
            "machine"]
    missing = [k for k in need if k not in r]
    check(not missing, f"missing fields {missing}")
    if missing:
        continue
    bg = r["background_ups"] > 0
    runs.append((r["mode"], bg))
    c, rd = r["convergence_ms"], r["rounds"]
    check(r["bench"] == "converge", "bench != converge")
    check(r["nodes"] == (10 if bg else 20), f"nodes {r['nodes']}")
    check(r["updates"] == (5 if bg else 10), f"updates {r['updates']}")
    check(r["workers"] == 2, f"workers {r['workers']} != 2")
    check(r["io_backend"] in ("io_uring", "recvmmsg"),
          f"io_backend {r['io_backend']}")
    check(r["value_size"] == 32, "value_size != 32")
    check(r["membership"] == "prejoined", "membership != prejoined")
    check(r["anti_entropy"] is (r["loss"] > 0), "anti_entropy vs loss")
    check(0 <= r["converged"] <= r["updates"], "converged not in [0, updates]")
    if r["loss"] == 0:
        check(r["converged"] == r["updates"],
              f"converged {r['converged']}/{r['updates']} at loss 0")
    check(r["rounds_meaningful"] is (r["mode"] not in ("eager", "tree")),
          "rounds_meaningful")
    if r["converged"] > 0:
        check(0 <= c["p50"] <= c["p95"] <= c["p99"] <= c["max"],
              f"convergence_ms not ordered: {c}")
        check(c["max"] <= r["deadline_ms"], "convergence beyond deadline")
        check(1 <= rd["p50"] <= rd["p99"] <= rd["max"],
              f"rounds not ordered: {rd}")
        check(1 <= rd["mean"] <= rd["max"], f"rounds mean out of range: {rd}")
        check(rd["max"] * r["interval_ms"] >= c["max"] >= (rd["max"] - 1)
              * r["interval_ms"], f"rounds max vs convergence max: {rd} {c}")
        check(r["t50_ms"] <= r["t90_ms"] <= r["t100_ms"] <= c["max"],
              "t50 <= t90 <= t100 <= max violated")
        check(r["t100_ms"] == c["p50"], "t100_ms != convergence p50")
    check(r["rmr_basis"] == "update_records", "rmr_basis")
    t = r.get("tree")
    check(isinstance(t, dict) and all(
        isinstance(t.get(k), int) for k in
        ("received", "hops", "ihave_ids", "grafts", "graft_drops")),
        f"tree counters: {t}")
    if r["mode"] == "tree" and isinstance(t, dict):
        # 19 peers: past the direct-send size, so the tree carries them
        check(t["received"] > 0 and t["hops"] >= t["received"],
              f"tree mode: writes received on the tree {t}")
        check(r["rmr"] is not None and r["rmr"] <= 0.5,
              f"tree mode: rmr {r['rmr']} > 0.5")
    elif isinstance(t, dict):
        check(t["received"] == 0 and t["ihave_ids"] == 0,
              f"{r['mode']}: tree counters moved {t}")
    if bg:
        check(r["rmr"] is None, "rmr reported under background load")
        check(r["background_ups_achieved"] > 0, "no background writes done")
    else:
        check(r["rmr"] is not None and r["rmr"] >= 0, f"rmr {r['rmr']} < 0")
        check(r["update_records"] >= r["updates"] * (r["nodes"] - 1),
              "fewer update records than needed to reach every node")
    check(r["messages_per_node"] > 0, "no messages")
    check(abs(r["messages_per_node"] * r["nodes"] - r["datagrams_sent"])
          <= 1e-3 * r["datagrams_sent"], "messages_per_node * N != datagrams")
    check(abs(r["messages_per_node_per_update"] * r["updates"]
              - r["messages_per_node"]) <= 1e-3 * r["messages_per_node"],
          "messages_per_node_per_update * updates != messages_per_node")
    check(r["io"]["send_errors"] == 0, f"send errors: {r['io']}")
    check(r["wall_s"] > 0, "wall_s not positive")
    m = r["machine"]
    check(isinstance(m.get("cores"), int) and m["cores"] >= 1, "machine.cores")
    check(isinstance(m.get("kernel"), str) and m["kernel"], "machine.kernel")
if sorted(runs) != [("eager", False), ("pushpull", False), ("pushpull", True),
                    ("tree", False)]:
    fails.append(f"runs {runs}, expected eager, tree, pushpull, pushpull+background")
for f in fails:
    print("FAIL:", f)
if fails:
    sys.exit(1)
print(f"ok: {len(lines)} JSON lines consistent")
PY
