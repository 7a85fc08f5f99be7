#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Integration tests: real grapevined processes on loopback.

usage: cluster_test.py GRAPEVINED [TEST ...]

Each test starts its own daemons on free ports, bounds every wait, and
kills what it started (also on failure). Prints one line per check and a
closing 'N passed, N failed' line; exits non-zero on any failure, 77 when a
needed tool (redis-cli, redis-benchmark) is missing.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import ports  # noqa: E402

BIN = None
PROCS = []
PASSED = 0
FAILED = 0


def log(msg):
    print(msg, flush=True)


def check(cond, what):
    global PASSED, FAILED
    if cond:
        PASSED += 1
        log(f"ok: {what}")
    else:
        FAILED += 1
        log(f"FAIL: {what}")
    return cond


def free_port_block(n, udp=True):
    """A base port such that base..base+n-1 are free, TCP (and UDP), and
    reserved for this process (ports.py: no other test can pick them)."""
    return ports.reserve(n, udp)


# ------------------------------------------------------------- RESP client

class Resp:
    def __init__(self, port, timeout=5.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.s.close()

    def send_raw(self, data):
        self.s.sendall(data)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return Exception(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ValueError(f"bad reply {line!r}")

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.reply()


def stats(port):
    r = Resp(port)
    try:
        v = r.cmd("GV.STATS")
    finally:
        r.close()
    return {v[i].decode(): v[i + 1] for i in range(0, len(v), 2)}


# ------------------------------------------------------------- daemons

class Node:
    def __init__(self, gossip, resp, shards=2, seeds=None, extra=(), name=None):
        self.gossip, self.resp, self.shards = gossip, resp, shards
        self.seeds, self.extra = seeds, list(extra)
        self.name = name or f"n{resp}"
        self.proc = None
        self.logf = tempfile.NamedTemporaryFile(prefix="gvd-", suffix=".log", delete=False)

    def args(self):
        a = [BIN, "--bind", f"127.0.0.1:{self.gossip}", "--resp", f"127.0.0.1:{self.resp}",
             "--shards", str(self.shards), "--name", self.name,
             "--probe-interval-ms", "200", "--log-level", "info"]
        if self.seeds:
            a += ["--join", ",".join(f"127.0.0.1:{p}" for p in self.seeds)]
        return a + self.extra

    def start(self):
        self.proc = subprocess.Popen(self.args(), stdout=self.logf, stderr=subprocess.STDOUT)
        PROCS.append(self.proc)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}: {self.log()}")
            try:
                r = Resp(self.resp, 1)
                r.cmd("PING")
                r.close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start: {self.log()}")

    def log(self):
        try:
            with open(self.logf.name) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)

    def term(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return None
        return self.proc.returncode if self.proc else None

    def r(self):
        return Resp(self.resp)


def cluster(n, shards=2, extra=()):
    base_g = free_port_block(n * 10)
    base_r = free_port_block(n, udp=False)
    nodes = []
    for i in range(n):
        seeds = [base_g] if i else None
        nodes.append(Node(base_g + 10 * i, base_r + i, shards, seeds, extra, name=f"n{i}").start())
    return nodes


def wait_until(pred, timeout, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if pred():
                return True
        except (OSError, ConnectionError):
            pass
        time.sleep(step)
    return False


def alive_members(node):
    return stats(node.resp)["members_alive"]


def stop_all(nodes):
    """SIGTERM every daemon still running; each must leave and exit 0 (an
    ASan build also fails here on a leak)."""
    for n in nodes:
        if n.proc and n.proc.poll() is None:
            rc = n.term()
            check(rc == 0, f"{n.name}: SIGTERM -> exit {rc}" + ("" if rc == 0 else ": " + n.log()[-600:]))


# ------------------------------------------------------------- tests

def test_replicate(io="auto"):
    nodes = cluster(5, 2, extra=("--io", io))
    try:
        check(wait_until(lambda: all(alive_members(n) == 4 for n in nodes), 15),
              f"[{io}] 5 daemons (2 shards each) see 4 alive members")
        r0 = nodes[0].r()
        check(r0.cmd("SET", "greeting", "hello") == "OK", f"[{io}] SET at node 0")
        t0 = time.time()
        ok = wait_until(lambda: all(n.r().cmd("GET", "greeting") == b"hello" for n in nodes), 1.0, 0.01)
        check(ok, f"[{io}] GET at all 5 nodes within 1 s (took {time.time() - t0:.3f} s)")
        # many keys through one node, then everywhere
        for i in range(500):
            r0.cmd("SET", f"k{i}", f"v{i}")
        ok = wait_until(lambda: all(n.r().cmd("DBSIZE") == 501 for n in nodes), 10)
        check(ok, f"[{io}] 500 SETs at node 0 reach all nodes (DBSIZE 501)")
        w = nodes[2].r()
        w.cmd("GV.WATCH", "greeting")
        time.sleep(0.2)
        v = w.cmd("GV.WATCH", "greeting")
        check(isinstance(v, list) and v[1] == 5 and v[2] == 5,
              f"[{io}] GV.WATCH: 5/5 members hold the latest version ({v})")
        w.close()
        r0.close()
    finally:
        stop_all(nodes)


def test_commands():
    nodes = cluster(2, 2)
    try:
        r = nodes[0].r()
        check(r.cmd("PING") == "PONG", "PING")
        check(r.cmd("PING", "hi") == b"hi", "PING msg")
        check(r.cmd("ECHO", "x y") == b"x y", "ECHO")
        check(r.cmd("SET", "a", "1") == "OK", "SET")
        check(r.cmd("SET", "a", "2", "NX") is None, "SET NX on existing key")
        check(r.cmd("SET", "b", "2", "XX") is None, "SET XX on missing key")
        check(r.cmd("SET", "b", "2", "NX") == "OK", "SET NX on missing key")
        check(r.cmd("SET", "c", "1", "EX", "10") == "OK" and 0 < r.cmd("TTL", "c") <= 10, "SET EX sets a TTL")
        check(r.cmd("DEL", "c") == 1, "DEL of the key with a TTL")
        check(r.cmd("GET", "a") == b"1", "GET")
        check(r.cmd("GET", "nope") is None, "GET missing")
        check(r.cmd("EXISTS", "a", "b", "nope") == 2, "EXISTS")
        check(r.cmd("MSET", "x", "1", "y", "2", "z", "3") == "OK", "MSET")
        check(r.cmd("MGET", "x", "nope", "z") == [b"1", None, b"3"], "MGET")
        check(r.cmd("DEL", "x", "nope") == 1, "DEL")
        check(r.cmd("DBSIZE") == 4, "DBSIZE")
        keys, cursor = set(), "0"
        for _ in range(100000):
            cur, batch = r.cmd("SCAN", cursor, "COUNT", "100")
            keys.update(batch)
            cursor = cur.decode()
            if cursor == "0":
                break
        check(keys == {b"a", b"b", b"y", b"z"}, f"SCAN sees every key ({sorted(keys)})")
        matched, cursor = set(), "0"
        for _ in range(100000):
            cur, batch = r.cmd("SCAN", cursor, "MATCH", "y*", "COUNT", "1000")
            matched.update(batch)
            cursor = cur.decode()
            if cursor == "0":
                break
        check(matched == {b"y"}, f"SCAN MATCH ({sorted(matched)})")
        info = r.cmd("INFO")
        check(b"members_alive" in info and b"# Server" in info, "INFO")
        check(b"# Replication" in r.cmd("INFO", "replication"), "INFO replication")
        check(isinstance(r.cmd("COMMAND"), list), "COMMAND")
        mem = r.cmd("GV.MEMBERS")
        check(isinstance(mem, list) and len(mem) == 2 and len(mem[0]) == 5, "GV.MEMBERS")
        check(isinstance(r.cmd("GV.CONFLICTS"), list), "GV.CONFLICTS")
        check(isinstance(r.cmd("GV.CONFLICTS", "5"), list), "GV.CONFLICTS n")
        st = r.cmd("GV.STATS")
        check(isinstance(st, list) and b"keys" in st, "GV.STATS")
        check(isinstance(r.cmd("NOSUCH"), Exception), "unknown command is an error")
        check(isinstance(r.cmd("GET"), Exception), "wrong arity is an error")
        # pipelining: 1000 commands in one write, replies in order
        data = b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\np%d\r\n$1\r\nv\r\n" % (len(str(i)) + 1, i) for i in range(1000))
        data += b"".join(b"*2\r\n$3\r\nGET\r\n$%d\r\np%d\r\n" % (len(str(i)) + 1, i) for i in range(1000))
        r.send_raw(data)
        replies = [r.reply() for _ in range(2000)]
        check(replies[:1000] == ["OK"] * 1000 and replies[1000:] == [b"v"] * 1000, "pipelining 2000 commands")
        # redis-cli interop: every command through a real client
        if shutil.which("redis-cli"):
            def cli(*a):
                return subprocess.run(["redis-cli", "-p", str(nodes[0].resp), *a],
                                      capture_output=True, text=True, timeout=10).stdout.strip()
            cases = [
                (("PING",), lambda o: o == "PONG"),
                (("ECHO", "hi"), lambda o: o == "hi"),
                (("SET", "cli", "yes"), lambda o: o == "OK"),
                (("SET", "cli", "no", "NX"), lambda o: o == ""),
                (("SET", "cli", "yes2", "XX"), lambda o: o == "OK"),
                (("GET", "cli"), lambda o: o == "yes2"),
                (("EXISTS", "cli", "nope"), lambda o: o == "1"),
                (("MSET", "c1", "1", "c2", "2"), lambda o: o == "OK"),
                (("MGET", "c1", "c2", "nope"), lambda o: o.split("\n")[:2] == ["1", "2"]),
                (("DEL", "c1", "nope"), lambda o: o == "1"),
                (("DBSIZE",), lambda o: int(o) > 0),
                (("SCAN", "0", "COUNT", "1000"), lambda o: len(o.split("\n")) >= 2),
                (("INFO", "server"), lambda o: "grapevine_version" in o),
                (("INFO", "replication"), lambda o: "members_alive" in o),
                (("COMMAND",), lambda o: True),
                (("GV.MEMBERS",), lambda o: "alive" in o),
                (("GV.CONFLICTS", "3"), lambda o: True),
                (("GV.STATS",), lambda o: "datagrams_in" in o),
                (("GV.WATCH", "cli"), lambda o: "@" in o),
                (("QUIT",), lambda o: o == "OK"),
            ]
            for args, ok in cases:
                o = cli(*args)
                check(ok(o), f"redis-cli {' '.join(args)} -> {o[:60]!r}")
        r.close()
        # malformed input: an error reply, the connection closes, others
        # are served
        s = socket.create_connection(("127.0.0.1", nodes[0].resp), timeout=5)
        s.sendall(b"*2\r\n$3\r\nGET\r\n$-5\r\nxx\r\n")
        got = s.recv(1000)
        check(got.startswith(b"-ERR Protocol error"), f"malformed RESP gets an error ({got[:40]!r})")
        s.close()
        s = socket.create_connection(("127.0.0.1", nodes[0].resp), timeout=5)
        s.sendall(os.urandom(4096))
        s.close()
        check(Resp(nodes[0].resp).cmd("PING") == "PONG", "server still serves after garbage")
        # garbage datagrams to the gossip port are counted and dropped
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(200):
            u.sendto(os.urandom(1 + i * 7 % 1400), ("127.0.0.1", nodes[0].gossip))
        u.close()
        ok = wait_until(lambda: stats(nodes[0].resp)["datagrams_bad"] >= 200, 5)
        check(ok, "garbage datagrams counted as bad")
        check(Resp(nodes[0].resp).cmd("GET", "a") == b"1", "daemon keeps serving after garbage datagrams")
    finally:
        stop_all(nodes)


def test_benchmark():
    if not shutil.which("redis-benchmark"):
        log("skip: redis-benchmark not installed")
        return
    nodes = cluster(5, 2)
    try:
        check(wait_until(lambda: all(alive_members(n) == 4 for n in nodes), 15), "5 daemons joined")
        out = subprocess.run(["redis-benchmark", "-p", str(nodes[0].resp), "-t", "set", "-n", "10000",
                              "-r", "1000000000", "-P", "16", "-q"],
                             capture_output=True, text=True, timeout=120)
        log("redis-benchmark: " + out.stdout.strip().replace("\r", " ")[-200:])
        n0 = Resp(nodes[0].resp).cmd("DBSIZE")
        check(n0 > 9000, f"redis-benchmark 10000 SETs accepted (DBSIZE {n0})")
        ok = wait_until(lambda: all(Resp(n.resp).cmd("DBSIZE") == n0 for n in nodes), 20)
        check(ok, "the benchmark's keys converge on all 5 nodes")
    finally:
        stop_all(nodes)


def test_failure_and_rejoin():
    nodes = cluster(4, 2)
    try:
        check(wait_until(lambda: all(alive_members(n) == 3 for n in nodes), 15), "4 daemons joined")
        r0 = nodes[0].r()
        for i in range(200):
            r0.cmd("SET", f"f{i}", f"v{i}")
        victim = nodes[3]
        victim.kill9()
        t0 = time.time()
        ok = wait_until(lambda: all(stats(n.resp)["members_dead"] == 1 for n in nodes[:3]), 30, 0.1)
        check(ok, f"kill -9: the others mark it failed ({time.time() - t0:.1f} s; bound 30 s with 200 ms probes)")
        for i in range(200, 300):
            r0.cmd("SET", f"f{i}", f"v{i}")
        victim.start()  # empty state: a new process
        t0 = time.time()
        ok = wait_until(lambda: Resp(victim.resp).cmd("DBSIZE") == 300, 20, 0.1)
        check(ok, f"restarted empty, it rejoins and holds every key ({time.time() - t0:.1f} s)")
        r0.close()
    finally:
        stop_all(nodes)


def test_errors():
    p = subprocess.run([BIN, "--fanout", "zero"], capture_output=True, text=True, timeout=10)
    check(p.returncode == 2 and "--fanout" in p.stderr, f"bad flag: exit 2 and a clear message ({p.stderr.strip()[:80]})")
    p = subprocess.run([BIN, "--nosuch"], capture_output=True, text=True, timeout=10)
    check(p.returncode == 2 and "unknown option" in p.stderr, "unknown flag: exit 2")
    p = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=10)
    check(p.returncode == 0 and "--bind" in p.stdout, "--help")
    nodes = cluster(1, 2)
    try:
        g = free_port_block(10)
        rp = free_port_block(1, udp=False)
        bad = Node(g, rp, 3, [nodes[0].gossip], name="bad")
        bad.proc = subprocess.Popen(bad.args(), stdout=bad.logf, stderr=subprocess.STDOUT)
        PROCS.append(bad.proc)
        try:
            rc = bad.proc.wait(15)
        except subprocess.TimeoutExpired:
            rc = None
            bad.proc.kill()
        log_text = bad.log()
        check(rc == 1 and "shard count mismatch" in log_text,
              f"shard-count mismatch at join: a clear error and exit 1 (rc {rc})")
        check(alive_members(nodes[0]) == 0, "the seed did not adopt the mismatched node")
        # port in use
        p = subprocess.run([BIN, "--bind", f"127.0.0.1:{nodes[0].gossip}", "--resp", f"127.0.0.1:{rp}",
                            "--shards", "1"], capture_output=True, text=True, timeout=10)
        check(p.returncode == 1 and "cannot bind" in p.stderr, "gossip port in use: clear error")
        # SIGTERM: graceful leave, exit 0
        rc = nodes[0].term()
        check(rc == 0, f"SIGTERM: exit 0 (rc {rc})")
    finally:
        stop_all(nodes)


# Redis 7.0.15's bytes for COMMAND INFO get and COMMAND DOCS get: rows that
# grapevine takes as Redis has them answer byte for byte.
REDIS_INFO_GET = (
    b"*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n"
    b"*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n"
    b"+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n"
    b"$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n"
    b"$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n"
    b"$5\r\nlimit\r\n:0\r\n*0\r\n")
REDIS_DOCS_GET = (
    b"*2\r\n$3\r\nget\r\n*10\r\n$7\r\nsummary\r\n$22\r\nGet the value of a key\r\n"
    b"$5\r\nsince\r\n$5\r\n1.0.0\r\n$5\r\ngroup\r\n$6\r\nstring\r\n$10\r\ncomplexity\r\n"
    b"$4\r\nO(1)\r\n$9\r\narguments\r\n*1\r\n*6\r\n$4\r\nname\r\n$3\r\nkey\r\n"
    b"$4\r\ntype\r\n$3\r\nkey\r\n$14\r\nkey_spec_index\r\n:0\r\n")


def resp_encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def raw_reply(port, *args):
    """The reply's bytes to one command, read up to a PING sent after it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(resp_encode(args) + resp_encode(["PING", "end-of-reply"]))
        end, buf = b"$12\r\nend-of-reply\r\n", b""
        while not buf.endswith(end):
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf[:-len(end)]
    finally:
        s.close()


def test_command_table():
    """The command table: one arity check and Redis 7's texts for unknown
    commands and subcommands; COMMAND, COUNT, INFO, DOCS, LIST, GETKEYS
    in Redis 7's shapes, from the same rows."""
    nodes = cluster(1, 2)
    try:
        port = nodes[0].resp
        r = nodes[0].r()

        def err(*args):
            v = r.cmd(*args)
            return str(v) if isinstance(v, Exception) else v

        for args, name in [(("GET",), "get"), (("GET", "a", "b"), "get"), (("gEt",), "get"),
                           (("SET", "a"), "set"), (("MGET",), "mget"), (("MSET", "a", "b", "c"), "mset"),
                           (("PING", "a", "b"), "ping"), (("ECHO",), "echo"), (("DBSIZE", "x"), "dbsize"),
                           (("SCAN",), "scan"), (("DEL",), "del"), (("GV.WATCH",), "gv.watch"),
                           (("GV.MEMBERS", "x"), "gv.members"),
                           (("COMMAND", "COUNT", "x"), "command|count"),
                           (("COMMAND", "HELP", "x"), "command|help"),
                           (("command", "getkeys", "get"), "command|getkeys")]:
            want = f"ERR wrong number of arguments for '{name}' command"
            got = err(*args)
            check(got == want, f"{' '.join(args)}: {got!r}")
        check(raw_reply(port, "FOOBAR", "a", "b", "c") ==
              b"-ERR unknown command 'FOOBAR', with args beginning with: 'a' 'b' 'c' \r\n",
              "unknown command: Redis 7's text, a space after each argument")
        check(raw_reply(port, "nosuch") == b"-ERR unknown command 'nosuch', with args beginning with: \r\n",
              "unknown command without arguments")
        got = err("x" * 200, "y" * 126, "b", "c")
        check(got == "ERR unknown command '%s', with args beginning with: '%s' " % ("x" * 128, "y" * 126),
              "unknown command: name cut at 128 bytes, arguments stop past 128")
        got = err("foo", "y" * 123, "bbb", "c")
        check(got == "ERR unknown command 'foo', with args beginning with: '%s' 'bb' " % ("y" * 123),
              "unknown command: the last argument cut to what is left of 128")
        check(err("foo", "a\r\nb") == "ERR unknown command 'foo', with args beginning with: 'a  b' ",
              "unknown command: CR LF in an argument become spaces")
        check(raw_reply(port, "COMMAND", "FOO") == b"-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n",
              "unknown subcommand: Redis 7's text")
        check(err("command", "foo", "bar") == "ERR unknown subcommand 'foo'. Try COMMAND HELP.",
              "unknown subcommand, lowercase container")
        check(err("GV.KEYS") == "ERR usage: GV.KEYS LIST | INSTALL KEY | USE KEY|ID | REMOVE KEY|ID",
              "GV.KEYS keeps its usage error")
        check(isinstance(r.cmd("GV.CONFLICTS", "1", "2"), Exception), "GV.CONFLICTS keeps its usage error")

        # case-insensitive lookup
        check(r.cmd("sEt", "ck", "v") == "OK" and r.cmd("gEt", "ck") == b"v", "gEt / sEt: any case")
        count = r.cmd("CoMmAnD", "cOuNt")
        every = r.cmd("COMMAND")
        check(isinstance(count, int) and count == len(every), f"COMMAND COUNT {count} == rows of COMMAND")
        check(r.cmd("COMMAND", "INFO") == every, "COMMAND INFO without names: every command")
        names = [e[0] for e in every]
        check(all(isinstance(e, list) and len(e) == 10 for e in every), "COMMAND: entries of 10")
        check(names == sorted(names), "COMMAND lists the table's rows in name order")

        info = r.cmd("COMMAND", "INFO", "get", "SET", "nosuch", "command|INFO", "get|x")
        check(isinstance(info, list) and len(info) == 5, "COMMAND INFO: one entry per name")
        check(info[0] == [b"get", 2, ["readonly", "fast"], 1, 1, 1, ["@read", "@string", "@fast"], [],
                          [[b"flags", ["RO", "access"],
                            b"begin_search", [b"type", b"index", b"spec", [b"index", 1]],
                            b"find_keys", [b"type", b"range", b"spec",
                                           [b"lastkey", 0, b"keystep", 1, b"limit", 0]]]], []],
              f"COMMAND INFO get: {info[0]}")
        check(info[1][:8] == [b"set", -3, ["write", "denyoom"], 1, 1, 1, ["@write", "@string", "@slow"], []],
              f"COMMAND INFO set: {info[1][:8]}")
        check(info[2] is None and info[4] is None, "COMMAND INFO: nil for an unknown name")
        check(info[3] and info[3][:2] == [b"command|info", -2], "COMMAND INFO command|info")
        check(raw_reply(port, "COMMAND", "INFO", "get") == REDIS_INFO_GET, "COMMAND INFO get: Redis 7's bytes")
        cmd = r.cmd("COMMAND", "INFO", "command")[0]
        subs = sorted(s[0] for s in cmd[9])
        check(subs == [b"command|" + s for s in (b"count", b"docs", b"getkeys", b"getkeysandflags", b"help",
                                                 b"info", b"list")],
              f"COMMAND INFO command: its subcommands ({subs})")

        check(raw_reply(port, "COMMAND", "DOCS", "get") == REDIS_DOCS_GET, "COMMAND DOCS get: Redis 7's bytes")
        docs = r.cmd("COMMAND", "DOCS", "mget", "nosuch", "gv.watch")
        check(isinstance(docs, list) and docs[0::2] == [b"mget", b"gv.watch"], "COMMAND DOCS: unknown names left out")
        alld = r.cmd("COMMAND", "DOCS")
        check(isinstance(alld, list) and alld[0::2] == names, "COMMAND DOCS without names: every command")
        check(all(b"summary" in m and b"group" in m for m in alld[1::2]), "COMMAND DOCS: summary and group")

        lst = r.cmd("COMMAND", "LIST")
        want = set(names) | {s[0] for e in every for s in e[9]}
        check(isinstance(lst, list) and set(lst) == want and len(lst) == len(want),
              "COMMAND LIST: every command and subcommand")
        found = r.cmd("COMMAND", "INFO", *[n.upper() for n in lst])
        check(all(found), "every listed name is found (any case): the table is sorted")
        check(r.cmd("COMMAND", "LIST", "FILTERBY", "PATTERN", "GV.*") ==
              [b"gv.conflicts", b"gv.keys", b"gv.members", b"gv.stats", b"gv.watch"], "COMMAND LIST FILTERBY PATTERN")
        check(r.cmd("COMMAND", "LIST", "FILTERBY", "ACLCAT", "admin") ==
              [b"bgrewriteaof", b"bgsave", b"client|kill", b"client|list", b"client|no-evict",
               b"config|get", b"config|resetstat", b"config|set", b"gv.keys", b"lastsave",
               b"save"],
              "COMMAND LIST FILTERBY ACLCAT")
        check(err("COMMAND", "LIST", "x") == "ERR syntax error", "COMMAND LIST x: syntax error")
        check(r.cmd("COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2") == [b"a", b"b"], "COMMAND GETKEYS mset")
        check(err("COMMAND", "GETKEYS", "ping", "x") == "ERR The command has no key arguments",
              "COMMAND GETKEYS of a command without keys")
        check(r.cmd("COMMAND", "GETKEYSANDFLAGS", "del", "k") == [[b"k", ["RM", "delete"]]],
              "COMMAND GETKEYSANDFLAGS del")
        hlp = r.cmd("COMMAND", "HELP")
        check(isinstance(hlp, list) and hlp[0].startswith("COMMAND <subcommand>"), "COMMAND HELP")
        r.close()

        # a real client reads the table's replies
        try:
            import redis
        except ImportError as e:
            log(f"skip: redis-py checks: import redis failed under {sys.executable} ({e})")
            return
        c = redis.Redis(port=port, socket_timeout=5)
        check(c.command_count() == count, "redis-py command_count()")
        parsed = c.command()
        check(len(parsed) == count and parsed["get"]["arity"] == 2 and
              parsed["mset"]["step_count"] == 2, "redis-py command() parses every entry")
        got = c.execute_command("COMMAND", "INFO", "get", "set")
        check(set(got) == {"get", "set"} and got["set"]["flags"] == ["write", "denyoom"],
              "redis-py COMMAND INFO get set")
        check(c.command_getkeys("MGET", "a", "b") == ["a", "b"], "redis-py command_getkeys()")
        try:
            c.execute_command("GET", "a", "b")
            check(False, "redis-py: wrong arity raises")
        except redis.ResponseError as e:
            check(str(e) == "wrong number of arguments for 'get' command", f"redis-py: ResponseError {e}")
        c.close()
    finally:
        stop_all(nodes)


def test_hooks():
    d = tempfile.mkdtemp(prefix="gvhook-")
    out = os.path.join(d, "events")
    script = os.path.join(d, "hook.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\necho \"$GV_EVENT $GV_MEMBER_NAME $GV_MEMBER_STATE\" >> %s\n" % out)
    os.chmod(script, 0o755)
    g = free_port_block(20)
    rp = free_port_block(2, udp=False)
    a = Node(g, rp, 1, None, ("--on-event", script), name="a").start()
    b = Node(g + 10, rp + 1, 1, [g], name="b").start()
    try:
        def events():
            try:
                with open(out) as f:
                    return f.read()
            except OSError:
                return ""
        check(wait_until(lambda: "member-join b alive" in events(), 10), "hook: member-join with member env vars")
        b.kill9()
        check(wait_until(lambda: "member-failed b dead" in events(), 30), "hook: member-failed after kill -9")
    finally:
        stop_all([a, b])
        shutil.rmtree(d, ignore_errors=True)


def info_fields(port):
    r = Resp(port)
    try:
        text = r.cmd("INFO").decode()
    finally:
        r.close()
    out = {}
    for line in text.split("\r\n"):
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def sanitized(pid):
    with open(f"/proc/{pid}/maps") as f:
        return any("libasan" in line or "libtsan" in line for line in f)


def test_backpressure():
    """A slow RESP client cannot stall gossip: two clients on node A
    pipeline a burst and never read (one asks for big values, one for
    small ones) while a writer on A checks its writes reach B and C within
    2 s and another client on A checks it is served. Then: the big-value
    client was disconnected (output over --client-output-limit), the small
    one was throttled (not read) and gets every reply once it reads."""
    import threading
    limit = 4 << 20
    nodes = cluster(3, 2, extra=("--client-output-limit", str(limit)))
    slow = []
    try:
        a, b, c = nodes
        check(wait_until(lambda: all(alive_members(n) == 2 for n in nodes), 15),
              "3 daemons see 2 alive members")
        r = a.r()
        big = b"x" * 50000
        check(r.cmd("SET", "big", big) == "OK", "SET a 50,000-byte value")
        check(r.cmd("SET", "small", "s" * 100) == "OK", "SET a 100-byte value")
        r.close()
        rss0 = rss_kib(a.proc.pid)
        # slow client 1: 2,000 GETs of the big value (100 MB of replies)
        s1 = socket.create_connection(("127.0.0.1", a.resp))
        # CLIENT SETNAME first: the front-end thread serves it from then
        # on (docs/frontend.md), where replies come back from the shards
        # a turn's worth at a time and pass the limit. A worker thread
        # stops parsing a client at 1 MiB of encoded replies, so its
        # clients rarely reach --client-output-limit: the small-value
        # client below stays with its worker
        s1.sendall(b"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$3\r\nbig\r\n" +
                   b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n" * 2000)
        slow.append(s1)
        # slow client 2: 200,000 GETs of the small value (22 MB of replies,
        # 6 MB of requests: the sender blocks when A stops reading it)
        n2 = 200000
        s2 = socket.create_connection(("127.0.0.1", a.resp))
        slow.append(s2)
        burst = b"*2\r\n$3\r\nGET\r\n$5\r\nsmall\r\n" * n2
        sent = {"done": False}

        def send2():
            try:
                s2.sendall(burst)
                sent["done"] = True
            except OSError:
                pass
        th = threading.Thread(target=send2, daemon=True)
        th.start()
        time.sleep(0.3)
        # meanwhile: writes at A must reach B and C, and A must serve
        w, p = a.r(), a.r()
        rb, rc = b.r(), c.r()
        lags, pings, missing = [], [], 0
        t_end = time.time() + 3.0
        i = 0
        while time.time() < t_end:
            t0 = time.time()
            p.cmd("PING")
            pings.append(time.time() - t0)
            key = f"bp{i}"
            w.cmd("SET", key, f"v{i}")
            t0 = time.time()
            ok = wait_until(lambda: rb.cmd("GET", key) == f"v{i}".encode() and
                            rc.cmd("GET", key) == f"v{i}".encode(), 2.0, 0.002)
            if ok:
                lags.append(time.time() - t0)
            else:
                missing += 1
            i += 1
        check(missing == 0 and lags,
              f"{i} writes at A reached B and C within 2 s while 2 clients did not read "
              f"(max {max(lags) * 1000 if lags else -1:.1f} ms, {missing} late)")
        check(max(pings) < 0.5, f"A kept serving another client: {len(pings)} PINGs, "
              f"slowest {max(pings) * 1000:.1f} ms")
        st = stats(a.resp)
        info = info_fields(a.resp)
        check(st["client_output_disconnects"] >= 1,
              f"the big-value client was disconnected (client_output_disconnects "
              f"{st['client_output_disconnects']})")
        check(st["client_read_pauses"] >= 1 and int(info["paused_clients"]) >= 1,
              f"the small-value client is not read (client_read_pauses "
              f"{st['client_read_pauses']}, paused_clients {info['paused_clients']})")
        rss = rss_kib(a.proc.pid)
        if sanitized(a.proc.pid):
            log("skip: memory growth (ASan keeps freed memory in quarantine)")
        else:
            # 48: the front end's heap holds the big client's replies in
            # flight (256 x 50 KB) and its output (4 MiB), and each worker
            # thread serving clients has its own allocator heap
            check(rss - rss0 < 48 * 1024,
                  f"A's memory grew by {(rss - rss0) / 1024:.1f} MiB (bound 48), not by the "
                  f"122 MB of replies asked for")
        check(int(info["client_output_limit"]) == limit, "INFO shows client_output_limit")
        # the disconnected client: reading ends in EOF or reset, short of
        # its 100 MB
        s1.settimeout(5)
        got1 = 0
        try:
            while True:
                chunk = s1.recv(1 << 20)
                if not chunk:
                    break
                got1 += len(chunk)
        except OSError:
            pass
        check(got1 < 2000 * 50000, f"the big-value client got {got1} bytes, then the connection closed")
        # the throttled client reads now: every reply arrives, in order
        s2.settimeout(10)
        want = b"$100\r\n" + b"s" * 100 + b"\r\n"
        need = len(want) * n2
        got, buf = 0, bytearray()
        deadline = time.time() + 15
        while got < need and time.time() < deadline:
            chunk = s2.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
            buf += chunk
            if len(buf) > 1 << 20:  # check whole replies as they come
                cut = len(buf) - len(buf) % len(want)
                if buf[:cut] != want * (cut // len(want)):
                    break
                del buf[:cut]
        th.join(5)
        check(got == need and sent["done"],
              f"the throttled client, once it reads, gets all {n2} replies ({got}/{need} bytes)")
        m = stats(a.resp)
        check(m["paused_clients"] == 0, "no client is paused at the end")
        for x in (w, p, rb, rc):
            x.close()
    finally:
        for s in slow:
            s.close()
        stop_all(nodes)


TESTS = {
    "hooks": test_hooks,
    "replicate": lambda: test_replicate("auto"),
    "replicate_uring": lambda: test_replicate("uring"),
    "replicate_mmsg": lambda: test_replicate("mmsg"),
    "commands": test_commands,
    "command_table": test_command_table,
    "benchmark": test_benchmark,
    "failure": test_failure_and_rejoin,
    "errors": test_errors,
    "backpressure": test_backpressure,
}
# run by their own CTest entries, not in the default list
SEPARATE = {"backpressure"}


def main():
    global BIN
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    BIN = sys.argv[1]
    names = sys.argv[2:] or [t for t in TESTS if t not in SEPARATE]
    try:
        for name in names:
            log(f"== {name}")
            try:
                TESTS[name]()
            except Exception as e:  # a test that blew up is a failure
                check(False, f"{name}: {type(e).__name__}: {e}")
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
    print(f"{PASSED} passed, {FAILED} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
