#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""metrics_test.py GRAPEVINED - /metrics with a real daemon.

One daemon with --metrics and some keys written. Its /metrics must pass
`promtool check metrics` with no output; every GV.STATS counter that has a
Prometheus name must appear there with the same value, and INFO must still
parse. Then the stall check: scrapers that send one byte and then nothing,
or never read their response, are opened while 200 PINGs and SETs run, and
every reply must come within 150 ms; the silent scrapers are closed at
their deadline (metrics_timeouts) and more than 16 at once are refused
(metrics_refused). Exits 77 when promtool cannot be found (PROMTOOL, PATH,
/opt/grapevine-promtool, /tmp/prom from `apt-get download prometheus`).
"""
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cluster_test as ct  # noqa: E402

# GV.STATS name -> its /metrics series (counters.h: the same rows)
PROM = {
    "keys": "grapevine_keys",
    "tombstones": "grapevine_tombstones",
    "used_memory": "grapevine_memory_used_bytes",
    "members_alive": 'grapevine_members{state="alive"}',
    "members_suspect": 'grapevine_members{state="suspect"}',
    "members_dead": 'grapevine_members{state="dead"}',
    "members_left": 'grapevine_members{state="left"}',
    "partitioned": "grapevine_partitioned",
    "datagrams_in": "grapevine_datagrams_in_total",
    "datagrams_out": "grapevine_datagrams_out_total",
    "datagrams_bad": "grapevine_datagrams_bad_total",
    "datagrams_foreign": "grapevine_datagrams_foreign_total",
    "bytes_in": "grapevine_received_bytes_total",
    "bytes_out": "grapevine_sent_bytes_total",
    "updates_local": "grapevine_updates_local_total",
    "updates_sent": "grapevine_updates_sent_total",
    "updates_received": "grapevine_updates_received_total",
    "updates_applied": "grapevine_updates_applied_total",
    "updates_duplicate": "grapevine_updates_duplicate_total",
    "updates_stale": "grapevine_updates_stale_total",
    "updates_refused": "grapevine_updates_refused_total",
    "ae_sessions": "grapevine_ae_sessions_total",
    "ae_bytes_out": "grapevine_ae_sent_bytes_total",
    "probes": "grapevine_probes_total",
    "probe_fails": "grapevine_probe_failures_total",
    "suspicions": "grapevine_suspicions_total",
    "refutes": "grapevine_refutes_total",
    "tombstones_purged": "grapevine_tombstones_purged_total",
    "joins_refused": "grapevine_joins_refused_total",
    "auth_clear": 'grapevine_auth_dropped_total{reason="clear"}',
    "auth_no_keyring": 'grapevine_auth_dropped_total{reason="no_keyring"}',
    "auth_unknown_key": 'grapevine_auth_dropped_total{reason="unknown_key"}',
    "auth_failed": 'grapevine_auth_dropped_total{reason="failed"}',
    "auth_replayed": 'grapevine_auth_dropped_total{reason="replayed"}',
    "auth_stale": 'grapevine_auth_dropped_total{reason="stale"}',
    "seal_errors": "grapevine_seal_errors_total",
    "keyring_changes": "grapevine_keyring_changes_total",
    "keyring_keys": "grapevine_keyring_keys",
    "outbox_drops": "grapevine_outbox_drops_total",
    "flood_drops": "grapevine_flood_drops_total",
    "rumor_drops": "grapevine_rumor_drops_total",
    "busy_replies": "grapevine_busy_replies_total",
    "replies_held": "grapevine_replies_held_total",
    "hook_events_dropped": "grapevine_hook_events_dropped_total",
    "member_msgs_dropped": "grapevine_member_msgs_dropped_total",
    "paused_clients": "grapevine_paused_clients",
    "client_read_pauses": "grapevine_client_read_pauses_total",
    "client_output_disconnects": "grapevine_client_output_disconnects_total",
    "client_input_disconnects": "grapevine_client_input_disconnects_total",
    "metrics_refused": "grapevine_metrics_refused_total",
    "metrics_timeouts": "grapevine_metrics_timeouts_total",
    "expired_keys": "grapevine_expired_keys_total",
    "counter_incrs": "grapevine_increments_total",
    "counter_joins": "grapevine_crdt_joins_total",
    "flushes": "grapevine_flushes_total",
    "flushed_entries": "grapevine_flushed_entries_total",
    "flushed_updates": "grapevine_flushed_updates_total",
    "nx_conflicts": "grapevine_nx_conflicts_total",
    "reqs_held": "grapevine_reqs_held_total",
    "oom_refused": "grapevine_oom_refused_total",
    "execs": "grapevine_execs_total",
    "exec_aborts": "grapevine_exec_aborts_total",
    "watch_aborts": "grapevine_watch_aborts_total",
    "watch_late": "grapevine_watch_late_total",
    "stream_values_in": 'grapevine_stream_values_total{dir="in"}',
    "stream_values_out": 'grapevine_stream_values_total{dir="out"}',
    "stream_value_bytes_in": 'grapevine_stream_value_bytes_total{dir="in"}',
    "stream_value_bytes_out": 'grapevine_stream_value_bytes_total{dir="out"}',
    "stream_fetches": 'grapevine_stream_fetches_total{outcome="started"}',
    "stream_fetch_retries": 'grapevine_stream_fetches_total{outcome="retried"}',
    "stream_fetch_failed": 'grapevine_stream_fetches_total{outcome="failed"}',
    "stream_fetch_drops": 'grapevine_stream_fetches_total{outcome="dropped"}',
    "stream_timeouts": "grapevine_stream_timeouts_total",
    "stream_bad": "grapevine_stream_bad_total",
    "stream_refused": "grapevine_stream_refused_total",
    "stream_blocked": "grapevine_stream_blocked_total",
    "stream_stalls": "grapevine_stream_stalls_total",
    "stream_bytes_in": 'grapevine_stream_bytes_total{dir="in"}',
    "stream_bytes_out": 'grapevine_stream_bytes_total{dir="out"}',
    "stream_conns": "grapevine_stream_connections",
    "stream_queued_bytes": "grapevine_stream_queued_bytes",
    "stream_conns_refused": "grapevine_stream_conns_refused_total",
    "stream_auth_failed": "grapevine_stream_auth_failed_total",
    "stream_connect_failed": "grapevine_stream_connect_failed_total",
    "type_conflicts": "grapevine_type_conflicts_total",
    "hash_fields_killed": "grapevine_hash_fields_killed_total",
    "hash_refused": "grapevine_hash_refused_total",
    "compressed_datagrams": "grapevine_compressed_datagrams_total",
    "compress_in_bytes": 'grapevine_compress_bytes_total{stage="raw"}',
    "compress_out_bytes": 'grapevine_compress_bytes_total{stage="compressed"}',
    "compress_skipped": "grapevine_compress_skipped_total",
    "decompressed_datagrams": "grapevine_decompressed_datagrams_total",
    "decompress_errors": "grapevine_decompress_errors_total",
    "stream_chunks_zipped": 'grapevine_stream_chunks_compressed_total{dir="out"}',
    "stream_chunks_unzipped": 'grapevine_stream_chunks_compressed_total{dir="in"}',
    "stream_cancels": "grapevine_stream_cancels_total",
    "frontend_local": 'grapevine_frontend_commands_total{path="local"}',
    "frontend_hops": 'grapevine_frontend_commands_total{path="hop"}',
    "frontend_served": "grapevine_frontend_clients_served_total",
    "frontend_handed": "grapevine_frontend_clients_handed_total",
    "tree_ihave_out": "grapevine_tree_ihave_out_total",
    "tree_ihave_in": "grapevine_tree_ihave_in_total",
    "tree_grafts_out": "grapevine_tree_grafts_out_total",
    "tree_graft_drops": "grapevine_tree_graft_drops_total",
    "tree_ann_drops": "grapevine_tree_ann_drops_total",
}
# in GV.STATS, not in /metrics (INFO's conflicts is their sum there)
STATS_ONLY = {"conflicts_applied", "conflicts_lost",
              # /metrics has them as grapevine_compress_cpu_seconds_total
              # and grapevine_compression_ratio (floats, checked below)
              "compress_ns", "decompress_ns", "compression_ratio"}
# in /metrics, not in GV.STATS
PROM_ONLY = {"grapevine_connections_total", "grapevine_commands_total",
             "grapevine_connected_clients", "grapevine_updates_conflict_total",
             "grapevine_compression_ratio",
             'grapevine_compress_cpu_seconds_total{op="compress"}',
             'grapevine_compress_cpu_seconds_total{op="decompress"}'}
HIST = "grapevine_propagation_delay_seconds"
# the GV.STATS names before the counter table, in their order: kept
OLD_STATS = [
    "keys", "tombstones", "used_memory", "members_alive", "members_suspect",
    "members_dead", "members_left", "partitioned", "datagrams_in",
    "datagrams_out", "datagrams_bad", "datagrams_foreign", "bytes_in",
    "bytes_out", "updates_local", "updates_sent", "updates_received",
    "updates_applied", "updates_duplicate", "updates_stale",
    "updates_refused", "conflicts_applied", "conflicts_lost", "ae_sessions",
    "ae_bytes_out", "probes", "probe_fails", "suspicions", "refutes",
    "tombstones_purged", "joins_refused", "auth_clear", "auth_no_keyring",
    "auth_unknown_key", "auth_failed", "auth_replayed", "auth_stale",
    "seal_errors", "keyring_changes", "keyring_keys", "outbox_drops",
    "flood_drops", "rumor_drops", "busy_replies", "replies_held",
    "hook_events_dropped", "member_msgs_dropped", "paused_clients",
    "client_read_pauses", "client_output_disconnects",
    "client_input_disconnects",
]
# the INFO fields before the counter table: kept (numbers unless noted)
OLD_INFO = {
    "grapevine_version": str, "redis_version": str, "process_id": int,
    "tcp_port": int, "uptime_in_seconds": int, "gossip_addr": str,
    "shards": int, "io_backend": str, "allocator": str, "node_name": str,
    "connected_clients": int, "client_output_limit": int,
    "paused_clients": int, "client_read_pauses": int,
    "client_output_disconnects": int, "client_input_disconnects": int,
    "used_memory": int, "maxmemory": int, "total_connections_received": int,
    "total_commands_processed": int, "datagrams_in": int,
    "datagrams_out": int, "datagrams_bad": int, "busy_replies": int,
    "replies_held": int, "hook_events_dropped": int,
    "member_msgs_dropped": int, "outbox_drops": int, "flood_drops": int,
    "rumor_drops": int, "role": str, "members_alive": int,
    "members_suspect": int, "members_dead": int, "members_left": int,
    "updates_sent": int, "updates_received": int, "updates_applied": int,
    "updates_dropped": int, "updates_duplicate": int, "updates_stale": int,
    "conflicts": int, "partitioned": int, "reach": float,
    "ae_sessions": int, "tombstones": int, "db0": str,
}
DEADLINE_S = 5  # metrics_http.c: METRICS_DEADLINE_US
MAX_CONNS = 16  # metrics_http.c: METRICS_CONNS
REPLY_BOUND_S = 0.150


def find_promtool():
    for p in (os.environ.get("PROMTOOL"), shutil.which("promtool"),
              "/opt/grapevine-promtool/promtool", "/tmp/prom/usr/bin/promtool"):
        if p and os.access(p, os.X_OK):
            return p
    return None


def scrape(port, path="/metrics"):
    """(status line, headers, body) of one GET."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    return lines[0], headers, body.decode()


