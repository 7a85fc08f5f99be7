#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""--frontend threads: clients served by every worker thread.

usage: frontend_test.py path/to/grapevined

Against one grapevined with 2 shards on 2 worker threads (the default
--frontend threads), and a real redis-server where one is installed:
  - pipelines mixing the commands a worker runs (GET, SET, INCR, TTL...)
    with ones it hands to the front end (MULTI/EXEC, HELLO 3, MGET,
    CLIENT SETNAME, an inline command with quotes), sent in one write,
    answer byte for byte as redis-server answers them;
  - 2,000 pipelined commands over keys of both threads answer in order
    with the values written;
  - GV.STATS counts commands run on the worker's own shards and hopped
    to the other's, and the clients handed over;
  - a reader of fast-path GETs never sees half of an MSET (sequential
    reads of two keys on different threads), and WATCH/EXEC increments
    of two keys on different threads lose nothing to concurrent fast
    INCRs (the workers hold off between the check and the EXEC);
  - CLIENT LIST lists a worker's client, CLIENT KILL closes it, and
    --timeout closes an idle one;
  - --frontend single serves the same pipeline the same way.
Exits 77 without redis-server (the byte-for-byte part needs it).
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402

FAILS = []
PASSES = [0]


def check(ok, what):
    if ok:
        PASSES[0] += 1
        print(f"ok: {what}", flush=True)
    else:
        FAILS.append(what)
        print(f"FAIL: {what}", flush=True)


def enc(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def stats(port):
    r = servers.Resp(port)
    try:
        v = r.cmd("GV.STATS")
    finally:
        r.close()
    return {v[i].decode(): v[i + 1] for i in range(0, len(v), 2)}


def start(binary, extra=()):
    base_g = servers.free_port_block(10)
    port = servers.free_port_block(1, udp=False)
    args = [binary, "--bind", f"127.0.0.1:{base_g}", "--resp", f"127.0.0.1:{port}",
            "--shards", "2", "--threads", "2", "--log-level", "warn"] + list(extra)
    p, log = servers._spawn(args, "gvd-fe")
    servers._wait_listening(p, port, log, "grapevined")
    return p, port


# One write: fast commands, then one the front end runs (MULTI), fast ones
# inside the transaction, an inline command with quotes, HELLO 3 (RESP3
# from there on), fast ones again (handed over now: answered in RESP3).
SCRIPT = (enc("SET", "fe:a", "1") + enc("GET", "fe:a") + enc("INCR", "fe:n") +
          enc("INCRBY", "fe:n", "41") + enc("SET", "fe:t", "x", "EX", "100") +
          enc("TTL", "fe:t") + enc("GET", "fe:missing") + enc("DEL", "fe:t") +
          enc("EXISTS", "fe:a") + enc("PING") + enc("ECHO", "hi") +
          enc("GET") +  # arity error, answered by the worker
          enc("MGET", "fe:a", "fe:n", "fe:missing") +
          enc("MULTI") + enc("SET", "fe:b", "2") + enc("INCR", "fe:n") + enc("EXEC") +
          b'SET "fe:c d" "e f"\r\n' + enc("GET", "fe:c d") +
          enc("CLIENT", "SETNAME", "fe") + enc("HELLO", "3") +
          enc("GET", "fe:a") + enc("INCR", "fe:n") + enc("GET", "fe:missing") +
          enc("QUIT"))


def scrub_hello(b):
    """HELLO's map names the server, its version and the connection id:
    cut it out (conn_test.py compares HELLO itself)."""
    i = b.find(b"%7\r\n")
    if i < 0:
        return b
    end = b"$7\r\nmodules\r\n*0\r\n"
    j = b.find(end, i)
    return b[:i] + b"<hello>" + b[j + len(end):] if j > 0 else b


def pipeline_vs_redis(port, ref, what):
    for p in (port, ref):
        r = servers.Resp(p)
        r.cmd("FLUSHALL")
        r.close()
    a = servers.Resp(port).raw(SCRIPT, quiet=0.5)
    b = servers.Resp(ref).raw(SCRIPT, quiet=0.5)
    same = scrub_hello(a) == scrub_hello(b)
    check(same, f"{what}: one write of {SCRIPT.count(b'*') + 1} commands, fast and "
          f"handed over, answers byte for byte as redis-server"
          + ("" if same else f"\n  grapevined {scrub_hello(a)!r}\n  redis      {scrub_hello(b)!r}"))


def big_pipeline(port):
    n = 2000
    out = b"".join(enc("SET", f"fe:k{i}", f"v{i}") + enc("GET", f"fe:k{i}") for i in range(n))
    r = servers.Resp(port, 30)
    r.s.sendall(out)
    ok = True
    for i in range(n):
        if r.reply() != "OK" or r.reply() != f"v{i}".encode():
            ok = False
            break
    r.close()
    check(ok, f"{n} SET+GET pairs over both threads' keys, pipelined: answered in order with their values")


def run_for(seconds, stop, fns):
    """Run each of fns in a thread for `seconds`, then set stop[0]."""
    ts = [threading.Thread(target=f) for f in fns]
    for t in ts:
        t.start()
    time.sleep(seconds)
    stop[0] = True
    for t in ts:
        t.join()


def pair_on_two_threads(port):
    """Two keys whose commands ran on different threads: found by
    watching frontend_hops move when a fresh client SETs one key."""
    keys = {}
    for i in range(64):
        k = f"fe:pair{i}"
        before = stats(port)["frontend_hops"]
        r = servers.Resp(port)
        r.cmd("SET", k, "0")
        r.close()
        hop = stats(port)["frontend_hops"] > before
        keys.setdefault(hop, k)
        if len(keys) == 2:
            break
    return keys.get(False), keys.get(True)


def mset_atomic(port, k1, k2):
    stop = [False]
    bad = []

    def writer():
        w = servers.Resp(port)
        i = 0
        while not stop[0]:
            i += 1
            w.cmd("MSET", k1, str(i), k2, str(i))
        w.close()

    def reader():
        r = servers.Resp(port)
        n = 0
        while not stop[0]:
            a = int(r.cmd("GET", k1) or 0)
            b = int(r.cmd("GET", k2) or 0)
            n += 1
            if b < a:
                bad.append((a, b))
        r.close()
        reads.append(n)
    reads = []
    run_for(3, stop, [writer] + [reader] * 3)
    check(not bad and sum(reads) > 100,
          f"readers of GET {k1} then GET {k2} (different threads) never saw half an MSET "
          f"({sum(reads)} read pairs, {len(bad)} torn{': ' + str(bad[:3]) if bad else ''})")


def watch_exec(port, k1, k2):
    r0 = servers.Resp(port)
    r0.cmd("SET", k1, "0")
    r0.cmd("SET", k2, "0")
    r0.close()
    stop = [False]
    done = {"exec": 0, "incr": 0}
    lock = threading.Lock()

    def txn():
        c = servers.Resp(port)
        while not stop[0]:
            c.cmd("WATCH", k1, k2)
            a = int(c.cmd("GET", k1))
            b = int(c.cmd("GET", k2))
            c.cmd("MULTI")
            c.cmd("SET", k1, str(a + 1))
            c.cmd("SET", k2, str(b + 1))
            if c.cmd("EXEC") is not None:
                with lock:
                    done["exec"] += 1
        c.close()

    def incr():
        c = servers.Resp(port)
        while not stop[0]:
            c.cmd("INCR", k1)
            with lock:
                done["incr"] += 1
            time.sleep(0.001)  # room for some EXECs to pass
        c.close()
    run_for(3, stop, [txn, txn, incr, incr])
    r = servers.Resp(port)
    v1, v2 = int(r.cmd("GET", k1)), int(r.cmd("GET", k2))
    r.close()
    check(v1 == done["exec"] + done["incr"] and v2 == done["exec"] and done["exec"] > 0,
          f"WATCH/EXEC over two threads' keys with fast INCRs meanwhile: {k1}={v1} "
          f"(want {done['exec']} EXECs + {done['incr']} INCRs), {k2}={v2}")


def is_closed(r, within=2.0):
    """Whether the server closed r within `within` seconds (a PING gets no
    answer). A client served by a worker thread is closed by that thread:
    CLIENT KILL answers once the kill is queued, so a PING sent at once may
    still be answered before the worker closes it (seen under TSan)."""
    end = time.monotonic() + within
    while True:
        try:
            r.s.settimeout(2)
            r.cmd("PING")
        except (ConnectionError, OSError):
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.02)


