#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""perf/persist_catchup.py - what a restarted node fetches from its peers.

  persist_catchup.py [GRAPEVINED] [--keys 100000] [--missed 1000]

Three grapevined with --dir (2 shards each), KEYS keys of 100 bytes
written through node 0 and replicated. Node 2 is stopped, MISSED more
keys are written, node 2 restarts: with its --dir (it loads its files and
anti-entropy sends only the differing leaves) and then again with an
empty --dir (everything comes from the peers). For each: bytes node 2
received (UDP bytes_in + stream_bytes_in of GV.STATS) and the time until
it holds every key. One JSON line each ("bench":"persist","what":
"catchup"). GRAPEVINED defaults to build/release/tools/grapevined.
"""
import json
import os
import shutil
import signal
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import servers  # noqa: E402

try:
    import redis
except ImportError:
    print("persist_catchup.py: needs python3-redis (/usr/bin/python3)")
    sys.exit(77)


def stats(r):
    v = r.execute_command("GV.STATS")
    return {v[j].decode(): v[j + 1] for j in range(0, len(v), 2)}


def main():
    args = sys.argv[1:]
    binary = os.path.join(HERE, "..", "build", "release", "tools", "grapevined")
    keys, missed = 100000, 1000
    while args:
        a = args.pop(0)
        if a == "--keys":
            keys = int(args.pop(0))
        elif a == "--missed":
            missed = int(args.pop(0))
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            binary = a
    tmp = tempfile.mkdtemp(prefix="gv-catchup-")
    g = servers.free_port_block(30)
    rp = servers.free_port_block(3, udp=False)

    def argv(i):
        a = [binary, "--bind", f"127.0.0.1:{g + 10 * i}", "--resp",
             f"127.0.0.1:{rp + i}", "--shards", "2", "--name", f"n{i}",
             "--probe-interval-ms", "200", "--dir", os.path.join(tmp, f"n{i}"),
             "--save", ""]
        return a + (["--join", f"127.0.0.1:{g}"] if i else [])

    procs = []
    try:
        for i in range(3):
            p, log = servers._spawn(argv(i), f"gvd-c{i}")
            servers._wait_listening(p, rp + i, log, f"n{i}")
            procs.append(p)
        rs = [redis.Redis(port=rp + i, socket_timeout=30) for i in range(3)]
        servers.wait_until(lambda: all(stats(r)["members_alive"] == 2 for r in rs), 20)
        pipe = rs[0].pipeline(transaction=False)
        for i in range(keys):
            pipe.set(f"k{i}", "x" * 100)
            if i % 2000 == 1999:
                pipe.execute()
        pipe.execute()
        servers.wait_until(lambda: all(r.dbsize() == keys for r in rs), 120, 0.2)
        total = keys
        for mode in ("dir", "empty"):
            procs[2].send_signal(signal.SIGTERM)
            procs[2].wait(10)
            time.sleep(1.0)
            if mode == "empty":
                shutil.rmtree(os.path.join(tmp, "n2"))
            pipe = rs[0].pipeline(transaction=False)
            for i in range(missed):
                pipe.set(f"m{mode}{i}", "y" * 100)
            pipe.execute()
            total += missed
            t0 = time.time()
            p, log = servers._spawn(argv(2), f"gvd-c2{mode}")
            servers._wait_listening(p, rp + 2, log, "n2")
            procs[2] = p
            r2 = redis.Redis(port=rp + 2, socket_timeout=30)
            ok = servers.wait_until(lambda: r2.dbsize() == total, 120, 0.05)
            ms = (time.time() - t0) * 1000
            time.sleep(1.0)  # what is still in flight is counted too
            st = stats(r2)
            print(json.dumps({"bench": "persist", "what": "catchup", "mode": mode,
                              "keys": total, "missed": missed if mode == "dir" else total,
                              "converged": ok, "ms": round(ms),
                              "bytes_in": st["bytes_in"] + st["stream_bytes_in"],
                              "datagrams_in": st["datagrams_in"]}), flush=True)
    finally:
        servers.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
