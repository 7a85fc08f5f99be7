#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How long a large value takes to reach every node (issue 13), against
the loopback TCP ceiling measured in the same run.

  perf/stream_transfer.py [--bin build/release/tools/grapevined]
      [--nodes 3,8] [--sizes 1m,16m,256m] [--runs 3] [--shards 2]
      [--ceiling-bytes 4g] [--json FILE]

For each cluster size (nodes on loopback, started fresh: release
grapevined, default flags but --probe-interval-ms 200) and each value
size, R runs: a raw socket SETs a fresh key of seeded random bytes at
node 0 (the whole RESP command built beforehand) while one connection per
other node polls STRLEN every 1 ms; the time is from the first byte of
the SET sent to the last node answering the full size. set_ms is until
node 0's +OK (the value parsed and stored there). GV.STATS gives the
stream bytes the run moved (stream_bytes_out summed over the nodes, all
frames, against the value bytes it delivered); the key is then deleted
everywhere before the next run.

bandwidth = bytes x (nodes - 1) / time, in MB/s (10^6); ratio =
bandwidth / ceiling; after_set_* is the same from node 0's +OK on (the
stream channel alone, without the RESP upload to node 0), the ceiling being one TCP connection on 127.0.0.1
between two processes (1 MiB sendall / recv_into), measured at the start
of the run (the best of 3).

