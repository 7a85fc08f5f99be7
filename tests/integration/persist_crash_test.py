#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Crash safety of grapevined --dir: kill -9 at random moments.

  persist_crash_test.py GRAPEVINED [--seed N] [--rounds N]

always    one node (--shards 2, --appendfsync always). Three writer
          connections pipeline SET (small, some of 1-20 KB, now and then
          one over 1 MiB: the log's big-record path), overwrites, MSET
          (keys of both shards), DEL, EXPIRE (TTLs of a day or more),
          INCR, HSET and HDEL, each on keys only it writes, and record
          every write that got its reply. At a random moment (50-600 ms;
          in some rounds right after a BGSAVE, BGREWRITEAOF or SAVE, so
          that the kill lands in the snapshot) the daemon is killed -9
          and started again on the same --dir and ports; in some rounds
          it is killed again just after that start (during the snapshot
          a start takes of what its logs held).
          After each start every acknowledged write is there: values,
          TTLs, counters, hash fields, and an acknowledged DEL stays
          deleted; a write in flight at the kill is there or not (per key
          a prefix of the in-flight ones, in order). The expected state
          accumulates over the rounds (and over a preload of 20,000 keys),
          so every start loads all earlier rounds too. DBSIZE is the
          number of live keys; INFO persistence's load fields agree with
          the "data loaded" log line; no start is refused, none logs an
          error; once the start's snapshot is done no file older than the
          newest snapshot is left.
everysec  two nodes, each with its own --dir (--appendfsync everysec). A
          is written to and killed -9 at a random moment, then started
          with --join B: right after the start at most the writes
          acknowledged in the last 1.5 s before the kill are missing at A
          (counted and printed; none at all, as docs/persistence.md
          promises for kill -9 on every policy); within 10 s every acknowledged write is
          at A again and at B, and A and B agree on every key. Two rounds.
torn      the node of "always" stopped (SIGTERM), then each in turn
          appended to the newest shard-0 log: 1-7 random bytes; the first
          bytes of a real record (its frame says more than is there); 4 KB
          of zeroes (what a power loss leaves). Each start drops the tail
          with a log line saying "incomplete", counts it in
          gv_load_torn_records, cuts it off (or the file is superseded),
          and holds all the data; a clean restart after that loads no torn
          record. (8 or more random bytes are not a torn record but
          damage, a frame whose length check fails: the start is refused,
          as persist.c says; a crash cannot leave that.)

GV_PCRASH_ARGS="--threads 1 ..." adds flags to every daemon (variants by
hand). Prints one line per check; exits 1 if any failed, 77 when the binary
lacks --dir. Every daemon is stopped at the end (servers.stop_all); the
temp dir with the daemons' logs is removed unless something failed.
"""
import glob
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402

FAILED = []
DAEMONS = []  # every Daemon made: their logs are shown on a failure
T0 = time.time()
SHARDS = 2
WRITERS = 3
PRELOAD = 20000
BIG = 1 << 20  # persist.c BIG_REC: written from where it lies
TTL_MIN = 86400


def log(msg):
    print(f"[{time.time() - T0:6.1f} s] {msg}", flush=True)


def check(cond, what):
    log(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        FAILED.append(what)
    return cond


# ------------------------------------------------------------- RESP

# A raw RESP2 connection that pipelines (servers.Resp): errors come back
# as Exception values, and only whole replies are returned.
Conn = servers.Resp


def info(port, section="persistence"):
    c = Conn(port)
    try:
        v = c.cmd("INFO", section)
    finally:
        c.close()
    out = {}
    for line in v.decode().splitlines():
        if ":" in line and not line.startswith("#"):
            k, val = line.split(":", 1)
            try:
                out[k] = int(val)
            except ValueError:
                out[k] = val
    return out


def gv_stats(port):
    c = Conn(port)
    try:
        v = c.cmd("GV.STATS")
    finally:
        c.close()
    return {v[j].decode(): v[j + 1] for j in range(0, len(v), 2)}


# ------------------------------------------------------------- daemons

class Daemon:
    """One grapevined on fixed ports and --dir, started again after each
    kill; each start logs to its own file in tmp."""

    def __init__(self, binary, tmp, name, gossip, resp, ddir, fsync, join=None):
        self.binary, self.tmp, self.name = binary, tmp, name
        self.gossip, self.resp, self.dir, self.fsync = gossip, resp, ddir, fsync
        self.join = join
        self.proc, self.log, self.starts = None, None, 0
        DAEMONS.append(self)

    def args(self):
        a = [self.binary, "--bind", f"127.0.0.1:{self.gossip}",
             "--resp", f"127.0.0.1:{self.resp}", "--shards", str(SHARDS),
             "--name", self.name, "--probe-interval-ms", "200",
             "--log-level", "info", "--dir", self.dir,
             "--appendfsync", self.fsync, "--save", ""]
        if self.join:
            a += ["--join", f"127.0.0.1:{self.join}"]
        return a + os.environ.get("GV_PCRASH_ARGS", "").split()

    def start(self):
        """Start; True once it answers, False (a failed check) if it exits
        or does not answer."""
        self.starts += 1
        self.log = os.path.join(self.tmp, f"{self.name}-{self.starts}.log")
        with open(self.log, "wb") as f:
            self.proc = subprocess.Popen(self.args(), stdout=f,
                                         stderr=subprocess.STDOUT)
        servers.PROCS.append(self.proc)
        try:
            servers._wait_listening(self.proc, self.resp, self.log,
                                    f"{self.name} start {self.starts}")
            return True
        except RuntimeError as e:
            check(False, f"{self.name} start {self.starts}: {e}")
            return False

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def term(self):
        return servers._term(self.proc)

    def text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def data_loaded(text):
    """The fields of the start's "data loaded" log line."""
    m = re.search(r'msg="data loaded"(.*)', text)
    if not m:
        return {}
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


# ------------------------------------------------------------- the model

def sval(key, seq, size):
    p = f"{key}|{seq}|".encode()
    return (p * (size // len(p) + 1))[:max(size, len(p))]


def hval(key, field, seq):
    return f"{key}|{field}|{seq}".encode()


def kind(key):
    """s (a string: also b, a big one), c (a counter) or h (a hash): the
    letter before the first colon."""
    k = key.split(":", 1)[0][-1]
    return "s" if k == "b" else k


def empty(key):
    return {"s": None, "c": 0, "h": {}}[kind(key)]


def present(state):
    return bool(state)  # None, 0 and {} are absent


def apply(state, op):
    k = op[0]
    if k == "set":
        return (op[2], op[3], False)
    if k == "del":
        return None
    if k == "expire":
        return (state[0], state[1], True) if state else None
    if k == "incr":
        return state + 1
    if k == "hset":
        d = dict(state)
        d[op[2]] = op[3]
        return d
    if k == "hdel":
        d = dict(state)
        d.pop(op[2], None)
        return d
    raise ValueError(op)


def expected_reply(state, op):
    k = op[0]
    if k == "set":
        return "OK"
    if k in ("del", "expire"):
        return 1 if state else 0
    if k == "incr":
        return state + 1
    if k == "hdel":
        return 1 if op[2] in state else 0
    return 0 if op[2] in state else 1


def command(op):
    k, key = op[0], op[1]
    if k == "set":
        return ["SET", key, sval(key, op[2], op[3])]
    if k == "del":
        return ["DEL", key]
    if k == "expire":
        return ["EXPIRE", key, op[2]]
    if k == "incr":
        return ["INCR", key]
    if k == "hdel":
        return ["HDEL", key, op[2]]
    return ["HSET", key, op[2], hval(key, op[2], op[3])]


def group_command(group):
    """One command for a pick's ops: MSET for several SETs."""
    if len(group) == 1:
        return command(group[0])
    out = ["MSET"]
    for op in group:
        out += [op[1], sval(op[1], op[2], op[3])]
    return out


class Owner:
    """The keys one writer connection owns (only it writes them): what
    acknowledged writes made of them, what was in flight at a kill, and
    (history) when each write was acknowledged."""

    def __init__(self, t, rng, prefix="", big=False):
        self.t, self.rng, self.prefix, self.big = t, rng, prefix, big
        self.acked = {}
        self.skeys = []
        self.n = 0
        self.seq = 0
        self.pending = []   # ops sent, no reply (at the kill)
        self.history = {}   # key -> [(ack time, state after)]
        self.acks = 0
        self.bad_replies = []

    def state(self, d, key):
        return d.get(key, empty(key))

    def new_key(self):
        self.n += 1
        k = f"{self.prefix}s:{self.t}:{self.n}"
        self.skeys.append(k)
        return k

    def pick(self, big_left):
        """A command on this owner's keys: a list of ops (more than one
        for an MSET)."""
        r, rng = self.rng.random(), self.rng
        self.seq += 1
        if self.big and big_left[0] > 0 and rng.random() < 0.01:
            big_left[0] -= 1
            return [("set", f"{self.prefix}b:{self.t}:{rng.randrange(3)}", self.seq,
                     BIG + rng.randrange(100000, 400000))]
        if r < 0.34 or not self.skeys:
            size = rng.randint(8, 120) if rng.random() < 0.86 else rng.randint(1000, 20000)
            return [("set", self.new_key(), self.seq, size)]
        if r < 0.38:
            # MSET: keys of both shards in one command
            keys = {self.new_key() if rng.random() < 0.5 else rng.choice(self.skeys)
                    for _ in range(rng.randint(2, 4))}
            out = []
            for k in sorted(keys):
                self.seq += 1
                out.append(("set", k, self.seq, rng.randint(8, 150)))
            return out
        if r < 0.48:
            return [("set", rng.choice(self.skeys), self.seq, rng.randint(8, 200))]
        if r < 0.55:
            return [("del", rng.choice(self.skeys))]
        if r < 0.61:
            return [("expire", rng.choice(self.skeys), TTL_MIN + rng.randrange(86400))]
        if r < 0.77:
            return [("incr", f"{self.prefix}c:{self.t}:{rng.randrange(30)}")]
        if r < 0.81:
            return [("hdel", f"{self.prefix}h:{self.t}:{rng.randrange(40)}",
                     f"f{rng.randrange(30)}")]
        return [("hset", f"{self.prefix}h:{self.t}:{rng.randrange(40)}",
                 f"f{rng.randrange(30)}", self.seq)]

    def fix(self, group):
        """The ops with a SET's size made the value's actual length."""
        return [(op[0], op[1], op[2], len(sval(op[1], op[2], op[3])))
                if op[0] == "set" else op for op in group]


class Writer(threading.Thread):
    """Pipelines batches of 1-12 ops of one owner until stopped or the
    connection dies; an op is acknowledged when its reply arrived."""

    def __init__(self, port, owner, stop, started, big_left, history=False):
        super().__init__(daemon=True)
        self.port, self.o, self.stop, self.started = port, owner, stop, started
        self.big_left, self.keep_history = big_left, history

    def run(self):
        o = self.o
        sent = dict(o.acked)
        o.pending = []
        try:
            c = Conn(self.port)
        except OSError:
            self.started.set()
            return
        try:
            while not self.stop.is_set():
                batch = [o.fix(o.pick(self.big_left))
                         for _ in range(o.rng.randint(1, 12))]
                exp = []
                for group in batch:
                    for op in group:
                        before = o.state(sent, op[1])
                        if len(group) == 1:
                            exp.append(expected_reply(before, op))
                        sent[op[1]] = apply(before, op)
                    if len(group) > 1:
                        exp.append("OK")
                o.pending = [op for group in batch for op in group]
                c.send([group_command(group) for group in batch])
                for group, want in zip(batch, exp):
                    got = c.reply()
                    now = time.monotonic()
                    for op in group:
                        o.pending.pop(0)
                        after = apply(o.state(o.acked, op[1]), op)
                        o.acked[op[1]] = after
                        o.acks += 1
                        if self.keep_history:
                            o.history.setdefault(op[1], []).append((now, after))
                    if got != want and len(o.bad_replies) < 20:
                        o.bad_replies.append((group[0][:3], want, got))
                self.started.set()
        except (OSError, ConnectionError):
            pass  # the kill
        except Exception as e:  # noqa: BLE001 - a bug here or a bad reply
            o.bad_replies.append(("writer died", repr(e)))
        finally:
            self.started.set()
            c.close()


def read_states(port, keys):
    """What the node holds of keys, in the model's terms (a value that is
    not one the test wrote comes back as ("corrupt", ...))."""
    cmds = []
    for k in keys:
        kd = kind(k)
        if kd == "s":
            cmds += [["GET", k], ["PTTL", k]]
        elif kd == "c":
            cmds.append(["GET", k])
        else:
            cmds.append(["HGETALL", k])
    c = Conn(port, timeout=30)
    try:
        rep = c.pipeline(cmds)
    finally:
        c.close()
    out, i = {}, 0
    for k in keys:
        kd = kind(k)
        if kd == "s":
            v, pttl = rep[i], rep[i + 1]
            i += 2
            if v is None:
                out[k] = None if pttl == -2 else ("corrupt", None, pttl)
                continue
            try:
                seq = int(v.split(b"|")[1])
            except (IndexError, ValueError):
                seq = -1
            if seq < 0 or v != sval(k, seq, len(v)) or not isinstance(pttl, int) \
                    or pttl == -2 or pttl > 2 * 86400 * 1000 + 1000:
                out[k] = ("corrupt", v[:60], pttl)
            else:
                out[k] = (seq, len(v), pttl > 0)
        elif kd == "c":
            v = rep[i]
            i += 1
            try:
                out[k] = int(v) if v is not None else 0
            except ValueError:
                out[k] = ("corrupt", v[:60])
        else:
            v = rep[i]
            i += 1
            if not isinstance(v, list):
                out[k] = ("corrupt", repr(v)[:60])
                continue
            d = {}
            for j in range(0, len(v), 2):
                f, val = v[j].decode(), v[j + 1]
                try:
                    seq = int(val.split(b"|")[-1])
                except ValueError:
                    seq = -1
                if val != hval(k, f, seq):
                    d = ("corrupt", f, val[:60])
                    break
                d[f] = seq
            out[k] = d
    return out


def candidates(owner, key):
    """The states key may be in: its acknowledged one, then after each of
    its in-flight ops in order."""
    s = owner.state(owner.acked, key)
    out = [s]
    for op in owner.pending:
        if op[1] == key:
            s = apply(s, op)
            out.append(s)
    return out


def verify(port, owners, what, adopt=True):
    """Every key of every owner as acknowledged (or with a prefix of its
    in-flight ops); adopts what the node chose for in-flight ops. Returns
    the number of live keys, or None on a failure."""
    keys = set()
    for o in owners:
        keys.update(o.acked)
        keys.update(op[1] for op in o.pending)
    keys = sorted(keys)
    owner_of = {}
    for o in owners:
        for k in o.acked:
            owner_of[k] = o
        for op in o.pending:
            owner_of[op[1]] = o
    try:
        actual = read_states(port, keys)
    except (OSError, ConnectionError, ValueError) as e:
        check(False, f"{what}: reading the keys back: {e!r}")
        return None
    bad, inflight_in, inflight_out = [], 0, 0
    for k in keys:
        o = owner_of[k]
        cands = candidates(o, k)
        a = actual[k]
        if a in cands:
            idx = cands.index(a)
            if len(cands) > 1:
                if idx:
                    inflight_in += 1
                else:
                    inflight_out += 1
            if adopt and idx:
                o.acked[k] = a
        else:
            bad.append((k, cands[0], a))
    live = sum(1 for k in keys if present(actual[k]))
    if adopt:
        for o in owners:
            o.pending = []
    ok = check(not bad, f"{what}: all {len(keys)} keys as acknowledged "
               f"({live} live; keys with writes in flight at the kill: "
               f"{inflight_in} took them, {inflight_out} did not)")
    for k, want, got in bad[:8]:
        log(f"      {k}: acknowledged {str(want)[:100]}, found {str(got)[:100]}")
    if len(bad) > 8:
        log(f"      ... and {len(bad) - 8} more")
    return live if ok else None


# ------------------------------------------------------------- always

def shard_files(ddir):
    """{shard: [(gen, ext)]} of the files in ddir."""
    out = {}
    for name in os.listdir(ddir):
        m = re.fullmatch(r"shard-(\d+)-(\d+)\.(snap|log)", name)
        if m:
            out.setdefault(int(m.group(1)), []).append((int(m.group(2)), m.group(3)))
    return out


def check_start(d, what, present_keys):
    """INFO persistence after a start, against the log's line."""
    text = d.text()
    inf = info(d.resp)
    dl = data_loaded(text)
    check(inf.get("loading") == 0 and inf.get("gv_appendfsync") == d.fsync
          and inf.get("aof_enabled") == 1 and inf.get("aof_last_write_status") == "ok"
          and inf.get("gv_aof_write_errors") == 0,
          f"{what}: INFO persistence: loading:0, aof_enabled:1, "
          f"appendfsync {d.fsync}, writes ok")
    check(dl and dl.get("entries") == inf.get("rdb_last_load_keys_loaded")
          and dl.get("log_records") == inf.get("gv_load_log_records")
          and dl.get("torn") == inf.get("gv_load_torn_records")
          and inf.get("rdb_last_load_keys_expired") == 0
          and inf.get("rdb_last_load_keys_loaded", 0) >= present_keys,
          f"{what}: loaded {inf.get('rdb_last_load_keys_loaded')} entries "
          f"(>= {present_keys} live keys), {inf.get('gv_load_log_records')} log "
          f"records, {inf.get('gv_load_torn_records')} torn, none expired; "
          f"as the log line says ({dl})")
    errs = [ln for ln in text.splitlines() if "level=error" in ln]
    check(not errs, f"{what}: no error logged" + (f": {errs[0][:200]}" if errs else ""))
    return inf


def dbsize_ok(port, live, what):
    c = Conn(port)
    try:
        n = c.cmd("DBSIZE")
    finally:
        c.close()
    return check(n == live, f"{what}: DBSIZE {n} == {live} live keys")


def wait_no_snapshot(port, timeout=30):
    return servers.wait_until(
        lambda: (lambda i: not i["rdb_bgsave_in_progress"]
                 and not i["aof_rewrite_in_progress"])(info(port)), timeout)


def test_always(binary, tmp, rng, rounds):
    log(f"always: one node, --shards {SHARDS}, --appendfsync always, {rounds} rounds")
    gossip = servers.free_port_block(SHARDS)
    resp = servers.free_port_block(1, udp=False)
    ddir = os.path.join(tmp, "always")
    d = Daemon(binary, tmp, "always", gossip, resp, ddir, "always")
    owners = [Owner(t, random.Random(rng.random()), big=(t == 0)) for t in range(WRITERS)]
    if not d.start():
        return None, owners
    # the preload: 20,000 keys of 150-300 B, so that a snapshot takes a while
    c = Conn(resp, timeout=30)
    ops = []
    for i in range(PRELOAD):
        o = owners[i % WRITERS]
        o.seq += 1
        ops.append((o, o.fix([("set", o.new_key(), o.seq, rng.randint(150, 300))])[0]))
    rep = c.pipeline([command(op) for _, op in ops], chunk=1000)
    c.close()
    for (o, op), r in zip(ops, rep):
        if r == "OK":
            o.acked[op[1]] = apply(None, op)
    check(all(r == "OK" for r in rep), f"always: preload of {PRELOAD} keys acknowledged")
    kinds = ["plain", "bgsave", "rewrite", "save"] * ((rounds + 3) // 4)
    kinds = kinds[:rounds]
    rng.shuffle(kinds)
    twice = set(rng.sample(range(rounds), max(1, rounds // 4)))
    in_snap, torn_total, live = 0, 0, PRELOAD
    for rnd in range(rounds):
        acks0 = [o.acks for o in owners]
        stop, big_left = threading.Event(), [1]
        starts = [threading.Event() for _ in owners]
        ws = [Writer(resp, o, stop, s, big_left) for o, s in zip(owners, starts)]
        for w in ws:
            w.start()
        for s in starts:
            s.wait(10)
        note = ""
        if kinds[rnd] == "plain":
            time.sleep(rng.uniform(0.05, 0.6))
        elif kinds[rnd] == "save":
            # SAVE runs on the shards' threads: the kill lands in it or
            # just after it
            time.sleep(rng.uniform(0.05, 0.4))
            ctl = Conn(resp)
            ctl.send([["SAVE"]])
            time.sleep(rng.uniform(0, 0.03))
            ctl.s.setblocking(False)
            try:
                done = ctl.s.recv(100)
            except BlockingIOError:
                done = b""
            note = (f", save: {done.strip().decode(errors='replace')[:60]} before the kill"
                    if done else ", save: running at the kill")
            ctl.close()
        else:
            time.sleep(rng.uniform(0.05, 0.4))
            ctl = Conn(resp)
            r = ctl.cmd("BGSAVE" if kinds[rnd] == "bgsave" else "BGREWRITEAOF")
            time.sleep(rng.uniform(0, 0.03))
            ctl.send([["INFO", "persistence"]])
            v = ctl.reply()
            busy = b"rdb_bgsave_in_progress:1" in v or b"aof_rewrite_in_progress:1" in v
            in_snap += busy
            note = f", {kinds[rnd]}: {r!s}, snapshot {'running' if busy else 'done'} at the kill"
            ctl.close()
        d.kill9()
        stop.set()
        for w in ws:
            w.join(15)
        acks = [o.acks - n for o, n in zip(owners, acks0)]
        flight = sum(len(o.pending) for o in owners)
        check(all(acks), f"round {rnd + 1}: killed -9 after {sum(acks)} acknowledged "
              f"writes ({flight} in flight){note}")
        bad = [b for o in owners for b in o.bad_replies]
        check(not bad, f"round {rnd + 1}: every reply as expected" +
              (f": {bad[:3]}" if bad else ""))
        if not d.start():
            return d, owners
        if rnd in twice:
            # again, at once: during the snapshot of what the logs held
            time.sleep(rng.uniform(0, 0.15))
            busy = info(resp)["rdb_bgsave_in_progress"]
            d.kill9()
            log(f"round {rnd + 1}: killed -9 again {'during' if busy else 'after'} "
                "the start's snapshot")
            if not d.start():
                return d, owners
        what = f"round {rnd + 1}"
        live = verify(resp, owners, what)
        if live is None:
            return d, owners
        inf = check_start(d, what, live)
        torn_total += inf.get("gv_load_torn_records", 0)
        if not dbsize_ok(resp, live, what):
            return d, owners
    log(f"always: the kill landed in a running snapshot in {in_snap} of "
        f"{rounds - kinds.count('plain') - kinds.count('save')} BGSAVE/BGREWRITEAOF "
        "rounds; "
        f"{torn_total} torn records dropped in all")
    check(wait_no_snapshot(resp), "always: the start's snapshot finishes")
    files = shard_files(ddir)
    stale = []
    for s, v in files.items():
        snaps = [g for g, e in v if e == "snap"]
        top = max(snaps) if snaps else 0
        stale += [f"shard-{s}-{g}.{e}" for g, e in v if g < top]
    check(sorted(files) == list(range(SHARDS)) and not stale,
          f"always: no file older than the newest snapshot left ({sorted(files.items())})")
    return d, owners


# ------------------------------------------------------------- torn tails

def newest_log(ddir, shard=0):
    logs = [(g, f"shard-{shard}-{g}.log") for s, v in shard_files(ddir).items()
            if s == shard for g, e in v if e == "log"]
    return os.path.join(ddir, max(logs)[1]) if logs else None


def records(path):
    """The whole records of a file (frames: len u32, lcheck u32, body,
    bcheck u32), past its 48-byte header."""
    with open(path, "rb") as f:
        b = f.read()
    out, off = [], 48
    while off + 8 <= len(b):
        n = int.from_bytes(b[off:off + 4], "little")
        if off + 12 + n > len(b):
            break
        out.append(b[off:off + 12 + n])
        off += 12 + n
    return out


def test_torn(d, owners, rng):
    log("torn: the node of 'always' stopped, a tail appended to its newest shard-0 log")
    resp = d.resp
    check(wait_no_snapshot(resp), "torn: no snapshot running")
    variants = ["random", "cut", "zeroes"]
    for v in variants:
        # a few acknowledged writes first: the newest log holds records
        c = Conn(resp)
        for o in owners:
            ops = [o.fix([("set", o.new_key(), o.seq + i + 1, rng.randint(20, 200))])[0]
                   for i in range(5)]
            o.seq += 5
            rep = c.pipeline([command(op) for op in ops])
            for op, r in zip(ops, rep):
                if r == "OK":
                    o.acked[op[1]] = apply(None, op)
        c.close()
        rc = d.term()
        check(rc == 0, f"torn {v}: SIGTERM: exit status {rc}")
        path = newest_log(d.dir)
        if not check(path is not None, f"torn {v}: a shard-0 log in the dir"):
            return
        size = os.path.getsize(path)
        if v == "random":
            tail = rng.randbytes(rng.randint(1, 7))
        elif v == "zeroes":
            tail = bytes(4096)
        else:
            recs = records(path)
            if not recs:
                for p in sorted(glob.glob(os.path.join(d.dir, "shard-0-*.snap"))):
                    recs = records(p)
            if not check(recs, f"torn {v}: a record to cut"):
                return
            r = rng.choice(recs)
            tail = r[:rng.randint(8, len(r) - 1)]
        with open(path, "ab") as f:
            f.write(tail)
        what = f"torn {v}"
        log(f"{what}: {len(tail)} bytes appended to {os.path.basename(path)} ({size} B)")
        if not d.start():
            return
        text = d.text()
        inc = [ln for ln in text.splitlines() if "incomplete" in ln]
        check(inc and os.path.basename(path) in inc[0],
              f"{what}: the start logs dropping an incomplete record: "
              f"{inc[0][:220] if inc else text[-500:]}")
        inf = info(resp)
        check(inf.get("gv_load_torn_records") == 1,
              f"{what}: gv_load_torn_records {inf.get('gv_load_torn_records')} == 1")
        now = os.path.getsize(path) if os.path.exists(path) else None
        check(now in (None, size), f"{what}: the tail is cut off "
              f"({size} B before, {now} B now, None: superseded)")
        live = verify(resp, owners, what, adopt=False)
        if live is None:
            return
        check_start(d, what, live)
        dbsize_ok(resp, live, what)
        check(wait_no_snapshot(resp), f"{what}: the start's snapshot finishes")
    rc = d.term()
    if not d.start():
        return
    inf = info(resp)
    check(rc == 0 and inf.get("gv_load_torn_records") == 0,
          f"torn: a clean restart after them loads no torn record "
          f"({inf.get('gv_load_torn_records')})")
    live = verify(resp, owners, "torn: clean restart", adopt=False)
    if live is not None:
        dbsize_ok(resp, live, "torn: clean restart")


# ------------------------------------------------------------- everysec

def test_everysec(binary, tmp, rng, rounds=2):
    log("everysec: two nodes, each with its --dir; A written to and killed -9")
    g = servers.free_port_block(10 + SHARDS)
    r = servers.free_port_block(2, udp=False)
    a = Daemon(binary, tmp, "A", g, r, os.path.join(tmp, "A"), "everysec")
    b = Daemon(binary, tmp, "B", g + 10, r + 1, os.path.join(tmp, "B"), "everysec",
               join=g)
    if not (a.start() and b.start()):
        return [a, b]
    if not check(servers.wait_until(lambda: gv_stats(a.resp)["members_alive"] == 1
                                    and gv_stats(b.resp)["members_alive"] == 1, 20),
                 "everysec: A and B see each other"):
        return [a, b]
    a.join = b.gossip  # A restarted joins through B
    owners = [Owner(t, random.Random(rng.random()), prefix="x") for t in range(2)]
    for rnd in range(rounds):
        acks0 = [o.acks for o in owners]
        for o in owners:
            o.history = {k: [(0.0, s)] for k, s in o.acked.items()}
        stop, big_left = threading.Event(), [0]
        starts = [threading.Event() for _ in owners]
        ws = [Writer(a.resp, o, stop, s, big_left, history=True)
              for o, s in zip(owners, starts)]
        for w in ws:
            w.start()
        for s in starts:
            s.wait(10)
        time.sleep(rng.uniform(0.3, 1.5))
        t_kill = time.monotonic()
        a.kill9()
        stop.set()
        for w in ws:
            w.join(15)
        what = f"everysec round {rnd + 1}"
        acks = [o.acks - n for o, n in zip(owners, acks0)]
        check(all(acks), f"{what}: A killed -9 after {sum(acks)} acknowledged writes "
              f"({sum(len(o.pending) for o in owners)} in flight)")
        bad = [x for o in owners for x in o.bad_replies]
        check(not bad, f"{what}: every reply as expected" + (f": {bad[:3]}" if bad else ""))
        if not a.start():
            return [a, b]
        # (a) at once: what A has of its own, before anti-entropy fills it
        keys = sorted({k for o in owners for k in o.acked} |
                      {op[1] for o in owners for op in o.pending})
        owner_of = {k: o for o in owners for k in list(o.acked) + [op[1] for op in o.pending]}
        early = read_states(a.resp, keys)
        missing, oldest, unknown = 0, None, []
        for k in keys:
            o, act = owner_of[k], early[k]
            if act in candidates(o, k):
                continue
            hist = o.history.get(k, [(0.0, empty(k))])
            idx = [i for i, (_, s) in enumerate(hist) if s == act]
            if not idx:
                unknown.append((k, act))
                continue
            j = idx[-1]
            missing += len(hist) - 1 - j
            t = hist[j + 1][0]
            oldest = t if oldest is None else min(oldest, t)
        age = t_kill - oldest if oldest is not None else 0.0
        check(not unknown and age <= 1.5,
              f"{what}: right after the start A misses {missing} acknowledged writes"
              + (f", all acknowledged in the last {age:.3f} s before the kill (<= 1.5 s)"
                 if missing else "")
              + (f"; unknown states: {unknown[:3]}" if unknown else ""))
        check(missing == 0, f"{what}: ... none at all: the log is written before the "
              "replies on every policy (docs/persistence.md: after kill -9 every "
              "acknowledged write is there)")
        inf = info(a.resp)
        check(inf.get("loading") == 0 and inf.get("gv_appendfsync") == "everysec",
              f"{what}: A's INFO: loaded {inf.get('rdb_last_load_keys_loaded')} entries, "
              f"{inf.get('gv_load_log_records')} log records, "
              f"{inf.get('gv_load_torn_records')} torn")

        # (b) within 10 s every acknowledged write is at A and at B
        def settled(port):
            st = read_states(port, keys)
            return all(st[k] in candidates(owner_of[k], k) for k in keys)
        ok_a = servers.wait_until(lambda: settled(a.resp), 10, step=0.25)
        ok_b = servers.wait_until(lambda: settled(b.resp), 10, step=0.25)
        check(ok_a, f"{what}: within 10 s every acknowledged write is at A again")
        check(ok_b, f"{what}: B has every acknowledged write")
        if not (ok_a and ok_b):
            for node in (a, b):
                st = read_states(node.resp, keys)
                badk = [(k, candidates(owner_of[k], k)[0], st[k]) for k in keys
                        if st[k] not in candidates(owner_of[k], k)]
                for k, want, got in badk[:5]:
                    log(f"      {node.name} {k}: acknowledged {str(want)[:80]}, "
                        f"found {str(got)[:80]}")
            return [a, b]
        same = servers.wait_until(lambda: read_states(a.resp, keys) ==
                                  read_states(b.resp, keys), 10, step=0.25)
        check(same, f"{what}: A and B agree on all {len(keys)} keys "
              "(writes in flight at the kill included)")
        live = verify(a.resp, owners, f"{what}: A", adopt=True)
        if live is None:
            return [a, b]
        dbsize_ok(a.resp, live, f"{what}: A")
        dbsize_ok(b.resp, live, f"{what}: B")
    return [a, b]


# ------------------------------------------------------------- main

def main():
    args = sys.argv[1:]
    if not args or not os.path.exists(args[0]):
        print(__doc__)
        print("usage: persist_crash_test.py GRAPEVINED (no binary given)")
        return 2
    binary = os.path.abspath(args[0])
    seed = int(time.time() * 1000) % 1000000
    rounds = 12
    if "--seed" in args:
        seed = int(args[args.index("--seed") + 1])
    if "--rounds" in args:
        rounds = int(args[args.index("--rounds") + 1])
    if not servers.gv_supports(binary, "--dir") or \
            not servers.gv_supports(binary, "--appendfsync"):
        print("SKIP: this grapevined has no --dir/--appendfsync")
        return 77
    rng = random.Random(seed)
    log(f"seed {seed} (rerun with --seed {seed})")
    tmp = tempfile.mkdtemp(prefix="gv-pcrash-")
    try:
        d, owners = test_always(binary, tmp, rng, rounds)
        if d and not FAILED:
            test_torn(d, owners, rng)
        test_everysec(binary, tmp, rng)
    except Exception as e:  # noqa: BLE001 - reported as a failure
        import traceback
        traceback.print_exc()
        check(False, f"unexpected {e!r}")
    finally:
        servers.stop_all()
    if FAILED:
        for dm in DAEMONS:
            if dm.log:
                log(f"--- tail of {dm.log}")
                print(servers._tail(dm.log, 3000), flush=True)
        log(f"{len(FAILED)} check(s) failed (seed {seed}; logs and data in {tmp}):")
        for f in FAILED:
            print("  " + f)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    log("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
