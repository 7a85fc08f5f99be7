#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""grapevined as a cache: expiry and counters, end to end.

  cache_test.py GRAPEVINED [test ...]

transcript  the string, expiry and counter commands answer byte for byte
            as redis-server does (the reference is started on a free port;
            without redis-server this part exits 77)
expiry      a key SET with EX at one node has the same TTL at the others,
            expires on all three at its deadline, and its memory comes
            back (DBSIZE drops once reclaimed); EXPIRE and PERSIST made at
            one node reach the others
counters    INCR, INCRBY and INCRBYFLOAT made at three nodes at once all
            count: every node ends with the sum
"""
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_test as ct  # noqa: E402

# Commands whose replies must equal redis-server's. Keys are per-run
# fresh (the prefix); times are chosen so replies do not depend on when
# they run (TTL just after EX 100 is 100 on both).
TRANSCRIPT = """
set k 10
set k v ex 0
set k v ex -1
set k v ex abc
set k v ex 10 px 10
set k v keepttl ex 5
set k v nx xx
set k v ex
set k v foo
setex k 0 v
setex k abc v
psetex k -5 v
expire k abc
expire k 10 nx xx
expire k 10 gt lt
expire k 10 foo
expire k 99999999999999999
getex k ex 0
getex k persist ex 5
getex k foo
incrbyfloat k abc
set f 1.5
incr f
incrbyfloat f 1e400
set big 9223372036854775807
incr big
decrby big -9223372036854775808
incrby big abc
set s 10.50
incrbyfloat s 0.1
incrbyfloat s 0
set e 5e3
incrbyfloat e 0
set k v exat 1
exists k
ttl nokey
set k v
ttl k
expiretime k
set k v ex 100
ttl k
persist k
ttl k
persist k
incr cnt
incrby cnt 10
decr cnt
decrby cnt 3
get cnt
incrbyfloat cnt 0.5
get cnt
incrbyfloat cnt -0.5
incr cnt
mget cnt f s
set x 1 nx
set x 2 nx
set x 3 xx get
set y 3 xx get
set x 4 get
get x
getset x 5
getset gs 5
getdel x
getdel x
setnx x 1
setnx x 2
getex x
getex x ex 100
ttl x
getex x persist
ttl x
expire x 100 xx
expire x 100 nx
expire x 200 gt
expire x 50 gt
expire x 10 lt
ttl x
expire x -1
exists x
pexpire nokey 100
setex x 100 v
ttl x
psetex x 100000 v
ttl x
set x v px 100000
ttl x
set x v keepttl
ttl x
set x 7 get ex 50
ttl x
incr x
ttl x
setex x 100 v
set x w
ttl x
incr
setex x
expire x
getex
rename nokey x
set a 1
rename a a
renamenx a a
set b 2
renamenx a b
copy a c
copy a b
copy a b replace
get b
copy a b db 0
copy a b db x
copy a b foo
msetnx
msetnx x 1 y
msetnx x 1 a 2
msetnx x 1 y 2
mget x y
copy nokey z
copy a a
set e v ex 100
rename e e2
ttl e2
exists e
copy e2 e3
ttl e3
incr ctr
incr ctr
rename ctr ctr2
get ctr2
incr ctr2
renamenx ctr2 nk1
renamenx nk1 ctr2
get nk1
set k1 a
set k2 b
set k3 c
set k4 d
set k5 e
rename k1 m1
rename k2 m2
rename k3 m3
rename k4 m4
rename k5 m5
mget m1 m2 m3 m4 m5 k1 k2
msetnx q1 1 q2 2 q3 3 q4 4 q5 5
msetnx q5 x q6 y
mget q1 q2 q3 q4 q5 q6
copy m1 m2 replace
get m2
set s hello
object encoding s
set n 12345
object encoding n
set l aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
object encoding l
object encoding nokey
object freq s
object refcount s
object refcount n
object help
object foo
object
object encoding
getrange s 1 -2
getrange s -100 100
getrange s 5 1
getrange s -1 -5
getrange nokey 0 -1
setrange s -1 x
setrange s 10 X
get s
setrange new 0 ""
exists new
setrange new2 2 ab
get new2
strlen s
strlen nokey
append s ZZ
append nokey2 abc
get nokey2
type s
type nokey
touch s nokey n
getrange s a b
setrange s a b
setrange s 536870912 x
incr cnt
append cnt 5
get cnt
incr cnt
strlen cnt
type cnt
object encoding cnt
set e 1 ex 100
append e x
ttl e
setrange e 0 y
ttl e
get e
scan 0 count x
scan 0 count 0
scan 0 type
scan 0 foo
randomkey x
keys
"""


def key_positions(words):
    """Which words of a transcript line name keys (they get the run's
    prefix, so every run starts from absent keys on both servers)."""
    cmd = words[0]
    if cmd in ("mget", "touch", "exists", "del"):
        return range(1, len(words))
    if cmd == "object":
        return [2] if len(words) > 1 and words[1] != "help" else []
    if cmd in ("scan", "keys", "randomkey"):
        return []
    if cmd in ("rename", "renamenx", "copy"):
        return [1, 2]
    if cmd == "msetnx":
        return range(1, len(words), 2)
    return [1]


def start_redis():
    exe = shutil.which("redis-server")
    if not exe:
        return None, None
    port = ct.free_port_block(1, udp=False)
    p = subprocess.Popen([exe, "--port", str(port), "--save", "", "--appendonly", "no",
                          "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ct.PROCS.append(p)
    if not ct.wait_until(lambda: ct.Resp(port, 1).cmd("PING") == "PONG", 10):
        p.kill()
        return None, None
    return p, port


def raw(port, words):
    r = ct.Resp(port)
    try:
        r.send_raw(ct.resp_encode(words))
        return r.reply()
    finally:
        r.close()


class Raw3:
    """A RESP3 connection (after HELLO 3) that returns each reply's bytes."""

    def __init__(self, port):
        self.r = ct.Resp(port)
        self.r.send_raw(ct.resp_encode(["HELLO", "3"]))
        self.reply()

    def _line(self):
        return self.r._line() + b"\r\n"

    def reply(self):
        line = self._line()
        t = line[:1]
        if t in (b"$", b"=", b"!"):
            n = int(line[1:-2])
            return line if n < 0 else line + self.r._exact(n) + b"\r\n"
        if t in (b"*", b"~", b">", b"%", b"|"):
            n = int(line[1:-2])
            if n < 0:
                return line
            k = 2 * n if t in (b"%", b"|") else n
            return line + b"".join(self.reply() for _ in range(k))
        return line

    def cmd(self, words):
        self.r.send_raw(ct.resp_encode(words))
        return self.reply()


