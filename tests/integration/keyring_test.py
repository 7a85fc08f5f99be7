#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""keyring_test.py GRAPEVINED GVCTL - sealed gossip with real daemons.

Three daemons share a keyring file and replicate; a fourth with another key
cannot join (its datagrams are counted as unknown-key, it never learns the
data), and one with no keyring cannot either; a bad keyring file stops the
daemon with a clear error. Then a rotation with gvctl while writes flow:
keygen, install (holders reach 3), use, remove the old key; every write
reaches every node, the keyring files are rewritten with the new key first,
and a node restarted from its rewritten file rejoins and catches up.
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_test as ct  # noqa: E402

GVCTL = None


def gvctl(node, *args):
    p = subprocess.run([GVCTL, "-a", f"127.0.0.1:{node.resp}", *args],
                       capture_output=True, text=True, timeout=10)
    return p.returncode, p.stdout + p.stderr


def keys_table(node):
    rc, out = gvctl(node, "keys", "list")
    rows = {}
    for line in out.splitlines()[1:]:
        f = line.split()
        if len(f) == 5:
            rows[f[0]] = {"here": f[1], "holders": int(f[2]), "primary_for": int(f[3]),
                          "live": int(f[4])}
    return rc, rows


def key_file(dirname, name, text):
    path = os.path.join(dirname, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def test_keyring():
    tmp = tempfile.mkdtemp(prefix="gv-keyring-")
    rc, k1 = gvctl(ct.Node(0, 0), "keygen")
    k1 = k1.strip()
    ct.check(rc == 0 and len(k1) == 44, f"gvctl keygen prints a base64 key ({k1!r})")
    base_g = ct.free_port_block(50)
    base_r = ct.free_port_block(6, udp=False)
    files = [key_file(tmp, f"ring{i}", f"# test\n{k1}\n") for i in range(3)]
    nodes = []
    try:
        for i in range(3):
            nodes.append(ct.Node(base_g + 10 * i, base_r + i, 2, [base_g] if i else None,
                                 ("--keyring", files[i]), name=f"k{i}").start())
        ct.check("gossip is sealed" in nodes[0].log(), "start-up log says gossip is sealed")
        ct.check(ct.wait_until(lambda: all(ct.alive_members(n) == 2 for n in nodes), 15),
                 "3 sealed daemons see each other")
        r0 = nodes[0].r()
        r0.cmd("SET", "a", "1")
        ct.check(ct.wait_until(lambda: all(n.r().cmd("GET", "a") == b"1" for n in nodes), 2),
                 "a write reaches all 3 sealed nodes")

        # outsiders: another key, and no keyring at all
        evil = key_file(tmp, "evil", os.urandom(32).hex() + "\n")
        out1 = ct.Node(base_g + 30, base_r + 3, 2, [base_g], ("--keyring", evil), name="evil").start()
        out2 = ct.Node(base_g + 40, base_r + 4, 2, [base_g], (), name="clear").start()
        ct.check("gossip runs in the clear" in out2.log(), "a node without keyring warns at start-up")
        time.sleep(2.0)
        ct.check(out1.r().cmd("GET", "a") is None and out2.r().cmd("GET", "a") is None,
                 "outsiders (wrong key, no key) learn nothing")
        st = ct.stats(nodes[0].resp)
        ct.check(st["auth_unknown_key"] > 0, f"wrong-key datagrams counted ({st['auth_unknown_key']})")
        ct.check(st["auth_clear"] > 0, f"clear datagrams counted ({st['auth_clear']})")
        ct.check(st["members_alive"] == 2, f"outsiders never become members ({st['members_alive']} alive)")
        ct.check(ct.stats(out2.resp)["members_alive"] == 0, "the clear node finds no member")
        out1.term()
        out2.term()

        # bad keyring files: clear errors, no start
        for text, want in (("", "no keys"), ("nope\n", "line 1"), (k1 + "\n" + k1 + "\n", "twice")):
            path = key_file(tmp, "bad", text)
            p = subprocess.run([ct.BIN, "--bind", f"127.0.0.1:{base_g + 45}", "--resp",
                                f"127.0.0.1:{base_r + 5}", "--keyring", path],
                               capture_output=True, text=True, timeout=10)
            ct.check(p.returncode != 0 and want in p.stderr,
                     f"keyring file {text[:10]!r}: refused with '{want}' ({p.stderr.strip()[-100:]})")
            with open(path) as fh:
                ct.check(fh.read() == text, "... and the file is left as it was")
        p = subprocess.run([ct.BIN, "--keyring", "/nonexistent/ring"], capture_output=True, text=True,
                           timeout=10)
        ct.check(p.returncode != 0 and "/nonexistent/ring" in p.stderr, "missing keyring file: refused")
        p = subprocess.run([ct.BIN, "--cipher", "rot13"], capture_output=True, text=True, timeout=10)
        ct.check(p.returncode != 0 and "--cipher" in p.stderr, "bad --cipher: refused")

        # rotation while writes flow
        rc, k2 = gvctl(nodes[0], "keygen")
        k2 = k2.strip()
        written = [0]

        def write_some(n):
            for _ in range(n):
                r0.cmd("SET", f"w{written[0]}", str(written[0]))
                written[0] += 1

        write_some(50)
        rc, out = gvctl(nodes[1], "keys", "install", k2)
        ct.check(rc == 0 and "OK" in out, f"gvctl keys install ({out.strip()})")
        write_some(50)

        def holders(want):
            rc, rows = keys_table(nodes[2])
            return [r["holders"] for r in rows.values()] == want

        ct.check(ct.wait_until(lambda: holders([3, 3]), 5), "keys list: both keys held by 3 of 3")
        rc, rows = keys_table(nodes[2])
        prim = [k for k, r in rows.items() if r["here"] == "primary"]
        new = [k for k, r in rows.items() if r["here"] == "held"]
        ct.check(len(prim) == 1 and len(new) == 1 and rows[prim[0]]["primary_for"] == 3,
                 f"keys list: old key primary on 3, new key held ({rows})")
        rc, out = gvctl(nodes[2], "keys", "remove", prim[0])
        ct.check(rc != 0 and "primary" in out, f"removing the primary is refused ({out.strip()})")
        rc, out = gvctl(nodes[2], "keys", "use", new[0])
        ct.check(rc == 0, f"gvctl keys use ID ({out.strip()})")
        write_some(50)
        ct.check(ct.wait_until(lambda: keys_table(nodes[0])[1].get(new[0], {}).get("primary_for") == 3, 5),
                 "the new key is primary on 3 of 3")
        rc, out = gvctl(nodes[0], "keys", "remove", k1)
        ct.check(rc == 0, f"gvctl keys remove KEY ({out.strip()})")
        write_some(50)
        ct.check(ct.wait_until(lambda: list(keys_table(nodes[1])[1]) == [new[0]], 5),
                 "keys list: only the new key is left")
        ok = ct.wait_until(lambda: all(n.r().cmd("DBSIZE") == written[0] + 1 for n in nodes), 5)
        ct.check(ok, f"all {written[0]} writes made during the rotation reached all 3 nodes")
        for f in files:
            with open(f) as fh:
                lines = [x for x in fh.read().splitlines() if x and not x.startswith("#")]
            ct.check(len(lines) == 1 and oct(os.stat(f).st_mode & 0o777) == "0o600",
                     f"{os.path.basename(f)} rewritten: one key, mode 600")
        st = ct.stats(nodes[1].resp)
        ct.check(st["auth_failed"] == 0 and st["keyring_keys"] == 1,
                 f"no datagram failed authentication; 1 key in the ring ({st['auth_failed']}, "
                 f"{st['keyring_keys']})")

        # a node restarted from its rewritten file comes back
        nodes[2].kill9()
        write_some(20)
        # the killed process's io_uring may hold its ports for a moment
        for attempt in range(50):
            try:
                nodes[2] = ct.Node(base_g + 20, base_r + 2, 2, [base_g], ("--keyring", files[2]),
                                   name="k2b").start()
                break
            except RuntimeError as e:
                if "already in use" not in str(e) or attempt == 49:
                    raise
                time.sleep(0.1)
        ok = ct.wait_until(lambda: nodes[2].r().cmd("DBSIZE") == written[0] + 1, 10)
        ct.check(ok, "a node restarted (empty) from its rewritten keyring catches up")
        r0.close()
    finally:
        ct.stop_all(nodes)


def main():
    global GVCTL
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    ct.BIN, GVCTL = sys.argv[1], sys.argv[2]
    try:
        test_keyring()
    except Exception as e:  # a test that blew up is a failure
        ct.check(False, f"keyring: {type(e).__name__}: {e}")
    finally:
        for p in ct.PROCS:
            if p.poll() is None:
                p.kill()
    print(f"{ct.PASSED} passed, {ct.FAILED} failed")
    return 1 if ct.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
