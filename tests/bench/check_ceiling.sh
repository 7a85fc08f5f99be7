#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/bench/check_ceiling.sh GVBENCH - smoke test of `gvbench ceiling`:
# 1 s runs on the io_uring and the recvmmsg backend (1400-byte payload, one
# and two threads) and a short one-thread run at 200 bytes append their JSON
# lines to a temporary file; python3 then checks each line is well-formed
# and consistent (ceiling_dps > 0, received <= sent, drops = sent -
# received, bps = dps * payload, the ceiling is the better run). Usage
# errors must exit 2. Exits non-zero on any failure; 77 (skipped) without
# python3. Where io_uring is refused (old kernel, sandbox), that backend is
# skipped and said so; the recvmmsg one still runs.
set -euo pipefail

bin=${1:?usage: check_ceiling.sh path/to/gvbench}
command -v python3 >/dev/null || { echo "python3 not found (tools/bootstrap.sh installs it): skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json=$tmp/ceiling.jsonl

backends="recvmmsg"
rc=0
"$bin" ceiling --seconds 1 --backend uring --json "$json" \
	>"$tmp/uring.txt" 2>"$tmp/uring.err" || rc=$?
cat "$tmp/uring.txt" "$tmp/uring.err"
if [ "$rc" -eq 0 ]; then
	backends="io_uring recvmmsg"
elif grep -q "io_uring unavailable" "$tmp/uring.err"; then
	echo "io_uring refused here: that backend skipped"
else
	echo "FAIL: gvbench ceiling --backend uring exited $rc"
	exit 1
fi
"$bin" ceiling --seconds 1 --backend mmsg --json "$json"
"$bin" ceiling --seconds 0.3 --warmup 0.1 --threads 1 --payload 200 \
	--json "$json"
"$bin" ceiling --seconds 0.3 --warmup 0.1 --threads 1 --payload 200 --gso \
	--json "$json"

for args in "ceiling --payload 8" "ceiling --payload 70000" \
	"ceiling --backend epoll" "ceiling --threads 3" "ceiling --seconds 0" \
	"ceiling --bogus" "ceiling --json"; do
	rc=0
	# shellcheck disable=SC2086 # word splitting wanted
	"$bin" $args >/dev/null 2>&1 || rc=$?
	if [ "$rc" -ne 2 ]; then
		echo "FAIL: gvbench $args exited $rc, expected 2"
		exit 1
	fi
done

python3 - "$json" "$backends" <<'PY'
import json, sys

path, backends = sys.argv[1], sys.argv[2].split()
fails = []
lines = open(path).read().splitlines()
want = len(backends) + 2
if len(lines) != want:
    fails.append(f"expected {want} JSON lines, got {len(lines)}")
seen = []
for n, line in enumerate(lines, 1):
    try:
        r = json.loads(line)
    except ValueError as e:
        fails.append(f"line {n}: not JSON: {e}")
        continue

    def check(cond, what):
        if not cond:
            fails.append(f"line {n} ({r.get('backend')}, "
                         f"{r.get('payload')} B): {what}")

    need = ["bench", "version", "backend", "gso", "payload", "seconds", "warmup_s",
            "batch", "ceiling_dps", "ceiling_bps", "threads", "sent",
            "received", "drops", "kernel_drops", "send_errors", "wall_s",
            "runs", "total_s", "machine"]
    missing = [k for k in need if k not in r]
    check(not missing, f"missing fields {missing}")
    if missing:
        continue
    seen.append(r["backend"])
    check(r["bench"] == "ceiling", "bench != ceiling")
    # only the last line asked for --gso
    check(r["gso"] is (n == len(lines)), f"gso {r['gso']}")
    check(r["backend"] in ("io_uring", "recvmmsg"), "unknown backend")
    p = r["payload"]
    check(r["ceiling_dps"] > 0 and r["received"] > 0 and r["wall_s"] > 0,
          f"ceiling_dps {r['ceiling_dps']} <= 0")
    check(abs(r["ceiling_bps"] - r["ceiling_dps"] * p)
          <= 1e-6 * r["ceiling_bps"] + p,
          f"ceiling_bps {r['ceiling_bps']} != dps * payload")
    runs = r["runs"]
    one_only = p == 200  # the --threads 1 run
    check([u["threads"] for u in runs] == ([1] if one_only else [1, 2]),
          f"runs {[u['threads'] for u in runs]}")
    for u in runs:
        t = u["threads"]
        # A busy machine can stall a run (max_iter_ms says so): only the
        # ceiling itself must be positive.
        check(0 <= u["received"] <= u["sent"],
              f"threads={t}: received {u['received']} not in [0, sent "
              f"{u['sent']}]")
        check(u["drops"] == u["sent"] - u["received"],
              f"threads={t}: drops != sent - received")
        check(u["kernel_drops"] >= 0 and u["send_errors"] >= 0,
              f"threads={t}: negative counters")
        check(0 <= u["wall_s"]
              <= r["seconds"] + 0.5 + 2 * u["max_iter_ms"] / 1000,
              f"threads={t}: wall_s {u['wall_s']} vs seconds "
              f"{r['seconds']}")
        check(abs(u["dps"] * u["wall_s"] - u["received"])
              <= 1e-6 * u["received"] + 1,
              f"threads={t}: dps * wall_s != received")
        check(abs(u["bps"] - u["dps"] * p) <= 1e-6 * u["bps"] + p,
              f"threads={t}: bps != dps * payload")
        check(u["per_submit"] >= 0 and u["max_iter_ms"] >= 0,
              f"threads={t}: per_submit or max_iter_ms < 0")
    best = max(runs, key=lambda u: u["dps"])
    check(r["ceiling_dps"] == best["dps"], "ceiling_dps is not the best run")
    check(r["threads"] == best["threads"], "threads is not the best run's")
    for k in ("sent", "received", "drops", "kernel_drops", "send_errors",
              "wall_s"):
        check(r[k] == best[k], f"{k} is not the best run's")
    m = r["machine"]
    check(isinstance(m.get("cores"), int) and m["cores"] >= 1, "machine.cores")
    check(isinstance(m.get("kernel"), str) and m["kernel"], "machine.kernel")
for b in backends:
    if b not in seen:
        fails.append(f"no line for backend {b}")
for f in fails:
    print("FAIL:", f)
if fails:
    sys.exit(1)
print(f"ok: {len(lines)} JSON lines consistent ({', '.join(backends)})")
PY