def test_transcript():
    rp, rport = start_redis()
    if not rp:
        ct.log("skip: transcript: no redis-server (tools/bootstrap.sh installs it)")
        raise SystemExit(77)
    try:
        # two worker threads: RENAME, COPY and MSETNX take their two-step
        # path when their keys' shards are on different threads; one: the
        # one-sub path always
        for threads in ("2", "1"):
            transcript_run(rport, threads)
    finally:
        rp.terminate()
        rp.wait(5)


def transcript_run(rport, threads):
    nodes = ct.cluster(1, shards=4, extra=["--threads", threads])
    try:
        prefix = f"t{int(time.time() * 1000)}.{threads}:"
        same = 0
        for line in TRANSCRIPT.strip().splitlines():
            words = line.split()
            # the words that name keys get the prefix, so each run starts
            # from absent keys on both servers
            cmd = words[0]
            pos = key_positions(words)
            keyed = [prefix + w if i in pos and i < len(words) else w for i, w in enumerate(words)]
            keyed = ["" if w == '""' else w for w in keyed]
            a = raw(rport, keyed)
            b = raw(nodes[0].resp, keyed)
            norm = lambda v: str(v) if isinstance(v, Exception) else v  # noqa: E731
            if norm(a) == norm(b):
                same += 1
            else:
                ct.check(False, f"{line}: redis {a!r}, grapevined {b!r}")
        ct.check(same == len(TRANSCRIPT.strip().splitlines()),
                 f"transcript (--threads {threads}): {same} replies equal redis-server's")
        # the same in RESP3, byte for byte (fresh keys)
        prefix3 = prefix + "3:"
        ra, rb = Raw3(rport), Raw3(nodes[0].resp)
        same3 = 0
        for line in TRANSCRIPT.strip().splitlines():
            words = line.split()
            cmd = words[0]
            pos = key_positions(words)
            keyed = [prefix3 + w if i in pos and i < len(words) else w for i, w in enumerate(words)]
            keyed = ["" if w == '""' else w for w in keyed]
            if cmd in ("scan", "keys", "randomkey"):
                continue  # their key sets differ: the other keys of the run
            a3, b3 = ra.cmd(keyed), rb.cmd(keyed)
            if a3 == b3:
                same3 += 1
            else:
                ct.check(False, f"RESP3 {line}: redis {a3!r}, grapevined {b3!r}")
        ct.check(same3 > 140, f"transcript in RESP3: {same3} replies equal redis-server's")
        # KEYS lists in hash order: compare as sets; RANDOMKEY: one of them
        for pat in ("*", prefix + "*", prefix + "n*", prefix + "[sn]", "nomatch*"):
            a_, b_ = raw(rport, ["KEYS", pat]), raw(nodes[0].resp, ["KEYS", pat])
            ct.check(isinstance(b_, list) and sorted(a_) == sorted(b_) or pat == "*",
                     f"KEYS {pat}: the same keys as redis-server ({len(b_)})")
        mine = set(raw(nodes[0].resp, ["KEYS", "*"]))
        picks = {raw(nodes[0].resp, ["RANDOMKEY"]) for _ in range(50)}
        ct.check(picks <= mine and len(picks) > 1, f"RANDOMKEY: {len(picks)} different existing keys")
        ct.check(raw(nodes[0].resp, ["SCAN", "0", "TYPE", "hash"])[1] == [], "SCAN TYPE hash: none")
    finally:
        ct.stop_all(nodes)


