#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/bench/check_partition_json.sh GVBENCH - smoke test of `gvbench
# partition` on real loopback sockets: a 20-node 2-group run and a 24-node
# 3-group run append their JSON lines to a temporary file; python3 then
# checks each line is well-formed and internally consistent (no written
# key lost, the heal finished, every conflicting key reported, event counts
# that add up, percentiles in order). Speed is not checked. Exits non-zero
# on any failure, 77 (skipped) without python3.
set -euo pipefail

bin=${1:?usage: check_partition_json.sh path/to/gvbench}
command -v python3 >/dev/null || { echo "python3 not found (tools/bootstrap.sh installs it): skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json=$tmp/partition.jsonl

"$bin" partition --nodes 20 --conflicts 5 --writes 3 --heal-after-ms 1000 \
	--warmup-ms 300 --workers 2 --json "$json" >"$tmp/two.txt"
cat "$tmp/two.txt"
"$bin" partition --nodes 24 --groups 3 --split 0.25 --conflicts 4 \
	--writes 2 --heal-after-ms 1000 --warmup-ms 300 --workers 2 \
	--seed 7 --json "$json" >"$tmp/three.txt"
cat "$tmp/three.txt"

# Usage errors exit 2.
for args in "partition" "partition --nodes 3" "partition --nodes 20 --groups 1" \
	"partition --nodes 20 --split 0.6" "partition --nodes 20 --split 0" \
	"partition --nodes 20 --bogus" "partition --nodes 6 --groups 4" \
	"partition --nodes 20 --io carrier-pigeon"; do
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
for n, line in enumerate(lines, 1):
    try:
        r = json.loads(line)
    except ValueError as e:
        fails.append(f"line {n}: not JSON: {e}")
        continue
    def check(cond, what):
        if not cond:
            fails.append(f"line {n} (groups {r.get('groups')}): {what}")
    need = ["bench", "version", "mode", "nodes", "groups", "group_sizes",
            "split", "quorum", "probe_ms", "interval_ms", "ae_interval_ms",
            "heal_after_ms", "seed", "workers", "io_backend",
            "minority_nodes", "detected", "detect_ms", "detect_ms_p50",
            "detect_ms_p95", "detect_ms_p99", "false_events", "heal_ms",
            "heal_event_ms", "raised", "healed", "conflicts_written",
            "writes_per_group", "keys", "writes", "conflicts",
            "conflict_reports", "unexpected_conflicts", "lost",
            "stale_node_keys", "during", "after", "end_views", "wall_s",
            "machine"]
    missing = [k for k in need if k not in r]
    check(not missing, f"missing fields {missing}")
    if missing:
        continue
    N, G = r["nodes"], r["groups"]
    sizes = r["group_sizes"]
    check(r["bench"] == "partition", "bench != partition")
    check((N, G) in ((20, 2), (24, 3)), f"nodes/groups {N}/{G}")
    check(len(sizes) == G and sum(sizes) == N and min(sizes) >= 1,
          f"group sizes {sizes}")
    check(sizes[0] == max(1, round(r["split"] * N)), "first group != split")
    minority = sum(s for s in sizes if s / N < r["quorum"])
    check(r["minority_nodes"] == minority, "minority_nodes")
    check(r["probe_ms"] == 100 and r["heal_after_ms"] == 1000, "params")
    # detection: counts add up, percentiles in order, within the cut
    check(0 <= r["detected"] <= r["minority_nodes"], "detected range")
    check(0 <= r["false_events"] <= N - r["minority_nodes"], "false_events")
    check(r["raised"] == r["detected"] + r["false_events"],
          "raised != detected + false_events")
    check(r["healed"] <= r["raised"], "healed > raised")
    if r["detected"]:
        p = [r["detect_ms_p50"], r["detect_ms_p95"], r["detect_ms_p99"]]
        check(0 <= p[0] <= p[1] <= p[2] <= r["heal_after_ms"],
              f"detect percentiles {p}")
    if r["detected"] == r["minority_nodes"] and r["minority_nodes"]:
        check(r["detect_ms"] is not None and
              r["detect_ms_p99"] <= r["detect_ms"] <= r["heal_after_ms"],
              f"detect_ms {r['detect_ms']}")
    else:
        check(r["detect_ms"] is None, "detect_ms set though not all raised")
    # the heal: at loss 0 it finishes and loses nothing
    check(r["heal_ms"] is not None and r["heal_ms"] >= 0,
          f"heal_ms {r['heal_ms']}")
    check(r["heal_event_ms"] is None or r["heal_event_ms"] >= 0,
          "heal_event_ms < 0")
    C, W = r["conflicts_written"], r["writes_per_group"]
    check(r["keys"] == C + G * W, "keys != conflicts + groups * writes")
    check(r["writes"] == C * G + G * W, "writes count")
    check(r["lost"] == 0, f"lost {r['lost']}")
    check(r["stale_node_keys"] == 0, f"stale views {r['stale_node_keys']}")
    # every key written in every group was concurrent: once the roots are
    # equal each was reported somewhere; keys written once never are
    check(r["conflicts"] == C, f"conflicts {r['conflicts']} != {C}")
    check(r["conflict_reports"] >= r["conflicts"], "conflict_reports")
    check(r["unexpected_conflicts"] == 0, "conflicts on single-writer keys")
    check(r["after"]["conflict_events"] >= r["conflict_reports"],
          "conflict events < per-node reports")
    d = r["during"]
    check(d["filtered_out"] + d["filtered_in"] > 0, "the cut dropped nothing")
    check(d["probe_fails"] <= d["probes"], "probe_fails > probes")
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
