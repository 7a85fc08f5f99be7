#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The real-client matrix (issue 12): redis-py, ioredis and node-redis,
in RESP2 and RESP3 where the client has it, running what the caches of
Django, Rails and Spring send (tests/clients/*_driver.*).

usage: clients_test.py GRAPEVINED [--target both|redis|grapevined]
                       [--expect-fail-ok] [--wait S] [--json FILE]

1. redis-server (the reference), without and with --requirepass: every
   driver must pass every check there. This validates the drivers: a
   failure here fails the run whatever the options.
2. a 3-node grapevined cluster: each driver writes at node 1 and reads
   back at nodes 1, 2 and 3; the auth checks on a cluster started with
   --requirepass (when `grapevined --help` lists it; else they fail).

Prints one line per failed check, the client x operation matrix (a cell
is redis-server / grapevined: ✓ pass, ✗ fail, - not run) and the client
versions. Exits 1 if any check failed, 77 if redis-server or every
client is missing. --expect-fail-ok (or GV_CLIENTS_EXPECT_FAIL_OK=1)
reports grapevined's failures without failing the run: for the report
while the commands are being built. CTest runs it strictly.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import servers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENTS = os.path.join(HERE, "..", "clients")
PASSWORD = "gv-matrix-secret"
DRIVER_TIMEOUT = 600


def find_node():
    """Debian's /usr/bin/node first, else the one on PATH; >= 18."""
    for cand in ("/usr/bin/node", shutil.which("node")):
        if not cand or not os.path.exists(cand):
            continue
        try:
            v = subprocess.run([cand, "--version"], capture_output=True, text=True,
                               timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        m = re.match(r"v(\d+)", v)
        if m and int(m.group(1)) >= 18:
            return cand, v
    return None, None


def drivers():
    node, nodev = find_node()
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    out = [("redis-py", [py, os.path.join(CLIENTS, "redis_py_driver.py")])]
    for name, f in (("ioredis", "ioredis_driver.mjs"), ("node-redis", "node_redis_driver.mjs")):
        out.append((name, [node, os.path.join(CLIENTS, f)] if node else None))
    return out, (node, nodev)


def run_driver(name, argv, addrs, password, wait):
    """The driver's check lines (dicts); (lines, skipped_reason or None)."""
    if argv is None:
        return [], "no node >= 18 (run tools/bootstrap.sh)"
    a = argv + [",".join(addrs), "--wait", str(wait)]
    if password:
        a += ["--password", password]
    try:
        p = subprocess.run(a, capture_output=True, text=True, timeout=DRIVER_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        return [{"client": name, "resp": 2, "op": "driver", "ok": False,
                 "detail": f"timed out after {DRIVER_TIMEOUT} s: {e.stdout!r:.300}"}], None
    lines, other = [], []
    for line in p.stdout.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            other.append(line)
    if p.returncode == 77:
        return [], " ".join(other).strip() or "exit 77"
    crashed = "Traceback (most recent call last)" in p.stderr or re.search(r"^\s+at ", p.stderr, re.M)
    if p.returncode not in (0, 1) or crashed or (p.returncode == 1 and all(x["ok"] for x in lines)):
        lines.append({"client": name, "resp": 2, "op": "driver", "ok": False,
                      "detail": f"exit {p.returncode}: {(p.stderr or ' '.join(other))[-400:]}"})
    return lines, None


def run_target(target, addrs_plain, addrs_auth, drv, wait):
    """Every driver against one target; returns (results, skipped)."""
    results, skipped = [], {}
    for name, argv in drv:
        for addrs, pw in ((addrs_plain, None), (addrs_auth, PASSWORD)):
            if addrs is None:
                continue
            lines, why = run_driver(name, argv, addrs, pw, wait)
            if why:
                skipped[name] = why
                break
            for x in lines:
                x["target"] = target
                results.append(x)
    return results, skipped


def redis_results(drv, wait):
    plain = servers.RedisServer()
    auth = servers.RedisServer(password=PASSWORD)
    try:
        print(f"redis-server {plain.version()} on {plain.port}, "
              f"with --requirepass on {auth.port}", flush=True)
        return run_target("redis", plain.addrs(), auth.addrs(), drv, wait)
    finally:
        plain.stop()
        auth.stop()


def gv_results(binary, drv, wait):
    cl = servers.GvCluster(binary, 3)
    auth = None
    try:
        print(f"grapevined: 3 nodes, RESP on {', '.join(cl.addrs())}", flush=True)
        if servers.gv_supports(binary, "--requirepass"):
            auth = servers.GvCluster(binary, 3, password=PASSWORD)
            auth_addrs = auth.addrs()
        else:
            print("grapevined has no --requirepass: the auth cells fail", flush=True)
            auth_addrs = None
        res, skipped = run_target("grapevined", cl.addrs(), auth_addrs, drv, wait)
        if auth_addrs is None:
            # the same auth cells the reference has, failed
            version = {x["client"]: x.get("version", "?") for x in res}
            for name, _ in drv:
                if name in skipped:
                    continue
                for resp in sorted({x["resp"] for x in res if x["client"] == name}):
                    for op in ("auth", "auth_noauth", "auth_wrongpass"):
                        res.append({"client": name, "version": version.get(name, "?"),
                                    "resp": resp, "op": op, "ok": False,
                                    "target": "grapevined",
                                    "detail": "grapevined has no --requirepass flag"})
        return res, skipped
    finally:
        cl.stop()
        if auth:
            auth.stop()


def matrix(results):
    cols = []
    rows = []
    cell = {}
    for x in results:
        col = f"{x['client']}/{x['resp']}"
        if col not in cols:
            cols.append(col)
        if x["op"] not in rows:
            rows.append(x["op"])
        cell.setdefault((x["op"], col), {})[x["target"]] = \
            cell.get((x["op"], col), {}).get(x["target"], True) and x["ok"]
    mark = lambda d, t: "-" if t not in d else ("✓" if d[t] else "✗")  # noqa: E731
    w = max(len(r) for r in rows) if rows else 4
    cw = max([len(c) for c in cols] + [3])
    out = [f"{'operation':<{w}}  " + "  ".join(f"{c:^{cw}}" for c in cols)]
    for r in rows:
        cells = []
        for c in cols:
            d = cell.get((r, c), {})
            cells.append(f"{mark(d, 'redis') + ' ' + mark(d, 'grapevined'):^{cw}}")
        out.append(f"{r:<{w}}  " + "  ".join(cells))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("grapevined")
    ap.add_argument("--target", choices=("both", "redis", "grapevined"), default="both")
    ap.add_argument("--expect-fail-ok", action="store_true",
                    default=os.environ.get("GV_CLIENTS_EXPECT_FAIL_OK") == "1")
    ap.add_argument("--wait", type=float, default=5.0,
                    help="seconds a write may take to reach the other nodes")
    ap.add_argument("--json", metavar="FILE", help="also write every check, one JSON line each")
    a = ap.parse_args()

    if not servers.redis_server_bin():
        print("redis-server not found (tools/bootstrap.sh installs it): skipped")
        return 77
    drv, (node, nodev) = drivers()
    print(f"node: {node} {nodev}" if node else "node: none >= 18 (the Node clients are skipped)")
    results, skipped = [], {}
    try:
        if a.target in ("both", "redis"):
            r, s = redis_results(drv, a.wait)
            results += r
            skipped.update(s)
        if a.target in ("both", "grapevined"):
            r, s = gv_results(a.grapevined, drv, a.wait)
            results += r
            skipped.update(s)
    finally:
        servers.stop_all()

    if a.json:
        with open(a.json, "w") as f:
            for x in results:
                f.write(json.dumps(x) + "\n")
    for x in results:
        if not x["ok"]:
            print(f"FAIL [{x['target']}] {x['client']}/RESP{x['resp']} {x['op']}: {x['detail']}")
    for name, why in skipped.items():
        print(f"SKIP {name}: {why}")
    versions = sorted({f"{x['client']} {x.get('version', '?')}" for x in results if x["op"] != "driver"})
    print("\nclients: " + ", ".join(versions))
    print("cells: redis-server grapevined (✓ pass, ✗ fail, - not run)\n")
    print(matrix(results))
    fails = {t: sum(1 for x in results if x["target"] == t and not x["ok"]) for t in ("redis", "grapevined")}
    total = {t: sum(1 for x in results if x["target"] == t) for t in ("redis", "grapevined")}
    print("\n" + "; ".join(f"{label}: {total[t] - fails[t]}/{total[t]} passed"
                            for t, label in (("redis", "redis-server"), ("grapevined", "grapevined"))
                            if total[t]))
    if not results:
        return 77
    if fails["redis"]:
        print("a driver fails against redis-server: the driver is wrong")
        return 1
    if fails["grapevined"] and a.expect_fail_ok:
        print("--expect-fail-ok: grapevined's failures reported, not failing the run")
        return 0
    return 1 if fails["grapevined"] else 0


if __name__ == "__main__":
    sys.exit(main())
