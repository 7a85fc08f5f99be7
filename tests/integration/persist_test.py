#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Durable restart (issue 15): grapevined --dir, end to end with redis-py.

  persist_test.py GRAPEVINED

commands  without --dir: SAVE/BGSAVE/BGREWRITEAOF refused with a clear
          error, CONFIG GET appendonly no, LASTSAVE the start; with --dir:
          SAVE +OK, BGSAVE and BGREWRITEAOF with Redis's status texts and
          errors (syntax, arity), LASTSAVE moves, INFO persistence counts
          the saves, CONFIG GET/SET appendfsync and save as Redis answers
          them (bad values refused with Redis's texts), DIR created 700,
          every file in it 600
cluster   3 daemons with their own --dir, 100,000 keys written through
          them (strings, some with a TTL of an hour, some of 2 s, counters
          incremented at two nodes, hashes, 3 values of 1-3 MB over the
          stream channel, 2,000 deletes), a BGSAVE at one node while it
          writes; then kill -9 of all three and a restart of all three:
          every key is back on every node, with its value and TTL, the
          2-s keys stay expired, deleted keys stay deleted, counters and
          hashes whole
damage    a node stopped, a byte of its snapshot flipped: the restart is
          refused with the file, offset and reason (exit status 1);
          with --load-damaged it starts, the file renamed FILE.damaged,
          and the peers give back what it lost; a torn log tail (bytes
          cut off the end) is dropped with a log line; a dir written with
          --shards 2 refused at --shards 4; a second daemon on the same
          dir refused
full disk --dir on a 1 MiB tmpfs (root only; skipped otherwise): writes
          past the full disk are still acknowledged and served, INFO says
          aof_last_write_status:err and counts gv_aof_write_errors; with
          appendfsync always writes are refused (MISCONF) meanwhile; once
          the tmpfs grows, the log is written again, a snapshot makes
          the files whole, and a kill -9 and restart finds every key

Prints one line per check; exits 1 if any failed, 77 without
python3-redis. Every daemon is stopped at the end (servers.stop_all).
"""
import glob
import os
import random
import signal
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402
from servers import free_port_block, wait_until  # noqa: E402

try:
    import redis
except ImportError:
    print("SKIP: python3-redis is not installed (use /usr/bin/python3)")
    sys.exit(77)

FAILED = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILED.append(what)
    return cond


class Node:
    """One grapevined with its own --dir; start() again after a kill."""

    def __init__(self, binary, i, gossip, resp, ddir, seed=None, shards=2):
        self.binary, self.i, self.gossip, self.resp = binary, i, gossip, resp
        self.dir, self.seed, self.shards = ddir, seed, shards
        self.proc, self.log = None, None

    def args(self, extra=()):
        a = [self.binary, "--bind", f"127.0.0.1:{self.gossip}",
             "--resp", f"127.0.0.1:{self.resp}", "--shards", str(self.shards),
             "--name", f"n{self.i}", "--probe-interval-ms", "200",
             "--dir", self.dir]
        if self.seed:
            a += ["--join", f"127.0.0.1:{self.seed}"]
        return a + list(extra)

    def start(self, extra=()):
        self.proc, self.log = servers._spawn(self.args(extra), f"gvd-p{self.i}")
        servers._wait_listening(self.proc, self.resp, self.log, f"n{self.i}")
        return self

    def run_fail(self, extra=()):
        """Start expecting a refusal: (exit status, output)."""
        p = subprocess.run(self.args(extra), capture_output=True, text=True,
                           timeout=30)
        return p.returncode, p.stdout + p.stderr

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        servers._term(self.proc)

    def r(self):
        return redis.Redis(port=self.resp, socket_timeout=30)


def info_p(r):
    return r.info("persistence")


def wait_saved(r, timeout=30):
    return wait_until(lambda: not info_p(r)["rdb_bgsave_in_progress"] and
                      not info_p(r)["aof_rewrite_in_progress"], timeout)


def err_text(fn):
    try:
        fn()
    except redis.ResponseError as e:
        return str(e)
    return None


def test_commands(binary, tmp):
    g = free_port_block(4)
    rp = free_port_block(1, udp=False)
    plain = Node(binary, 9, g, rp, None)
    a = plain.args()
    a = a[:a.index("--dir")]
    p, log = servers._spawn(a, "gvd-nodir")
    servers._wait_listening(p, rp, log, "no-dir")
    r = redis.Redis(port=rp)
    check(err_text(r.save) ==
          "persistence is off: start grapevined with --dir DIR",
          "without --dir: SAVE refused with a clear error")
    check(err_text(r.bgsave) is not None and err_text(r.bgrewriteaof),
          "without --dir: BGSAVE and BGREWRITEAOF refused")
    check(r.config_get("appendonly") == {"appendonly": "no"} and
          r.config_get("save") == {"save": ""},
          "without --dir: CONFIG GET appendonly no, save \"\"")
    check(info_p(r)["aof_enabled"] == 0, "without --dir: aof_enabled:0")
    servers._term(p)

    ddir = os.path.join(tmp, "cmd", "deep", "dir")
    n = Node(binary, 0, g, rp, ddir).start()
    r = n.r()
    check(stat.S_IMODE(os.stat(ddir).st_mode) == 0o700, "--dir created 700")
    r.set("k", "v")
    t0 = r.lastsave()
    check(r.save() is True, "SAVE +OK")
    check(info_p(r)["rdb_saves"] >= 1, "INFO rdb_saves counts SAVE")
    check(r.lastsave() >= t0, "LASTSAVE after SAVE")
    raw = servers.Resp(rp)
    got = raw.cmd("BGSAVE")
    check(got == "Background saving started", f"BGSAVE: {got!r}")
    wait_saved(r)
    check(err_text(lambda: r.execute_command("BGSAVE", "x")) ==
          "syntax error", "BGSAVE x: ERR syntax error")
    check(err_text(lambda: r.execute_command("SAVE", "x")) ==
          "wrong number of arguments for 'save' command",
          "SAVE x: wrong number of arguments")
    check(err_text(lambda: r.execute_command("LASTSAVE", "x")) ==
          "wrong number of arguments for 'lastsave' command",
          "LASTSAVE x: wrong number of arguments")
    got = raw.cmd("BGREWRITEAOF")
    check(got in ("Background append only file rewriting started",
                  "Background append only file rewriting scheduled"),
          f"BGREWRITEAOF: {got!r}")
    wait_saved(r)
    check(info_p(r)["aof_rewrites"] >= 1, "INFO aof_rewrites counts it")
    # a cycle in progress: a second BGSAVE is refused as Redis does
    for i in range(20000):
        r.set(f"fill{i}", "x" * 100)
    raw.cmd("BGSAVE")
    e = raw.cmd("BGSAVE")
    check(e == "Background saving started" or
          str(e) == "ERR Background save already in progress",
          f"BGSAVE during BGSAVE: {e!r}")
    raw.close()
    wait_saved(r)
    c = r.config_get("appendonly")
    check(c == {"appendonly": "yes"}, f"CONFIG GET appendonly: {c}")
    check(r.config_get("dir") == {"dir": ddir}, "CONFIG GET dir")
    check(r.config_get("appendfsync") == {"appendfsync": "everysec"},
          "CONFIG GET appendfsync: everysec by default")
    check(r.config_set("appendfsync", "always") and
          r.config_get("appendfsync") == {"appendfsync": "always"} and
          info_p(r)["gv_appendfsync"] == "always",
          "CONFIG SET appendfsync always")
    e = err_text(lambda: r.config_set("appendfsync", "foo"))
    check(e == "CONFIG SET failed (possibly related to argument "
          "'appendfsync') - argument(s) must be one of the following: "
          "everysec, always, no", f"CONFIG SET appendfsync foo: {e}")
    e = err_text(lambda: r.config_set("save", "1"))
    check(e == "CONFIG SET failed (possibly related to argument 'save') - "
          "Invalid save parameters", f"CONFIG SET save 1: {e}")
    check(r.config_set("save", "100 5 10 1000") and
          r.config_get("save") == {"save": "100 5 10 1000"},
          "CONFIG SET save")
    r.set("k2", "v2")  # synced before the reply (always)
    n.kill()
    n.start()
    r = n.r()
    check(r.get("k2") == b"v2" and r.get("fill19999") == b"x" * 100,
          "kill -9 after an always write: the write is there")
    # the restart's own snapshot (it loaded log records) renames and
    # removes files: list them once it is done
    wait_saved(r)
    modes = {os.path.basename(f): stat.S_IMODE(os.stat(f).st_mode)
             for f in glob.glob(os.path.join(ddir, "*"))}
    check(modes and all(m == 0o600 for m in modes.values()),
          f"every file in --dir is mode 600: {modes}")
    rc, out = Node(binary, 1, g + 2, rp + 0, ddir).run_fail()
    check(rc != 0 and "another grapevined uses it" in out,
          f"a second daemon on the same --dir refused: {out.strip()[-120:]}")
    n.stop()
    rc, out = Node(binary, 0, g, rp, ddir, shards=4).run_fail()
    check(rc != 0 and "--shards 2" in out,
          f"--shards 4 on a --shards 2 dir refused: {out.strip()[-160:]}")


def write_load(nodes, nkeys):
    """The data set, written through all three nodes; returns what each
    node must hold after the restart."""
    rs = [n.r() for n in nodes]
    want, gone, short = {}, set(), set()
    ttl_long = set()
    rng = random.Random(15)
    pipes = [r.pipeline(transaction=False) for r in rs]
    for i in range(nkeys):
        k = f"key:{i}"
        v = f"v{i}:{rng.getrandbits(40):x}"
        p = pipes[i % 3]
        if i % 10 == 1:
            p.set(k, v, ex=3600)
            ttl_long.add(k)
        elif i % 50 == 2:
            p.set(k, v, px=1500)
            short.add(k)
            v = None
        else:
            p.set(k, v)
        if v is not None:
            want[k] = v.encode()
        if i % 1000 == 999:
            for pp in pipes:
                pp.execute()
    for pp in pipes:
        pp.execute()
    # deletes, at another node than the write
    for i in range(0, nkeys, 50):
        k = f"key:{i}"
        rs[(i + 1) % 3].delete(k)
        want.pop(k, None)
        gone.add(k)
    # counters at two nodes, hashes
    for c in range(50):
        for _ in range(10):
            rs[0].incr(f"ctr:{c}")
            rs[1].incrby(f"ctr:{c}", 2)
    for h in range(200):
        rs[h % 3].hset(f"h:{h}", mapping={f"f{j}": f"{h}.{j}" for j in range(5)})
    for h in range(0, 200, 10):
        rs[(h + 1) % 3].hdel(f"h:{h}", "f0")
    big = {}
    for b in range(3):
        val = rng.randbytes((b + 1) << 20)
        rs[b].set(f"big:{b}", val)
        big[f"big:{b}"] = val
    return want, gone, short, ttl_long, big


def verify(r, want, gone, short, ttl_long, big):
    keys = list(want)
    bad = 0
    for s in range(0, len(keys), 2000):
        part = keys[s:s + 2000]
        got = r.mget(part)
        bad += sum(1 for k, g in zip(part, got) if g != want[k])
    p = r.pipeline(transaction=False)
    for k in gone:
        p.exists(k)
    deleted_back = sum(p.execute())
    p = r.pipeline(transaction=False)
    for k in short:
        p.exists(k)
    expired_back = sum(p.execute())
    ctr_ok = all(r.get(f"ctr:{c}") == b"30" for c in range(50))
    h_ok = all(len(r.hgetall(f"h:{h}")) == (4 if h % 10 == 0 else 5) and
               r.hget(f"h:{h}", "f3") == f"{h}.3".encode() for h in range(200))
    ttls = [r.ttl(k) for k in list(ttl_long)[:200]]
    ttl_ok = all(3000 < t <= 3600 for t in ttls)
    big_ok = all(r.get(k) == v for k, v in big.items())
    return bad, deleted_back, expired_back, ctr_ok, h_ok, ttl_ok, big_ok


def test_cluster(binary, tmp, nkeys):
    g = free_port_block(30)
    rp = free_port_block(3, udp=False)
    nodes = []
    for i in range(3):
        nodes.append(Node(binary, i, g + 10 * i, rp + i,
                          os.path.join(tmp, f"n{i}"),
                          seed=g if i else None))
    for n in nodes:
        n.start()
    rs = [n.r() for n in nodes]
    check(wait_until(lambda: all(r.execute_command("GV.STATS")
                                 and _alive(r) == 2 for r in rs), 20),
          "3 nodes with --dir form a cluster")
    rs[0].execute_command("BGSAVE")  # a snapshot while the load runs
    t0 = time.time()
    data = write_load(nodes, nkeys)
    print(f"     wrote {nkeys} keys and the rest in {time.time() - t0:.1f} s")
    want = data[0]
    total = len(want) + 50 + 200 + 3
    check(wait_until(lambda: all(r.dbsize() >= total for r in rs), 60, 0.5),
          f"every node holds the {total} keys")
    time.sleep(2.0)  # everysec: the logs synced; the 1.5 s keys expired
    for n in nodes:
        n.kill()
    t0 = time.time()
    for n in nodes:
        n.start()
    took = time.time() - t0
    print(f"     3 daemons restarted in {took:.1f} s")
    for i, n in enumerate(nodes):
        res = verify(n.r(), *data)
        bad, deleted_back, expired_back, ctr_ok, h_ok, ttl_ok, big_ok = res
        check(bad == 0, f"n{i}: every key back with its value ({bad} wrong)")
        check(deleted_back == 0, f"n{i}: deleted keys stay deleted")
        check(expired_back == 0, f"n{i}: expired keys stay expired")
        check(ctr_ok and h_ok, f"n{i}: counters and hashes whole")
        check(ttl_ok, f"n{i}: TTLs kept")
        check(big_ok, f"n{i}: the 1-3 MB values back")
        ip = info_p(n.r())
        check(ip["rdb_last_load_keys_loaded"] >= total,
              f"n{i}: INFO rdb_last_load_keys_loaded "
              f"{ip['rdb_last_load_keys_loaded']} load_ms {ip['gv_load_ms']}")
    return nodes, data


def _alive(r):
    v = r.execute_command("GV.STATS")
    st = {v[j].decode(): v[j + 1] for j in range(0, len(v), 2)}
    return st["members_alive"]


def test_damage(binary, nodes, data):
    n = nodes[2]
    n.stop()
    snaps = sorted(glob.glob(os.path.join(n.dir, "shard-0-*.snap")))
    if not check(snaps, "n2 has a snapshot of shard 0"):
        return
    f = snaps[-1]
    with open(f, "r+b") as fh:
        fh.seek(200)
        b = fh.read(1)
        fh.seek(200)
        fh.write(bytes([b[0] ^ 0x40]))
    rc, out = n.run_fail()
    check(rc == 1 and os.path.basename(f) in out and "offset" in out and
          "damaged" in out, f"a flipped byte refuses the start: {out.strip()[-200:]}")
    n.start(["--load-damaged"])
    check(os.path.exists(f + ".damaged") and not os.path.exists(f),
          "--load-damaged: the file set aside as FILE.damaged")
    r = n.r()
    want = data[0]
    keys = list(want)
    ok = wait_until(lambda: all(g == want[k] for k, g in
                                zip(keys[:3000], r.mget(keys[:3000]))), 30, 0.5)
    check(ok, "the peers give back what the damaged file held")
    # a torn tail: the newest log of shard 1 cut mid-record
    r.set("torn:a", "1")
    r.set("torn:b", "2")
    n.stop()
    logs = sorted(glob.glob(os.path.join(n.dir, "shard-*-*.log")),
                  key=lambda p: int(p.rsplit("-", 1)[1].split(".")[0]))
    last = max(logs, key=os.path.getsize)
    size = os.path.getsize(last)
    if size > 60:
        os.truncate(last, size - 5)
    n.start()
    check(size > 60 and "incomplete last record" in servers._tail(n.log, 20000),
          "a torn log tail is dropped with a log line")
    check(n.r().dbsize() >= len(want), "and the node starts with its data")


def test_full_disk(binary, tmp):
    mnt = os.path.join(tmp, "small")
    os.makedirs(mnt)
    if os.geteuid() != 0 or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt],
            capture_output=True).returncode:
        print("skip full disk: needs root and tmpfs mounts")
        return
    try:
        g = free_port_block(4)
        rp = free_port_block(1, udp=False)
        n = Node(binary, 5, g, rp, os.path.join(mnt, "d")).start(
            ["--save", ""])
        r = n.r()
        want = {}
        for i in range(3000):  # ~1.5 MB of log: past the 1 MiB disk
            k, v = f"fd:{i}", f"{i}:" + "y" * 400
            r.set(k, v)
            want[k] = v.encode()
        time.sleep(1.5)
        ip = info_p(r)
        check(ip["aof_last_write_status"] == "err" and
              ip["gv_aof_write_errors"] > 0,
              f"full disk: aof_last_write_status {ip['aof_last_write_status']}"
              f", gv_aof_write_errors {ip['gv_aof_write_errors']}")
        check(all(g == want[k] for k, g in zip(want, r.mget(list(want)))),
              "full disk: every write acknowledged and served from memory")
        # appendfsync always would acknowledge what is not on disk:
        # writes are refused as Redis refuses them after an AOF error
        r.config_set("appendfsync", "always")
        e = err_text(lambda: r.set("fd:always", "x"))
        check(e is not None and "Errors writing to the AOF file: " in e,
              f"full disk, appendfsync always: SET refused: {e}")
        check(r.get("fd:0") == want["fd:0"], "full disk: reads still served")
        subprocess.run(["mount", "-o", "remount,size=64m", mnt], check=True)
        ok = wait_until(lambda: info_p(r)["aof_last_write_status"] == "ok",
                        10, 0.2)
        check(ok and r.set("fd:always", "x"),
              "room again: appendfsync always takes writes again")
        r.config_set("appendfsync", "everysec")
        want["fd:always"] = b"x"
        ok = wait_until(lambda: info_p(r)["aof_last_write_status"] == "ok",
                        10, 0.2)
        check(ok, "room again: the log is written again")
        r.bgsave()
        wait_saved(r)
        time.sleep(1.5)
        n.kill()
        n.start(["--save", ""])
        r = n.r()
        got = r.mget(list(want))
        check(all(g == want[k] for k, g in zip(want, got)),
              "after the disk was full and a kill -9: every key is there")
        n.stop()
    finally:
        subprocess.run(["umount", "-l", mnt])


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    binary = sys.argv[1]
    nkeys = int(os.environ.get("GV_PERSIST_KEYS", "100000"))
    tmp = tempfile.mkdtemp(prefix="gv-persist-")
    try:
        test_commands(binary, tmp)
        nodes, data = test_cluster(binary, tmp, nkeys)
        test_damage(binary, nodes, data)
        test_full_disk(binary, tmp)
    finally:
        servers.stop_all()
        subprocess.run(["rm", "-rf", tmp])
    if FAILED:
        print(f"{len(FAILED)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
