#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""shards_test.py GRAPEVINED [TEST...] - cluster shards and host threads.

mixed:   3 daemons with --shards 8 and --threads 1, 2 and 4 form one
         cluster; 2,000 SETs at each converge on all three (DBSIZE 6,000
         and every key readable everywhere); INFO server shows shards and
         threads.
taskset: a daemon started under `taskset -c 0` with default flags (one
         usable CPU: 1 thread) joins daemons started with defaults on
         every CPU (2 threads here), and data flows both ways; a daemon
         with another --shards is refused with a clear error.
regions: 20 daemons with --region r1 --shards 4 --threads 1 in eager
         mode: 400 SETs at one node are on all 20 within 300 ms, that is
         by flooding (anti-entropy runs once a second), on every shard.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_test as ct  # noqa: E402


class Node(ct.Node):
    """A daemon with chosen flags only: shards=None leaves --shards to its
    default, prefix runs it under another command (taskset)."""

    def __init__(self, gossip, resp, shards=None, seeds=None, extra=(), name=None,
                 prefix=()):
        super().__init__(gossip, resp, shards, seeds, extra, name)
        self.prefix = list(prefix)

    def args(self):
        a = super().args()
        if self.shards is None:
            i = a.index("--shards")
            del a[i:i + 2]
        return self.prefix + a


def info(node, section):
    r = node.r()
    try:
        text = r.cmd("INFO", section).decode()
    finally:
        r.close()
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


def dbsize(node):
    r = node.r()
    try:
        return r.cmd("DBSIZE")
    finally:
        r.close()


def pipeline_set(node, keys, value=b"v"):
    """SET every key in one pipeline; returns the replies."""
    r = ct.Resp(node.resp, 30)
    try:
        out = bytearray()
        for k in keys:
            k = k.encode()
            out += b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
                len(k), k, len(value), value)
        r.send_raw(bytes(out))
        return [r.reply() for _ in keys]
    finally:
        r.close()


def all_present(node, keys):
    r = ct.Resp(node.resp, 30)
    try:
        got = r.cmd("MGET", *keys)
        return all(v is not None for v in got)
    finally:
        r.close()


def test_mixed():
    base_g = ct.free_port_block(30)
    base_r = ct.free_port_block(3, udp=False)
    nodes = []
    try:
        for i, t in enumerate((1, 2, 4)):
            seeds = [base_g] if i else None
            nodes.append(Node(base_g + 10 * i, base_r + i, 8, seeds,
                              ["--threads", str(t)], name=f"t{t}").start())
        for n, t in zip(nodes, (1, 2, 4)):
            s = info(n, "server")
            ct.check(s.get("shards") == "8" and s.get("threads") == str(t),
                     f"{n.name}: INFO server shards:8 threads:{t} "
                     f"({s.get('shards')}, {s.get('threads')})")
        ok = ct.wait_until(lambda: all(ct.alive_members(n) == 2 for n in nodes), 15)
        ct.check(ok, "--threads 1, 2 and 4 with --shards 8 form one cluster "
                 "(each sees 2 alive members)")
        keys = {}
        for n in nodes:
            keys[n.name] = [f"{n.name}:{j}" for j in range(2000)]
            rep = pipeline_set(n, keys[n.name])
            ct.check(all(x == "OK" for x in rep), f"{n.name}: 2,000 SETs acknowledged")
        ok = ct.wait_until(lambda: all(dbsize(n) == 6000 for n in nodes), 20)
        ct.check(ok, "all 6,000 keys on all three nodes (DBSIZE): "
                 + ", ".join(f"{n.name}={dbsize(n)}" for n in nodes))
        for n in nodes:
            every = all(all_present(n, keys[m.name]) for m in nodes)
            ct.check(every, f"{n.name}: every key of every writer readable (MGET)")
    finally:
        ct.stop_all(nodes)


