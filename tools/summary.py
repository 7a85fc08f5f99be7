#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tools/summary.py - the summary table of gvbench JSON lines.

    tools/summary.py results/suite.jsonl [more.jsonl ...]

One row per run: the benchmark, its shape, and its headline figures next
to the issue's targets (converge: p99 convergence; pushpull: p99 rounds;
throughput: converged writes/s and efficiency; partition: detect_ms,
heal_ms, lost; churn: dead_ms p99, catch-up; join: formed_ms, false
suspicions; cache: grapevined against
Redis per N and pipeline, from the comparison lines, or the max steps
when a run had no Redis). A line that is not JSON is reported and
skipped.
"""
import json
import sys


def num(v, fmt="{:.1f}"):
    return "-" if v is None else fmt.format(v)


def row(r):
    b = r.get("bench")
    n = r.get("nodes")
    if b == "converge":
        c = r.get("convergence_ms") or {}
        mode = r.get("mode")
        shape = f"{n} nodes, {mode}, bg {r.get('background_ups', 0)}/s"
        if mode == "eager":
            fig = (f"p50 {num(c.get('p50'))} ms, p99 {num(c.get('p99'))} ms, "
                   f"{r.get('converged')}/{r.get('updates')} converged, "
                   f"rmr {num(r.get('rmr'), '{:.2f}')}")
            target = "p99 <= 20 ms (with --background-ups 10000)"
        else:
            rd = r.get("rounds") or {}
            fig = (f"p99 {rd.get('p99', '-')} rounds ({num(c.get('p99'))} ms), "
                   f"{r.get('converged')}/{r.get('updates')} converged")
            target = "p99 <= 6 rounds"
        return b, shape, fig, target
    if b == "throughput":
        c = r.get("convergence_ms") or {}
        shape = f"{n} nodes, {r.get('mode')}, {r.get('search', 'rate')}"
        fig = (f"{num(r.get('converged_ups'), '{:,.0f}')} writes/s converged, "
               f"p99 {num(c.get('p99'))} ms, lost {r.get('lost')}, "
               f"efficiency {num(r.get('efficiency'), '{:.3f}')} "
               f"(ceiling {num(r.get('ceiling_dps'), '{:,.0f}')} dgram/s)")
        return b, shape, fig, ">= 1,000,000 writes/s or efficiency >= 0.5"
    if b == "partition":
        shape = f"{n} nodes, {r.get('groups')} groups, split {r.get('split')}"
        fig = (f"detect {num(r.get('detect_ms'), '{:.0f}')} ms, heal "
               f"{num(r.get('heal_ms'), '{:.0f}')} ms, conflicts "
               f"{r.get('conflicts')}, lost {r.get('lost')}, false events "
               f"{r.get('false_events')}")
        return b, shape, fig, "detect <= 500 ms, heal <= 1000 ms, lost 0"
    if b == "churn":
        d = r.get("dead_ms") or {}
        cu = r.get("catchup_ms") or {}
        shape = f"{n} nodes, kill {r.get('kill')}"
        fig = (f"dead p99 {num(d.get('p99'), '{:.0f}')} ms, catch-up p99 "
               f"{num(cu.get('p99'), '{:.0f}')} ms, false positives "
               f"{r.get('false_positives')}")
        return b, shape, fig, "-"
    if b == "join":
        shape = f"{n} nodes, {r.get('seeds')} seed(s), storm"
        if r.get("formed"):
            fig = f"formed {num(r.get('formed_ms'), '{:.0f}')} ms"
        else:
            fig = f"not formed ({r.get('nodes_full')}/{n} full views)"
        fig += (f", node p50 {num(r.get('node_p50_ms'), '{:.0f}')} ms, "
                f"{num(r.get('dgrams_per_node_mean'), '{:.0f}')} dgrams/node, "
                f"false suspect {r.get('false_suspect')}")
        return b, shape, fig, "formed <= 5 s (1000 nodes), no false suspicion"
    if b == "cache":
        shape = f"{n} nodes, P={r.get('pipeline')}"
        if r.get("system") == "compare":
            h = r.get("lag_p99_half_ms") or {}
            fig = (f"grapevined {num(r.get('grapevined_ops'), '{:,.0f}')} vs "
                   f"redis {num(r.get('redis_ops'), '{:,.0f}')} ops/s "
                   f"({num(r.get('ratio_ops'), '{:.2f}')}x)")
            if n != 1:
                fig += (f", lag p99 at half max "
                        f"{num(h.get('grapevined'), '{:.2f}')} vs "
                        f"{num(h.get('redis'), '{:.2f}')} ms")
            fig += f", lost {r.get('lost')}"
            if n == 1:
                target = ">= 1.5x at P=16, >= 1.0x at P=1"
            else:
                target = ">= 1.5x (SET, N=2), lag p99 <= 2 ms, lost 0"
            return b, shape, fig, target
        lag = r.get("lag_ms") or {}
        fig = (f"{r.get('system')} {num(r.get('ops_per_s'), '{:,.0f}')} "
               f"ops/s, lag p99 {num(lag.get('p99'), '{:.2f}')} ms, lost "
               f"{r.get('lost')}")
        return b, shape, fig, "lost 0"
    if b == "ceiling":
        return b, "loopback", f"{num(r.get('dps'), '{:,.0f}')} dgram/s", "-"
    return str(b), f"{n} nodes", "", "-"


def cache_kept(runs):
    """A cache run is summed up by its comparison lines; its steps show
    only when it had none (no Redis), and then only the max ones."""
    compared = any(r.get("bench") == "cache" and r.get("system") == "compare"
                   for r in runs)
    return [r for r in runs if r.get("bench") != "cache" or
            r.get("system") == "compare" or
            (not compared and r.get("rate") == "max")]


def main(paths):
    runs = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    r = json.loads(line)
                except ValueError as e:
                    print(f"summary: {p}:{i}: skipped ({e})", file=sys.stderr)
                    continue
                if isinstance(r, dict):
                    runs.append(r)
                else:
                    print(f"summary: {p}:{i}: skipped (not an object)",
                          file=sys.stderr)
    rows = []
    for r in cache_kept(runs):
        try:
            rows.append(row(r))
        except (TypeError, AttributeError) as e:
            print(f"summary: skipped a {r.get('bench')} line ({e})",
                  file=sys.stderr)
    if not rows:
        print("summary: no runs", file=sys.stderr)
        return 1
    w = [max(len(r[k]) for r in rows + [("bench", "shape", "figures",
                                          "target")]) for k in range(4)]
    hdr = ("bench", "shape", "figures", "target")
    print("  ".join(h.ljust(w[k]) for k, h in enumerate(hdr)))
    print("  ".join("-" * w[k] for k in range(4)))
    for r in rows:
        print("  ".join(r[k].ljust(w[k]) for k in range(4)))
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) >= 2 else 2)
    sys.exit(main(sys.argv[1:]))
