#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/bench/check_join_json.sh GVBENCH - smoke test of `gvbench join` on
# real loopback sockets: 20 nodes joining through 1 seed and 100 through
# 3, all at once, append their JSON lines to a temporary file; python3
# then checks each line is well-formed and consistent (formed, every node
# with the full view, formed_ms the last node's time, percentiles in
# order, no false suspicion at these sizes, traffic counted). Speed is not
# checked. --probe-ms 1000: the check is of formation, not of a 100 ms
# probe timeout on a machine other jobs may be loading. Exits non-zero on any failure, 77 (skipped) without python3.
set -euo pipefail

bin=${1:?usage: check_join_json.sh path/to/gvbench}
command -v python3 >/dev/null || { echo "python3 not found (tools/bootstrap.sh installs it): skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json=$tmp/join.jsonl

"$bin" join --nodes 20 --seeds 1 --seconds 20 --settle-ms 500 --probe-ms 1000 \
	--workers 2 --json "$json" >"$tmp/one.txt"
cat "$tmp/one.txt"
"$bin" join --nodes 100 --seeds 3 --seconds 30 --settle-ms 500 --probe-ms 1000 \
	--workers 2 --seed 7 --json "$json" >"$tmp/three.txt"
cat "$tmp/three.txt"

# Usage errors exit 2.
for args in "join" "join --seeds 2" "join --nodes 1" "join --nodes 5 --seeds 6" \
	"join --nodes 5 --seeds 0" "join --nodes 5 --bogus" \
	"join --nodes 5 --seconds 0" "join --nodes 5 --loss 1"; do
	rc=0
	# shellcheck disable=SC2086 # word splitting wanted
	"$bin" $args >/dev/null 2>&1 || rc=$?
	if [ "$rc" -ne 2 ]; then
		echo "FAIL: gvbench $args exited $rc, expected 2"
		exit 1
	fi
done
"$bin" join --help | grep -q "usage: gvbench join" ||
	{ echo "FAIL: gvbench join --help"; exit 1; }

python3 - "$json" <<'PY'
import json, sys

path = sys.argv[1]
fails = []
lines = open(path).read().splitlines()
if len(lines) != 2:
    fails.append(f"expected 2 JSON lines, got {len(lines)}")
for n, line in enumerate(lines, 1):
    try:
        r = json.loads(line)
    except ValueError as e:
        fails.append(f"line {n}: not JSON: {e}")
        continue
    def check(cond, what):
        if not cond:
            fails.append(f"line {n} (nodes {r.get('nodes')}): {what}")
    need = ["bench", "version", "nodes", "seeds", "loss", "seconds",
            "settle_ms", "probe_ms", "interval_ms", "reconnect_ms", "seed",
            "workers", "backend", "formed", "formed_ms", "nodes_full",
            "nodes_full_end", "stable", "node_p50_ms", "node_p99_ms",
            "node_max_ms", "dgrams_per_node_mean", "dgrams_per_node_max",
            "bytes_per_node_mean", "bytes_per_node_max", "seed_dgrams",
            "seed_bytes", "false_suspect", "false_dead", "suspicions",
            "refutes", "formation", "kernel_drops", "wall_s", "machine"]
    missing = [k for k in need if k not in r]
    check(not missing, f"missing fields {missing}")
    if missing:
        continue
    N, K = r["nodes"], r["seeds"]
    check(r["bench"] == "join", "bench != join")
    check((N, K) in ((20, 1), (100, 3)), f"nodes/seeds {N}/{K}")
    check(r["loss"] == 0 and r["workers"] == 2, "loss / workers")
    check(r["backend"] in ("io_uring", "recvmmsg"), f"backend {r['backend']}")
    check(r["formed"] is True, "not formed")
    check(r["nodes_full"] == N and r["nodes_full_end"] == N,
          f"full views {r['nodes_full']} / {r['nodes_full_end']} of {N}")
    check(r["stable"] is True, "not stable")
    f = r["formed_ms"]
    p = [r["node_p50_ms"], r["node_p99_ms"], r["node_max_ms"]]
    check(f is not None and None not in p, f"formed_ms {f}, nodes {p}")
    if f is not None and None not in p:
        check(0 <= p[0] <= p[1] <= p[2], f"node percentiles order {p}")
        # the cluster formed when its last node did
        check(abs(f - p[2]) < 1e-6, f"formed_ms {f} != node_max_ms {p[2]}")
        check(f <= r["seconds"] * 1000, f"formed_ms {f} past the deadline")
    # every node is alive: no suspicion at this size on loopback
    for k in ("false_suspect", "false_dead", "suspicions"):
        check(r[k] == 0, f"{k} {r[k]}")
    check(0 < r["dgrams_per_node_mean"] <= r["dgrams_per_node_max"],
          "dgrams per node")
    check(0 < r["bytes_per_node_mean"] <= r["bytes_per_node_max"],
          "bytes per node")
    check(r["seed_dgrams"] <= r["dgrams_per_node_max"] and
          r["seed_bytes"] <= r["bytes_per_node_max"], "seed traffic")
    fo = r["formation"]
    # (the means are printed to 6 significant digits)
    def near(a, b):
        return abs(a - b) <= 1e-4 * max(a, b) + 1
    check(near(fo["dgrams_out"], r["dgrams_per_node_mean"] * N) and
          near(fo["bytes_out"], r["bytes_per_node_mean"] * N),
          "formation totals != per-node means * N")
    check(fo["probe_fails"] <= fo["probes"], "probe_fails > probes")
    check(r["wall_s"] > 0, "wall_s not positive")
    m = r["machine"]
    check(isinstance(m.get("cores"), int) and m["cores"] >= 1, "machine.cores")
    check(isinstance(m.get("kernel"), str) and m["kernel"], "machine.kernel")
for f in fails:
    print("FAIL:", f)
if fails:
    sys.exit(1)
print(f"ok: {len(lines)} JSON lines consistent")
PY