def samples(body):
    """{'name{labels}': value} of every sample line."""
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


def gv_stats_list(port):
    r = ct.Resp(port)
    try:
        v = r.cmd("GV.STATS")
    finally:
        r.close()
    return [v[i].decode() for i in range(0, len(v), 2)], \
        {v[i].decode(): v[i + 1] for i in range(0, len(v), 2)}


def closed_within(s, timeout):
    """Whether the peer closes s within timeout (EOF or reset)."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_metrics(promtool):
    base_g = ct.free_port_block(10)
    base_r = ct.free_port_block(2, udp=False)
    mport = base_r + 1
    node = ct.Node(base_g, base_r, 2, extra=("--metrics", f"127.0.0.1:{mport}"),
                   name="m0").start()
    opened = []
    try:
        r = node.r()
        for i in range(100):
            r.cmd("SET", f"k{i}", f"v{i}")
        r.cmd("DEL", "k0")
        # the shards publish their stats every 100 ms
        ct.check(ct.wait_until(lambda: ct.stats(node.resp)["keys"] == 99, 5),
                 "GV.STATS keys: 99 after 100 SETs and a DEL")

        status, headers, body = scrape(mport)
        ct.check(status.startswith("HTTP/1.1 200"), f"/metrics answers 200 ({status})")
        ct.check(headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
                 "Content-Type text/plain; version=0.0.4")
        ct.check(int(headers.get("content-length", -1)) == len(body.encode()),
                 "Content-Length is the body's")
        p = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                           text=True, timeout=30)
        out = (p.stdout + p.stderr).strip()
        ct.check(p.returncode == 0 and not out,
                 f"promtool check metrics: exit {p.returncode}, output {out!r}")
        ct.check(f'{HIST}_bucket{{le="0.0005"}}' in body and f'{HIST}_bucket{{le="5"}}' in body
                 and "_delay_ms" not in body, f"{HIST}: buckets in seconds, 0.0005 to 5")
        status404, _, _ = scrape(mport, "/other")
        ct.check(status404.startswith("HTTP/1.1 404"), f"another path: 404 ({status404})")

        # GV.STATS and /metrics from the same rows; the table only
        # appends to GV.STATS
        names, _ = gv_stats_list(node.resp)
        ct.check(names[:len(OLD_STATS)] == OLD_STATS,
                 "GV.STATS keeps its names and their order")
        ct.check(set(names) == set(PROM) | STATS_ONLY,
                 f"GV.STATS names are those the test knows ({sorted(set(names) ^ (set(PROM) | STATS_ONLY))})")
        _, before = gv_stats_list(node.resp)
        m = samples(scrape(mport)[2])
        _, after = gv_stats_list(node.resp)
        bad = []
        for name, series in PROM.items():
            if series not in m:
                bad.append(f"{name}: no {series}")
            elif before[name] == after[name] and m[series] != before[name]:
                bad.append(f"{name} {before[name]} != {series} {m[series]}")
            elif not min(before[name], after[name]) <= m[series] <= max(before[name], after[name]):
                bad.append(f"{name} {before[name]}..{after[name]}, {series} {m[series]}")
        ct.check(not bad, "every GV.STATS counter with a Prometheus name has its value "
                 f"in /metrics ({bad})")
        ct.check(after["keys"] == 99 and m["grapevine_keys"] == 99, "keys: 99 in both")
        ratio = float(after["compression_ratio"])
        ct.check(ratio >= 1.0 and m["grapevine_compression_ratio"] >= 1.0,
                 f"compression_ratio: a float >= 1 in both ({ratio}, "
                 f"{m['grapevine_compression_ratio']})")
        zs = m['grapevine_compress_cpu_seconds_total{op="compress"}']
        ct.check(abs(zs - after["compress_ns"] / 1e9) < 1.0 and zs >= 0,
                 f"compress CPU: {zs} s in /metrics, {after['compress_ns']} ns in GV.STATS")
        known = set(PROM.values()) | PROM_ONLY
        extra = [k for k in m if k not in known and not k.startswith(HIST + "_")]
        ct.check(not extra, f"no /metrics series the test does not know ({extra})")

        info = ct.info_fields(node.resp)
        bad = [k for k, t in OLD_INFO.items() if k not in info]
        for k, t in OLD_INFO.items():
            if k in info:
                try:
                    t(info[k])
                except ValueError:
                    bad.append(f"{k}={info[k]}")
        ct.check(not bad, f"INFO keeps its fields, and they parse ({bad})")
        ct.check(info.get("db0", "").startswith("keys=99,"), f"INFO db0: {info.get('db0')}")
        ct.check(int(info.get("updates_dropped", -1)) == after["updates_refused"],
                 "INFO updates_dropped is GV.STATS updates_refused")

        # the stall check: scrapers that trickle or never read, opened
        # while commands run; every reply within the bound
        silent = []
        unread = []
        worst = 0.0
        late = 0
        for i in range(200):
            if i % 20 == 0:
                s = socket.create_connection(("127.0.0.1", mport), timeout=5)
                s.sendall(b"G")
                silent.append(s)
                u = socket.create_connection(("127.0.0.1", mport), timeout=5)
                u.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                u.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                unread.append(u)
            t0 = time.monotonic()
            rep = r.cmd("PING") if i % 2 else r.cmd("SET", f"s{i}", "x" * 100)
            dt = time.monotonic() - t0
            worst = max(worst, dt)
            late += dt > REPLY_BOUND_S or rep not in ("PONG", "OK")
        opened += silent + unread
        ct.check(late == 0, f"200 PINGs/SETs with {len(silent)} silent and {len(unread)} "
                 f"unread scrapers open: {late} late or wrong, worst {worst * 1000:.1f} ms")
        t0 = time.monotonic()
        ok = all(closed_within(s, max(0.1, DEADLINE_S + 3 - (time.monotonic() - t0)))
                 for s in silent)
        ct.check(ok, f"the silent scrapers are closed at the deadline "
                 f"({time.monotonic() - t0:.1f} s after the last opened, deadline {DEADLINE_S} s)")
        ok = all(closed_within(u, 3) for u in unread)
        ct.check(ok, "the scrapers that never read are closed")
        st = ct.stats(node.resp)
        ct.check(st["metrics_timeouts"] >= len(silent),
                 f"metrics_timeouts counts them ({st['metrics_timeouts']})")
        for s in silent + unread:
            s.close()

        # at most MAX_CONNS at once: the next is closed at once, counted
        hold = []
        for _ in range(MAX_CONNS):
            s = socket.create_connection(("127.0.0.1", mport), timeout=5)
            s.sendall(b"G")
            hold.append(s)
        opened += hold
        time.sleep(0.2)
        extra_s = socket.create_connection(("127.0.0.1", mport), timeout=5)
        opened.append(extra_s)
        ct.check(closed_within(extra_s, 2), f"scraper {MAX_CONNS + 1} is closed at once")
        st = ct.stats(node.resp)
        ct.check(st["metrics_refused"] >= 1, f"metrics_refused counts it ({st['metrics_refused']})")
        ct.check(r.cmd("PING") == "PONG", "RESP answers with the metrics slots full")
        for s in hold:
            s.close()
        ok = ct.wait_until(lambda: scrape(mport)[0].startswith("HTTP/1.1 200"), 5)
        ct.check(ok, "scrapes are served again once the slots are free")
        r.close()
    finally:
        for s in opened:
            s.close()
        ct.stop_all([node])


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    ct.BIN = sys.argv[1]
    promtool = find_promtool()
    if not promtool:
        print("skip: promtool not found (PROMTOOL, PATH, /opt/grapevine-promtool, "
              "/tmp/prom/usr/bin; tools/bootstrap.sh installs it)")
        return 77
    try:
        test_metrics(promtool)
    except Exception as e:  # a test that blew up is a failure
        ct.check(False, f"metrics: {type(e).__name__}: {e}")
    finally:
        for p in ct.PROCS:
            if p.poll() is None:
                p.kill()
    print(f"{ct.PASSED} passed, {ct.FAILED} failed")
    return 1 if ct.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
