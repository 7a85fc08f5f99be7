#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# perf/frontend_compare.sh - grapevined's RESP front end against
# redis-server on this machine, interleaved: each round runs redis-server,
# then grapevined --threads 1, then --threads 2 (2 shards each, one at a
# time on 127.0.0.1), with redis-benchmark -c 50 -r 100000 at -P 16 and
# -P 1, SET and GET; prints one JSON line per system, round, pipeline
# and command (ops/s and the server's CPU per command, utime + stime of
# its process over the run), then the medians as ratios to redis-server.
# docs/frontend.md has a run.
#
#   perf/frontend_compare.sh [--rounds 3] [--requests 1000000]
#                            [--systems "redis gvT1 gvT2"]
# GRAPEVINED=path picks the daemon (default build/release/tools/grapevined).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
n=1000000
systems="redis gvT1 gvT2"
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--requests) n=$2; shift 2 ;;
	--systems) systems=$2; shift 2 ;;
	-h | --help) sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "frontend_compare.sh: unknown option $1 (--help)" >&2; exit 2 ;;
	esac
done
gvd=${GRAPEVINED:-build/release/tools/grapevined}
for t in redis-server redis-benchmark; do
	command -v "$t" >/dev/null || { echo "$t not found (tools/bootstrap.sh installs it)" >&2; exit 77; }
done
[ -x "$gvd" ] || { cmake --preset release >/dev/null && cmake --build --preset release -j 2 --target grapevined >/dev/null; }
port=$(( 20000 + RANDOM % 20000 ))
tk=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for round in $(seq "$rounds"); do
	for sys in $systems; do
		case $sys in
		redis) redis-server --port "$port" --save '' --appendonly no >/dev/null & pid=$! ;;
		gvT*) "$gvd" --bind "127.0.0.1:$((port + 100))" --resp "127.0.0.1:$port" \
			--shards 2 --threads "${sys#gvT}" --log-level error & pid=$! ;;
		*) echo "frontend_compare.sh: unknown system $sys" >&2; exit 2 ;;
		esac
		for _ in $(seq 50); do
			redis-cli -p "$port" ping >/dev/null 2>&1 && break
			sleep 0.1
		done
		for p in 16 1; do
			req=$n
			[ "$p" = 1 ] && req=$((n / 5))
			for t in set get; do
				c0=$(cpu "$pid")
				ops=$(redis-benchmark -p "$port" -t "$t" -P "$p" -c 50 -r 100000 -n "$req" -q 2>&1 |
					tr '\r' '\n' | grep 'per second' | tail -1 | awk '{print $2}')
				c1=$(cpu "$pid")
				us=$(awk -v a="$c0" -v b="$c1" -v k="$tk" -v r="$req" 'BEGIN { printf "%.3f", (b - a) / k / r * 1e6 }')
				echo "{\"bench\":\"frontend\",\"round\":$round,\"system\":\"$sys\",\"pipeline\":$p,\"op\":\"$t\",\"ops\":$ops,\"server_us_per_op\":$us}" | tee -a "$out"
			done
		done
		kill "$pid"
		wait "$pid" 2>/dev/null || true
	done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = {}
for r in rows:
    med.setdefault((r["system"], r["pipeline"], r["op"]), []).append(r["ops"])
for (s, p, o), v in sorted(med.items()):
    red = med.get(("redis", p, o))
    ratio = statistics.median(v) / statistics.median(red) if red else float("nan")
    print(f"{s:6} -P {p:2} {o}: median {statistics.median(v):9.0f} ops/s, {ratio:.2f}x redis-server")
PY
