#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/bench/check_cache_json.sh GVBENCH GRAPEVINED - smoke test of
# `gvbench cache`, checking the measurement, never its speed:
#  - a tiny run (N = 1 and 2, pipelines 1 and 4, 4 connections, 1 s steps,
#    one open-loop rate) against grapevined and, when redis-server is on
#    PATH, a Redis master and replica: python3 checks every JSON line's
#    form and consistency (ops/s > 0, ordered percentiles, lag present at
#    N = 2 and null at N = 1, offered = rate x the max step's ops/s,
#    nothing lost, both systems present and compared);
#  - without redis-server on PATH the Redis half is skipped with a
#    message and the grapevined half still runs (exit 0); asked for Redis
#    alone, it exits 77;
#  - --plot writes a PNG when gnuplot is there;
#  - --appendfsync always runs grapevined with --dir, and says so;
#  - usage errors exit 2.
# Exits 77 (skipped) without python3.
set -euo pipefail

bin=${1:?usage: check_cache_json.sh path/to/gvbench path/to/grapevined}
gvd=${2:?usage: check_cache_json.sh path/to/gvbench path/to/grapevined}
command -v python3 >/dev/null || { echo "python3 not found (tools/bootstrap.sh installs it): skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json=$tmp/cache.jsonl

have_redis=0
command -v redis-server >/dev/null && have_redis=1
[ $have_redis -eq 1 ] || echo "redis-server not found: the Redis half is not checked"
plot_args=()
if command -v gnuplot >/dev/null; then
	plot_args=(--plot "$tmp/lag")
else
	echo "gnuplot not found (package gnuplot-nox): the PNG check is skipped"
fi

"$bin" cache --grapevined "$gvd" --nodes 1,2 --seconds 1 --warmup 0.2 \
	--pipeline 1,4 --conns 4 --keys 400 --rates 0.5 --lag-samples 200 \
	--json "$json" "${plot_args[@]}" >"$tmp/run.txt"
cat "$tmp/run.txt"
if [ ${#plot_args[@]} -gt 0 ]; then
	for p in 1 4; do
		f=$tmp/lag-n2-p$p.png
		if [ ! -s "$f" ] || [ "$(head -c 4 "$f" | tail -c 3)" != PNG ]; then
			echo "FAIL: --plot wrote no PNG $f"
			exit 1
		fi
	done
	echo "ok: --plot wrote 2 PNGs"
fi

# No redis-server on PATH: the message, grapevined alone, exit 0; Redis
# alone: exit 77.
rc=0
PATH=/nonexistent "$bin" cache --grapevined "$gvd" --nodes 1 --seconds 0.3 \
	--warmup 0 --pipeline 1 --conns 2 --keys 10 --rates 0.5 \
	--json "$tmp/noredis.jsonl" >"$tmp/noredis.txt" 2>"$tmp/noredis.err" || rc=$?
if [ $rc -ne 0 ] || ! grep -q "redis-server not found: the Redis half is skipped" "$tmp/noredis.err" ||
	grep -q '"system":"redis"' "$tmp/noredis.jsonl" ||
	[ "$(grep -c '"system":"grapevined"' "$tmp/noredis.jsonl")" -ne 2 ]; then
	echo "FAIL: without redis-server: exit $rc, stderr:"
	cat "$tmp/noredis.err"
	exit 1
fi
rc=0
# --appendfsync: grapevined with --dir (the run's directory); the JSON
# says which policy, and the step still loses nothing
"$bin" cache --grapevined "$gvd" --systems grapevined --nodes 1 \
	--seconds 0.3 --warmup 0 --pipeline 4 --conns 2 --keys 10 --rates 0.5 \
	--appendfsync always --json "$tmp/fsync.jsonl" >"$tmp/fsync.txt"
python3 - "$tmp/fsync.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert recs and all(r.get("appendfsync") == "always" for r in recs), recs
assert all(r.get("lost", 0) == 0 for r in recs), recs
print("ok: --appendfsync always: %d JSON lines say so, nothing lost" % len(recs))
PY
PATH=/nonexistent "$bin" cache --systems redis >/dev/null 2>&1 || rc=$?
[ $rc -eq 77 ] || { echo "FAIL: --systems redis without redis-server exited $rc, expected 77"; exit 1; }
echo "ok: without redis-server the Redis half is skipped"

# Usage errors exit 2.
for args in "--nodes 0" "--nodes 1,x" "--nodes 33" "--systems memcached" \
	"--conns 4 --keys 2" "--get-ratio 2" "--value-size 8" "--rates 0" \
	"--pipeline 0" "--seconds 0" "--bogus" "--appendfsync sometimes"; do
	rc=0
	# shellcheck disable=SC2086 # word splitting wanted
	"$bin" cache --grapevined "$gvd" $args >/dev/null 2>&1 || rc=$?
	if [ "$rc" -ne 2 ]; then
		echo "FAIL: gvbench cache $args exited $rc, expected 2"
		exit 1
	fi
done

python3 - "$json" "$have_redis" <<'PY'
import json, sys

path, have_redis = sys.argv[1], sys.argv[2] == "1"
fails = []
lines = [json.loads(x) for x in open(path).read().splitlines()]
steps = [r for r in lines if r.get("system") in ("grapevined", "redis")]
comps = [r for r in lines if r.get("system") == "compare"]
systems = ["grapevined", "redis"] if have_redis else ["grapevined"]
want = {(s, n, p, rate) for s in systems for n in (1, 2) for p in (1, 4)
        for rate in ("max", 0.5)}
got = [(r["system"], r["nodes"], r["pipeline"], r["rate"]) for r in steps]
if sorted(map(str, got)) != sorted(map(str, want)):
    fails.append(f"steps {sorted(got, key=str)}, expected {sorted(want, key=str)}")

def close(a, b, rel=1e-3):
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-9)

need = ["bench", "version", "system", "system_version", "nodes", "threads",
        "shards", "conns", "pipeline", "get_ratio", "value_size", "keys",
        "rate", "offered_ops", "ops_per_s", "set_per_s", "get_per_s",
        "get_hits", "errors", "latency_ms", "lag_ms", "lag_from",
        "lag_writes", "lag_samples", "lag_timeouts", "poll_us", "lost",
        "check_s", "max_late_ms", "seconds", "elapsed_s", "allocator",
        "machine"]
maxes = {}
for r in steps:
    if r["rate"] == "max":
        maxes[(r["system"], r["nodes"], r["pipeline"])] = r["ops_per_s"]
for r in steps:
    where = f"{r.get('system')} N={r.get('nodes')} P={r.get('pipeline')} rate {r.get('rate')}"
    def check(cond, what):
        if not cond:
            fails.append(f"{where}: {what}")
    missing = [k for k in need if k not in r]
    check(not missing, f"missing fields {missing}")
    if missing:
        continue
    check(r["bench"] == "cache", "bench != cache")
    check(r["conns"] == 4 and r["keys"] == 400 and r["value_size"] == 100
          and r["get_ratio"] == 0.5 and r["seconds"] == 1, "parameters")
    if r["system"] == "grapevined":
        check(r["threads"] >= 1 and r["shards"] >= 1, "threads/shards")
    else:
        check(r["threads"] is None and r["shards"] is None,
              "redis has no threads/shards")
        check(r["system_version"].count(".") == 2, "redis version")
    check(r["ops_per_s"] > 0, "ops_per_s not positive")
    check(close(r["set_per_s"] + r["get_per_s"], r["ops_per_s"]),
          "set_per_s + get_per_s != ops_per_s")
    check(r["set_per_s"] > 0 and r["get_per_s"] > 0, "the mix has both")
    check(r["errors"] == 0, f"errors {r['errors']}")
    check(r["elapsed_s"] >= r["seconds"] * 0.99, "elapsed_s < seconds")
    lat = r["latency_ms"]
    check(0 < lat["p50"] <= lat["p99"] <= lat["p999"] <= lat["max"],
          f"latency_ms not ordered: {lat}")
    if r["rate"] == "max":
        check(r["offered_ops"] is None and r["max_late_ms"] is None,
              "a closed-loop step has no offered rate")
    else:
        m = maxes.get((r["system"], r["nodes"], r["pipeline"]))
        check(m is not None and close(r["offered_ops"], r["rate"] * m),
              f"offered_ops {r['offered_ops']} != rate x max {m}")
        check(r["max_late_ms"] >= 0, "max_late_ms")
        # an open-loop step sends only what falls due in its window (it
        # may carry less: the machine is not checked for speed)
        check(0 < r["ops_per_s"] <= 1.05 * r["offered_ops"],
              f"ops_per_s {r['ops_per_s']} above offered {r['offered_ops']}")
    check(r["lag_from"] == "ack", "lag_from")
    lag = r["lag_ms"]
    if r["nodes"] == 1:
        check(lag is None and r["lag_writes"] == 0 and r["lag_samples"] == 0,
              "N=1 has no lag")
    else:
        check(lag is not None and r["lag_samples"] > 0, "N=2 has lag")
        if lag:
            check(0 <= lag["p50"] <= lag["p99"] <= lag["max"],
                  f"lag_ms not ordered: {lag}")
        check(0 < r["lag_writes"] <= 200, f"lag_writes {r['lag_writes']}")
        check(r["lag_samples"] + r["lag_timeouts"]
              == r["lag_writes"] * (r["nodes"] - 1),
              "lag_samples + lag_timeouts != lag_writes x (N - 1)")
    check(r["lost"] == 0, f"lost {r['lost']}")
    check(r["check_s"] >= 0, "check_s")
    m = r["machine"]
    check(isinstance(m.get("cores"), int) and m["cores"] >= 1, "machine")
if have_redis:
    if len(comps) != 4:
        fails.append(f"{len(comps)} compare lines, expected 4")
    for c in comps:
        g = maxes.get(("grapevined", c["nodes"], c["pipeline"]))
        rd = maxes.get(("redis", c["nodes"], c["pipeline"]))
        if not (close(c["grapevined_ops"], g) and close(c["redis_ops"], rd)
                and close(c["ratio_ops"], g / rd) and c["lost"] == 0
                and c["half_rate"] == 0.5):
            fails.append(f"compare line inconsistent: {c}")
        h = c["lag_p99_half_ms"]
        if (h["grapevined"] is None) != (c["nodes"] == 1) or \
           (h["redis"] is None) != (c["nodes"] == 1):
            fails.append(f"compare lag at N={c['nodes']}: {h}")
elif comps:
    fails.append("compare lines without redis-server")
for f in fails:
    print("FAIL:", f)
if fails:
    sys.exit(1)
print(f"ok: {len(lines)} JSON lines consistent")
PY