Prints one JSON line per configuration (like gvbench's: "bench",
"version", figures, "machine") to stdout and to --json, then a table.
"""
import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import servers  # noqa: E402

MB = 1000 * 1000


def size_arg(s):
    s = s.strip().lower()
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    if s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s)


# ------------------------------------------------------------- ceiling

def _sink(port, ready, total):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1)
    os.write(ready, b"x")
    c, _ = ls.accept()
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    got = 0
    while got < total:
        n = c.recv_into(mv)
        if not n:
            break
        got += n
    c.sendall(b"k")
    c.close()
    os._exit(0 if got == total else 1)


def tcp_ceiling(total):
    """MB/s of one loopback TCP connection moving `total` bytes between
    this process and a forked sink (1 MiB sendall / recv_into)."""
    port = servers.free_port_block(1, udp=False)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _sink(port, w, total)
    os.close(w)
    os.read(r, 1)
    os.close(r)
    s = socket.create_connection(("127.0.0.1", port))
    buf = memoryview(bytearray(os.urandom(1 << 20)))
    t0 = time.perf_counter()
    left = total
    while left:
        n = min(left, len(buf))
        s.sendall(buf[:n])
        left -= n
    s.recv(1)  # the sink has everything
    dt = time.perf_counter() - t0
    s.close()
    os.waitpid(pid, 0)
    return total / dt / MB


# ------------------------------------------------------------- transfer

def stats(port):
    r = servers.Resp(port, timeout=60)
    try:
        v = r.cmd("GV.STATS")
    finally:
        r.close()
    return {v[i].decode(): v[i + 1] for i in range(0, len(v), 2)}


def strlen_req(key):
    k = key.encode()
    return b"*2\r\n$6\r\nSTRLEN\r\n$%d\r\n%s\r\n" % (len(k), k)


def one_run(c, key, data_cmd, size, timeout):
    """SET at node 0 (in a thread), poll STRLEN at the others; returns
    (time_s, set_s, per-node times) or raises on timeout."""
    n = len(c.resp)
    polls = [servers.Resp(p, timeout=60) for p in c.resp[1:]]
    req = strlen_req(key)
    setter = socket.create_connection(("127.0.0.1", c.resp[0]))
    done = {}

    def do_set():
        setter.sendall(data_cmd)
        reply = setter.recv(64)
        done["set"] = time.perf_counter()
        done["reply"] = reply
    th = threading.Thread(target=do_set)
    t0 = time.perf_counter()
    th.start()
    reached = {}
    while len(reached) < n - 1:
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"{key}: only {len(reached)} of {n - 1} nodes after {timeout} s")
        for i, p in enumerate(polls):
            if i in reached:
                continue
            p.s.sendall(req)
            if p.reply() == size:
                reached[i] = time.perf_counter() - t0
        time.sleep(0.001)
    th.join()
    if not done.get("reply", b"").startswith(b"+OK"):
        raise RuntimeError(f"SET answered {done.get('reply')!r}")
    for p in polls:
        p.close()
    setter.close()
    return max(reached.values()), done["set"] - t0, reached


def delete_everywhere(c, key):
    r = servers.Resp(c.resp[0])
    r.cmd("DEL", key)
    r.close()
    conns = [servers.Resp(p) for p in c.resp]
    servers.wait_until(lambda: all(x.cmd("EXISTS", key) == 0 for x in conns), 30, 0.01)
    for x in conns:
        x.close()


def machine():
    return {"cores": os.cpu_count(), "kernel": platform.release()}


def version(binary):
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip().split()[-1]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "?"


def human(n):
    return f"{n / MB:g} MB" if n >= MB else f"{n} B"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "release", "tools", "grapevined"))
    ap.add_argument("--nodes", default="3,8")
    ap.add_argument("--sizes", default="1m,16m,256m",
                    help="value sizes; k/m/g are powers of 1000 here (1m = 1,000,000 B)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--ceiling-bytes", default="4g")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--json")
    a = ap.parse_args()
    if not os.path.exists(a.bin):
        print(f"no {a.bin}: cmake --preset release && cmake --build --preset release",
              file=sys.stderr)
        return 2
    sizes = [int(float(s[:-1]) * {"k": 1e3, "m": 1e6, "g": 1e9}[s[-1]]) if s[-1] in "kmg"
             else int(s) for s in a.sizes.lower().split(",")]
    nodes = [int(x) for x in a.nodes.split(",")]
    cmd = " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    ceil_bytes = size_arg(a.ceiling_bytes)
    ceilings = [tcp_ceiling(ceil_bytes) for _ in range(3)]
    ceiling = max(ceilings)
    print(f"# loopback TCP ceiling: {ceiling:.0f} MB/s (best of "
          f"{', '.join(f'{x:.0f}' for x in ceilings)}; {human(ceil_bytes)} each)",
          file=sys.stderr, flush=True)
    ver = version(a.bin)
    jf = open(a.json, "a") if a.json else None
    rows = []
    try:
        for n in nodes:
            c = servers.GvCluster(a.bin, n=n, shards=a.shards)
            try:
                for size in sizes:
                    rnd = random.Random(size)
                    times, sets, sbytes, vbytes = [], [], 0, 0
                    for run in range(a.runs):
                        key = f"bench:{n}:{size}:{run}"
                        val = rnd.randbytes(size)
                        kb = key.encode()
                        data_cmd = b"".join([b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n" %
                                             (len(kb), kb, size), val, b"\r\n"])
                        del val
                        before = [stats(p) for p in c.resp]
                        t, s, _ = one_run(c, key, data_cmd, size, a.timeout)
                        del data_cmd
                        delete_everywhere(c, key)
                        time.sleep(0.3)  # the counters are published every few ms
                        after = [stats(p) for p in c.resp]
                        sbytes += sum(x["stream_bytes_out"] - y["stream_bytes_out"]
                                      for x, y in zip(after, before))
                        vbytes += sum(x["stream_value_bytes_out"] - y["stream_value_bytes_out"]
                                      for x, y in zip(after, before))
                        times.append(t)
                        sets.append(s)
                        print(f"# {n} nodes, {human(size)}, run {run + 1}: {t * 1000:.1f} ms "
                              f"(SET {s * 1000:.1f} ms)", file=sys.stderr, flush=True)
                    p50 = statistics.median(times)
                    bw = size * (n - 1) / p50 / MB
                    after = statistics.median([t - s for t, s in zip(times, sets)])
                    row = {"bench": "stream_transfer", "version": ver, "nodes": n,
                           "shards": a.shards, "bytes": size, "runs": a.runs,
                           "time_p50_ms": round(p50 * 1000, 1),
                           "time_max_ms": round(max(times) * 1000, 1),
                           "set_p50_ms": round(statistics.median(sets) * 1000, 1),
                           "bandwidth_mbps": round(bw, 1),
                           "ceiling_mbps": round(ceiling, 1),
                           "ratio": round(bw / ceiling, 4),
                           "after_set_p50_ms": round(after * 1000, 1),
                           "after_set_bandwidth_mbps": round(size * (n - 1) / after / MB, 1),
                           "stream_bytes_out": sbytes // a.runs,
                           "stream_value_bytes_out": vbytes // a.runs,
                           "command": cmd, "machine": machine()}
                    line = json.dumps(row)
                    print(line, flush=True)
                    if jf:
                        jf.write(line + "\n")
                        jf.flush()
                    rows.append(row)
            finally:
                c.stop()
    finally:
        servers.stop_all()
        if jf:
            jf.close()
    print(f"\n`{cmd}` (grapevined {ver}, {os.cpu_count()} cores, "
          f"loopback TCP ceiling {ceiling:.0f} MB/s)\n")
    print("| nodes | value | p50 ms | max ms | SET ms (p50) | bandwidth MB/s | of ceiling "
          "| after the SET: ms, MB/s | stream bytes / value bytes |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ovh = r["stream_bytes_out"] / r["stream_value_bytes_out"] \
            if r["stream_value_bytes_out"] else 0
        print(f"| {r['nodes']} | {human(r['bytes'])} | {r['time_p50_ms']:.1f} | "
              f"{r['time_max_ms']:.1f} | {r['set_p50_ms']:.1f} | {r['bandwidth_mbps']:.0f} | "
              f"{100 * r['ratio']:.1f}% | {r['after_set_p50_ms']:.1f}, "
              f"{r['after_set_bandwidth_mbps']:.0f} | {ovh:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
