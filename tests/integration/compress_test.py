#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""compress_test.py GRAPEVINED - compressed gossip with real daemons.

Three nodes, the third with --compress-threshold off. A 15 KB JSON
document, a 12 KB HTML page and 6 KB of random bytes (each one datagram)
and a 20 KB JSON document (over the stream threshold: the stream channel)
are SET through redis-py at the first node and read back identical at the
other two (the one with compression off included: it accepts compressed
datagrams). The first node's GV.STATS show compressed datagrams and a
compression_ratio above 1 (and the random value tried and skipped); the
third sent nothing compressed but inflated what it got; nobody refused a
frame. CONFIG GET shows each node's threshold; CONFIG SET turns it off
and on at run time; a bad value is refused at start and by CONFIG SET. Exits 77 without redis-py.
"""
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_test as ct  # noqa: E402

try:
    import redis
except ImportError:
    redis = None


def json_doc(size, rng):
    """A JSON array of user records, about size bytes."""
    names = ["Alice", "Bob", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo"]
    cities = ["Paris", "Lisbon", "Osaka", "Toronto", "Nairobi", "Lima"]
    out = []
    while len(json.dumps(out)) < size:
        n = rng.choice(names)
        out.append({"id": rng.randrange(10**6), "name": f"{n} {rng.choice(names)}son",
                    "email": f"{n.lower()}{rng.randrange(100)}@example.com",
                    "active": rng.random() < 0.7, "score": round(rng.random() * 100, 2),
                    "address": {"city": rng.choice(cities), "zip": f"{rng.randrange(10**5):05d}"},
                    "tags": rng.sample(["admin", "beta", "vip", "eu", "us", "trial"], 2)})
    return json.dumps(out).encode()


def html_page(size, rng):
    words = ["fast", "light", "durable", "classic", "organic", "compact", "smart"]
    nouns = ["lamp", "chair", "kettle", "backpack", "speaker", "jacket"]
    parts = ["<html><head><title>Shop</title></head><body><main>"]
    while sum(map(len, parts)) < size:
        i = rng.randrange(10**5)
        w, n = rng.choice(words), rng.choice(nouns)
        parts.append(f'<div class="product-card" data-id="{i}"><a href="/p/{i}-{w}-{n}">'
                     f'<img src="/img/{i}.jpg" alt="{w} {n}"><h2>{w.title()} {n}</h2></a>'
                     f'<span class="price">{rng.randrange(500)}.{rng.randrange(100):02d}'
                     f'</span></div>\n')
    return ("".join(parts) + "</main></body></html>").encode()


def test_compress():
    if redis is None:
        ct.log("skip: no redis-py (python3-redis)")
        raise SystemExit(77)
    rng = random.Random(13)
    base_g = ct.free_port_block(30)
    base_r = ct.free_port_block(3, udp=False)
    nodes = []
    try:
        for i in range(3):
            extra = ("--compress-threshold", "off") if i == 2 else ()
            seeds = [base_g] if i else None
            nodes.append(ct.Node(base_g + 10 * i, base_r + i, 2, seeds, extra,
                                 name=f"z{i}").start())
        ct.check(ct.wait_until(lambda: all(ct.alive_members(n) == 2 for n in nodes), 10),
                 "3 nodes joined (2 peers alive at each)")
        clients = [redis.Redis(host="127.0.0.1", port=n.resp, socket_timeout=5) for n in nodes]
        # 15 KB: under the stream threshold (16 KB), in one datagram;
        # the 20 KB one goes over the stream channel (TCP)
        values = {"doc:json": json_doc(15000, rng), "doc:html": html_page(12000, rng),
                  "doc:random": rng.randbytes(6000), "doc:json20": json_doc(20000, rng)}
        for k, v in values.items():
            ct.check(clients[0].set(k, v) is True, f"SET {k} ({len(v)} bytes) at z0")
        for i in (1, 2):
            for k, v in values.items():
                ok = ct.wait_until(lambda: clients[i].get(k) == v, 10)
                ct.check(ok, f"{k} read back identical at z{i}")

        # the shards publish their stats every 100 ms
        def st(i):
            return ct.stats(nodes[i].resp)
        # every datagram is out once the values are read back; the
        # stats (published every 100 ms) say so soon after
        ct.wait_until(lambda: st(0)["compressed_datagrams"] > 0 and
                      st(0)["compress_skipped"] > 0 and
                      st(2)["decompressed_datagrams"] > 0, 5)
        ct.check(st(0)["compressed_datagrams"] > 0,
                 f"z0 sent compressed datagrams ({st(0)['compressed_datagrams']})")
        s0 = st(0)
        ratio = float(s0["compression_ratio"])
        ct.check(ratio > 1.5, f"z0 compression_ratio {ratio} > 1.5")
        ct.check(s0["compress_in_bytes"] > s0["compress_out_bytes"] > 0,
                 f"z0 compressed {s0['compress_in_bytes']} -> {s0['compress_out_bytes']} bytes")
        ct.check(s0["compress_skipped"] > 0,
                 f"z0 tried and skipped the random value ({s0['compress_skipped']})")
        ct.check(s0["compress_ns"] > 0, f"z0 counted the CPU ({s0['compress_ns']} ns)")
        s2 = st(2)
        ct.check(s2["compressed_datagrams"] == 0 and s2["compress_skipped"] == 0,
                 "z2 (off) sent nothing compressed, tried nothing")
        ct.check(s2["decompressed_datagrams"] > 0,
                 f"z2 (off) inflated what it got ({s2['decompressed_datagrams']})")
        ct.check(all(st(i)["decompress_errors"] == 0 for i in range(3)),
                 "no frame refused anywhere")
        ct.check(clients[0].config_get("compress-threshold") == {"compress-threshold": "512"},
                 f"CONFIG GET compress-threshold at z0: {clients[0].config_get('compress-threshold')}")
        ct.check(clients[2].config_get("compress-threshold") == {"compress-threshold": "off"},
                 f"CONFIG GET compress-threshold at z2: {clients[2].config_get('compress-threshold')}")
        # CONFIG SET: the shards take it at their next publish (100 ms)
        ct.check(clients[0].config_set("compress-threshold", "off") is True,
                 "CONFIG SET compress-threshold off at z0")
        ct.check(clients[0].config_get("compress-threshold") == {"compress-threshold": "off"},
                 "CONFIG GET shows it off")
        time.sleep(0.3)
        before = st(0)["compressed_datagrams"]
        v2 = html_page(10000, rng)
        clients[0].set("doc:off", v2)
        ok = ct.wait_until(lambda: clients[1].get("doc:off") == v2, 10)
        time.sleep(0.3)
        ct.check(ok and st(0)["compressed_datagrams"] == before,
                 f"with it off, z0 sends a 10 KB page raw ({before} -> "
                 f"{st(0)['compressed_datagrams']} compressed)")
        ct.check(clients[0].config_set("compress-threshold", "512") is True,
                 "CONFIG SET compress-threshold 512 at z0")
        time.sleep(0.3)
        v3 = html_page(10000, rng)
        clients[0].set("doc:on", v3)
        ok = ct.wait_until(lambda: clients[1].get("doc:on") == v3, 10)
        ct.check(ok and ct.wait_until(lambda: st(0)["compressed_datagrams"] > before, 5),
                 f"on again, it is compressed ({st(0)['compressed_datagrams']})")
        try:
            clients[0].config_set("compress-threshold", "lots")
            refused = False
        except redis.ResponseError:
            refused = True
        ct.check(refused, "CONFIG SET compress-threshold lots is refused")
        info = clients[0].info("stats")
        ct.check(float(info.get("compression_ratio", 0)) > 1.5,
                 f"INFO compression_ratio {info.get('compression_ratio')}")
        for c in clients:
            c.close()
    finally:
        ct.stop_all(nodes)
    bad = subprocess.run([ct.BIN, "--compress-threshold", "lots"], capture_output=True,
                         text=True, timeout=10)
    ct.check(bad.returncode != 0 and "--compress-threshold" in bad.stderr,
             f"a bad --compress-threshold is refused ({bad.stderr.strip()!r})")


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    ct.BIN = sys.argv[1]
    skipped = False
    try:
        test_compress()
    except SystemExit as e:
        if e.code != 77:
            raise
        skipped = True
    except Exception as e:  # a test that blew up is a failure
        ct.check(False, f"compress: {type(e).__name__}: {e}")
    finally:
        for p in ct.PROCS:
            if p.poll() is None:
                p.kill()
    print(f"{ct.PASSED} passed, {ct.FAILED} failed")
    if ct.FAILED:
        return 1
    return 77 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
