#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Large values over the stream channel (issue 13), end to end.

  large_test.py GRAPEVINED [--big]

Values longer than --stream-threshold are announced in gossip and fetched
over TCP. This test sets values of 0 B, 1 B, 60 KB, 1 MB, 16 MB and
256 MB through redis-cli (-x SET, from a file) and redis-py, at different
nodes, and reads them back at every node with redis-py (STRLEN and the
SHA-256 of GET). The values are seeded random bytes that start with
"\\r\\n\\0" (the RESP framing bytes and NUL inside a value).

3 nodes   every size through both clients; DEL of a large value reaches
          every node; a 16 MB value overwritten at another node while it
          travels: every node ends with the newer one, and a reader
          polling a third node sees only nothing, the old value or the
          new one, whole (never a torn one, never the old after the new)
restart   a node killed -9 and restarted empty with the same flags gets
          every value back, and its stream_values_in counts them
stall     a node SIGSTOPped while a 64 MB value travels to it: small SETs
          at the other two still reach each other within gossip time, the
          sender's stream_queued_bytes stays within --stream-buffer plus a
          chunk (256 KiB + 1 KiB) per connection, and after SIGCONT the
          stopped node gets the value
8 nodes   every size through both clients reaching all 8, except 256 MB:
          one through redis-py; both with --big or GV_LARGE_BIG=1; none
          with GV_LARGE_BIG=0
max-value a 2-node cluster with --max-value 2m: a 2 MiB value replicates;
          2 MiB + 1 B is refused by SET (ERR value too long); a 3 MB bulk is answered -ERR Protocol error before its body and
          the connection closed (as redis-server does past
          proto-max-bulk-len), so redis-py and redis-cli fail; it is
          stored nowhere, and the cluster keeps working