def ttl(node, key, cmd="PTTL"):
    r = node.r()
    try:
        return r.cmd(cmd, key)
    finally:
        r.close()


def test_expiry():
    nodes = ct.cluster(3)
    try:
        a, b, c = nodes
        ct.check(ct.wait_until(lambda: all(ct.alive_members(n) == 2 for n in nodes), 10),
                 "3 nodes joined (2 peers alive at each)")
        r = a.r()
        ct.check(r.cmd("SET", "e:k", "v", "PX", "1500") == "OK", "SET PX 1500 at node 0")
        for i in range(200):
            r.cmd("SET", f"e:bulk{i}", "v", "PX", "1500")
        r.cmd("SET", "e:stay", "v")
        r.close()
        ok = ct.wait_until(lambda: all(ttl(n, "e:k") > 0 for n in nodes), 2)
        ct.check(ok, "the key and its TTL reached every node")
        ttls = [ttl(n, "e:k") for n in nodes]
        ct.check(max(ttls) - min(ttls) < 300 and max(ttls) <= 1500,
                 f"PTTL agrees across nodes within clock skew: {ttls}")
        before = [ct.Resp(n.resp).cmd("DBSIZE") for n in nodes]
        time.sleep(1.6)
        gone = [ct.Resp(n.resp).cmd("GET", "e:k") for n in nodes]
        ct.check(gone == [None] * 3, f"expired on all three at the deadline: {gone}")
        ct.check([ct.Resp(n.resp).cmd("EXISTS", "e:k") for n in nodes] == [0] * 3, "EXISTS 0 everywhere")
        ct.check([ttl(n, "e:k", "TTL") for n in nodes] == [-2] * 3, "TTL -2 everywhere")
        ct.check([ct.Resp(n.resp).cmd("GET", "e:stay") for n in nodes] == [b"v"] * 3,
                 "a key without expiry stays")
        ok = ct.wait_until(lambda: all(ct.Resp(n.resp).cmd("DBSIZE") <= 1 for n in nodes), 10)
        after = [ct.Resp(n.resp).cmd("DBSIZE") for n in nodes]
        ct.check(ok, f"reclaimed: DBSIZE {before} -> {after}")

        # EXPIRE at one node, seen at the others; PERSIST likewise
        r = a.r()
        r.cmd("SET", "e:x", "v")
        r.close()
        ct.wait_until(lambda: ct.Resp(c.resp).cmd("GET", "e:x") == b"v", 3)
        rb = b.r()
        ct.check(rb.cmd("EXPIRE", "e:x", "100") == 1, "EXPIRE at node 1")
        rb.close()
        ok = ct.wait_until(lambda: 95 <= ttl(c, "e:x", "TTL") <= 100 and
                           95 <= ttl(a, "e:x", "TTL") <= 100, 3)
        ct.check(ok, "the EXPIRE reached nodes 0 and 2")
        rc = c.r()
        ct.check(rc.cmd("PERSIST", "e:x") == 1, "PERSIST at node 2")
        rc.close()
        ok = ct.wait_until(lambda: ttl(a, "e:x", "TTL") == -1 and ttl(b, "e:x", "TTL") == -1, 3)
        ct.check(ok, "the PERSIST reached nodes 0 and 1")
        # SET without options clears the TTL everywhere
        r = a.r()
        r.cmd("SET", "e:y", "v", "EX", "100")
        r.cmd("SET", "e:y", "w")
        r.close()
        ok = ct.wait_until(lambda: ct.Resp(b.resp).cmd("GET", "e:y") == b"w" and
                           ttl(b, "e:y", "TTL") == -1, 3)
        ct.check(ok, "a plain SET clears the TTL on the other nodes")
    finally:
        ct.stop_all(nodes)


