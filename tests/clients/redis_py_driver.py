#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""redis-py driver of the client matrix (issue 12).

usage: /usr/bin/python3 redis_py_driver.py HOST:PORT[,HOST:PORT...] [--password P]

Runs what the caches of Django, Rails and Spring send, through redis-py
(Debian's python3-redis), against the first address; what it writes is
read back at every address (a replicated cluster: eventually, within
--wait seconds). With --password the server requires that password and
only the auth checks run. One JSON line per check; exit 1 if any failed,
77 if redis-py cannot be imported. RESP3 only if this redis-py has
`protocol=` (5.0 and later).
"""
import argparse
import inspect
import json
import os
import sys
import time

try:
    import redis
except ImportError as e:
    print(f"redis-py not importable ({e}): install python3-redis, run /usr/bin/python3")
    sys.exit(77)

CLIENT = "redis-py"
NAME = "gv-matrix-py"
FAILED = 0


def emit(resp, op, ok, detail):
    global FAILED
    FAILED += not ok
    print(json.dumps({"client": CLIENT, "version": redis.__version__, "resp": resp,
                      "op": op, "ok": ok, "detail": detail}), flush=True)


def expect(got, want, what=""):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}" if what else
                             f"got {got!r}, want {want!r}")


def expect_in(got, lo, hi, what):
    if not isinstance(got, int) or not lo <= got <= hi:
        raise AssertionError(f"{what}: got {got!r}, want {lo}..{hi}")


def expect_error(fn, text):
    try:
        v = fn()
    except redis.exceptions.ResponseError as e:
        if text not in str(e):
            raise AssertionError(f"error {str(e)!r} lacks {text!r}")
        return str(e)
    raise AssertionError(f"no error: got {v!r}, want an error with {text!r}")


class Ctx:
    def __init__(self, addrs, resp, wait, password=None):
        self.resp, self.wait = resp, wait
        self.prefix = f"gvm:py:{resp}:{os.getpid()}:"
        extra = {"protocol": resp} if resp == 3 else {}
        self.clients = [self.client(a, password=password, **extra) for a in addrs]
        self.r = self.clients[0]
        self.addr0, self.extra = addrs[0], extra

    @staticmethod
    def client(addr, **kw):
        host, port = addr.rsplit(":", 1)
        return redis.Redis(host=host, port=int(port), db=0, socket_timeout=5,
                           socket_connect_timeout=5, decode_responses=True, **kw)

    def named(self):
        """A new client whose connection starts with CLIENT SETNAME (the
        others do not: one missing command would fail every check)."""
        return self.client(self.addr0, client_name=NAME, **self.extra)

    def k(self, name):
        return self.prefix + name

    def everywhere(self, fn, check, what):
        """check(fn(c)) at every node, retried until --wait runs out."""
        for i, c in enumerate(self.clients):
            deadline = time.time() + (self.wait if i else 0)
            while True:
                got = fn(c)
                try:
                    check(got)
                    break
                except AssertionError as e:
                    if time.time() >= deadline:
                        raise AssertionError(f"node {i + 1}: {what}: {e}")
                    time.sleep(0.05)

    def everywhere_eq(self, fn, want, what):
        self.everywhere(fn, lambda g: expect(g, want), what)


# ------------------------------------------------------------- checks
# each returns a detail string or raises

def op_connect(x):
    expect(x.named().ping(), True, "PING")
    return "db=0, client_name=: PING"


def op_hello(x):
    v = x.r.execute_command("HELLO", x.resp)
    d = dict(zip(v[::2], v[1::2])) if isinstance(v, list) else v
    expect(d.get("proto"), x.resp, "proto")
    if not d.get("server"):
        raise AssertionError(f"no server field in {d!r}")
    if not str(d.get("version", "")).startswith("7."):
        raise AssertionError(f"version {d.get('version')!r} is not 7.x")
    return f"HELLO {x.resp}: version {d['version']}"


def op_client_name(x):
    r = x.named()
    expect(r.client_getname(), NAME, "GETNAME after connect")
    expect(r.client_setname("renamed"), True, "SETNAME")
    expect(r.client_getname(), "renamed", "GETNAME")
    return "client_name=, CLIENT SETNAME/GETNAME"


def op_select0(x):
    expect(x.r.execute_command("SELECT", 0), True, "SELECT 0")
    return "SELECT 0"


def op_set_get(x):
    k = x.k("sg")
    expect(x.r.set(k, "v1"), True, "SET")
    expect(x.r.get(k), "v1", "GET")
    x.everywhere_eq(lambda c: c.get(k), "v1", "GET")
    expect(x.r.get(x.k("missing")), None, "GET missing")
    return "SET, GET at every node"


def _ttl_everywhere(x, k, lo, hi, ms=False):
    f = (lambda c: c.pttl(k)) if ms else (lambda c: c.ttl(k))
    x.everywhere(f, lambda g: expect_in(g, lo, hi, "PTTL" if ms else "TTL"), "TTL")


def op_set_ex(x):
    k = x.k("sex")
    expect(x.r.set(k, "v", ex=60), True, "SET EX 60")
    _ttl_everywhere(x, k, 1, 60)
    x.everywhere_eq(lambda c: c.get(k), "v", "GET")
    return "SET EX 60: TTL 1..60 at every node"


def op_setex(x):
    k = x.k("setex")
    expect(x.r.setex(k, 60, "v"), True, "SETEX")
    _ttl_everywhere(x, k, 1, 60)
    return "SETEX: TTL at every node"


def op_psetex(x):
    k = x.k("psetex")
    expect(x.r.psetex(k, 60000, "v"), True, "PSETEX")
    _ttl_everywhere(x, k, 1, 60000, ms=True)
    return "PSETEX: PTTL at every node"


def op_set_px(x):
    k = x.k("spx")
    expect(x.r.set(k, "v", px=60000), True, "SET PX")
    _ttl_everywhere(x, k, 1, 60000, ms=True)
    return "SET PX: PTTL at every node"


def op_set_nx(x):
    k = x.k("snx")
    expect(x.r.set(k, "a", nx=True, ex=60), True, "SET NX EX (absent)")
    expect(x.r.set(k, "b", nx=True, ex=60), None, "SET NX EX (present)")
    expect(x.r.get(k), "a", "GET")
    return "SET NX EX (Django add)"


def op_expiry(x):
    k = x.k("short")
    expect(x.r.set(k, "v", px=300), True, "SET PX 300")
    time.sleep(0.6)
    x.everywhere_eq(lambda c: c.get(k), None, "GET after 600 ms")
    x.everywhere_eq(lambda c: c.exists(k), 0, "EXISTS after 600 ms")
    return "SET PX 300 is gone after 600 ms at every node"


def op_getex(x):
    k = x.k("getex")
    x.r.set(k, "v")
    expect(x.r.getex(k, ex=60), "v", "GETEX EX 60")
    expect_in(x.r.ttl(k), 1, 60, "TTL")
    expect(x.r.getex(k, persist=True), "v", "GETEX PERSIST")
    expect(x.r.ttl(k), -1, "TTL")
    return "GETEX EX, PERSIST (Spring time-to-idle)"


def op_getdel(x):
    k = x.k("getdel")
    x.r.set(k, "v")
    expect(x.r.getdel(k), "v", "GETDEL")
    expect(x.r.getdel(k), None, "GETDEL again")
    return "GETDEL"


def op_mset_mget(x):
    ks = [x.k(f"m{i}") for i in range(3)]
    expect(x.r.mset({ks[0]: "1", ks[1]: "2", ks[2]: "3"}), True, "MSET")
    want = ["1", None, "3"]
    x.everywhere_eq(lambda c: c.mget(ks[0], x.k("nope"), ks[2]), want, "MGET")
    return "MSET, MGET at every node"


def op_incr_decr(x):
    k = x.k("ctr")
    expect(x.r.incr(k), 1, "INCR (new)")
    expect(x.r.incrby(k, 5), 6, "INCRBY 5")
    expect(x.r.decr(k), 5, "DECR")
    expect(x.r.decrby(k, 2), 3, "DECRBY 2")
    x.everywhere_eq(lambda c: c.get(k), "3", "GET")
    return "INCR, INCRBY, DECR, DECRBY; GET 3 at every node"


def op_rails_increment(x):
    k = x.k("rails")
    p = x.r.pipeline(transaction=False)
    p.incrby(k, 1)
    p.execute_command("EXPIRE", k, 60, "NX")
    expect(p.execute(), [1, 1], "INCRBY, EXPIRE NX (new)")
    p.incrby(k, 1)
    p.execute_command("EXPIRE", k, 60, "NX")
    expect(p.execute(), [2, 0], "INCRBY, EXPIRE NX (again)")
    return "pipelined INCRBY + EXPIRE NX (Rails increment)"


def op_delete(x):
    a, b, c = x.k("da"), x.k("db"), x.k("dc")
    x.r.mset({a: "1", b: "2", c: "3"})
    x.everywhere_eq(lambda cl: cl.exists(a, b, c), 3, "EXISTS before")
    expect(x.r.delete(a, b, x.k("nope")), 2, "DEL 2 of 3")
    expect(x.r.unlink(c, x.k("nope")), 1, "UNLINK")
    x.everywhere_eq(lambda cl: cl.mget(a, b, c), [None] * 3, "MGET after")
    return "DEL, UNLINK counts; gone at every node"


def op_exists(x):
    a, b = x.k("ea"), x.k("eb")
    x.r.mset({a: "1", b: "2"})
    expect(x.r.exists(a, b, x.k("nope")), 2, "EXISTS a b nope")
    expect(x.r.exists(a, a), 2, "EXISTS a a")
    return "EXISTS counts"


def op_expire_ttl(x):
    k = x.k("exp")
    x.r.set(k, "v")
    expect(x.r.ttl(k), -1, "TTL (no expiry)")
    expect(x.r.expire(k, 100), True, "EXPIRE 100")
    _ttl_everywhere(x, k, 1, 100)
    expect_in(x.r.pttl(k), 1, 100000, "PTTL")
    expect(x.r.persist(k), True, "PERSIST")
    x.everywhere_eq(lambda c: c.ttl(k), -1, "TTL after PERSIST")
    expect(x.r.ttl(x.k("nope")), -2, "TTL missing")
    expect(x.r.expire(x.k("nope"), 10), False, "EXPIRE missing")
    return "EXPIRE, TTL, PTTL, PERSIST; -1, -2"


def op_scan_match(x):
    pat = x.k("scan:")
    for i in range(20):
        x.r.set(f"{pat}{i}", i)
    x.r.set(x.k("other"), 1)
    want = sorted(f"{pat}{i}" for i in range(20))
    x.everywhere_eq(lambda c: sorted(c.scan_iter(match=pat + "*", count=7)), want, "SCAN MATCH")
    n = 0
    for key in x.r.scan_iter(match=pat + "*", count=7):
        n += x.r.delete(key)
    expect(n, 20, "deleted")
    x.everywhere_eq(lambda c: list(c.scan_iter(match=pat + "*")), [], "SCAN after")
    expect(x.r.exists(x.k("other")), 1, "other key kept")
    return "SCAN MATCH COUNT 7 at every node; delete_pattern"


def op_pipeline(x):
    k = x.k("pl")
    p = x.r.pipeline(transaction=False)
    p.set(k, "v").get(k).exists(k).delete(k).get(k)
    expect(p.execute(), [True, "v", 1, 1, None], "pipeline")
    return "pipeline(transaction=False)"


def op_transaction(x):
    k, k2 = x.k("tx"), x.k("tx2")
    p = x.r.pipeline(transaction=True)
    p.set(k, "v").get(k).set(k2, "w")
    expect(p.execute(), [True, "v", True], "MULTI..EXEC")
    x.everywhere_eq(lambda cl: cl.get(k), "v", "GET")
    return "pipeline(transaction=True): MULTI..EXEC"


def op_execabort(x):
    k = x.k("abort")
    p = x.r.pipeline(transaction=True)
    p.set(k, "v")
    p.execute_command("SET", k)  # wrong arity: queued as an error
    try:
        v = p.execute()
        raise AssertionError(f"EXEC answered {v!r}, want EXECABORT")
    except redis.exceptions.ResponseError as e:
        if "EXECABORT" not in str(e) and "wrong number" not in str(e):
            raise AssertionError(f"error {e}")
    expect(x.r.get(k), None, "GET (nothing applied)")
    return "a queued syntax error aborts EXEC; nothing applied"


def op_flushdb(x):
    for i in range(5):
        x.r.set(x.k(f"f{i}"), i)
    expect(x.r.flushdb(), True, "FLUSHDB")
    x.everywhere_eq(lambda c: c.dbsize(), 0, "DBSIZE after FLUSHDB")
    return "FLUSHDB: DBSIZE 0 at every node"


def op_err_not_integer(x):
    k = x.k("nonint")
    x.r.set(k, "abc")
    return expect_error(lambda: x.r.incr(k), "value is not an integer or out of range")


def op_err_arity(x):
    return expect_error(lambda: x.r.execute_command("GET"),
                        "wrong number of arguments for 'get' command")


def op_err_unknown(x):
    return expect_error(lambda: x.r.execute_command("NOSUCHCMD", "a"), "unknown command")


MAIN = [op_connect, op_hello, op_client_name, op_select0, op_set_get, op_set_ex, op_setex,
        op_psetex, op_set_px, op_set_nx, op_expiry, op_getex, op_getdel, op_mset_mget,
        op_incr_decr, op_rails_increment, op_delete, op_exists, op_expire_ttl,
        op_scan_match, op_pipeline, op_transaction, op_execabort, op_err_not_integer,
        op_err_arity, op_err_unknown, op_flushdb]


def auth_checks(addrs, resp, password):
    extra = {"protocol": resp} if resp == 3 else {}

    def ok():
        r = Ctx.client(addrs[0], password=password, **extra)
        expect(r.ping(), True, "PING")
        expect(r.set("gvm:auth", "v"), True, "SET")
        expect(r.get("gvm:auth"), "v", "GET")
        return "password=: PING, SET, GET"

    def noauth():
        r = Ctx.client(addrs[0], **extra)
        try:
            v = r.get("gvm:auth")
        except redis.exceptions.AuthenticationError as e:
            if "Authentication required" not in str(e):
                raise AssertionError(f"error {e}")
            return str(e)
        raise AssertionError(f"no error: got {v!r}")

    def wrongpass():
        r = Ctx.client(addrs[0], password=password + "x", **extra)
        try:
            v = r.ping()
        except redis.exceptions.ResponseError as e:
            if "WRONGPASS" not in str(e) and "invalid" not in str(e):
                raise AssertionError(f"error {e}")
            return str(e)
        raise AssertionError(f"no error: got {v!r}")

    for name, fn in (("auth", ok), ("auth_noauth", noauth), ("auth_wrongpass", wrongpass)):
        run(resp, name, fn)


def run(resp, name, fn):
    try:
        emit(resp, name, True, fn())
    except Exception as e:  # noqa: BLE001 - every failure is a cell
        emit(resp, name, False, f"{type(e).__name__}: {e}"[:300])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addrs")
    ap.add_argument("--password")
    ap.add_argument("--wait", type=float, default=5.0)
    a = ap.parse_args()
    addrs = a.addrs.split(",")
    resps = [2]
    if "protocol" in inspect.signature(redis.Redis.__init__).parameters:
        resps.append(3)
    for resp in resps:
        if a.password:
            auth_checks(addrs, resp, a.password)
            continue
        try:
            x = Ctx(addrs, resp, a.wait)
        except Exception as e:  # noqa: BLE001
            for fn in MAIN:
                emit(resp, fn.__name__[3:], False, f"no client: {e}")
            continue
        for fn in MAIN:
            run(resp, fn.__name__[3:], lambda: fn(x))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