def test_taskset():
    if subprocess.run(["sh", "-c", "command -v taskset"], capture_output=True).returncode:
        ct.log("skip: taskset not found (util-linux)")
        return
    cpus = os.sched_getaffinity(0)
    if 0 not in cpus:
        ct.log("skip: CPU 0 is not ours to use")
        return
    base_g = ct.free_port_block(40)
    base_r = ct.free_port_block(4, udp=False)
    nodes = []
    try:
        a = Node(base_g, base_r, None, None, name="all-a").start()
        b = Node(base_g + 10, base_r + 1, None, [base_g], name="all-b").start()
        c = Node(base_g + 20, base_r + 2, None, [base_g], name="one-cpu",
                 prefix=["taskset", "-c", "0"]).start()
        nodes = [a, b, c]
        want = str(min(8, len(cpus)))
        sa, sc = info(a, "server"), info(c, "server")
        ct.check(sa.get("shards") == "8" and sa.get("threads") == want,
                 f"defaults on {len(cpus)} CPUs: shards 8, threads {want} "
                 f"({sa.get('shards')}, {sa.get('threads')})")
        ct.check(sc.get("shards") == "8" and sc.get("threads") == "1",
                 f"defaults under taskset -c 0: shards 8, threads 1 "
                 f"({sc.get('shards')}, {sc.get('threads')})")
        ok = ct.wait_until(lambda: all(ct.alive_members(n) == 2 for n in nodes), 15)
        ct.check(ok, "the one-CPU node joins the default nodes")
        ka = [f"a:{j}" for j in range(500)]
        kc = [f"c:{j}" for j in range(500)]
        pipeline_set(a, ka)
        pipeline_set(c, kc)
        ok = ct.wait_until(lambda: all(dbsize(n) == 1000 for n in nodes), 20)
        ct.check(ok and all_present(c, ka) and all_present(a, kc),
                 "writes flow both ways between them")
        # a different --shards is still refused, clearly
        d = Node(base_g + 30, base_r + 3, 4, [base_g], name="other-shards")
        p = subprocess.run(d.args(), capture_output=True, text=True, timeout=20)
        ct.check(p.returncode == 1 and "shard count mismatch" in p.stderr
                 and "--shards" in p.stderr,
                 f"--shards 4 against --shards 8: refused, exit {p.returncode}: "
                 f"{p.stderr.strip().splitlines()[-2:] if p.stderr else ''}")
    finally:
        ct.stop_all(nodes)


def test_regions():
    n = 20
    base_g = ct.free_port_block(n * 10)
    base_r = ct.free_port_block(n, udp=False)
    nodes = []
    extra = ["--region", "r1", "--threads", "1", "--mode", "eager"]
    try:
        for i in range(n):
            seeds = [base_g] if i else None
            nodes.append(Node(base_g + 10 * i, base_r + i, 4, seeds, extra,
                              name=f"r{i}").start())
        ok = ct.wait_until(lambda: all(ct.alive_members(x) == n - 1 for x in nodes), 30)
        ct.check(ok, f"{n} daemons in region r1 form one cluster")
        r = nodes[7].r()
        members = r.cmd("GV.MEMBERS")
        r.close()
        ct.check(len(members) == n and all(m[2] == b"r1" for m in members),
                 "GV.MEMBERS shows every member in region r1")
        # Each burst: 400 new keys at node 0; time from the last ack until
        # every node holds all of them. Anti-entropy runs every 1 s, so
        # 300 ms means flooding did it, on every shard (400 keys cover the
        # 4 shards). The machine is shared: the best of 3 bursts counts.
        best = None
        for burst in range(3):
            keys = [f"b{burst}:{j}" for j in range(400)]
            want = 400 * (burst + 1)
            rep = pipeline_set(nodes[0], keys)
            t0 = time.time()
            if not all(x == "OK" for x in rep):
                ct.check(False, f"burst {burst}: SETs acknowledged ({rep[:3]})")
                break
            conns = [x.r() for x in nodes]
            try:
                pending = set(range(n))
                while pending and time.time() - t0 < 5:
                    for i in list(pending):
                        if conns[i].cmd("DBSIZE") >= want:
                            pending.discard(i)
                elapsed = time.time() - t0
            finally:
                for c in conns:
                    c.close()
            ct.log(f"burst {burst}: 400 writes on all {n} nodes after "
                   f"{elapsed * 1000:.0f} ms" + (f" ({len(pending)} short)" if pending else ""))
            if not pending and (best is None or elapsed < best):
                best = elapsed
        ct.check(best is not None and best <= 0.3,
                 f"400 SETs at one node on all {n} within 300 ms "
                 f"(best of 3: {best * 1000 if best else -1:.0f} ms)")
        # GV.STATS reads the shards' snapshot (every 100 ms; later under
        # the load of 20 daemons): wait for one taken after the writes
        ct.wait_until(lambda: ct.stats(nodes[0].resp)["updates_sent"] > 0, 3)
        st = ct.stats(nodes[0].resp)
        ct.check(st["updates_sent"] > 0, "node 0 flooded its writes (updates_sent "
                 f"{st['updates_sent']})")
    finally:
        ct.stop_all(nodes)


TESTS = {"mixed": test_mixed, "taskset": test_taskset, "regions": test_regions}


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    ct.BIN = sys.argv[1]
    names = sys.argv[2:] or list(TESTS)
    try:
        for name in names:
            ct.log(f"== {name}")
            try:
                TESTS[name]()
            except Exception as e:  # a test that blew up is a failure
                ct.check(False, f"{name}: {type(e).__name__}: {e}")
    finally:
        for p in ct.PROCS:
            if p.poll() is None:
                p.kill()
    print(f"{ct.PASSED} passed, {ct.FAILED} failed")
    return 1 if ct.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
