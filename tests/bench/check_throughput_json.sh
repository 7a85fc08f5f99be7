#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/bench/check_throughput_json.sh GVBENCH - smoke test of `gvbench
# throughput` on real loopback sockets, checking the measurement, never
# its speed:
#  - a low fixed rate (4 nodes, 2000 writes/s for 1 s): every write must
#    converge, nothing lost;
#  - one key written over and over in pushpull rounds: most writes are
#    overtaken before a round carries them, so they converge only by the
#    rule "this write or a newer one of its key" (a broken rule shows as
#    lost writes);
#  - a tiny --max search (short steps, a 6 s budget): steps recorded and
#    consistent with the top-level figures;
# then python3 checks every JSON line is well-formed and internally
# consistent (fields derived from others recomputed). --plot: with gnuplot,
# the PNGs of converge and throughput exist and are PNGs; without gnuplot
# on PATH, a run with --plot says so, still prints its results and exits
# 0. Usage errors exit 2. Exits 77 (skipped) without python3.
set -euo pipefail

bin=${1:?usage: check_throughput_json.sh path/to/gvbench}
command -v python3 >/dev/null || { echo "python3 not found (tools/bootstrap.sh installs it): skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json=$tmp/throughput.jsonl

have_gnuplot=0
if command -v gnuplot >/dev/null; then
	have_gnuplot=1
else
	echo "gnuplot not found (package gnuplot-nox, tools/bootstrap.sh): the PNG checks are skipped"
fi

plot_args=()
[ $have_gnuplot -eq 1 ] && plot_args=(--plot "$tmp/rate.png")
"$bin" throughput --nodes 4 --rate 2000 --seconds 1 --workers 2 \
	--ceiling-seconds 0.3 --json "$json" "${plot_args[@]}" >"$tmp/rate.txt"
cat "$tmp/rate.txt"
"$bin" throughput --nodes 4 --rate 200 --seconds 1 --workers 2 \
	--key-space 1 --mode pushpull --interval-ms 50 --ceiling-seconds 0 \
	--json "$json" >"$tmp/overtaken.txt"
cat "$tmp/overtaken.txt"
plot_args=()
[ $have_gnuplot -eq 1 ] && plot_args=(--plot "$tmp/max.png")
"$bin" throughput --nodes 4 --max --seconds 0.3 --start-rate 500 \
	--warmup-ms 100 --budget-s 6 --workers 2 --ceiling-seconds 0.2 \
	--json "$json" "${plot_args[@]}" >"$tmp/max.txt"
cat "$tmp/max.txt"

# sealed gossip: the same low rate clear then sealed, one run each
"$bin" throughput --nodes 4 --rate 2000 --seconds 1 --workers 2 \
	--ceiling-seconds 0 --seal both --json "$json" >"$tmp/seal.txt"
cat "$tmp/seal.txt"
grep -q "^sealed vs clear" "$tmp/seal.txt" || { echo "FAIL: no sealed vs clear line"; exit 1; }

# --plot without gnuplot: the error names the package, the results stand.
rc=0
PATH=/nonexistent "$bin" throughput --nodes 3 --rate 100 --seconds 0.2 \
	--ceiling-seconds 0 --plot "$tmp/none.png" >"$tmp/noplot.txt" \
	2>"$tmp/noplot.err" || rc=$?
if [ $rc -ne 0 ] || ! grep -q gnuplot-nox "$tmp/noplot.err" ||
	! grep -q "converged" "$tmp/noplot.txt" || [ -e "$tmp/none.png" ]; then
	echo "FAIL: --plot without gnuplot: exit $rc, stderr:"
	cat "$tmp/noplot.err"
	exit 1
fi

if [ $have_gnuplot -eq 1 ]; then
	"$bin" converge --nodes 8 --updates 10 --workers 2 --warmup-ms 200 \
		--plot "$tmp/converge.png" >/dev/null
	for png in rate max converge; do
		f=$tmp/$png.png
		# a PNG starts with \x89PNG
		if [ ! -s "$f" ] || [ "$(head -c 4 "$f" | tail -c 3)" != PNG ]; then
			echo "FAIL: --plot wrote no PNG $f"
			exit 1
		fi
	done
	echo "ok: --plot wrote 3 PNGs"
fi

# Usage errors exit 2.
for args in "throughput" "throughput --nodes 4" \
	"throughput --nodes 4 --rate 100 --max" "throughput --nodes 4 --rate 0" \
	"throughput --nodes 4 --rate 100 --writers 5" \
	"throughput --nodes 4 --rate 100 --value-size 4" \
	"throughput --nodes 4 --rate 100 --budget-s 5" \
	"throughput --nodes 4 --rate 100 --mode gossip" \
	"throughput --nodes 4 --max --io carrier-pigeon" \
	"throughput --nodes 4 --rate 100 --seal maybe" \
	"throughput --nodes 4 --rate 100 --seal on --cipher rot13"; do
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
if len(lines) != 5:
    fails.append(f"expected 5 JSON lines, got {len(lines)}")

def close(a, b, rel=1e-3, abs_=1e-6):
    return abs(a - b) <= max(abs_, rel * max(abs(a), abs(b)))

def check_step(check, s, where):
    check(0 <= s["converged_ups"] <= s["offered_ups"] * (1 + 1e-9),
          f"{where}: converged_ups > offered_ups")
    check(s["offered_ups"] <= s["target_ups"] * (1 + 1e-9),
          f"{where}: offered_ups > target_ups")
    check(0 <= s["frac_converged"] <= 1, f"{where}: frac_converged")
    check(s["passed"] is (s["frac_converged"] >= 0.999),
          f"{where}: passed vs frac_converged")
    check(s["lost"] >= 0, f"{where}: lost")

runs = []
for n, line in enumerate(lines, 1):
    try:
        r = json.loads(line)
    except ValueError as e:
        fails.append(f"line {n}: not JSON: {e}")
        continue
    def check(cond, what):
        if not cond:
            fails.append(f"line {n} ({r.get('search')}): {what}")
    need = ["bench", "version", "search", "mode", "nodes", "fanout",
            "interval_ms", "value_size", "key_space", "writers", "seed",
            "workers", "io_backend", "anti_entropy", "seconds", "drain_ms",
            "window_ms", "target_frac", "target_ups", "offered_ups",
            "updates", "not_offered", "driver_lag_ms", "converged",
            "converged_ups", "ae_interval_ms",
            "frac_converged", "passed", "convergence_ms", "queue_ms", "lost",
            "refused", "overtaken", "datagrams_sent", "datagrams_per_s",
            "bytes_per_update", "updates_per_datagram", "cpu_s",
            "ceiling_dps", "efficiency", "io", "member_events", "measured_s",
            "wall_s", "machine"]
    missing = [k for k in need if k not in r]
    check(not missing, f"missing fields {missing}")
    if missing:
        continue
    runs.append((r["search"], r["key_space"]))
    check(r["bench"] == "throughput", "bench != throughput")
    check(r["nodes"] == 4 and r["workers"] == 2, "nodes/workers")
    check(r["writers"] == 4, "writers defaults to all nodes")
    check(r["io_backend"] in ("io_uring", "recvmmsg"), "io_backend")
    check(r["anti_entropy"] is (r["ae_interval_ms"] > 0), "anti_entropy")
    check(r["driver_lag_ms"] >= 0, "driver_lag_ms")
    check(r["window_ms"] == 1000 and r["target_frac"] == 0.999,
          "window_ms / target_frac")
    check_step(check, r, "top level")
    sec, upd = r["seconds"], r["updates"]
    check(close(r["offered_ups"] * sec, upd), "offered_ups * seconds != updates")
    check(close(r["converged_ups"] * sec, r["converged"]),
          "converged_ups * seconds != converged")
    due = upd + r["not_offered"]
    check(close(r["frac_converged"], r["converged"] / due if due else 0),
          "frac_converged != converged / (updates + not_offered)")
    check(0 <= r["converged"] <= upd, "converged not in [0, updates]")
    check(r["refused"] <= r["lost"] <= upd - r["converged"],
          "refused <= lost <= updates - converged violated")
    c = r["convergence_ms"]
    if c["p50"] is not None:
        check(0 <= c["p50"] <= c["p95"] <= c["p99"] <= c["max"],
              f"convergence_ms not ordered: {c}")
    q = r["queue_ms"]
    if q["p50"] is not None:
        check(0 <= q["p50"] <= q["p99"], f"queue_ms not ordered: {q}")
    # the record size from the wire format: header 3 + fixed 39 + key +
    # value, after a 40-byte datagram header, max_datagram 1400
    klen = len(f"tp:{r['key_space'] - 1}")
    room = 1400 - 40 - (16 if r.get("sealed") else 0)  # the AEAD tag
    check(r["updates_per_datagram"] == room // (3 + 39 + klen
                                                + r["value_size"]),
          f"updates_per_datagram {r['updates_per_datagram']}")
    check(r.get("sealed") in (True, False), "sealed")
    check((r.get("cipher") == "none") is (r.get("sealed") is False),
          f"cipher {r.get('cipher')} vs sealed")
    if "sealed_vs_clear" in r:
        check(r["sealed"] and r["clear_converged_ups"] > 0 and
              close(r["sealed_vs_clear"],
                    r["converged_ups"] / r["clear_converged_ups"], rel=1e-4),
              "sealed_vs_clear != converged_ups / clear_converged_ups")
    check(r["datagrams_sent"] > 0 and r["bytes_per_update"] > 0,
          "no traffic")
    check(close(r["datagrams_per_s"] * r["measured_s"], r["datagrams_sent"],
                rel=2e-3), "datagrams_per_s * measured_s != datagrams_sent")
    check(r["measured_s"] >= sec * (1 - 1e-6), "measured_s < seconds")
    check(r["cpu_s"] > 0, "cpu_s not positive")
    if r["ceiling_dps"] is None:
        check(r["efficiency"] is None, "efficiency without a ceiling")
    else:
        check(r["ceiling_dps"] > 0, "ceiling_dps not positive")
        eff = (r["converged_ups"] * (r["nodes"] - 1)
               / (r["ceiling_dps"] * r["updates_per_datagram"]))
        check(r["efficiency"] >= 0 and close(r["efficiency"], eff, rel=1e-4),
              f"efficiency {r['efficiency']} != {eff}")
    check(r["io"]["send_errors"] == 0, f"send errors: {r['io']}")
    m = r["machine"]
    check(isinstance(m.get("cores"), int) and m["cores"] >= 1, "machine.cores")
    check(isinstance(m.get("kernel"), str) and m["kernel"], "machine.kernel")
    if r["search"] == "rate":
        check("steps" not in r, "steps in a --rate run")
        # a low rate on loopback without loss: everything arrives
        check(r["lost"] == 0, f"lost {r['lost']} at {r['target_ups']}/s")
        if r["key_space"] == 1:
            # most writes reach most nodes only through a newer one: the
            # rule was exercised (and lost == 0 above says it held)
            check(r["overtaken"] >= upd,
                  f"overtaken {r['overtaken']} < {upd} writes")
            check(r["ceiling_dps"] is None, "ceiling without --ceiling-seconds")
    else:
        steps = r["steps"]
        check(len(steps) >= 1, "no steps")
        for i, s in enumerate(steps):
            check_step(check, s, f"step {i + 1}")
        check(r["stop"] in ("budget", "resolution", "floor", "memory",
                            "steps"), f"stop {r['stop']}")
        check(steps[0]["target_ups"] == 500, "first step != --start-rate")
        passing = [s["target_ups"] for s in steps if s["passed"]]
        if passing:
            best = max(passing)
            check(r["passed"] and r["lower_bound_ups"] == best
                  and r["target_ups"] == best,
                  "top level is not the highest passing step")
            above = [s["target_ups"] for s in steps
                     if not s["passed"] and s["target_ups"] > best]
            # a maximum only when a failing step bounds it (issue 14: a
            # search cut short names no maximum it did not find)
            if above:
                check(r["max_found"] is True and r["max_ups"] == best
                      and r["failed_above_ups"] == min(above),
                      "a bracketed search names its maximum and the rate above")
            else:
                check(r["max_found"] is False and r["max_ups"] is None
                      and r["failed_above_ups"] is None
                      and r["stop"] != "resolution",
                      f"a search cut short ({r['stop']}) named a maximum")
        else:
            check(not r["passed"] and r["max_ups"] is None
                  and r["lower_bound_ups"] is None
                  and r["max_found"] is False, "max_ups")
        top = [s for s in steps if s["target_ups"] == r["target_ups"]]
        check(top and close(top[0]["converged_ups"], r["converged_ups"])
              and top[0]["lost"] == r["lost"], "top level not among steps")
        # doubling while passing: a failing step is never followed by a
        # higher rate than it
        lo_fail = None
        for s in steps:
            if lo_fail is not None:
                check(s["target_ups"] < lo_fail, "searched above a failure")
            if not s["passed"]:
                lo_fail = s["target_ups"] if lo_fail is None else min(
                    lo_fail, s["target_ups"])
if sorted(runs) != [("max", 10000), ("rate", 1), ("rate", 10000),
                    ("rate", 10000), ("rate", 10000)]:
    fails.append(f"runs {runs}, expected rate, rate (one key), max, "
                 "rate clear and sealed")
sealed = [json.loads(x) for x in lines[3:5]] if len(lines) == 5 else []
if sealed and not (sealed[0]["sealed"] is False and sealed[1]["sealed"] is True
                   and "sealed_vs_clear" in sealed[1]
                   and sealed[1]["lost"] == 0):
    fails.append("--seal both: a clear line then a sealed one with "
                 "sealed_vs_clear and nothing lost")
for f in fails:
    print("FAIL:", f)
if fails:
    sys.exit(1)
print(f"ok: {len(lines)} JSON lines consistent")
PY