def pipelined(port, cmds):
    r = ct.Resp(port, 60)
    try:
        out = b"".join(ct.resp_encode(c) for c in cmds)
        r.send_raw(out)
        return [r.reply() for _ in cmds]
    finally:
        r.close()


def test_counters():
    nodes = ct.cluster(3)
    try:
        ct.check(ct.wait_until(lambda: all(ct.alive_members(n) == 2 for n in nodes), 10),
                 "3 nodes joined (2 peers alive at each)")
        N = 3000
        errors = []

        def work(node, i):
            try:
                cmds = []
                for j in range(N):
                    cmds.append(["INCR", "c:hits"])
                    if j % 10 == 0:
                        cmds.append(["INCRBY", "c:big", str(i + 1)])
                    if j % 100 == 0:
                        cmds.append(["INCRBYFLOAT", "c:f", "0.5"])
                got = pipelined(node.resp, cmds)
                errors.extend(g for g in got if isinstance(g, Exception))
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        ts = [threading.Thread(target=work, args=(n, i)) for i, n in enumerate(nodes)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        ct.check(not errors, f"every INCR answered a number ({errors[:3]})")
        want_hits, want_big = 3 * N, (N // 10) * (1 + 2 + 3)
        want_f = 3 * (N // 100) * 0.5

        def done():
            for n in nodes:
                r = n.r()
                try:
                    v = r.cmd("MGET", "c:hits", "c:big", "c:f")
                finally:
                    r.close()
                if v != [str(want_hits).encode(), str(want_big).encode(),
                         (b"%g" % want_f)]:
                    return False
            return True
        ok = ct.wait_until(done, 10)
        got = [ct.Resp(n.resp).cmd("MGET", "c:hits", "c:big", "c:f") for n in nodes]
        ct.check(ok, f"every node holds the sums {want_hits}, {want_big}, {want_f}: {got}")
        st = [ct.stats(n.resp) for n in nodes]
        ct.check(all(s.get("conflicts", 0) == 0 for s in st if "conflicts" in s),
                 "concurrent increments are not conflicts")
        # a SET ends the counter: the next INCR counts from it everywhere
        r = nodes[0].r()
        ct.check(r.cmd("SET", "c:hits", "100") == "OK", "SET over the counter")
        r.close()
        ct.wait_until(lambda: all(ct.Resp(n.resp).cmd("GET", "c:hits") == b"100" for n in nodes), 3)
        for n in nodes:
            ct.Resp(n.resp).cmd("INCR", "c:hits")
        ok = ct.wait_until(lambda: all(ct.Resp(n.resp).cmd("GET", "c:hits") == b"103" for n in nodes), 5)
        ct.check(ok, "three INCRs after the SET: 103 everywhere")
    finally:
        ct.stop_all(nodes)


def test_flush():
    nodes = ct.cluster(3)
    try:
        ct.check(ct.wait_until(lambda: all(ct.alive_members(n) == 2 for n in nodes), 10),
                 "3 nodes joined (2 peers alive at each)")
        pipelined(nodes[0].resp, [["SET", f"f:{i}", "v"] for i in range(1000)] +
                  [["INCR", "f:ctr"], ["SET", "f:ttl", "v", "EX", "100"]])
        ok = ct.wait_until(lambda: all(ct.Resp(n.resp).cmd("DBSIZE") == 1002 for n in nodes), 5)
        ct.check(ok, "1,002 keys on every node")
        ct.check(ct.Resp(nodes[1].resp).cmd("FLUSHDB") == "OK", "FLUSHDB at node 1")
        ct.check(isinstance(ct.Resp(nodes[1].resp).cmd("FLUSHDB", "x"), Exception), "FLUSHDB x: syntax error")
        ok = ct.wait_until(lambda: all(ct.Resp(n.resp).cmd("DBSIZE") == 0 for n in nodes), 5)
        ct.check(ok, "DBSIZE 0 on every node: " + str([ct.Resp(n.resp).cmd("DBSIZE") for n in nodes]))
        ct.check(all(ct.Resp(n.resp).cmd("GET", "f:7") is None for n in nodes), "a flushed key reads nil")
        ct.Resp(nodes[2].resp).cmd("SET", "f:after", "v")
        ct.check(ct.Resp(nodes[0].resp).cmd("FLUSHALL", "ASYNC") == "OK", "FLUSHALL ASYNC at node 0")
        ct.Resp(nodes[2].resp).cmd("SET", "f:later", "v")
        ok = ct.wait_until(lambda: all(ct.Resp(n.resp).cmd("MGET", "f:after", "f:later") == [None, b"v"]
                                       for n in nodes), 5)
        ct.check(ok, "a write before the second flush is gone, one after it stays, on every node")
    finally:
        ct.stop_all(nodes)


def test_multikey():
    nodes = ct.cluster(3, shards=4)
    try:
        ct.check(ct.wait_until(lambda: all(ct.alive_members(n) == 2 for n in nodes), 10),
                 "3 nodes joined (2 peers alive at each)")
        a, b, c = (n.r() for n in nodes)
        for i in range(20):
            a.cmd("SET", f"mk:src{i}", f"v{i}", "EX", "100")
        ok = all(a.cmd("RENAME", f"mk:src{i}", f"mk:dst{i}") == "OK" for i in range(20))
        ct.check(ok, "20 RENAMEs at node 0 (across threads and not)")

        def moved():
            return all(b.cmd("GET", f"mk:dst{i}") == f"v{i}".encode() and
                       b.cmd("EXISTS", f"mk:src{i}") == 0 and 90 <= b.cmd("TTL", f"mk:dst{i}") <= 100
                       for i in range(20))
        ct.check(ct.wait_until(moved, 5), "node 1 sees every key moved, with its TTL")
        ct.check(b.cmd("MSETNX", "mk:n1", "1", "mk:n2", "2", "mk:n3", "3") == 1, "MSETNX at node 1")
        ct.check(ct.wait_until(lambda: c.cmd("MGET", "mk:n1", "mk:n2", "mk:n3") == [b"1", b"2", b"3"], 5),
                 "node 2 sees MSETNX's keys")
        ct.check(c.cmd("MSETNX", "mk:n3", "x", "mk:n4", "y") == 0 and c.cmd("EXISTS", "mk:n4") == 0,
                 "MSETNX with one key taken sets nothing")
        # inside MULTI: a command whose keys share a thread runs; one
        # across threads is an error element, the rest of the EXEC applies
        a.send_raw(b"".join(ct.resp_encode(w) for w in (
            ["MULTI"], ["COPY", "mk:dst0", "mk:dst0copy"], ["SET", "mk:m", "1"], ["EXEC"])))
        replies = [a.reply() for _ in range(4)]
        ex = replies[3]
        ct.check(isinstance(ex, list) and len(ex) == 2 and ex[1] == "OK" and
                 (ex[0] == 1 or (isinstance(ex[0], Exception) and "worker threads" in str(ex[0]))),
                 f"COPY inside MULTI: done, or the documented error element ({ex})")
        # WATCH sees a key expire as a change (Redis 7 aborts the EXEC)
        a.cmd("SET", "mk:w", "v", "PX", "300")
        a.cmd("WATCH", "mk:w")
        time.sleep(0.5)
        a.cmd("MULTI")
        a.cmd("SET", "mk:other", "1")
        ct.check(a.cmd("EXEC") is None, "a WATCHed key that expired aborts the EXEC")
        a.cmd("SET", "mk:w2", "v", "PX", "10000")
        a.cmd("WATCH", "mk:w2")
        a.cmd("MULTI")
        a.cmd("SET", "mk:other", "1")
        ct.check(a.cmd("EXEC") == ["OK"], "one that is still alive does not")
        for r in (a, b, c):
            r.close()
    finally:
        ct.stop_all(nodes)


def test_wait():
    nodes = ct.cluster(3)
    try:
        ct.check(ct.wait_until(lambda: all(ct.alive_members(n) == 2 for n in nodes), 10),
                 "3 nodes joined (2 peers alive at each)")
        r = nodes[0].r()
        ct.check(r.cmd("WAIT", "2", "1000") == 2, "WAIT before any write: both peers")
        for cmd in (["SET", "w:k", "v"], ["INCR", "w:c"], ["SET", "w:e", "v", "EX", "100"],
                    ["DEL", "w:k"]):
            r.cmd(*cmd)
            t = time.time()
            got = r.cmd("WAIT", "2", "1000")
            ct.check(got == 2, f"WAIT 2 1000 after {cmd[0]}: {got} in {(time.time() - t) * 1000:.1f} ms")
        ct.check(str(r.cmd("WAIT", "1", "-1")) == "ERR timeout is negative", "WAIT 1 -1: Redis's error")
        nodes[2].kill9()
        r.cmd("SET", "w:k2", "v")
        t = time.time()
        got = r.cmd("WAIT", "2", "500")
        took = time.time() - t
        ct.check(got == 1 and 0.45 <= took < 2, f"one peer down: WAIT 2 500 answers {got} after {took * 1000:.0f} ms")
        r.cmd("MULTI")
        r.cmd("WAIT", "1", "100")
        ex = r.cmd("EXEC")
        ct.check(isinstance(ex, list) and len(ex) == 1 and isinstance(ex[0], int),
                 f"WAIT inside MULTI answers at once ({ex})")
        r.close()
    finally:
        ct.stop_all(nodes[:2])


TESTS = {"transcript": test_transcript, "expiry": test_expiry, "counters": test_counters,
         "flush": test_flush, "multikey": test_multikey, "wait": test_wait}


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    ct.BIN = sys.argv[1]
    names = sys.argv[2:] or list(TESTS)
    skipped = False
    try:
        for name in names:
            ct.log(f"== {name}")
            try:
                TESTS[name]()
            except SystemExit as e:
                if e.code == 77:
                    skipped = True
                else:
                    raise
            except Exception as e:  # a test that blew up is a failure
                ct.check(False, f"{name}: {type(e).__name__}: {e}")
    finally:
        for p in ct.PROCS:
            if p.poll() is None:
                p.kill()
    print(f"{ct.PASSED} passed, {ct.FAILED} failed")
    if ct.FAILED:
        return 1
    return 77 if skipped and ct.PASSED == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
