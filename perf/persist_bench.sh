#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# perf/persist_bench.sh - what --dir costs: SET throughput of one
# grapevined (redis-benchmark -P 16 -c 50) without --dir and with each
# --appendfsync policy, interleaved over rounds; then, with KEYS keys
# loaded, the time of a BGSAVE, its longest slice on a shard's thread
# (INFO gv_snapshot_slice_max_us: the pause a client can see), the
# snapshot's bytes, and the time to load them at a restart. One JSON line
# per measurement ("bench":"persist"). docs/persistence.md has a run.
#
#   perf/persist_bench.sh [--rounds 3] [--requests 1000000] [--keys 1000000]
# GRAPEVINED=path picks the daemon (default build/release/tools/grapevined).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=3
n=1000000
keys=1000000
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--requests) n=$2; shift 2 ;;
	--keys) keys=$2; shift 2 ;;
	-h | --help) sed -n '3,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "persist_bench.sh: unknown option $1 (--help)" >&2; exit 2 ;;
	esac
done
gvd=${GRAPEVINED:-build/release/tools/grapevined}
command -v redis-benchmark >/dev/null || { echo "redis-benchmark not found (tools/bootstrap.sh installs it)" >&2; exit 77; }
[ -x "$gvd" ] || { cmake --preset release >/dev/null && cmake --build --preset release -j 2 --target grapevined >/dev/null; }
port=$(( 20000 + RANDOM % 20000 ))
gport=$(( port + 100 ))
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

start() { # start [flags...]
	"$gvd" --resp 127.0.0.1:$port --bind 127.0.0.1:$gport --shards 2 \
		--threads 1 "$@" >"$work/log" 2>&1 &
	pid=$!
	for _ in $(seq 1200); do
		redis-cli -p $port ping >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "grapevined did not start: $(tail -3 "$work/log")" >&2
	exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
info() { redis-cli -p $port info persistence | tr -d '\r' | awk -F: -v k="$1" '$1 == k {print $2}'; }
now_ms() { date +%s%3N; }

ops() { # SET ops/s
	redis-benchmark -p $port -P 16 -c 50 -r 100000 -n "$n" -t set -q 2>/dev/null |
		tr '\r' '\n' | awk '/requests per second/ {print $2}' | tail -1
}

for round in $(seq "$rounds"); do
	for policy in off no everysec always; do
		rm -rf "$work/d"
		if [ $policy = off ]; then start; else start --dir "$work/d" --appendfsync $policy --save ""; fi
		v=$(ops)
		stop
		echo "{\"bench\":\"persist\",\"what\":\"set_ops\",\"round\":$round,\"appendfsync\":\"$policy\",\"ops\":$v}"
	done
done

# a snapshot of KEYS keys, and loading it
rm -rf "$work/d"
start --dir "$work/d" --save ""
redis-benchmark -p $port -P 64 -c 20 -n "$keys" -r "$keys" -t set -d 64 -q >/dev/null 2>&1
dbs=$(redis-cli -p $port dbsize)
# a log rewrite the fill may have begun (64 MiB) ends first
while [ "$(info rdb_bgsave_in_progress)$(info aof_rewrite_in_progress)" != 00 ]; do sleep 0.05; done
t0=$(now_ms)
[ "$(redis-cli -p $port bgsave)" = "Background saving started" ] || { echo "BGSAVE refused" >&2; exit 1; }
while [ "$(info rdb_bgsave_in_progress)" != 0 ]; do sleep 0.01; done
t1=$(now_ms)
slice=$(info gv_snapshot_slice_max_us)
base=$(info aof_base_size)
echo "{\"bench\":\"persist\",\"what\":\"bgsave\",\"keys\":$dbs,\"ms\":$((t1 - t0)),\"slice_max_us\":$slice,\"bytes\":$base}"
stop
t0=$(now_ms)
start --dir "$work/d" --save ""
t1=$(now_ms)
echo "{\"bench\":\"persist\",\"what\":\"load\",\"keys\":$(redis-cli -p $port dbsize),\"load_ms\":$(info gv_load_ms),\"start_ms\":$((t1 - t0))}"
stop
