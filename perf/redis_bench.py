#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""redis-benchmark against one grapevined of an N-node local cluster.

usage: perf/redis_bench.py [--nodes 3] [--shards 2] [--requests 200000]
                           [--pipeline 16] [--bin build/release/tools/grapevined]

Starts N daemons on loopback, runs `redis-benchmark -t set -P P` against
the first, waits until every node holds every key, and prints one JSON line:
set_per_s (what redis-benchmark measured), converge_s (benchmark end to
equal DBSIZE everywhere), and the propagation delay percentiles read from
the other nodes' grapevine_propagation_delay_seconds histograms, reported
in milliseconds (bucket upper bounds: p99_ms_le 2 means "at most 2 ms").
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request


def free_base(n):
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1]
        s.close()
        if base + n < 60000:
            return base
    raise RuntimeError("no ports")


def dbsize(port):
    out = subprocess.run(["redis-cli", "-p", str(port), "DBSIZE"], capture_output=True, text=True, timeout=10)
    return int(out.stdout.strip() or -1)


def histogram(port):
    """The propagation histogram's cumulative buckets, bounds in ms."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    buckets = []
    for m in re.finditer(r'grapevine_propagation_delay_seconds_bucket\{le="([^"]+)"\} (\d+)', text):
        le = float("inf") if m.group(1) == "+Inf" else round(float(m.group(1)) * 1000, 6)
        buckets.append((le, int(m.group(2))))
    return buckets


def quantile(buckets, q):
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    for le, c in buckets:
        if c >= q * total:
            return le
    return float("inf")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--pipeline", type=int, default=16)
    ap.add_argument("--bin", default="build/release/tools/grapevined")
    a = ap.parse_args()
    base = free_base(a.nodes * 10 + a.nodes * 3)
    gossip = [base + 10 * i for i in range(a.nodes)]
    resp = [base + 10 * a.nodes + i for i in range(a.nodes)]
    metrics = [base + 10 * a.nodes + a.nodes + i for i in range(a.nodes)]
    procs = []
    try:
        for i in range(a.nodes):
            args = [a.bin, "--bind", f"127.0.0.1:{gossip[i]}", "--resp", f"127.0.0.1:{resp[i]}",
                    "--metrics", f"127.0.0.1:{metrics[i]}", "--shards", str(a.shards),
                    "--name", f"n{i}", "--log-level", "warn"]
            if i:
                args += ["--join", f"127.0.0.1:{gossip[0]}"]
            procs.append(subprocess.Popen(args, stderr=subprocess.DEVNULL))
        time.sleep(2)
        out = subprocess.run(["redis-benchmark", "-p", str(resp[0]), "-t", "set", "-n", str(a.requests),
                              "-r", "100000000", "-P", str(a.pipeline), "-q"],
                             capture_output=True, text=True, timeout=600).stdout
        t_end = time.time()
        m = re.search(r"SET: ([0-9.]+) requests per second", out)
        rate = float(m.group(1)) if m else None
        want = dbsize(resp[0])
        deadline = time.time() + 120
        while time.time() < deadline and any(dbsize(p) != want for p in resp):
            time.sleep(0.05)
        converge = time.time() - t_end
        ok = all(dbsize(p) == want for p in resp)
        merged = None
        for p in metrics[1:]:
            h = histogram(p)
            merged = h if merged is None else [(le, c + h2[1]) for (le, c), h2 in zip(merged, h)]
        print(json.dumps({
            "bench": "redis_set", "nodes": a.nodes, "shards": a.shards, "pipeline": a.pipeline,
            "requests": a.requests, "set_per_s": rate, "keys": want, "converged": ok,
            "converge_s": round(converge, 3),
            "propagation_p50_ms_le": quantile(merged, 0.5), "propagation_p99_ms_le": quantile(merged, 0.99),
            "propagation_samples": merged[-1][1] if merged else 0,
            "machine": {"cores": os.cpu_count(), "kernel": os.uname().release},
        }))
        return 0 if ok else 1
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    sys.exit(main())
