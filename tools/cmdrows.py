#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Print command-table rows (engine/server/cmd_table.c) for Redis commands,
from a running redis-server's COMMAND INFO and COMMAND DOCS, so a new row
carries Redis 7's own arity, flags, key spec, ACL categories, tips and docs.

  tools/cmdrows.py [--port P] NAME [NAME ...]     (a subcommand: "object|help")

Paste the rows into gvd_cmds (sorted by name) or a container's subs table,
then point .fn at the handler (a subcommand's "|" becomes "_"). Start a
reference server with: redis-server --port 7600 --save '' --daemonize yes
"""
import socket
import sys

FLAGS = {"write": "CMD_WRITE", "readonly": "CMD_READONLY", "denyoom": "CMD_DENYOOM",
         "admin": "CMD_ADMIN", "noscript": "CMD_NOSCRIPT", "blocking": "CMD_BLOCKING",
         "loading": "CMD_LOADING", "stale": "CMD_STALE", "skip_slowlog": "CMD_SKIP_SLOWLOG",
         "fast": "CMD_FAST", "no_auth": "CMD_NO_AUTH", "allow_busy": "CMD_ALLOW_BUSY"}
KS = {"RO": "KS_RO", "RW": "KS_RW", "OW": "KS_OW", "RM": "KS_RM", "access": "KS_ACCESS",
      "update": "KS_UPDATE", "insert": "KS_INSERT", "delete": "KS_DELETE"}
ARGF = {"optional": "ARG_OPTIONAL", "multiple": "ARG_MULTIPLE",
        "multiple_token": "ARG_MULTIPLE_TOKEN"}


def cmd(port, *args):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"*%d\r\n" % len(args) +
              b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in (x.encode() for x in args)))
    f = s.makefile("rb")

    def rd():
        line = f.readline()[:-2]
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else f.read(n + 2)[:-2].decode()
        if t in (b"*", b"~"):
            n = int(rest)
            return None if n < 0 else [rd() for _ in range(n)]
        raise RuntimeError(f"reply type {t!r}")
    v = rd()
    s.close()
    return v


def pairs(lst):
    return {lst[i]: lst[i + 1] for i in range(0, len(lst), 2)}


def cstr(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def args_c(args, ind):
    out = []
    for a in args:
        a = pairs(a)
        f = [f".name = {cstr(a['name'])}", f".type = {cstr(a['type'])}"]
        if a.get("token"):
            f.append(f".token = {cstr(a['token'])}")
        if a.get("since"):
            f.append(f".since = {cstr(a['since'])}")
        fl = [ARGF[x] for x in a.get("flags", [])]
        if fl:
            f.append(".flags = " + " | ".join(fl))
        if a.get("arguments"):
            f.append(".sub = ARGS(" + args_c(a["arguments"], ind + 1) + ")")
        out.append("{" + ", ".join(f) + "}")
    return (",\n" + "\t" * ind + "      ").join(out)


def row(port, name):
    info = cmd(port, "COMMAND", "INFO", name)[0]
    if info is None:
        raise SystemExit(f"{name}: not a command of this redis-server")
    docs = pairs(pairs(cmd(port, "COMMAND", "DOCS", name))[name])
    nm, arity, flags, first, last, step, cats, tips, specs = info[:9]
    implied = set()
    if "write" in flags:
        implied.add("@write")
    if "readonly" in flags and "admin" not in flags:
        implied.add("@read")
    if "admin" in flags:
        implied |= {"@admin", "@dangerous"}
    implied.add("@fast" if "fast" in flags else "@slow")
    extra = [c[1:] for c in cats if c not in implied]
    r = [f"{{.name = {cstr(nm)}, .arity = {arity}"]
    if flags:
        r.append(".flags = " + " | ".join(FLAGS[f] for f in flags))
    if first:
        r.append(f".first = {first}, .last = {last}, .step = {step}")
    if extra:
        r.append(".acl = " + " | ".join("ACL_" + e.upper() for e in extra))
    if specs:
        kf = [KS[x] for x in pairs(specs[0])["flags"] if x in KS]
        if kf:
            r.append(".kflags = " + " | ".join(kf))
    if tips:
        r.append(".tips = STRS(" + ", ".join(cstr(t) for t in tips) + ")")
    for k in ("group", "summary", "since", "complexity"):
        r.append(f".{k} = {cstr(docs[k])}")
    if "history" in docs:
        r.append(".history = STRS(" + ", ".join(cstr(x) for p in docs["history"] for x in p) + ")")
    if "arguments" in docs:
        r.append(".args = ARGS(" + args_c(docs["arguments"], 1) + ")")
    r.append(f".fn = gvd_cmd_{nm.replace('.', '_').replace('|', '_')}}},")
    return "\t" + ",\n\t ".join(r)


def main():
    argv = sys.argv[1:]
    port = 7600
    if len(argv) >= 2 and argv[0] == "--port":
        port, argv = int(argv[1]), argv[2:]
    if not argv:
        print(__doc__)
        return 2
    for name in argv:
        print(row(port, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