def client_list_kill(port):
    a = servers.Resp(port)
    a.cmd("SET", "fe:x", "1")  # a fast command: served by a worker
    b = servers.Resp(port)
    lst = b.cmd("CLIENT", "LIST").decode()
    ids = [int(x.split("id=")[1].split()[0]) for x in lst.splitlines()]
    check(len(ids) >= 2 and "cmd=set" in lst,
          f"CLIENT LIST lists the worker's client ({len(ids)} clients, cmd=set)")
    me = b.cmd("CLIENT", "ID")
    other = [i for i in ids if i != me]
    n = b.cmd("CLIENT", "KILL", "ID", str(other[0])) if other else 0
    closed = is_closed(a)
    check(n == 1 and closed, f"CLIENT KILL ID closes the worker's client (killed {n})")
    b.close()


def timeout_closes(binary, ref):
    p, port = start(binary, ["--timeout", "1"])
    try:
        a = servers.Resp(port)
        a.cmd("SET", "fe:y", "1")
        time.sleep(3.5)
        closed = is_closed(a)
        check(closed, "--timeout 1 closes an idle client a worker serves")
    finally:
        servers._term(p)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    binary = sys.argv[1]
    if not servers.redis_server_bin():
        print("redis-server not found (tools/bootstrap.sh installs it): skipped")
        return 77
    ref = servers.RedisServer()
    procs = []
    try:
        p, port = start(binary)
        procs.append(p)
        pipeline_vs_redis(port, ref.port, "--frontend threads")
        big_pipeline(port)
        st = stats(port)
        check(st["frontend_local"] > 0 and st["frontend_hops"] > 0 and
              st["frontend_handed"] >= 1 and st["frontend_served"] >= 2,
              f"GV.STATS: frontend_local {st['frontend_local']}, frontend_hops "
              f"{st['frontend_hops']}, frontend_handed {st['frontend_handed']}, "
              f"frontend_served {st['frontend_served']}")
        k1, k2 = pair_on_two_threads(port)
        check(k1 and k2, f"two keys on different threads: {k1}, {k2}")
        if k1 and k2:
            mset_atomic(port, k1, k2)
            watch_exec(port, k1, k2)
        client_list_kill(port)
        p2, port2 = start(binary, ["--frontend", "single"])
        procs.append(p2)
        pipeline_vs_redis(port2, ref.port, "--frontend single")
        st2 = stats(port2)
        check(st2["frontend_served"] == 0, "--frontend single: no client given to a worker")
        timeout_closes(binary, ref)
    except Exception as e:  # noqa: BLE001
        check(False, f"{type(e).__name__}: {e}")
    finally:
        for p in procs:
            servers._term(p)
        ref.stop()
        servers.stop_all()
    print(f"{PASSES[0]} passed, {len(FAILS)} failed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
