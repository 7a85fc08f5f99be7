# SPDX-License-Identifier: MIT
"""Servers for the client tests: a reference redis-server and grapevined
clusters on loopback, free ports, a minimal raw RESP socket.

Used by clients_test.py, incr_partition_test.py and resp_edge_test.py.
Everything started is recorded and stop_all() kills it (call it in a
finally:). Nothing here prints: the callers report.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import ports  # noqa: E402

PROCS = []


def free_port_block(n, udp=True):
    """A base port such that base..base+n-1 are free, TCP (and UDP), and
    reserved for this process (ports.py: no other test can pick them)."""
    return ports.reserve(n, udp)


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


# ------------------------------------------------------------- raw RESP

def encode(args):
    """One command (a list of str/bytes/int arguments) as a RESP array."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Resp:
    """A raw RESP2 connection: cmd() parses one reply (errors come back as
    Exception values, not raised); send() and pipeline() pipeline, reply()
    parses the next reply (only whole replies: what a closed connection
    left unsaid raises ConnectionError); raw() sends bytes and returns the
    bytes of the replies that arrive within a quiet period."""

    def __init__(self, port, timeout=5.0, host="127.0.0.1"):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pos = 0

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def _fill(self):
        if self.pos > (1 << 20):
            del self.buf[:self.pos]
            self.pos = 0
        chunk = self.s.recv(1 << 18)
        if not chunk:
            raise ConnectionError("closed")
        self.buf += chunk

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i])
                self.pos = i + 2
                return line
            self._fill()

    def _exact(self, n):
        while len(self.buf) - self.pos < n + 2:
            self._fill()
        data = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n + 2
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
        raise ValueError(f"bad reply {line[:80]!r}")

    def send(self, cmds):
        self.s.sendall(b"".join(encode(c) for c in cmds))

    def cmd(self, *args):
        self.send([args])
        return self.reply()

    def pipeline(self, cmds, chunk=500):
        """Each command's reply, in order, chunk commands in flight."""
        out = []
        for i in range(0, len(cmds), chunk):
            part = cmds[i:i + chunk]
            self.send(part)
            out.extend(self.reply() for _ in part)
        return out

    def raw(self, data, quiet=0.3, limit=5.0):
        """Send data; return every byte received until nothing more came
        for `quiet` seconds (or the peer closed: then b"...<closed>")."""
        self.s.sendall(data)
        out, deadline = b"", time.time() + limit
        self.s.settimeout(quiet)
        try:
            while time.time() < deadline:
                try:
                    chunk = self.s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    out += b"<closed>"
                    break
                out += chunk
        finally:
            self.s.settimeout(5.0)
        return out


def _spawn(args, name):
    logf = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)
    proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT)
    PROCS.append(proc)
    return proc, logf.name


def _tail(path, n=2000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return ""


def _wait_listening(proc, port, log, what):
    """Until the port answers a RESP command (any reply: NOAUTH counts)."""
    deadline = time.time() + 10
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode}: {_tail(log)}")
        try:
            r = Resp(port, 1)
            r.cmd("PING")
            r.close()
            return
        except (OSError, ConnectionError):
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start: {_tail(log)}")


def _term(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


# ------------------------------------------------------------- redis-server

def redis_server_bin():
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)


class RedisServer:
    """The reference: a throw-away redis-server (no persistence)."""

    def __init__(self, password=None):
        self.port = free_port_block(1, udp=False)
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="gv-redis-")
        args = [redis_server_bin(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.dir,
                "--daemonize", "no", "--protected-mode", "no"]
        if password:
            args += ["--requirepass", password]
        self.proc, self.log = _spawn(args, "redis")
        _wait_listening(self.proc, self.port, self.log, "redis-server")

    def addrs(self):
        return [f"127.0.0.1:{self.port}"]

    def version(self):
        r = Resp(self.port)
        try:
            if self.password:
                r.cmd("AUTH", self.password)
            info = r.cmd("INFO", "server")
        finally:
            r.close()
        for line in info.decode().splitlines():
            if line.startswith("redis_version:"):
                return line.split(":", 1)[1]
        return "?"

    def stop(self):
        _term(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------- grapevined

def gv_supports(binary, flag):
    """Whether grapevined's --help lists `flag`."""
    try:
        out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return flag in (out.stdout + out.stderr)


class GvCluster:
    """n grapevined nodes on loopback, node i seeded by node 0. Each node
    gossips on gossip[i] .. gossip[i] + shards - 1 (UDP, and TCP for the
    stream channel) at ip[i]: 127.0.0.1, or with distinct_ips 127.0.0.(11+i)
    (all of 127/8 is loopback), so that a firewall rule can cut one node
    off by address, TCP included, while clients still reach its RESP port
    on 127.0.0.1."""

    def __init__(self, binary, n=3, shards=2, extra=(), password=None, distinct_ips=False):
        self.n, self.shards, self.password = n, shards, password
        self.ip = [f"127.0.0.{11 + i}" if distinct_ips else "127.0.0.1" for i in range(n)]
        base_g = free_port_block(n * 10)
        base_r = free_port_block(n, udp=False)
        self.gossip = [base_g + 10 * i for i in range(n)]
        self.resp = [base_r + i for i in range(n)]
        self.procs, self.logs = [], []
        for i in range(n):
            a = [binary, "--bind", f"{self.ip[i]}:{self.gossip[i]}",
                 "--resp", f"127.0.0.1:{self.resp[i]}", "--shards", str(shards),
                 "--name", f"n{i}", "--probe-interval-ms", "200", "--log-level", "info"]
            if i:
                a += ["--join", f"{self.ip[0]}:{self.gossip[0]}"]
            if password:
                a += ["--requirepass", password]
            p, log = _spawn(a + list(extra), f"gvd-n{i}")
            self.procs.append(p)
            self.logs.append(log)
            _wait_listening(p, self.resp[i], log, f"grapevined n{i}")
        if not wait_until(lambda: all(self.alive(i) == n - 1 for i in range(n)), 20):
            raise RuntimeError("the cluster did not form: " + _tail(self.logs[-1]))

    def conn(self, i):
        r = Resp(self.resp[i])
        if self.password:
            r.cmd("AUTH", self.password)
        return r

    def alive(self, i):
        r = self.conn(i)
        try:
            v = r.cmd("GV.STATS")
        finally:
            r.close()
        st = {v[j].decode(): v[j + 1] for j in range(0, len(v), 2)}
        return st["members_alive"]

    def addrs(self):
        return [f"127.0.0.1:{p}" for p in self.resp]

    def stop(self):
        for p in self.procs:
            _term(p)


def stop_all():
    for p in PROCS:
        if p.poll() is None:
            _term(p)