Prints one line per check; exits 1 if any failed, 77 without redis-cli
or python3-redis. Every daemon is stopped at the end (servers.stop_all).
"""
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402

try:
    import redis
except ImportError:
    redis = None

KB, MB, MiB, KiB = 1000, 1000 * 1000, 1 << 20, 1 << 10
SIZES = [0, 1, 60 * KB, 1 * MB, 16 * MB, 256 * MB]
STREAM_BUFFER = 1 * MiB   # --stream-buffer of every cluster here
CHUNK = 256 * KiB         # the stream chunk (GV_STREAM_DEFAULT_CHUNK)
GOSSIP_S = 2.0            # a small write reaches a live node within this
FAILED = []
T0 = time.time()


def log(msg):
    print(f"[{time.time() - T0:6.1f} s] {msg}", flush=True)


def check(cond, what):
    log(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        FAILED.append(what)
    return cond


def value(size, seed):
    """size seeded random bytes starting with CR LF NUL."""
    head = b"\r\n\x00"[:size]
    return head + random.Random(seed).randbytes(size - len(head))


def sha(b):
    return hashlib.sha256(b).hexdigest()


def human(n):
    for unit, d in (("MB", MB), ("KB", KB)):
        if n >= d:
            return f"{n / d:g} {unit}"
    return f"{n} B"


def build_type(binary):
    """CMAKE_BUILD_TYPE of the build tree the binary is in, or None."""
    d = os.path.dirname(binary)
    for _ in range(3):
        try:
            with open(os.path.join(d, "CMakeCache.txt")) as f:
                for line in f:
                    if line.startswith("CMAKE_BUILD_TYPE:"):
                        return line.split("=", 1)[1].strip()
        except OSError:
            pass
        d = os.path.dirname(d)
    return None


def sanitized(pid):
    try:
        with open(f"/proc/{pid}/maps") as f:
            return any("libasan" in x or "libtsan" in x for x in f)
    except OSError:
        return False


class Cluster:
    """n grapevined nodes on loopback (node i joins through node 0) that
    can be killed -9 and restarted empty with the same flags, stopped and
    continued. Gossip on gossip[i] .. +shards-1, UDP and (the stream
    channel) TCP."""

    def __init__(self, binary, n, shards=2, extra=()):
        self.binary, self.n, self.shards, self.extra = binary, n, shards, list(extra)
        base_g = servers.free_port_block(n * 10)
        base_r = servers.free_port_block(n, udp=False)
        self.gossip = [base_g + 10 * i for i in range(n)]
        self.resp = [base_r + i for i in range(n)]
        self.procs, self.logs = [None] * n, [None] * n
        for i in range(n):
            self.start(i)
        if not servers.wait_until(lambda: all(self.alive(i) == n - 1 for i in range(n)), 30):
            raise RuntimeError("the cluster did not form: " + servers._tail(self.logs[-1]))
        self.r = [self.client(i) for i in range(n)]

    def args(self, i):
        a = [self.binary, "--bind", f"127.0.0.1:{self.gossip[i]}",
             "--resp", f"127.0.0.1:{self.resp[i]}", "--shards", str(self.shards),
             "--name", f"n{i}", "--probe-interval-ms", "200", "--log-level", "info",
             "--stream-buffer", str(STREAM_BUFFER)]
        if i:
            a += ["--join", f"127.0.0.1:{self.gossip[0]}"]
        else:
            # node 0 restarted: it joins through node 1
            a += ["--join", f"127.0.0.1:{self.gossip[1]}"] if self.procs[0] else []
        return a + self.extra

    def start(self, i):
        p, lg = servers._spawn(self.args(i), f"gvd-large-n{i}")
        self.procs[i], self.logs[i] = p, lg
        servers._wait_listening(p, self.resp[i], lg, f"grapevined n{i}")

    def client(self, i):
        return redis.Redis(port=self.resp[i], socket_timeout=300)

    def kill9(self, i):
        self.procs[i].kill()
        self.procs[i].wait(10)

    def restart(self, i):
        self.start(i)
        self.r[i] = self.client(i)

    def stats(self, i):
        v = self.r[i].execute_command("GV.STATS")
        return {v[j].decode(): v[j + 1] for j in range(0, len(v), 2)}

    def alive(self, i):
        r = servers.Resp(self.resp[i])
        try:
            v = r.cmd("GV.STATS")
        finally:
            r.close()
        return {v[j].decode(): v[j + 1] for j in range(0, len(v), 2)}["members_alive"]

    def dead(self):
        return [i for i in range(self.n) if self.procs[i].poll() is not None]


# ------------------------------------------------------------- helpers

def cli_set(port, key, data, tmp):
    """SET key through redis-cli -x (the value from a file)."""
    path = os.path.join(tmp, "value")
    with open(path, "wb") as f:
        f.write(data)
    with open(path, "rb") as f:
        p = subprocess.run(["redis-cli", "-p", str(port), "-x", "SET", key],
                           stdin=f, capture_output=True, timeout=600)
    os.unlink(path)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace").strip()


def wait_held(c, nodes, key, size, timeout):
    """Until every node of `nodes` holds key at `size`; returns the time
    taken, or None (then the nodes without it are logged)."""
    t0 = time.time()
    left = set(nodes)
    while left and time.time() - t0 < timeout:
        for i in list(left):
            if c.r[i].exists(key) and c.r[i].strlen(key) == size:
                left.discard(i)
        if left:
            time.sleep(0.01)
    if left:
        log(f"      {key}: missing at nodes {sorted(left)} after {timeout} s")
        return None
    return time.time() - t0


def deadline_for(size):
    # generous: a 256 MB value in a Debug build on 2 shared cores
    return 30 + size / MB * (1.0 if size >= 64 * MB else 0.5)


def read_back(c, nodes, key, size, digest):
    """GET at every node: same length and SHA-256. Returns the nodes that
    differ."""
    bad = []
    for i in nodes:
        got = c.r[i].get(key)
        if got is None or len(got) != size or sha(got) != digest:
            bad.append(i)
        del got
    return bad


def set_and_check(c, key, size, seed, via, at, tmp, nodes=None):
    """SET a value at node `at` via redis-cli or redis-py, wait until
    every node holds it, read it back everywhere. Returns (key, size,
    sha) for later checks."""
    nodes = list(range(c.n)) if nodes is None else nodes
    data = value(size, seed)
    digest = sha(data)
    t0 = time.time()
    if via == "redis-cli":
        rc, out = cli_set(c.resp[at], key, data, tmp)
        ok = rc == 0 and out == "OK"
    else:
        out = c.r[at].set(key, data)
        ok = out is True
    del data
    t_set = time.time() - t0
    if not check(ok, f"{human(size)} SET via {via} at n{at} ({t_set:.2f} s): {out!r:.80}"):
        return key, size, digest
    took = wait_held(c, nodes, key, size, deadline_for(size))
    if not check(took is not None, f"{human(size)} from n{at} reached {len(nodes)} nodes"
                 + (f" in {took:.2f} s after the SET" if took is not None else "")):
        return key, size, digest
    bad = read_back(c, nodes, key, size, digest)
    check(not bad, f"{human(size)} read back identical (STRLEN, SHA-256) at every node"
          + (f"; differs at {bad}" if bad else ""))
    return key, size, digest


# ------------------------------------------------------------- the parts

def part_sizes(c, tag, tmp, sizes, big):
    """Each size through both clients at different nodes."""
    held = []
    for k, size in enumerate(sizes):
        for j, via in enumerate(("redis-cli", "redis-py")):
            if size >= 256 * MB and not big.get(via):
                continue
            at = (2 * k + j) % c.n
            held.append(set_and_check(c, f"{tag}:{via}:{size}", size,
                                      zlib.crc32(f"{tag}:{via}:{size}".encode()), via, at, tmp))
    return held


def part_restart(c, held):
    """kill -9 a node, restart it empty: it gets every value back."""
    i = c.n - 1
    c.kill9(i)
    log(f"      n{i} killed -9; restarting it empty with the same flags")
    c.restart(i)
    check(c.stats(i)["stream_values_in"] == 0, f"n{i} restarted with stream_values_in 0")
    t0 = time.time()
    total = sum(s for _, s, _ in held)
    deadline = 60 + total / MB * 0.5
    missing = list(held)
    while missing and time.time() - t0 < deadline:
        missing = [(k, s, d) for k, s, d in missing
                   if not (c.r[i].exists(k) and c.r[i].strlen(k) == s)]
        if missing:
            time.sleep(0.05)
    check(not missing, f"n{i} holds all {len(held)} values again ({human(total)}) "
          f"{time.time() - t0:.1f} s after its restart"
          + (f"; missing {[k for k, _, _ in missing]}" if missing else ""))
    bad = [k for k, s, d in held if (lambda g: g is None or sha(g) != d)(c.r[i].get(k))]
    check(not bad, f"n{i}'s values are identical (SHA-256)" + (f"; differ: {bad}" if bad else ""))
    n_large = sum(1 for _, s, _ in held if s > 16384)
    st = c.stats(i)
    check(st["stream_values_in"] >= n_large,
          f"n{i} fetched them over the stream: stream_values_in {st['stream_values_in']} "
          f">= {n_large} large values, stream_value_bytes_in {st['stream_value_bytes_in']}")


def part_del_overwrite(c):
    """DEL of a large value; a 16 MB value overwritten while it travels."""
    key = "del:16m"
    data = value(16 * MB, 7)
    c.r[0].set(key, data)
    del data
    check(wait_held(c, range(c.n), key, 16 * MB, deadline_for(16 * MB)) is not None,
          "a 16 MB value to delete reached every node")
    check(c.r[1].delete(key) == 1, "DEL of the 16 MB value at n1")
    t0 = time.time()
    ok = servers.wait_until(lambda: all(c.r[i].exists(key) == 0 for i in range(c.n)), 10, 0.01)
    check(ok, f"the DEL reached every node ({time.time() - t0:.2f} s)")

    key = "over:16m"
    old, new = value(16 * MB, 11), value(16 * MB, 12)
    d_old, d_new = sha(old), sha(new)
    seen, stop = [], threading.Event()
    rd = c.client(2)

    def reader():
        while not stop.is_set():
            g = rd.get(key)
            seen.append(None if g is None else sha(g) if len(g) == 16 * MB else f"len {len(g)}")
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    c.r[0].set(key, old)
    time.sleep(0.05)  # the old one travels: overwritten at n1 meanwhile
    c.r[1].set(key, new)
    del old, new
    t0 = time.time()
    ok = servers.wait_until(lambda: all(c.r[i].strlen(key) == 16 * MB and
                                        sha(c.r[i].get(key)) == d_new for i in range(c.n)),
                            deadline_for(16 * MB), 0.05)
    time.sleep(0.3)
    stop.set()
    th.join(30)
    check(ok, f"the overwrite: every node ends with the newer 16 MB value ({time.time() - t0:.2f} s)")
    names = {None: "nothing", d_old: "old", d_new: "new"}
    odd = [s for s in seen if s not in names]
    seq = [names.get(s, "?") for s in seen]
    after_new = seq[seq.index("new"):] if "new" in seq else []
    check(not odd and seen, f"a reader at n2 saw only nothing/old/new whole values in "
          f"{len(seen)} GETs ({seq.count('nothing')} nothing, {seq.count('old')} old, "
          f"{seq.count('new')} new)" + (f"; other: {odd[:3]}" if odd else ""))
    check(all(s == "new" for s in after_new), "the reader never saw the old value after the new one")


def part_stall(c):
    """SIGSTOP a node while a 64 MB value travels to it."""
    s = c.n - 1
    live = [i for i in range(c.n) if i != s]
    key = "stall:64m"
    data = value(64 * MB, 64)
    digest = sha(data)
    before = c.stats(0)["stream_bytes_out"]
    c.r[0].set(key, data)
    del data
    # until n0 started sending it (some bytes out), then stop the fetcher
    servers.wait_until(lambda: c.stats(0)["stream_bytes_out"] - before > 2 * CHUNK, 10, 0.002)
    os.kill(c.procs[s].pid, signal.SIGSTOP)
    t_stop = time.time()
    log(f"      n{s} SIGSTOPped {c.stats(0)['stream_bytes_out'] - before} bytes into the transfer")
    held_live = wait_held(c, live, key, 64 * MB, deadline_for(64 * MB))
    check(held_live is not None, f"the 64 MB value reached the live nodes {live}")
    lags, late, qmax, conns = [], 0, 0, 0
    k = 0
    while time.time() - t_stop < 4.0 or k < 10:
        a, b = live[k % 2], live[(k + 1) % 2]
        sk = f"stall:small:{k}"
        c.r[a].set(sk, f"v{k}")
        t0 = time.time()
        if servers.wait_until(lambda: c.r[b].get(sk) == f"v{k}".encode(), GOSSIP_S, 0.002):
            lags.append(time.time() - t0)
        else:
            late += 1
        st = c.stats(0)
        qmax = max(qmax, st["stream_queued_bytes"])
        conns = max(conns, st["stream_conns"])
        k += 1
    check(late == 0, f"{k} small SETs at n{live[0]}/n{live[1]} reached the other within "
          f"{GOSSIP_S} s while n{s} was stopped (max {max(lags) * 1000 if lags else -1:.0f} ms, "
          f"{late} late)")
    bound = STREAM_BUFFER + CHUNK + KiB
    check(qmax <= conns * bound,
          f"n0's stream_queued_bytes stayed bounded: max {qmax} <= {conns} conns x "
          f"(--stream-buffer {STREAM_BUFFER} + chunk {CHUNK + KiB}) (value 64 MB)")
    log(f"      n0: stream_blocked {st['stream_blocked']}, stream_stalls {st['stream_stalls']}, "
        f"stopped {time.time() - t_stop:.1f} s")
    os.kill(c.procs[s].pid, signal.SIGCONT)
    t0 = time.time()
    took = wait_held(c, [s], key, 64 * MB, 90)
    check(took is not None, f"after SIGCONT n{s} got the 64 MB value"
          + (f" in {took:.1f} s" if took is not None else ""))
    check(not read_back(c, range(c.n), key, 64 * MB, digest),
          "the 64 MB value is identical at every node")
    st = c.stats(s)
    log(f"      n{s}: stream_timeouts {st['stream_timeouts']}, "
        f"stream_fetch_retries {st['stream_fetch_retries']}, "
        f"stream_fetch_failed {st['stream_fetch_failed']}")


def part_max_value(binary, tmp):
    """--max-value 2m: a larger value is refused with an ERR, stored
    nowhere, and the cluster goes on."""
    c = Cluster(binary, 2, extra=("--max-value", "2m"))
    try:
        set_and_check(c, "max:2mib", 2 * MiB, 2, "redis-py", 0, tmp)
        # one byte over: parsed (the parser allows some slack), refused
        # by SET with an error, the connection kept
        try:
            c.r[0].set("max:over-by-1", value(2 * MiB + 1, 4))
            err = None
        except redis.exceptions.ResponseError as e:
            err = str(e)
        check(err is not None and err.startswith("value too long") and c.r[0].ping(),
              f"2 MiB + 1 B via redis-py: ERR {err!r:.60}, the connection kept")
        # what the daemon answers, read before the body is sent (as
        # redis-server with proto-max-bulk-len, it then closes)
        raw = servers.Resp(c.resp[0])
        got = raw.raw(b"*3\r\n$3\r\nSET\r\n$12\r\nmax:over-raw\r\n$3000000\r\n")
        raw.close()
        check(got.startswith(b"-ERR "), f"a 3 MB bulk over --max-value 2m is answered {got!r:.80}")
        data = value(3 * MB, 3)
        try:
            out = c.r[0].set("max:over-py", data)
            err = None
        except redis.exceptions.RedisError as e:
            err = f"{type(e).__name__}: {e}"
        check(err is not None, f"3 MB via redis-py over --max-value 2m fails: {err or out!r:.100}")
        c.r[0] = c.client(0)
        rc, out = cli_set(c.resp[1], "max:over-cli", data, tmp)
        check(rc != 0 or out.startswith("ERR"),
              f"3 MB via redis-cli over --max-value 2m fails: exit {rc}, {out!r:.100}")
        time.sleep(1.0)
        stored = [(i, k) for i in range(c.n)
                  for k in ("max:over-by-1", "max:over-raw", "max:over-py", "max:over-cli")
                  if c.r[i].exists(k)]
        check(not stored, "the refused values are stored nowhere" +
              (f"; found {stored}" if stored else ""))
        c.r[1].set("max:after", "small")
        check(servers.wait_until(lambda: c.r[0].get("max:after") == b"small", GOSSIP_S),
              "the cluster keeps working: a small SET at n1 reached n0")
        check(not c.dead(), "no daemon died")
    finally:
        c_stop(c, "2")


def c_stop(c, what=None):
    """Stop every node; with `what`, check each exited 0 (a sanitizer's
    report makes it exit non-zero)."""
    codes = [servers._term(p) for p in c.procs if p]
    if what:
        check(all(rc == 0 for rc in codes), f"the {what} daemons exited 0 on SIGTERM ({codes})")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    binary = os.path.abspath(sys.argv[1])
    if redis is None:
        print("skip: python3-redis is missing (apt-get install python3-redis)")
        return 77
    if not shutil.which("redis-cli"):
        print("skip: redis-cli is missing (apt-get install redis-tools)")
        return 77
    tmp = tempfile.mkdtemp(prefix="gv-large-")
    try:
        c = Cluster(binary, 3)
        asan = "/asan/" in binary or sanitized(c.procs[0].pid)
        log(f"3 nodes ({'sanitized ' if asan else ''}{build_type(binary) or '?'} build "
            f"{binary})")
        held = part_sizes(c, "three", tmp, SIZES, {"redis-cli": True, "redis-py": True})
        part_del_overwrite(c)
        part_restart(c, held)
        part_stall(c)
        check(not c.dead(), "no daemon of the 3 died")
        c_stop(c, "3")
        # drop the 3-node cluster's memory before the 8 nodes
        del c
        log("8 nodes")
        c = Cluster(binary, 8)
        if "--big" in sys.argv or os.environ.get("GV_LARGE_BIG") == "1":
            big = {"redis-cli": True, "redis-py": True}
        elif os.environ.get("GV_LARGE_BIG") == "0":
            big = {}
            log("      skip: the 256 MB values at 8 nodes (GV_LARGE_BIG=0)")
        else:
            big = {"redis-py": True}
            log("      one 256 MB value at 8 nodes, through redis-py (--big: both clients)")
        part_sizes(c, "eight", tmp, SIZES, big)
        check(not c.dead(), "no daemon of the 8 died")
        c_stop(c, "8")
        log("--max-value")
        part_max_value(binary, tmp)
    except Exception as e:  # a daemon that died, a client that timed out
        import traceback
        traceback.print_exc()
        check(False, f"the test ran through: {type(e).__name__}: {e}")
    finally:
        servers.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"{len(FAILED)} failed" + (": " + "; ".join(FAILED) if FAILED else ""))
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
