#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Connection and server commands against a real Redis 7.

usage: conn_test.py GRAPEVINED [GVCTL]

Starts grapevined nodes (cluster_test.py's helpers) and real redis-server
processes on free ports, sends both the same raw RESP bytes, in RESP2 and
RESP3, and compares the replies: byte for byte where they hold nothing
variable, by shape (the RESP types, nesting and lengths) and field names
where they hold ids, times or addresses. Then redis-py (Debian's, under
/usr/bin/python3) does what cache clients do on connect. Exits 77 when
redis-server or redis-py is missing.
"""
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_test as ct  # noqa: E402

check, log = ct.check, ct.log
PASS = "s3cret pass"  # a space: it travels as one bulk


# ----------------------------------------------------------- raw RESP

def enc(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Need(Exception):
    pass


def parse(buf, pos=0):
    """One RESP2/RESP3 reply at buf[pos:]: (end, (type, value)). value is
    the text of a line type, the bytes of a bulk or verbatim string, a
    list of children for aggregates (a map's keys and values alternate),
    None for nulls."""
    nl = buf.find(b"\r\n", pos)
    if nl < 0:
        raise Need()
    t, line = chr(buf[pos]), buf[pos + 1:nl]
    pos = nl + 2
    if t in "+-:,#(_":
        return pos, (t, None if t == "_" else line)
    if t in "$=!":
        n = int(line)
        if n < 0:
            return pos, (t, None)
        if len(buf) < pos + n + 2:
            raise Need()
        return pos + n + 2, (t, buf[pos:pos + n])
    if t in "*~%>":
        n = int(line)
        if n < 0:
            return pos, (t, None)
        kids = []
        for _ in range(2 * n if t == "%" else n):
            pos, v = parse(buf, pos)
            kids.append(v)
        return pos, (t, kids)
    raise ValueError(f"bad reply at {buf[pos - 3:pos + 20]!r}")


class Conn:
    """A raw connection: send bytes, read whole replies as bytes."""

    def __init__(self, port, timeout=5.0):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.closed = False

    def close(self):
        self.s.close()

    def send(self, data):
        self.s.sendall(data)

    def _more(self):
        chunk = self.s.recv(65536)
        if not chunk:
            self.closed = True
            raise ConnectionError("closed")
        self.buf += chunk

    def reply(self):
        """The next reply: (its bytes, its tree)."""
        while True:
            try:
                end, v = parse(self.buf)
                raw, self.buf = self.buf[:end], self.buf[end:]
                return raw, v
            except Need:
                self._more()

    def cmd(self, *args):
        self.send(enc(*args))
        return self.reply()

    def stream(self, data, wait=0.3):
        """Send @data; everything that comes back within @wait, and
        whether the server closed."""
        self.send(data)
        end = time.time() + wait
        self.s.settimeout(0.05)
        try:
            while time.time() < end:
                try:
                    self._more()
                except socket.timeout:
                    pass
        except (ConnectionError, OSError):
            self.closed = True
        self.s.settimeout(5)
        out, self.buf = self.buf, b""
        return out, self.closed


def shape(v):
    """A reply's types and structure without its scalar values."""
    t, x = v
    if isinstance(x, list):
        return (t, [shape(k) for k in x])
    return t


def to_py(v):
    """A tree as plain Python (maps as dicts, strings decoded)."""
    t, x = v
    if t == "%":
        return {to_py(x[i]): to_py(x[i + 1]) for i in range(0, len(x), 2)}
    if isinstance(x, list):
        return [to_py(k) for k in x]
    if t == ":":
        return int(x)
    if t == "=":
        return x[4:].decode()
    return x.decode() if isinstance(x, bytes) else x


# ----------------------------------------------------------- servers

REDIS = []


def start_redis(extra=()):
    port = ct.free_port_block(1, udp=False)
    p = subprocess.Popen(["redis-server", "--port", str(port), "--save", "",
                          "--appendonly", "no", "--databases", "1",
                          "--bind", "127.0.0.1", *extra],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    REDIS.append(p)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            c = Conn(port, 1)
            c.cmd("PING")
            c.close()
            return port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def hello(conn, proto, *more):
    raw, v = conn.cmd("HELLO", proto, *more)
    return v


def pair(rport, gport, proto):
    """A connection to Redis and one to grapevined, both in @proto."""
    r, g = Conn(rport), Conn(gport)
    if proto == 3:
        hello(r, 3)
        hello(g, 3)
    return r, g


# ----------------------------------------------------------- checks

def same_bytes(rport, gport, cases, proto):
    r, g = pair(rport, gport, proto)
    for args in cases:
        rr, gr = r.cmd(*args)[0], g.cmd(*args)[0]
        check(rr == gr, f"RESP{proto} {' '.join(map(str, args))!r}: "
              f"{gr[:120]!r}" + ("" if rr == gr else f" (Redis: {rr[:120]!r})"))
    r.close()
    g.close()


def same_shape(rport, gport, cases, proto):
    r, g = pair(rport, gport, proto)
    for args in cases:
        rv, gv = r.cmd(*args)[1], g.cmd(*args)[1]
        check(shape(rv) == shape(gv), f"RESP{proto} {' '.join(map(str, args))!r}: same shape "
              f"{shape(gv)!r:.100}" + ("" if shape(rv) == shape(gv) else f" (Redis: {shape(rv)!r:.100})"))
    r.close()
    g.close()


def same_stream(rport, gport, data, what, proto=2):
    r, g = pair(rport, gport, proto)
    ro, rc = r.stream(data)
    go, gc = g.stream(data)
    check(ro == go and rc == gc, f"RESP{proto} {what}: {go[:160]!r} closed={gc}"
          + ("" if ro == go and rc == gc else f" (Redis: {ro[:160]!r} closed={rc})"))
    r.close()
    g.close()


def info_fields(text):
    out = {}
    for line in text.split("\r\n"):
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v
    return out


def info_heads(text):
    return [line for line in text.split("\r\n") if line.startswith("# ")]


def client_fields(line):
    return [kv.split("=", 1)[0] for kv in line.strip().split(" ")]


def client_kv(line):
    return dict(kv.split("=", 1) for kv in line.strip().split(" "))


def test_hello_resp3(rport, gport):
    same_bytes(rport, gport, [
        ("HELLO", "4"), ("HELLO", "1"), ("HELLO", "x"), ("HELLO", "2", "FOO"),
        ("HELLO", "3", "AUTH", "default"), ("HELLO", "3", "SETNAME"),
        ("HELLO", "2", "SETNAME", "a b"), ("HELLO", "3", "AUTH", "bob", "x"),
    ], 2)
    for proto in (2, 3):
        r, g = Conn(rport), Conn(gport)
        rv, gv = hello(r, proto), hello(g, proto)
        check(shape(rv) == shape(gv), f"HELLO {proto}: the shape of Redis's map ({shape(gv)!r:.80})")
        m = to_py(gv)
        if isinstance(m, list):
            m = dict(zip(m[0::2], m[1::2]))
        cid = to_py(g.cmd("CLIENT", "ID")[1])
        check(m.get("server") == "redis" and m.get("version", "").startswith("7.") and
              m.get("proto") == proto and m.get("id") == cid and m.get("mode") == "standalone" and
              m.get("role") == "master" and m.get("modules") == [],
              f"HELLO {proto}: {m}")
        # HELLO without a version: the current protocol
        hello(r, 3)
        hello(g, 3)
        rv, gv = r.cmd("HELLO")[1], g.cmd("HELLO")[1]
        check(gv[0] == rv[0] == "%", "HELLO without a version keeps RESP3")
        # SETNAME and AUTH default (no password: any password) in HELLO
        rv, gv = r.cmd("HELLO", "2", "AUTH", "default", "x", "SETNAME", "cli")[1], \
            g.cmd("HELLO", "2", "AUTH", "default", "x", "SETNAME", "cli")[1]
        check(shape(rv) == shape(gv) and g.cmd("CLIENT", "GETNAME")[0] == b"$3\r\ncli\r\n",
              "HELLO 2 AUTH default x SETNAME cli")
        r.close()
        g.close()
    # every reply type in both protocols
    for proto in (2, 3):
        same_bytes(rport, gport, [
            ("PING",), ("PING", "hi"), ("ECHO", "x y"), ("ECHO",), ("PING", "a", "b"),
            ("GET", "conn:nokey"), ("MGET", "conn:nokey", "conn:nokey2"),
            ("SET", "conn:k", "v"), ("SET", "conn:k", "w", "NX"), ("GET", "conn:k"),
            ("MGET", "conn:k", "conn:nokey"), ("EXISTS", "conn:k"), ("DEL", "conn:k"),
            ("COMMAND", "INFO", "get"), ("COMMAND", "DOCS", "get"), ("COMMAND", "INFO", "nosuch"),
            ("COMMAND", "INFO", "hello", "auth", "select", "time", "lastsave", "reset"),
            ("COMMAND", "DOCS", "hello", "auth", "select", "time", "lastsave", "reset"),
            ("COMMAND", "INFO", "config|get", "config|set", "config|resetstat", "config|help",
             "client|setname", "client|getname", "client|id", "client|info", "client|list",
             "client|kill", "client|reply", "client|no-evict", "client|help"),
            ("COMMAND", "DOCS", "config|get", "config|set", "config|resetstat", "config|help",
             "client|setname", "client|getname", "client|id", "client|info", "client|list",
             "client|kill", "client|reply", "client|no-evict", "client|help"),
            ("COMMAND", "GETKEYSANDFLAGS", "del", "k"), ("COMMAND", "GETKEYS", "mget", "a", "b"),
            ("CONFIG", "GET", "nosuch"), ("CLIENT", "LIST", "TYPE", "master"), ("INFO", "nosuch"),
        ], proto)
        same_shape(rport, gport, [
            ("TIME",), ("LASTSAVE",), ("DBSIZE",), ("CLIENT", "ID"), ("CLIENT", "INFO"),
            ("CLIENT", "LIST"), ("INFO",), ("INFO", "server"), ("CONFIG", "GET", "maxmemory"),
            ("CONFIG", "GET", "bind"), ("CONFIG", "GET", "port"),
            ("SCAN", "0"), ("CLIENT", "GETNAME"), ("COMMAND", "COUNT"),
        ], proto)
    # grapevine's own replies parse in RESP3 too
    g = Conn(gport)
    hello(g, 3)
    for args in (("GV.STATS",), ("GV.MEMBERS",), ("GV.CONFLICTS",), ("GV.WATCH", "conn:x"),
                 ("COMMAND",), ("COMMAND", "DOCS"), ("COMMAND", "LIST")):
        raw, v = g.cmd(*args)
        check(v[0] in "*%", f"RESP3 {args[0]}: {raw[:40]!r}")
    g.close()


def test_client(rport, gport):
    for proto in (2, 3):
        same_bytes(rport, gport, [
            ("CLIENT",), ("CLIENT", "FOO"), ("CLIENT", "SETNAME", "a b"), ("CLIENT", "SETNAME", "a\nb"),
            ("CLIENT", "SETNAME", "caf\xe9"), ("CLIENT", "SETNAME"), ("CLIENT", "GETNAME"),
            ("CLIENT", "SETNAME", "conn-test"), ("CLIENT", "GETNAME"), ("CLIENT", "SETNAME", ""),
            ("CLIENT", "GETNAME"), ("CLIENT", "NO-EVICT", "on"), ("CLIENT", "NO-EVICT", "off"),
            ("CLIENT", "NO-EVICT", "x"), ("CLIENT", "REPLY"), ("CLIENT", "REPLY", "x"),
            ("CLIENT", "REPLY", "ON"), ("CLIENT", "KILL", "1.2.3.4:5"), ("CLIENT", "KILL", "ID", "99999"),
            ("CLIENT", "KILL", "ADDR", "1.2.3.4:5"), ("CLIENT", "KILL", "foo", "bar"),
            ("CLIENT", "KILL", "ID", "0"), ("CLIENT", "KILL", "ID", "x"), ("CLIENT", "KILL", "TYPE", "foo"),
            ("CLIENT", "KILL", "USER", "bob"), ("CLIENT", "KILL", "SKIPME", "maybe"),
            ("CLIENT", "KILL", "TYPE", "master"), ("CLIENT", "KILL", "a", "b", "c"),
            ("CLIENT", "LIST", "TYPE", "foo"), ("CLIENT", "LIST", "x"), ("CLIENT", "LIST", "ID", "x"),
            ("CLIENT", "LIST", "ID", "99999"), ("CLIENT", "HELP", "x"),
            ("SELECT", "0"), ("SELECT", "1"), ("SELECT", "-1"), ("SELECT", "x"), ("SELECT", "1.5"),
            ("SELECT", "99999999999"), ("SELECT",),
        ], proto)
    # CLIENT REPLY: silenced replies are dropped, order is kept
    same_stream(rport, gport, b"".join(enc(*a) for a in [
        ("CLIENT", "REPLY", "SKIP"), ("PING", "1"), ("PING", "2"), ("CLIENT", "REPLY", "OFF"),
        ("PING", "3"), ("FOO",), ("SET", "conn:off", "x"), ("CLIENT", "REPLY", "ON"), ("PING", "4"),
        ("CLIENT", "REPLY", "SKIP"), ("CLIENT", "REPLY", "SKIP"), ("PING", "5"), ("PING", "6"),
        ("CLIENT", "REPLY", "OFF"), ("RESET",), ("PING", "7")]), "CLIENT REPLY OFF/SKIP/ON")
    g = Conn(gport)
    check(g.cmd("GET", "conn:off")[0] == b"$1\r\nx\r\n", "a command under CLIENT REPLY OFF still ran")
    g.close()
    # CLIENT INFO / LIST: Redis's fields in its order (7.2's lib-* last)
    for proto in (2, 3):
        r, g = pair(rport, gport, proto)
        rl, gl = to_py(r.cmd("CLIENT", "INFO")[1]), to_py(g.cmd("CLIENT", "INFO")[1])
        rf, gf = client_fields(rl), client_fields(gl)
        check(gf[:len(rf)] == rf and gf[len(rf):] in ([], ["lib-name", "lib-ver"]),
              f"RESP{proto} CLIENT INFO: Redis's fields ({' '.join(gf)})")
        kv = client_kv(gl)
        gid = to_py(g.cmd("CLIENT", "ID")[1])
        local = "127.0.0.1:%d" % g.s.getsockname()[1]
        check(kv["id"] == str(gid) and kv["addr"] == local and kv["laddr"] == f"127.0.0.1:{gport}" and
              kv["resp"] == str(proto) and kv["db"] == "0" and kv["flags"] == "N" and
              kv["cmd"] == "client|info" and kv["name"] == "" and gl.endswith("\n"),
              f"RESP{proto} CLIENT INFO values: {gl.strip()}")
        g.cmd("CLIENT", "SETNAME", "lister")
        check(g.cmd("CLIENT", "SETINFO", "LIB-NAME", "conn_test")[0] == b"+OK\r\n" and
              g.cmd("CLIENT", "SETINFO", "lib-ver", "1.0")[0] == b"+OK\r\n",
              "CLIENT SETINFO LIB-NAME / lib-ver")
        check(g.cmd("CLIENT", "SETINFO", "lib-name", "a b")[0] ==
              b"-ERR lib-name cannot contain spaces, newlines or special characters.\r\n" and
              g.cmd("CLIENT", "SETINFO", "foo", "x")[0] == b"-ERR Unrecognized option 'foo'\r\n",
              "CLIENT SETINFO errors: Redis 7.2's texts")
        check(g.cmd("CLIENT", "NO-TOUCH", "on")[0] == b"+OK\r\n" and g.cmd("CLIENT", "NO-EVICT", "on")[0] == b"+OK\r\n",
              "CLIENT NO-TOUCH on, NO-EVICT on")
        lines = to_py(g.cmd("CLIENT", "LIST")[1]).splitlines()
        mine = [client_kv(x) for x in lines if client_kv(x)["id"] == str(gid)]
        check(len(mine) == 1 and mine[0]["name"] == "lister" and mine[0]["lib-name"] == "conn_test" and
              mine[0]["lib-ver"] == "1.0" and mine[0]["flags"] == "eT",
              f"RESP{proto} CLIENT LIST shows this client ({mine})")
        long = "n" * 3000
        g.cmd("CLIENT", "SETNAME", long)
        check(g.cmd("CLIENT", "GETNAME")[1][1] == long.encode() and
              client_kv(to_py(g.cmd("CLIENT", "INFO")[1]))["name"] == long,
              "a 3000-byte name: kept whole, in CLIENT INFO too")
        g.cmd("CLIENT", "SETNAME", "lister")
        one = to_py(g.cmd("CLIENT", "LIST", "ID", gid, "99999")[1]).splitlines()
        check(len(one) == 1 and client_kv(one[0])["id"] == str(gid), "CLIENT LIST ID")
        r.close()
        g.close()
    # CLIENT KILL: another client by ID, by ADDR and the old form; itself
    for form in ("id", "addr", "old"):
        a, b = Conn(gport), Conn(gport)
        bid = to_py(b.cmd("CLIENT", "ID")[1])
        baddr = "127.0.0.1:%d" % b.s.getsockname()[1]
        args = {"id": ("ID", bid), "addr": ("ADDR", baddr), "old": (baddr,)}[form]
        want = b"+OK\r\n" if form == "old" else b":1\r\n"
        got = a.cmd("CLIENT", "KILL", *args)[0]
        out, closed = b.stream(b"", 1.0)
        check(got == want and closed, f"CLIENT KILL {form}: {got!r}, the other client closed")
        check(a.cmd("PING")[0] == b"+PONG\r\n", f"CLIENT KILL {form}: the killer stays")
        a.close()
        b.close()
    a = Conn(gport)
    aid = to_py(a.cmd("CLIENT", "ID")[1])
    check(a.cmd("CLIENT", "KILL", "ID", aid)[0] == b":0\r\n", "CLIENT KILL ID self: SKIPME yes by default")
    out, closed = a.stream(enc("CLIENT", "KILL", "ID", aid, "SKIPME", "no") + enc("PING"), 1.0)
    check(out == b":1\r\n" and closed, f"CLIENT KILL SKIPME no: replied, then closed ({out!r})")
    a.close()
    # RESET: name, protocol and CLIENT REPLY back to a new connection's
    for port in (rport, gport):
        c = Conn(port)
        hello(c, 3, "SETNAME", "before")
        raw = c.cmd("RESET")[0]
        name = c.cmd("CLIENT", "GETNAME")[0]
        proto = to_py(c.cmd("HELLO")[1])
        check(raw == b"+RESET\r\n" and name == b"$-1\r\n" and proto[proto.index("proto") + 1] == 2,
              f"{'Redis' if port == rport else 'grapevined'}: RESET clears the name and RESP3")
        c.close()


def test_config(rport, gport):
    for proto in (2, 3):
        same_bytes(rport, gport, [
            ("CONFIG",), ("CONFIG", "FOO"), ("CONFIG", "GET"), ("CONFIG", "SET", "timeout"),
            ("CONFIG", "GET", "maxmemory"), ("CONFIG", "GET", "databases"), ("CONFIG", "GET", "appendonly"),
            ("CONFIG", "GET", "save"), ("CONFIG", "GET", "timeout"), ("CONFIG", "GET", "requirepass"),
            ("CONFIG", "GET", "maxmemory-policy"), ("CONFIG", "GET", "MAXMEMORY"),
            ("CONFIG", "GET", "cluster-enabled"),
            ("CONFIG", "SET", "nosuch", "1"), ("CONFIG", "SET", "databases", "2"),
            ("CONFIG", "SET", "timeout", "x"), ("CONFIG", "SET", "timeout", "-1"),
            ("CONFIG", "SET", "timeout", "0", "timeout", "1"), ("CONFIG", "SET", "maxmemory-policy", "bogus"),
            ("CONFIG", "SET", "timeout", "0"), ("CONFIG", "SET", "save", ""), ("CONFIG", "SET", "appendonly", "no"),
            ("CONFIG", "SET", "appendonly", "maybe"), ("CONFIG", "SET", "maxmemory-policy", "noeviction"),
            ("CONFIG", "SET", "timeout", "0", "save", ""), ("CONFIG", "RESETSTAT"), ("CONFIG", "HELP", "x"),
        ], proto)
    for proto in (2, 3):  # Redis lists several in its hash table's order
        r, g = pair(rport, gport, proto)
        args = ("CONFIG", "GET", "maxmemory", "timeout", "TIMEOUT", "save*")
        rv, gv = to_py(r.cmd(*args)[1]), to_py(g.cmd(*args)[1])
        if proto == 2:
            rv, gv = dict(zip(rv[0::2], rv[1::2])), dict(zip(gv[0::2], gv[1::2]))
        check(rv == gv, f"RESP{proto} {' '.join(args)}: {gv}" + ("" if rv == gv else f" (Redis: {rv})"))
        r.close()
        g.close()
    g = Conn(gport)
    m = to_py(g.cmd("CONFIG", "GET", "*")[1])
    m = dict(zip(m[0::2], m[1::2]))
    for k in ("maxmemory", "maxmemory-policy", "save", "appendonly", "databases", "timeout", "port",
              "bind", "requirepass", "maxclients", "shards", "threads", "fanout", "interval-ms",
              "gossip-bind", "resp", "max-value", "client-output-limit", "cluster", "name"):
        check(k in m, f"CONFIG GET *: {k} = {m.get(k)!r}")
    check(m.get("port") == str(gport) and m.get("bind") == "127.0.0.1" and m.get("databases") == "1" and
          m.get("shards") == "2", "CONFIG GET port, bind, databases, shards: this node's")
    check(to_py(g.cmd("CONFIG", "GET", "inter*", "fan*")[1]) == ["interval-ms", "100", "fanout", "3"],
          "CONFIG GET with glob patterns")
    check(g.cmd("CONFIG", "SET", "shards", "4")[0] ==
          b"-ERR CONFIG SET failed (possibly related to argument 'shards') - can't set immutable config\r\n",
          "CONFIG SET of a flag fixed at start: immutable")
    check(g.cmd("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")[0].startswith(
          b"-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - grapevine never evicts"),
          "CONFIG SET maxmemory-policy allkeys-lru: refused, grapevine never evicts")
    # CONFIG SET timeout: an idle client is closed
    check(g.cmd("CONFIG", "SET", "timeout", "1")[0] == b"+OK\r\n", "CONFIG SET timeout 1")
    idle = Conn(gport)
    idle.cmd("PING")
    out, closed = idle.stream(b"", 4.0)
    check(closed, "timeout 1: an idle client is closed within 4 s")
    idle.close()
    g.close()
    g = Conn(gport)
    check(g.cmd("CONFIG", "SET", "timeout", "0")[0] == b"+OK\r\n" and
          to_py(g.cmd("CONFIG", "GET", "timeout")[1]) == ["timeout", "0"], "CONFIG SET timeout 0")
    g.close()


def test_info(rport, gport):
    for proto in (2, 3):
        r, g = pair(rport, gport, proto)
        for args in (("INFO",), ("INFO", "default"), ("INFO", "all"), ("INFO", "everything"),
                     ("INFO", "server", "clients"), ("INFO", "CPU", "keyspace", "cpu"),
                     ("INFO", "persistence"), ("INFO", "nosuch", "stats")):
            rv, gv = r.cmd(*args)[1], g.cmd(*args)[1]
            check(rv[0] == gv[0] == ("=" if proto == 3 else "$"), f"RESP{proto} {' '.join(args)}: verbatim/bulk")
            rh, gh = info_heads(to_py(rv)), info_heads(to_py(gv))
            if args[-1] in ("all", "everything"):  # Redis has no modules' sections here
                ok = gh == [h for h in rh]
            else:
                ok = gh == rh
            check(ok, f"RESP{proto} {' '.join(args)}: Redis's sections {gh}" + ("" if ok else f" (Redis: {rh})"))
        text = to_py(g.cmd("INFO", "everything")[1])
        f, rf = info_fields(text), info_fields(to_py(r.cmd("INFO", "everything")[1]))
        want = ["redis_version", "redis_mode", "os", "arch_bits", "process_id", "tcp_port",
                "uptime_in_seconds", "uptime_in_days", "executable", "config_file", "run_id",
                "connected_clients", "blocked_clients", "maxclients", "used_memory", "used_memory_human",
                "maxmemory", "maxmemory_human", "maxmemory_policy", "loading", "rdb_changes_since_last_save",
                "rdb_last_save_time", "aof_enabled", "total_connections_received",
                "total_commands_processed", "instantaneous_ops_per_sec", "expired_keys", "evicted_keys",
                "keyspace_hits", "keyspace_misses", "role", "connected_slaves", "used_cpu_sys",
                "used_cpu_user", "used_cpu_sys_children", "cluster_enabled"]
        missing = [k for k in want if k not in f or k not in rf]
        check(not missing, f"RESP{proto} INFO everything: Redis's fields ({missing or 'all there'})")
        check(f.get("redis_version", "").startswith("7.") and f.get("redis_mode") == "standalone" and
              f.get("role") == "master" and f.get("loading") == "0" and f.get("aof_enabled") == "0" and
              f.get("tcp_port") == str(gport) and f.get("process_id", "").isdigit() and
              "shards" in f and "members_alive" in f and "grapevine_version" in f,
              "INFO: Redis's values where they apply, and grapevine's own lines")
        r.close()
        g.close()
    # keyspace: no db0 line while empty, as Redis
    same_bytes(rport, gport, [("INFO", "keyspace")], 2)
    r, g = Conn(rport), Conn(gport)
    r.cmd("SET", "conn:ks", "1")
    g.cmd("SET", "conn:ks", "1")
    rk = to_py(r.cmd("INFO", "keyspace")[1])
    # INFO reads the shards' stats snapshot, published every 100 ms
    ct.wait_until(lambda: to_py(g.cmd("INFO", "keyspace")[1]) == rk, 2)
    gk = to_py(g.cmd("INFO", "keyspace")[1])
    check(gk == rk and gk.startswith("# Keyspace\r\ndb0:keys=") and gk.endswith(",expires=0,avg_ttl=0\r\n"),
          f"INFO keyspace with keys: Redis's line ({gk!r})")
    g.cmd("GET", "conn:ks")
    g.cmd("GET", "conn:nokey")
    f = info_fields(to_py(g.cmd("INFO", "stats")[1]))
    check(int(f["keyspace_hits"]) >= 1 and int(f["keyspace_misses"]) >= 1, "INFO keyspace_hits/misses count GETs")
    g.cmd("CONFIG", "RESETSTAT")
    f = info_fields(to_py(g.cmd("INFO", "stats")[1]))
    check(f["keyspace_hits"] == "0" and int(f["total_commands_processed"]) <= 1,
          "CONFIG RESETSTAT resets INFO's stats")
    r.cmd("DEL", "conn:ks")
    g.cmd("DEL", "conn:ks")
    r.close()
    g.close()


def test_edges(rport, gport):
    """RESP requests Redis accepts keep the connection; protocol errors
    answer Redis's text and close."""
    for data, what in [
        (b"*0\r\nPING\r\n*-1\r\n*-5\r\n\r\n\r\n \r\nPING\r\n", "*0, *-1, *-5 and empty lines are skipped"),
        (b"*1\r\n$4\r\nPING\r\n*-2147483648\r\nPING\r\n", "the most negative count"),
        (b"*1\r\n$-1\r\nPING\r\n", "$-1 argument: protocol error"),
        (b"*x\r\n", "bad multibulk count"),
        (b"*1\r\n$x\r\n", "bad bulk length"),
        (b"*1\r\nPING\r\n", "expected $"),
        (b"*3000000000\r\n", "count past INT_MAX"),
        (b"PING\r\n\"unbalanced\r\n", "unbalanced quotes"),
        (b"ECHO 'a b' \"c\\x41\"\r\nPING\r\n", "inline quotes"),
    ]:
        for proto in (2, 3):
            same_stream(rport, gport, data, what, proto)


def test_auth(rport, gport, rport_pw, gport_pw):
    # no password configured
    same_bytes(rport, gport, [("AUTH", "x"), ("AUTH", "default", "x"), ("AUTH", "bob", "x"),
                              ("AUTH", "a", "b", "c"), ("AUTH",)], 2)
    # with one: every command but AUTH, HELLO, QUIT, RESET answers NOAUTH
    before = [("PING",), ("GET", "x"), ("FOO",), ("GET",), ("CLIENT", "FOO"), ("CLIENT", "SETNAME", "x"),
              ("CLIENT", "ID"), ("SELECT", "0"), ("CONFIG", "GET", "requirepass"), ("INFO",), ("COMMAND",),
              ("ECHO", "x"), ("HELLO",), ("HELLO", "3"), ("HELLO", "2", "AUTH", "default", "bad"),
              ("HELLO", "3", "AUTH", "default"), ("AUTH", "bad"), ("AUTH", "default", "bad"),
              ("AUTH", "bob", PASS), ("AUTH",), ("AUTH", "a", "b", "c"), ("RESET",),
              ("AUTH", PASS), ("PING",), ("RESET",), ("PING",), ("AUTH", "default", PASS), ("PING",),
              ("CONFIG", "GET", "requirepass"), ("RESET",)]
    for proto in (2, 3):
        same_bytes(rport_pw, gport_pw, before, proto)
    same_stream(rport_pw, gport_pw, enc("QUIT") + enc("PING"), "QUIT before AUTH")
    # before AUTH, Redis's small request limits; after it, the usual ones
    big = enc("SET", "k", "x" * 20000)
    for data, what in [(enc(*["ECHO"] * 11), "11 arguments before AUTH"),
                       (enc(*["PING"] * 10), "10 arguments before AUTH: NOAUTH"),
                       (big, "a 20000-byte bulk before AUTH"),
                       (enc("AUTH", PASS) + enc("ECHO", "x" * 20000)[:40], "AUTH, then a big bulk (partial)"),
                       (enc("AUTH", PASS) + enc(*["DEL"] + ["k"] * 20), "AUTH, then 21 arguments")]:
        same_stream(rport_pw, gport_pw, data, what)
    g = Conn(gport_pw)
    check(g.cmd("GV.STATS")[0] == b"-NOAUTH Authentication required.\r\n" and
          g.cmd("GV.MEMBERS")[0] == b"-NOAUTH Authentication required.\r\n",
          "GV.* need AUTH too")
    v = g.cmd("HELLO", "3", "AUTH", "default", PASS)[1]
    check(v[0] == "%" and g.cmd("PING")[0] == b"+PONG\r\n", "HELLO 3 AUTH default PASS authenticates")
    check(to_py(g.cmd("CONFIG", "GET", "requirepass")[1]) == {"requirepass": PASS},
          "CONFIG GET requirepass answers it, as Redis")
    g.close()
    # CONFIG SET requirepass at run time: new clients need it, this one not
    g = Conn(gport)
    check(g.cmd("CONFIG", "SET", "requirepass", "runtime")[0] == b"+OK\r\n", "CONFIG SET requirepass")
    check(g.cmd("PING")[0] == b"+PONG\r\n", "the client that set it stays authenticated (as Redis)")
    h = Conn(gport)
    check(h.cmd("PING")[0] == b"-NOAUTH Authentication required.\r\n", "a new client gets NOAUTH")
    check(h.cmd("AUTH", "runtime")[0] == b"+OK\r\n" and h.cmd("PING")[0] == b"+PONG\r\n", "and AUTH works")
    check(g.cmd("CONFIG", "SET", "requirepass", "")[0] == b"+OK\r\n", "CONFIG SET requirepass ''")
    h.close()
    h = Conn(gport)
    check(h.cmd("PING")[0] == b"+PONG\r\n", "no password again: no AUTH needed")
    h.close()
    g.close()


def test_redis_cli(rport, gport):
    """redis-cli -3: a real RESP3 client prints the same for both."""
    import re
    if not shutil.which("redis-cli"):
        log("skip: redis-cli is not installed")
        return

    def cli(port, *args):
        p = subprocess.run(["redis-cli", "-3", "--no-raw", "-p", str(port), *args],
                           capture_output=True, text=True, timeout=10)
        return re.sub(r"\d+", "N", p.stdout)  # ids, ports, times

    for args in (("HELLO", "3"), ("PING",), ("GET", "conn:nokey"), ("MGET", "conn:nokey", "conn:no2"),
                 ("CONFIG", "GET", "maxmemory"), ("CONFIG", "GET", "databases"), ("CLIENT", "GETNAME"),
                 ("COMMAND", "INFO", "get", "hello"), ("COMMAND", "DOCS", "get", "select"),
                 ("CLIENT", "REPLY", "ON"), ("SELECT", "1"), ("TIME",), ("LASTSAVE",), ("DBSIZE",)):
        want, got = cli(rport, *args), cli(gport, *args)
        check(want == got, f"redis-cli -3 {' '.join(args)}: {got.strip()[:100]!r}"
              + ("" if want == got else f" (Redis: {want.strip()[:100]!r})"))


def test_gvctl(gvctl, gport_pw):
    """gvctl takes the password from GVCTL_AUTH."""
    env = {k: v for k, v in os.environ.items() if k != "GVCTL_AUTH"}
    p = subprocess.run([gvctl, "-a", f"127.0.0.1:{gport_pw}", "stats"], capture_output=True, text=True,
                       timeout=10, env=env)
    check(p.returncode == 1 and "NOAUTH" in p.stderr, f"gvctl without GVCTL_AUTH: exit 1, NOAUTH ({p.stderr.strip()})")
    p = subprocess.run([gvctl, "-a", f"127.0.0.1:{gport_pw}", "stats"], capture_output=True, text=True,
                       timeout=10, env={**env, "GVCTL_AUTH": PASS})
    check(p.returncode == 0 and "keys:" in p.stdout, "gvctl with GVCTL_AUTH: stats")
    p = subprocess.run([gvctl, "-a", f"127.0.0.1:{gport_pw}", "members"], capture_output=True, text=True,
                       timeout=10, env={**env, "GVCTL_AUTH": "wrong"})
    check(p.returncode == 1 and "WRONGPASS" in p.stderr, "gvctl with a wrong GVCTL_AUTH: exit 1, WRONGPASS")


def test_redis_py(gport, gport_pw):
    try:
        import redis
    except ImportError as e:
        log(f"skip: redis-py: import redis failed under {sys.executable} ({e})")
        return False
    c = redis.Redis(port=gport, db=0, socket_timeout=5, decode_responses=True)
    check(c.ping() is True and c.echo("hi") == "hi", "redis-py ping, echo")
    check(c.client_setname("py-client") is True and c.client_getname() == "py-client",
          "redis-py client_setname / client_getname")
    check(isinstance(c.client_id(), int), "redis-py client_id")
    mine = [x for x in c.client_list() if x.get("name") == "py-client"]
    check(len(mine) == 1 and mine[0].get("db") == "0", "redis-py client_list")
    check(c.execute_command("SELECT", 0) in (True, "OK", b"OK"), "redis-py SELECT 0")
    cfg = c.config_get("maxmemory*")
    check(cfg.get("maxmemory") == "0" and cfg.get("maxmemory-policy") == "noeviction",
          f"redis-py config_get('maxmemory*'): {cfg}")
    check(c.config_get("databases") == {"databases": "1"}, "redis-py config_get databases")
    info = c.info()
    check(info.get("redis_version", "").startswith("7.") and info.get("role") == "master" and
          "connected_clients" in info, "redis-py info()")
    check("used_memory" in c.info("memory") and "loading" in c.info("persistence"),
          "redis-py info('memory'), info('persistence')")
    c.set("py:k", "v")
    ks = c.info("keyspace")
    check(ks.get("db0", {}).get("keys", 0) >= 1, f"redis-py info('keyspace'): {ks}")
    check(isinstance(c.time()[0], int) and isinstance(c.lastsave(), object), "redis-py time, lastsave")
    c.delete("py:k")
    c.close()
    # auth with a password
    c = redis.Redis(port=gport_pw, password=PASS, socket_timeout=5, decode_responses=True)
    check(c.ping() is True and c.set("py:a", "1") and c.get("py:a") == "1", "redis-py with password=")
    c.close()
    c = redis.Redis(port=gport_pw, username="default", password=PASS, socket_timeout=5)
    check(c.ping() is True, "redis-py with username='default', password=")
    c.close()
    c = redis.Redis(port=gport_pw, password="wrong", socket_timeout=5)
    try:
        c.ping()
        check(False, "redis-py with a wrong password raises")
    except (redis.AuthenticationError, redis.ResponseError) as e:
        check("WRONGPASS" in str(e) or "invalid" in str(e),
              f"redis-py with a wrong password raises {type(e).__name__} ({e})")
    c.close()
    c = redis.Redis(port=gport_pw, socket_timeout=5)
    try:
        c.get("x")
        check(False, "redis-py without a password raises")
    except (redis.AuthenticationError, redis.ResponseError) as e:
        check("Authentication required" in str(e),
              f"redis-py without a password raises {type(e).__name__} ({e})")
    c.close()
    # RESP3, where this redis-py has it (redis-py 5+)
    try:
        c = redis.Redis(port=gport, protocol=3, socket_timeout=5, decode_responses=True)
    except TypeError:
        log(f"skip: redis-py {redis.__version__} has no protocol=3 (RESP3 is checked with raw bytes)")
        return True
    check(c.ping() is True and c.get("py:none") is None and c.config_get("databases") == {"databases": "1"},
          "redis-py protocol=3: ping, get, config_get")
    c.close()
    return True


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    ct.BIN = sys.argv[1]
    gvctl = sys.argv[2] if len(sys.argv) > 2 else None
    if not shutil.which("redis-server"):
        print("skip: redis-server is not installed (apt-get install redis-server)")
        return 77
    try:
        import redis  # noqa: F401
    except ImportError as e:
        print(f"skip: redis-py is missing under {sys.executable} ({e}): apt-get install python3-redis")
        return 77
    nodes = []
    try:
        rport = start_redis()
        rport_pw = start_redis(("--requirepass", PASS))
        nodes = ct.cluster(2, 2)
        conf = os.path.join(os.path.dirname(nodes[0].logf.name), f"gvd-conn-{os.getpid()}.conf")
        with open(conf, "w") as f:  # the password from a --config file
            f.write(f"requirepass = {PASS}\n")
        g = ct.free_port_block(10)
        rp = ct.free_port_block(1, udp=False)
        pw = ct.Node(g, rp, 2, [nodes[0].gossip], extra=("--config", conf), name="pw").start()
        nodes.append(pw)
        gport = nodes[0].resp
        for name, fn in [("hello_resp3", lambda: test_hello_resp3(rport, gport)),
                         ("client", lambda: test_client(rport, gport)),
                         ("config", lambda: test_config(rport, gport)),
                         ("info", lambda: test_info(rport, gport)),
                         ("edges", lambda: test_edges(rport, gport)),
                         ("auth", lambda: test_auth(rport, gport, rport_pw, pw.resp)),
                         ("redis_cli", lambda: test_redis_cli(rport, gport)),
                         ("gvctl", lambda: test_gvctl(gvctl, pw.resp) if gvctl else
                          log("skip: gvctl not given")),
                         ("redis_py", lambda: test_redis_py(gport, pw.resp))]:
            log(f"== {name}")
            try:
                fn()
            except Exception as e:  # a test that blew up is a failure
                check(False, f"{name}: {type(e).__name__}: {e}")
        with open(pw.logf.name) as f:
            check(PASS not in f.read(), "the password is never logged")
        os.unlink(conf)
        ct.stop_all(nodes)
    finally:
        for p in ct.PROCS + REDIS:
            if p.poll() is None:
                p.kill()
    print(f"{ct.PASSED} passed, {ct.FAILED} failed")
    return 1 if ct.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
