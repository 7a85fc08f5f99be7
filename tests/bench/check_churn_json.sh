#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/bench/check_churn_json.sh GVBENCH - smoke test of `gvbench churn`
# on real loopback sockets: 20 nodes with 2 crashed and restarted, and 12
# nodes with 1 crashed and left down, append their JSON lines to a
# temporary file; python3 then checks each line is well-formed and
# internally consistent (a detection time for every crashed node, suspect
# before dead, percentiles in order, every restarted node caught up, equal
# roots once the load stops). Speed is not checked, nor the absence of
# false positives (a loaded machine may cause some). Exits non-zero on any
# failure, 77 (skipped) without python3.
set -euo pipefail

bin=${1:?usage: check_churn_json.sh path/to/gvbench}
command -v python3 >/dev/null || { echo "python3 not found (tools/bootstrap.sh installs it): skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json=$tmp/churn.jsonl

# --probe-ms 100 (not the library's 200 ms default): short windows.
"$bin" churn --nodes 20 --kill 2 --restart --seconds 6 --rate 200 \
	--keys 256 --warmup-ms 500 --workers 2 --probe-ms 100 \
	--json "$json" >"$tmp/restart.txt"
cat "$tmp/restart.txt"
"$bin" churn --nodes 12 --kill 1 --seconds 4 --rate 100 --keys 64 \
	--warmup-ms 500 --workers 2 --seed 5 --probe-ms 100 \
	--json "$json" >"$tmp/down.txt"
cat "$tmp/down.txt"

# Usage errors exit 2.
for args in "churn" "churn --nodes 20" "churn --kill 2" \
	"churn --nodes 20 --kill 19" "churn --nodes 20 --kill 0" \
	"churn --nodes 20 --kill 2 --bogus" "churn --nodes 20 --kill 2 --seconds 0" \
	"churn --nodes 20 --kill 2 --restart=yes"; do
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
KEYS = ("p50", "p95", "p99", "max")
for n, line in enumerate(lines, 1):
    try:
        r = json.loads(line)
    except ValueError as e:
        fails.append(f"line {n}: not JSON: {e}")
        continue
    def check(cond, what):
        if not cond:
            fails.append(f"line {n} (restart {r.get('restart')}): {what}")
    need = ["bench", "version", "mode", "nodes", "kill", "restart", "rate",
            "keys", "seconds", "probe_ms", "interval_ms", "ae_interval_ms",
            "seed", "workers", "io_backend", "crash", "victims", "detected",
            "detect_ms", "suspect_ms", "dead_ms", "observer_dead_ms",
            "false_positives", "false_dead", "restarted", "caught_up",
            "catchup_ms", "roots_equal_ms", "background_writes", "window",
            "wall_s", "machine"]
    missing = [k for k in need if k not in r]
    check(not missing, f"missing fields {missing}")
    if missing:
        continue
    N, K, win = r["nodes"], r["kill"], r["seconds"] * 1000
    check(r["bench"] == "churn", "bench != churn")
    check((N, K, r["restart"]) in ((20, 2, True), (12, 1, False)),
          f"nodes/kill/restart {N}/{K}/{r['restart']}")
    v = r["victims"]
    check(len(v) == K, f"{len(v)} victims, expected {K}")
    nodes = [x["node"] for x in v]
    check(len(set(nodes)) == K and all(0 <= x < N for x in nodes),
          f"victim nodes {nodes}")
    # a suspect and a dead time for every crashed node, suspect first
    for x in v:
        s, d = x["suspect_ms"], x["dead_ms"]
        check(s is not None and d is not None,
              f"node {x['node']}: suspect {s} dead {d}")
        if s is not None and d is not None:
            check(0 <= s <= d <= win, f"node {x['node']}: {s} / {d}")
    check(r["detected"] == K, f"detected {r['detected']} of {K}")
    for name in ("detect_ms", "suspect_ms", "dead_ms", "observer_dead_ms",
                 "catchup_ms"):
        p = [r[name][k] for k in KEYS]
        if p[0] is not None:
            check(0 <= p[0] <= p[1] <= p[2] <= p[3], f"{name} order {p}")
    check(r["detect_ms"] == r["dead_ms"], "detect_ms != dead_ms")
    dead = sorted(x["dead_ms"] for x in v if x["dead_ms"] is not None)
    if dead:
        check(abs(r["dead_ms"]["max"] - dead[-1]) < 1e-6, "dead_ms max")
        # every live observer saw each victim dead at or before the victim's
        # all-dead time
        check(r["observer_dead_ms"]["max"] <= dead[-1] + 1e-6,
              "an observer later than the victim's all-dead time")
    check(0 <= r["false_dead"] <= r["false_positives"] <= N - K,
          "false positive counts")
    if r["restart"]:
        check(r["restarted"] == K, f"restarted {r['restarted']}")
        check(r["caught_up"] == K, f"caught up {r['caught_up']} of {K}")
        for x in v:
            c = x["catchup_ms"]
            check(c is not None and 0 <= c <= win, f"catchup {c}")
    else:
        check(r["restarted"] == 0 and r["caught_up"] == 0, "no restart")
        check(all(x["catchup_ms"] is None for x in v), "catchup w/o restart")
        check(r["catchup_ms"]["p50"] is None, "catchup_ms w/o restart")
    # at loss 0, the live nodes agree once the load stops
    check(r["roots_equal_ms"] is not None and r["roots_equal_ms"] >= 0,
          f"roots_equal_ms {r['roots_equal_ms']}")
    check(r["background_writes"] > 0, "no background writes")
    w = r["window"]
    check(w["probe_fails"] <= w["probes"], "probe_fails > probes")
    check(w["dead_events"] >= K * (N - K) or r["restart"],
          "fewer dead events than live observers of the crashed nodes")
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
