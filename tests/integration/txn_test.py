#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Transactions and large multi-key commands against a real grapevined.

usage: txn_test.py GRAPEVINED [TEST ...]

MULTI/EXEC/DISCARD/WATCH transcripts give the same bytes as a real
redis-server; redis-py pipelines with and without transaction; WATCH
aborted by another client's write and by a write arriving by gossip;
10,000- and 200,000-key MSET/MGET/DEL (no BUSY); a reader never sees half
of an EXEC or of an MSET. Exits 77 when redis-server is missing.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_test as ct  # noqa: E402

check, log = ct.check, ct.log
REDIS = None  # the reference redis-server's port


def encode(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


def transcript(port, cmds, settle=0.3):
    """Send cmds (lists of arguments) in one write; every byte back
    until the server is quiet for `settle` seconds (or closes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"".join(encode(*c) for c in cmds))
    out = b""
    s.settimeout(settle)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    s.close()
    return out


def start_redis():
    port = ct.free_port_block(1, udp=False)
    d = tempfile.mkdtemp(prefix="gv-redis-")
    p = subprocess.Popen(["redis-server", "--port", str(port), "--save", "",
                          "--appendonly", "no", "--dir", d],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ct.PROCS.append(p)
    if not ct.wait_until(lambda: ping(port), 10):
        raise RuntimeError("redis-server did not start")
    return port


def ping(port):
    try:
        return transcript(port, [["PING"]], 0.05) == b"+PONG\r\n"
    except OSError:
        return False


def node(shards=4, threads=2, seeds=None, extra=()):
    base = ct.free_port_block(shards)
    resp = ct.free_port_block(1, udp=False)
    return ct.Node(base, resp, shards=shards, seeds=seeds,
                   extra=["--threads", str(threads)] + list(extra)).start()


# ------------------------------------------------------------ transcripts

# Each a list of commands sent in one go to a fresh connection of both
# servers; the keys are the test's own (t:...), deleted first.
TRANSCRIPTS = {
    "basic": [["MULTI"], ["SET", "t:a", "1"], ["GET", "t:a"],
              ["DEL", "t:a", "t:b"], ["EXEC"]],
    "empty": [["MULTI"], ["EXEC"]],
    "nested": [["MULTI"], ["MULTI"], ["SET", "t:a", "1"], ["EXEC"]],
    "without": [["EXEC"], ["DISCARD"], ["UNWATCH"]],
    "discard": [["MULTI"], ["SET", "t:a", "1"], ["DISCARD"], ["GET", "t:a"],
                ["EXEC"]],
    "unknown": [["MULTI"], ["SET", "t:a", "1"], ["NOSUCH", "x"],
                ["EXEC"], ["GET", "t:a"]],
    "arity": [["MULTI"], ["SET", "t:a"], ["GET", "t:a"], ["EXEC"]],
    "exec_arity": [["MULTI"], ["PING"], ["EXEC", "x"], ["EXEC"]],
    "discard_arity": [["MULTI"], ["DISCARD", "x"], ["EXEC"]],
    "watch_in_multi": [["MULTI"], ["WATCH", "t:a"], ["PING"], ["EXEC"]],
    "watch_arity": [["WATCH"], ["MULTI"], ["WATCH"], ["EXEC"]],
    "runtime_error": [["MULTI"], ["SET", "t:a", "1", "BAD"],
                      ["SET", "t:b", "2"], ["MGET", "t:a", "t:b"], ["EXEC"]],
    "watch_own_write": [["WATCH", "t:a"], ["SET", "t:a", "5"], ["MULTI"],
                        ["SET", "t:a", "6"], ["EXEC"], ["GET", "t:a"]],
    "watch_same_value": [["SET", "t:a", "1"], ["WATCH", "t:a"],
                         ["SET", "t:a", "1"], ["MULTI"], ["PING"], ["EXEC"]],
    "watch_absent_del": [["WATCH", "t:none"], ["DEL", "t:none"], ["MULTI"],
                         ["PING"], ["EXEC"]],
    "watch_set_del": [["WATCH", "t:a"], ["SET", "t:a", "1"],
                      ["DEL", "t:a"], ["MULTI"], ["PING"], ["EXEC"]],
    "watch_many": [["WATCH"] + [f"t:w{i}" for i in range(16)], ["MULTI"],
                   ["MSET"] + sum([[f"t:w{i}", str(i)] for i in range(16)],
                                  []),
                   ["MGET"] + [f"t:w{i}" for i in range(16)], ["EXEC"]],
    "watch_many_changed": [["WATCH"] + [f"t:w{i}" for i in range(16)],
                           ["SET", "t:w13", "x"], ["MULTI"],
                           ["MSET"] + sum([[f"t:w{i}", "y"]
                                           for i in range(16)], []),
                           ["EXEC"], ["GET", "t:w0"]],
    "unwatch": [["WATCH", "t:a"], ["SET", "t:a", "2"], ["UNWATCH"],
                ["MULTI"], ["GET", "t:a"], ["EXEC"]],
    "discard_unwatches": [["WATCH", "t:a"], ["MULTI"], ["DISCARD"],
                          ["SET", "t:a", "3"], ["MULTI"], ["GET", "t:a"],
                          ["EXEC"]],
    "exec_unwatches": [["WATCH", "t:a"], ["MULTI"], ["EXEC"],
                       ["SET", "t:a", "4"], ["MULTI"], ["GET", "t:a"],
                       ["EXEC"]],
    "unwatch_queued": [["WATCH", "t:a"], ["MULTI"], ["UNWATCH"],
                       ["PING"], ["EXEC"]],
    "quit_in_multi": [["MULTI"], ["PING"], ["QUIT"], ["PING"]],
    "commands": [["MULTI"], ["ECHO", "hi"], ["PING"], ["EXISTS", "t:a"],
                 ["SET", "t:c", "v", "NX"], ["SET", "t:c", "w", "NX"],
                 ["GET", "t:c"], ["EXEC"]],
}


def test_transcripts():
    g = node()
    try:
        for name, cmds in TRANSCRIPTS.items():
            pre = [["DEL", "t:a", "t:b", "t:c"] +
                   [f"t:w{i}" for i in range(16)]]
            for port in (REDIS, g.resp):
                transcript(port, pre, 0.05)
            want = transcript(REDIS, cmds)
            got = transcript(g.resp, cmds)
            if not check(got == want, f"transcript {name}"):
                log(f"   redis:      {want!r}")
                log(f"   grapevined: {got!r}")
    finally:
        ct.stop_all([g])


# ------------------------------------------------------------ redis-py

def test_redis_py():
    try:
        import redis
    except ImportError:
        log("skip: redis-py (python3-redis) is not installed")
        return
    g = node()
    try:
        for port, who in ((REDIS, "redis"), (g.resp, "grapevined")):
            c = redis.Redis(port=port)
            c.delete("p:a", "p:b", "p:c")
            p = c.pipeline(transaction=True)
            p.set("p:a", "1").get("p:a").mset({"p:b": "2", "p:c": "3"})
            p.mget("p:a", "p:b", "p:c").exists("p:a", "p:x").delete("p:c")
            res = p.execute()
            check(res == [True, b"1", True, [b"1", b"2", b"3"], 1, 1],
                  f"{who}: pipeline(transaction=True) {res}")
            p = c.pipeline(transaction=False)
            p.set("p:a", "x").get("p:a").delete("p:a", "p:b").get("p:b")
            res = p.execute()
            check(res == [True, b"x", 2, None],
                  f"{who}: pipeline(transaction=False) {res}")
            # an error queued: the whole transaction refused
            p = c.pipeline(transaction=True)
            p.set("p:a", "1")
            p.execute_command("NOSUCHCOMMAND")
            try:
                p.execute()
                check(False, f"{who}: EXECABORT raises")
            except redis.exceptions.ResponseError as e:
                check("EXECABORT" in str(e) or "unknown command" in str(e),
                      f"{who}: EXECABORT raises ({e})")
            check(c.get("p:a") is None, f"{who}: nothing of it applied")
            # WATCH through redis-py's transaction helper
            c.set("p:n", "1")

            def incr(pipe):
                v = int(pipe.get("p:n"))
                pipe.multi()
                pipe.set("p:n", v + 1)
            c.transaction(incr, "p:n")
            check(c.get("p:n") == b"2", f"{who}: transaction() with WATCH")
            p = c.pipeline()
            p.watch("p:n")
            c.set("p:n", "10")  # another connection's write
            p.multi()
            p.set("p:n", "11")
            try:
                p.execute()
                check(False, f"{who}: WatchError")
            except redis.exceptions.WatchError:
                check(True, f"{who}: WatchError")
            check(c.get("p:n") == b"10", f"{who}: aborted EXEC applied "
                  "nothing")
            c.close()
    finally:
        ct.stop_all([g])


# ------------------------------------------------------------ WATCH

def test_watch_other_client():
    # 2 threads: the two-step EXEC; 1 thread hosting 4 shards: the
    # one-step check (all checks before any write on the thread)
    for threads in (2, 1):
        log(f"-- 4 shards on {threads} thread(s)")
        watch_other_client(threads)


def watch_other_client(threads):
    g = node(shards=4, threads=threads)
    try:
        a, b = g.r(), g.r()
        keys = [f"wc{i}" for i in range(8)]
        # each key in turn changed: whatever its shard's place on its
        # thread, the check precedes every write of the EXEC
        for j, kj in enumerate(keys):
            a.cmd("MSET", *sum([[k, "0"] for k in keys], []))
            ok = a.cmd("WATCH", *keys) == "OK"
            ok &= b.cmd("SET", kj, "other") == "OK"
            a.cmd("MULTI")
            a.cmd("MSET", *sum([[k, "1"] for k in keys], []))
            ok &= a.cmd("EXEC") is None
            want = [b"0"] * len(keys)
            want[j] = b"other"
            ok &= a.cmd("MGET", *keys) == want
            if not ok:
                break
        check(ok, f"another client's write to any of 8 WATCHed keys: "
              f"EXEC null, nothing applied (key {j})")
        # one key, so one shard: the one-step check
        a.cmd("WATCH", "wc1")
        b.cmd("DEL", "wc1")
        a.cmd("MULTI")
        a.cmd("SET", "wc1", "2")
        check(a.cmd("EXEC") is None, "one key: EXEC answers null")
        # unchanged: it applies
        a.cmd("WATCH", *keys)
        a.cmd("MULTI")
        a.cmd("MSET", *sum([[k, "3"] for k in keys], []))
        check(a.cmd("EXEC") == ["OK"], "unchanged: EXEC applies")
        st = ct.stats(g.resp)
        check(st.get("watch_aborts") == 9 and st.get("execs") == 10,
              f"watch_aborts {st.get('watch_aborts')}, execs "
              f"{st.get('execs')}")
        a.close()
        b.close()
    finally:
        ct.stop_all([g])


def test_watch_gossip():
    n1 = node(shards=4, threads=2)
    n2 = node(shards=4, threads=2, seeds=[n1.gossip])
    try:
        ok = ct.wait_until(lambda: ct.alive_members(n1) == 1 and
                           ct.alive_members(n2) == 1, 15)
        check(ok, "two nodes joined")
        a, b = n1.r(), n2.r()
        for keys, what in ((["gw"], "one key"),
                           ([f"gw{i}" for i in range(8)], "8 keys")):
            a.cmd("MSET", *sum([[k, "0"] for k in keys], []))
            ct.wait_until(lambda: b.cmd("GET", keys[-1]) == b"0", 10)
            check(a.cmd("WATCH", *keys) == "OK", f"{what}: WATCH on node 1")
            b.cmd("SET", keys[-1], "remote")
            seen = ct.wait_until(
                lambda: a.cmd("GET", keys[-1]) == b"remote", 10)
            check(seen, f"{what}: node 2's write reached node 1")
            a.cmd("MULTI")
            a.cmd("SET", keys[0], "mine")
            check(a.cmd("EXEC") is None,
                  f"{what}: EXEC after a gossip write answers null")
        a.close()
        b.close()
    finally:
        ct.stop_all([n2, n1])


# ------------------------------------------------------------ large commands

def big(port, n, timeout=120):
    r = ct.Resp(port, timeout=timeout)
    try:
        keys = [b"big:%d" % i for i in range(n)]
        args = []
        for i, k in enumerate(keys):
            args += [k, b"v%d" % i]
        r.send_raw(encode("MSET", *args))
        check(r.reply() == "OK", f"MSET of {n} keys answers OK")
        check(r.cmd("DBSIZE") == n, f"DBSIZE is {n}")
        r.send_raw(encode("MGET", *keys))
        v = r.reply()
        check(isinstance(v, list) and len(v) == n and
              all(v[i] == b"v%d" % i for i in range(n)),
              f"MGET of {n} keys reads every value back")
        r.send_raw(encode("EXISTS", *keys))
        check(r.reply() == n, f"EXISTS of {n} keys")
        r.send_raw(encode("DEL", *keys))
        check(r.reply() == n, f"DEL of {n} keys deletes {n}")
        check(r.cmd("DBSIZE") == 0, "none left")
        # in a transaction too
        r.send_raw(encode("MULTI") + encode("MSET", *args) +
                   encode("MGET", keys[0], keys[-1]) + encode("DEL", *keys) +
                   encode("EXEC"))
        replies = [r.reply() for _ in range(5)]
        check(replies[-1] == ["OK", [b"v0", b"v%d" % (n - 1)], n],
              f"MULTI/MSET/MGET/DEL/EXEC of {n} keys")
    finally:
        r.close()


def test_large():
    g = node()
    try:
        big(g.resp, 10000)
        big(g.resp, 200000)
        st = ct.stats(g.resp)
        check(st.get("busy_replies") == 0, "no BUSY reply")
    finally:
        ct.stop_all([g])
    g = node(shards=1, threads=1)  # one ring for everything
    try:
        big(g.resp, 200000)
    finally:
        ct.stop_all([g])


def test_refused_applies_nothing():
    g = node()
    try:
        r = g.r()
        keys = [f"rf{i}" for i in range(64)]
        # odd MSET: refused before any shard sees it
        e = r.cmd("MSET", *(sum([[k, "1"] for k in keys], []) + ["x"]))
        check(isinstance(e, Exception), f"odd MSET refused ({e})")
        check(r.cmd("EXISTS", *keys) == 0, "refused MSET applied nothing")
        # a transaction refused while queuing applies nothing
        r.cmd("MULTI")
        r.cmd("MSET", *sum([[k, "1"] for k in keys], []))
        r.cmd("GET")
        check("EXECABORT" in str(r.cmd("EXEC")), "EXECABORT")
        check(r.cmd("EXISTS", *keys) == 0, "aborted EXEC applied nothing")
        # the queue is bounded (70 MiB of queued arguments)
        r.cmd("MULTI")
        v = b"z" * 50000
        errs = 0
        for i in range(1600):
            r.send_raw(encode("SET", f"big{i}", v))
        for i in range(1600):
            errs += isinstance(r.reply(), Exception)
        check(errs > 0, f"80 MB queued: refused past the bound ({errs})")
        check("EXECABORT" in str(r.cmd("EXEC")), "then EXECABORT")
        check(r.cmd("EXISTS", "big0") == 0, "and nothing applied")
        r.close()
    finally:
        ct.stop_all([g])


def test_oom():
    """--max-memory: an MSET that a shard cannot hold is refused whole,
    before any shard applies its part; at the cap MULTI refuses a write
    while queuing (EXECABORT), as Redis does over maxmemory."""
    g = node(extra=["--max-memory", str(4 << 20)])
    try:
        r = ct.Resp(g.resp, 30)
        v = b"x" * 100
        args = []
        for i in range(50000):
            args += [b"o%d" % i, v]
        r.send_raw(encode("MSET", *args))
        e = r.reply()
        check(isinstance(e, Exception) and str(e).startswith("OOM"),
              f"an MSET over the cap is refused ({e})")
        check(r.cmd("DBSIZE") == 0, "and applied nothing on any shard")
        i = 0
        while not isinstance(r.cmd("SET", b"f%d" % i, v), Exception):
            i += 1
        check(i > 1000, f"SETs until the cap ({i})")
        time.sleep(0.3)  # the shards publish their bytes
        n = r.cmd("DBSIZE")
        keys = [b"m%d" % j for j in range(64)]
        e = r.cmd("MSET", *sum([[k, b"y"] for k in keys], []))
        check(isinstance(e, Exception) and str(e).startswith("OOM"),
              f"at the cap an MSET is refused ({e})")
        check(r.cmd("EXISTS", *keys) == 0 and r.cmd("DBSIZE") == n,
              "and applied nothing")
        r.send_raw(encode("MULTI") + encode("SET", "q", "1") +
                   encode("EXEC"))
        got = [r.reply() for _ in range(3)]
        check(got[0] == "OK" and str(got[1]).startswith("OOM") and
              str(got[2]).startswith("EXECABORT"),
              f"MULTI at the cap: {got}")
        check(ct.stats(g.resp).get("oom_refused", 0) >= 2, "oom_refused")
        r.close()
    finally:
        ct.stop_all([g])


def test_held():
    """Full rings: reqs wait in the front end (reqs_held), in order.
    One thread's ring for 64 clients pipelining SET k i / GET k pairs
    (more than the ring holds, 256 each, so reqs wait; reqs_held is
    logged, not checked: a fast shard may keep up):
    each GET must read its own SET's value (nothing overtakes), with no
    BUSY reply."""
    g = node(shards=1, threads=1)
    try:
        n_clients, pairs = 64, 1500
        bad = []

        def client(cid):
            r = ct.Resp(g.resp, timeout=60)
            try:
                out = b"".join(encode("SET", f"h{cid}", str(i)) +
                               encode("GET", f"h{cid}")
                               for i in range(pairs))
                r.send_raw(out)
                for i in range(pairs):
                    a, b = r.reply(), r.reply()
                    if a != "OK" or b != str(i).encode():
                        bad.append((cid, i, a, b))
                        return
            finally:
                r.close()
        ts = [threading.Thread(target=client, args=(c,))
              for c in range(n_clients)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        st = ct.stats(g.resp)
        check(not bad, f"{n_clients} clients x {pairs} SET/GET pairs in "
              f"order" + (f": {bad[0]}" if bad else ""))
        check(st.get("busy_replies") == 0, "no BUSY reply")
        log(f"   reqs_held {st.get('reqs_held')}")
    finally:
        ct.stop_all([g])


# ------------------------------------------------------------ atomicity

def atomic_run(port, n_keys, rounds, use_multi):
    keys = [f"at{i}" for i in range(n_keys)]
    w = ct.Resp(port)
    w.cmd("MSET", *sum([[k, "0"] for k in keys], []))
    stop = threading.Event()
    mixed, reads = [], [0]

    def reader():
        r = ct.Resp(port)
        try:
            while not stop.is_set():
                v = r.cmd("MGET", *keys)
                reads[0] += 1
                if len(set(v)) != 1:
                    mixed.append(v)
                    return
        finally:
            r.close()
    ts = [threading.Thread(target=reader) for _ in range(2)]
    for t in ts:
        t.start()
    try:
        for i in range(1, rounds + 1):
            args = sum([[k, str(i)] for k in keys], [])
            if use_multi:
                w.send_raw(encode("MULTI") + encode("MSET", *args) +
                           encode("EXEC"))
                w.reply()
                w.reply()
                if w.reply() != ["OK"]:
                    check(False, "EXEC answered")
                    break
            else:
                w.cmd("MSET", *args)
    finally:
        stop.set()
        for t in ts:
            t.join(10)
        w.close()
    return mixed, reads[0]


def test_atomic():
    g = node(shards=8, threads=2)
    try:
        for use_multi, what in ((True, "MULTI/MSET/EXEC"), (False, "MSET")):
            mixed, reads = atomic_run(g.resp, 256, 400, use_multi)
            check(not mixed and reads > 10,
                  f"{what} of 256 keys on 8 shards: {reads} MGETs, none "
                  f"saw a mix" + (f" (saw {sorted(set(mixed[0]))})"
                                  if mixed else ""))
    finally:
        ct.stop_all([g])


TESTS = {
    "transcripts": test_transcripts,
    "redis_py": test_redis_py,
    "watch_other_client": test_watch_other_client,
    "watch_gossip": test_watch_gossip,
    "large": test_large,
    "refused": test_refused_applies_nothing,
    "oom": test_oom,
    "held": test_held,
    "atomic": test_atomic,
}


def main():
    global REDIS
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    ct.BIN = sys.argv[1]
    if not shutil.which("redis-server"):
        print("skip: redis-server is not installed")
        return 77
    names = sys.argv[2:] or list(TESTS)
    try:
        REDIS = start_redis()
        for name in names:
            log(f"== {name}")
            try:
                TESTS[name]()
            except Exception as e:  # a test that blew up is a failure
                check(False, f"{name}: {type(e).__name__}: {e}")
    finally:
        for p in ct.PROCS:
            if p.poll() is None:
                p.kill()
    print(f"{ct.PASSED} passed, {ct.FAILED} failed")
    return 1 if ct.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
