#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""grapevined's hashes, end to end (core/hash.c, server/cmd_hash.c).

  hash_test.py GRAPEVINED [test ...]

transcript  every hash command and its errors, and the key commands on
            hashes (TYPE, DEL, EXISTS, EXPIRE..., RENAME, COPY, WRONGTYPE
            from the string commands), answer byte for byte as
            redis-server does, in RESP2 and RESP3, with one worker thread
            and with two (RENAME/COPY across threads)
big         3 nodes: a 10,000-field hash written half at node 1 and half
            at node 2 at once (two redis-py clients in two threads): all
            10,000 fields at every node
delete      DEL at one node while another keeps writing fields: every node
            keeps exactly the fields written after the DEL (by their
            versions: the fields whose write the deleting node had not
            yet seen and that are newer than the DEL)
incr        HINCRBY of one field at two nodes at once: the sum everywhere
keyspace    KEYS, SCAN (TYPE hash), DBSIZE count a hash once; WATCH is
            broken by a field written at another node; EXPIRE replicates
oom         --max-memory: an HSET past the cap is refused whole (OOM), and
            a DEL gives the memory back

Clients: redis-py (Debian's python3-redis, run with /usr/bin/python3).
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_test as ct  # noqa: E402
import cache_test as cache  # noqa: E402

try:
    import redis  # noqa: E402
except ImportError:  # pragma: no cover
    redis = None

TRANSCRIPT = """
hset h
hset h f
hset h f v x
hset h f v
hset h f v g w
hget h f
hget h nof
hget noh f
hmget h f g nof
hmget noh a b
hsetnx h f z
hsetnx h n 1
hmset h a 1 b 2
hmset h a
hlen h
hlen noh
hexists h f
hexists h nof
hexists noh f
hstrlen h f
hstrlen h nof
hgetall h
hkeys h
hvals h
hgetall noh
hkeys noh
hdel h a b nof
hdel h
hdel noh f
hlen h
hincrby h c 5
hincrby h c -2
hincrby h c x
hincrby h f 1
hincrby h big 9223372036854775807
hincrby h big 1
hincrby h c 99999999999999999999
hget h c
hincrbyfloat h fl 1.5
hincrbyfloat h fl 0.25
hincrbyfloat h fl x
hincrbyfloat h f 1
hincrbyfloat h fl inf
hincrbyfloat h c 0.5
hget h c
hincrby h c 1
hset h s 10.50
hincrbyfloat h s 0.1
hset h e 5e3
hincrbyfloat h e 0
hstrlen h c
hgetall h
hrandfield noh
hrandfield noh 3
hrandfield noh 3 withvalues
hrandfield h x
hrandfield h 1 foo
hrandfield h 1 withvalues extra
hrandfield h 0
hrandfield h 0 withvalues
hset one k v
hrandfield one
hrandfield one 5
hrandfield one -3
hrandfield one 5 withvalues
hrandfield one -2 withvalues
hrandfield one -9223372036854775807 withvalues
hscan h 0
hscan h 0 count 1
hscan h 0 match f*
hscan h 0 match nomatch
hscan noh 0
hscan h x
hscan h 0 count 0
hscan h 0 count x
hscan h 0 foo bar
hscan h 0 match
hscan noh 0 count 0
hscan noh 0 foo
type h
type noh
exists h noh h
object encoding h
hset long f aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
object encoding long
object refcount h
ttl h
expire h 100
ttl h
pttl noh
expire h 200 gt
expire h 50 gt
expire h 10 nx
ttl h
persist h
ttl h
persist h
expire long -1
exists long
hget long f
set str v
hget str f
hset str f v
hgetall str
hlen str
hincrby str f 1
hscan str 0
hscan str 0 foo
hrandfield str
hdel str f
hexists str f
hstrlen str f
hmget str f
hkeys str
hvals str
hsetnx str f v
hmset str f v
hincrbyfloat str f 1
get h
getset h v
getdel h
getex h
incr h
incrby h 1
decr h
incrbyfloat h 1
append h x
strlen h
getrange h 0 1
setrange h 0 x
set h v get
setnx h v
mget h str
set h2 x
hset h3 a 1
set h3 v
type h3
get h3
hset h4 a 1
del h4
exists h4
hgetall h4
hset h4 b 2
hgetall h4
hset h5 a 1 b 2
unlink h5 nokey
type h5
hset r1 a 1 b 2
rename r1 r2
hgetall r2
exists r1
renamenx r2 str
hset r3 z 9
copy r2 r3
copy r2 r3 replace
hgetall r3
copy r2 r4
hgetall r4
hset r5 x 1
expire r5 100
rename r5 r6
ttl r6
hgetall r6
hincrby r7 n 5
copy r7 r8
hgetall r8
hset r9 x 1
rename str r9
type r9
get r9
msetnx r2 v nk v
hset e x 1
hdel e x
exists e
type e
hset sub a 1
hmget sub a a
"""


def key_positions(words):
    return cache.key_positions(words)


def transcript_run(rport, threads):
    nodes = ct.cluster(1, shards=4, extra=["--threads", threads])
    try:
        prefix = f"h{int(time.time() * 1000)}.{threads}:"
        lines = TRANSCRIPT.strip().splitlines()
        same = 0
        for line in lines:
            words = line.split()
            pos = key_positions(words)
            keyed = [prefix + w if i in pos else w for i, w in enumerate(words)]
            a = cache.raw(rport, keyed)
            b = cache.raw(nodes[0].resp, keyed)
            norm = lambda v: str(v) if isinstance(v, Exception) else v  # noqa: E731
            if norm(a) == norm(b):
                same += 1
            else:
                ct.check(False, f"{line}: redis {a!r}, grapevined {b!r}")
        ct.check(same == len(lines),
                 f"hash transcript (--threads {threads}): {same}/{len(lines)} replies equal redis-server's")
        prefix3 = prefix + "3:"
        ra, rb = cache.Raw3(rport), cache.Raw3(nodes[0].resp)
        same3 = 0
        for line in lines:
            words = line.split()
            pos = key_positions(words)
            keyed = [prefix3 + w if i in pos else w for i, w in enumerate(words)]
            a3, b3 = ra.cmd(keyed), rb.cmd(keyed)
            if a3 == b3:
                same3 += 1
            else:
                ct.check(False, f"RESP3 {line}: redis {a3!r}, grapevined {b3!r}")
        ct.check(same3 == len(lines),
                 f"hash transcript in RESP3 (--threads {threads}): {same3}/{len(lines)} equal")
        # the keyspace: the same keys as redis-server's (as sets: the
        # orders differ), SCAN TYPE hash / string the same split
        def scan_all(port, *extra):
            cur, got = "0", []
            while True:
                cur, items = cache.raw(port, ["SCAN", cur, "MATCH", prefix + "*", "COUNT", "50", *extra])
                got += items
                if cur in ("0", b"0"):
                    return sorted(got)
        a_ = sorted(cache.raw(rport, ["KEYS", prefix + "*"]))
        b_ = sorted(cache.raw(nodes[0].resp, ["KEYS", prefix + "*"]))
        ct.check(a_ == b_ and len(a_) > 10, f"KEYS: the same {len(b_)} keys as redis-server")
        for t in ("hash", "string"):
            a_, b_ = scan_all(rport, "TYPE", t), scan_all(nodes[0].resp, "TYPE", t)
            ct.check(a_ == b_ and a_, f"SCAN TYPE {t}: the same {len(b_)} keys as redis-server")
        # a big hash: HSCAN's cursor walks it whole, each field once;
        # HRANDFIELD's counts and COUNT replies by size (random content)
        r = nodes[0].resp
        big = prefix + "big"
        cache.raw(r, ["HSET", big] + [x for i in range(300) for x in (f"f{i}", str(i))])
        seen, cur, calls = [], "0", 0
        while True:
            cur, items = cache.raw(r, ["HSCAN", big, cur, "COUNT", "17"])
            seen += items[0::2]
            calls += 1
            if cur in ("0", b"0"):
                break
        ct.check(sorted(seen) == sorted(f"f{i}".encode() for i in range(300)) and calls > 10,
                 f"HSCAN of a 300-field hash: every field once in {calls} calls")
        enc = cache.raw(r, ["OBJECT", "ENCODING", big])
        ct.check(enc in (b"hashtable", "hashtable"), f"OBJECT ENCODING of 300 fields: {enc!r}")
        got = cache.raw(r, ["HRANDFIELD", big, "25"])
        ct.check(len(got) == 25 and len(set(got)) == 25, "HRANDFIELD 25: 25 distinct fields")
        got = cache.raw(r, ["HRANDFIELD", big, "-400", "WITHVALUES"])
        ct.check(len(got) == 800, "HRANDFIELD -400 WITHVALUES: 400 pairs")
        got = cache.raw(r, ["HRANDFIELD", big, "-9223372036854775807"])
        ct.check(isinstance(got, Exception) and "out of range" in str(got),
                 f"HRANDFIELD of a huge negative count: refused ({got!r})")
        got = cache.raw(r, ["HRANDFIELD", big, "5", "WITHVALUES"])
        ok = len(got) == 10 and all(got[i + 1] == got[i][1:] for i in range(0, 10, 2))
        ct.check(ok, "HRANDFIELD 5 WITHVALUES: field, value pairs")
    finally:
        ct.stop_all(nodes)


def test_transcript():
    rp, rport = cache.start_redis()
    if not rp:
        ct.log("skip: transcript: no redis-server")
        raise SystemExit(77)
    try:
        for threads in ("2", "1"):
            transcript_run(rport, threads)
    finally:
        rp.terminate()
        rp.wait(5)


def clients(nodes):
    return [redis.Redis(host="127.0.0.1", port=n.resp, socket_timeout=10) for n in nodes]


def need_redis_py():
    if redis is None:
        ct.log("skip: redis-py is missing (Debian's python3-redis, /usr/bin/python3)")
        raise SystemExit(77)


def test_big():
    need_redis_py()
    nodes = ct.cluster(3, shards=2)
    try:
        cl = clients(nodes)
        n = 10000

        def writer(c, lo, hi):
            p = c.pipeline(transaction=False)
            for i in range(lo, hi):
                p.hset("big", f"field{i}", f"value{i}")
                if (i - lo) % 500 == 499:
                    p.execute()
            p.execute()

        t1 = threading.Thread(target=writer, args=(cl[0], 0, n // 2))
        t2 = threading.Thread(target=writer, args=(cl[1], n // 2, n))
        t0 = time.time()
        t1.start()
        t2.start()
        t1.join()
        t2.join()
        wrote = time.time() - t0
        ok = ct.wait_until(lambda: all(c.hlen("big") == n for c in cl), 30)
        lens = [c.hlen("big") for c in cl]
        ct.check(ok, f"10,000 fields written half at node 1, half at node 2 ({wrote:.1f} s): "
                     f"HLEN at the nodes {lens}")
        want = {f"field{i}".encode(): f"value{i}".encode() for i in range(n)}
        for i, c in enumerate(cl):
            ct.check(c.hgetall("big") == want, f"node {i + 1}: HGETALL has all 10,000 fields and values")
        ct.check(all(c.type("big") == b"hash" for c in cl), "TYPE hash everywhere")
        ct.check(all(c.dbsize() == 1 for c in cl), f"DBSIZE 1 everywhere: {[c.dbsize() for c in cl]}")
        conflicts = sum(ct.stats(nd.resp).get("conflicts", 0) for nd in nodes)
        ct.check(conflicts == 0, f"different fields at two nodes: no conflict ({conflicts})")
    finally:
        ct.stop_all(nodes)


def test_delete():
    need_redis_py()
    nodes = ct.cluster(3, shards=2)
    try:
        cl = clients(nodes)
        for i in range(200):
            cl[0].hset("dk", f"old{i}", "x")
        ct.wait_until(lambda: all(c.hlen("dk") == 200 for c in cl), 10)
        stop = threading.Event()
        written = []  # (sent, acknowledged, i), Unix seconds

        def writer():
            i = 0
            while not stop.is_set() and i < 100000:
                t0 = time.time()
                cl[1].hset("dk", f"w{i}", str(i))
                written.append((t0, time.time(), i))
                i += 1

        t = threading.Thread(target=writer)
        t.start()
        time.sleep(0.3)
        # the DEL's version is taken between its send and its reply (its
        # HLC milliseconds are this host's clock then)
        del_sent = time.time()
        ct.check(cl[0].delete("dk") == 1, "DEL of the hash at node 1 while node 2 writes")
        del_acked = time.time()
        time.sleep(0.3)
        stop.set()
        t.join()
        ct.wait_until(lambda: len({frozenset(c.hkeys("dk")) for c in cl}) == 1, 15)
        views = [set(k.decode() for k in c.hkeys("dk")) for c in cl]
        ct.check(views[0] == views[1] == views[2],
                 f"every node holds the same fields after the DEL ({[len(v) for v in views]})")
        survived = views[0]
        ct.check(not any(k.startswith("old") for k in survived), "the fields from before the DEL are gone")
        idx = sorted(int(k[1:]) for k in survived)
        # one writer: its versions grow with i, so the fields kept are
        # those newer than the DEL: a tail of the writes
        tail = bool(idx) and idx == list(range(idx[0], len(written)))
        ct.check(tail, f"the fields kept are a tail of the writes: w{idx[0] if idx else '-'}.."
                       f"w{len(written) - 1} of {len(written)}")
        # and the tail starts at the DEL's version: a write acknowledged
        # before the DEL was sent is older (gone), one sent after the DEL
        # was acknowledged newer (kept); the nodes' clocks are this host's
        before = [i for (t0, t1, i) in written if t1 * 1000 < del_sent * 1000 - 1]
        after = [i for (t0, t1, i) in written if t0 * 1000 > del_acked * 1000 + 1]
        ct.check(before and after and all(f"w{i}" not in survived for i in before) and
                 all(f"w{i}" in survived for i in after),
                 f"writes older than the DEL gone ({len(before)}), newer kept ({len(after)})")
    finally:
        ct.stop_all(nodes)


def test_incr():
    need_redis_py()
    nodes = ct.cluster(3, shards=2)
    try:
        cl = clients(nodes)

        def incr(c):
            p = c.pipeline(transaction=False)
            for _ in range(2000):
                p.hincrby("ctr", "n", 1)
            p.execute()

        ts = [threading.Thread(target=incr, args=(cl[i],)) for i in (0, 1)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        ok = ct.wait_until(lambda: all(c.hget("ctr", "n") == b"4000" for c in cl), 15)
        ct.check(ok, f"HINCRBY at two nodes at once sums: {[c.hget('ctr', 'n') for c in cl]}")
        cl[2].hincrbyfloat("ctr", "f", 1.5)
        cl[0].hincrbyfloat("ctr", "f", 1.25)
        ok = ct.wait_until(lambda: all(c.hget("ctr", "f") == b"2.75" for c in cl), 10)
        ct.check(ok, "HINCRBYFLOAT at two nodes: 2.75 everywhere")
        # WAIT after a hash write asks about the field's entry
        r = cl[0]
        r.hset("w", "f", "1")
        n = r.execute_command("WAIT", 2, 2000)
        ct.check(n == 2, f"WAIT 2 after HSET: {n} members hold the field")
        r.hincrby("w", "c", 1)
        n = r.execute_command("WAIT", 2, 2000)
        ct.check(n == 2, f"WAIT 2 after HINCRBY: {n}")
        # with node 3 stopped, a new field is held by node 2 only: WAIT
        # asks about the field written, not about an older write
        import signal
        nodes[2].proc.send_signal(signal.SIGSTOP)

        def stopped(pid):
            # every thread in state T: none can still answer a WAIT
            try:
                tids = os.listdir(f"/proc/{pid}/task")
                return all(open(f"/proc/{pid}/task/{t}/stat").read()
                           .rsplit(")", 1)[1].split()[0] in ("T", "t")
                           for t in tids)
            except OSError:
                return False
        ct.wait_until(lambda: stopped(nodes[2].proc.pid), 5)
        try:
            r.hset("w", "g", "1")
            n = r.execute_command("WAIT", 2, 2000)
            ct.check(n == 1, f"WAIT 2 after HSET with node 3 stopped: {n} (node 2 only)")
        finally:
            nodes[2].proc.send_signal(signal.SIGCONT)
    finally:
        ct.stop_all(nodes)


def test_keyspace():
    need_redis_py()
    nodes = ct.cluster(2, shards=2)
    try:
        cl = clients(nodes)
        cl[0].hset("ks:h", mapping={"a": "1", "b": "2", "c": "3"})
        cl[0].set("ks:s", "v")
        ok = ct.wait_until(lambda: cl[1].hlen("ks:h") == 3 and cl[1].exists("ks:s"), 10)
        for i, c in enumerate(cl):
            ct.check(sorted(c.keys("ks:*")) == [b"ks:h", b"ks:s"], f"node {i + 1}: KEYS lists the hash once")
            ct.check(c.dbsize() == 2, f"node {i + 1}: DBSIZE counts the hash once ({c.dbsize()})")
            ct.check(sorted(c.scan_iter(match="ks:*")) == [b"ks:h", b"ks:s"], f"node {i + 1}: SCAN")
            ct.check(list(c.scan_iter(_type="hash")) == [b"ks:h"], f"node {i + 1}: SCAN TYPE hash")
            ct.check(list(c.scan_iter(_type="string")) == [b"ks:s"], f"node {i + 1}: SCAN TYPE string")
        # WATCH: a field written at the other node breaks the EXEC
        p = cl[0].pipeline(transaction=True)
        p.watch("ks:h")
        cl[1].hset("ks:h", "d", "4")
        ok = ct.wait_until(lambda: cl[0].hexists("ks:h", "d"), 10)
        p.multi()
        p.hset("ks:h", "e", "5")
        try:
            p.execute()
            broken = False
        except redis.WatchError:
            broken = True
        ct.check(ok and broken, "WATCH of a hash: a field written at another node aborts the EXEC")
        p = cl[0].pipeline(transaction=True)
        p.watch("ks:h")
        p.multi()
        p.hset("ks:h", "e", "5")
        ct.check(p.execute() == [1], "WATCH of an unchanged hash: the EXEC runs")
        # expiry replicates: EXPIRE at node 1, TTL at node 2, gone at both
        cl[0].pexpire("ks:h", 1500)
        ok = ct.wait_until(lambda: 0 < cl[1].pttl("ks:h") <= 1500, 5)
        ct.check(ok, f"PEXPIRE of a hash reaches node 2: PTTL {cl[1].pttl('ks:h')}")
        ok = ct.wait_until(lambda: all(not c.exists("ks:h") for c in cl), 10)
        ct.check(ok, "the hash expires at both nodes")
        ct.check(all(c.hgetall("ks:h") == {} for c in cl), "HGETALL of the expired hash: empty")
        st = ct.stats(nodes[0].resp)
        ct.check("type_conflicts" in st and "hash_fields_killed" in st,
                 "GV.STATS has type_conflicts and hash_fields_killed")
    finally:
        ct.stop_all(nodes)


def test_oom():
    """--max-memory: HSET past a shard's cap answers Redis's OOM error and
    applies none of its fields; the hash stays readable; DEL frees it."""
    need_redis_py()
    nodes = ct.cluster(1, shards=1, extra=["--max-memory", str(4 << 20)])
    try:
        c = clients(nodes)[0]
        err, i = None, 0
        while i < 200000:
            try:
                c.hset("oomh", mapping={f"f{i + j}": "x" * 100 for j in range(50)})
            except redis.ResponseError as e:
                err = str(e)
                break
            i += 50
        ct.check(err is not None and err.startswith("OOM command not allowed"),
                 f"HSET past --max-memory: {err!r} after {i} fields")
        n = c.hlen("oomh")
        ct.check(n == i, f"the refused HSET applied none of its 50 fields ({n} == {i})")
        ct.check(c.hget("oomh", "f0") == b"x" * 100, "the hash is still readable")
        ct.check(c.delete("oomh") == 1, "DEL of the hash")
        ok = ct.wait_until(lambda: _hset_ok(c), 5)
        ct.check(ok, "after the DEL, HSET works again (the memory came back)")
    finally:
        ct.stop_all(nodes)


def _hset_ok(c):
    try:
        c.hset("oomh2", mapping={f"g{j}": "y" * 100 for j in range(500)})
        return True
    except redis.ResponseError:
        return False


TESTS = {
    "transcript": test_transcript,
    "big": test_big,
    "delete": test_delete,
    "incr": test_incr,
    "keyspace": test_keyspace,
    "oom": test_oom,
}


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
