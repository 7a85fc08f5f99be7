#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/bootstrap.sh - install, with apt, only what grapevine needs and this
# machine lacks. Idempotent: when everything is present it changes nothing
# and does not even run `apt-get update`.
#
#   tools/bootstrap.sh          install what is missing (needs root)
#   tools/bootstrap.sh --check  only list what is missing; exit 1 if any
set -euo pipefail

# Build: C toolchain, cmake, pkg-config. Libraries: io_uring, xxHash,
# mimalloc, cmocka, libsodium (authenticated gossip). Tools: hyperfine and
# gnuplot (benchmarks), python3 (summary table, integration tests),
# redis-tools, redis-server and python3-redis (RESP interop tests: the
# reference server and a real client), iproute2 and
# nftables (network-namespace tests), clang + compiler-rt (libFuzzer),
# valgrind and linux-perf (profiles, instruction counts), cppcheck (static
# checks). Node.js, npm and the npm clients ioredis and node-redis (the
# client matrix) are handled below the list.
PACKAGES=(
	gcc make libc6-dev cmake pkg-config
	liburing-dev libxxhash-dev libmimalloc-dev libcmocka-dev libsodium-dev libzstd-dev
	hyperfine gnuplot-nox redis-tools redis-server python3-redis iproute2
	nftables python3
	clang libclang-rt-14-dev valgrind linux-perf cppcheck
)

check_only=0
[ "${1:-}" = "--check" ] && check_only=1
ROOT=$(cd "$(dirname "$0")/.." && pwd)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*" installed") ;;
	*) missing+=("$p") ;;
	esac
done

# Node.js >= 18 and npm (the client matrix, tests/integration/clients_test.py):
# Debian's nodejs and npm, unless a node >= 18 and an npm are already there
# (e.g. a NodeSource nodejs, which provides npm and conflicts with Debian's).
node_ok() {
	local n v
	for n in /usr/bin/node "$(command -v node 2>/dev/null)"; do
		{ [ -n "$n" ] && [ -x "$n" ]; } || continue
		v=$("$n" --version 2>/dev/null) || continue
		v=${v#v}
		[ "${v%%.*}" -ge 18 ] 2>/dev/null && return 0
	done
	return 1
}
if ! node_ok; then
	missing+=(nodejs)
	command -v npm >/dev/null 2>&1 || missing+=(npm)
elif ! command -v npm >/dev/null 2>&1; then
	dpkg-query -W -f='${Provides}' nodejs 2>/dev/null | grep -qw npm || missing+=(npm)
fi

# The Node clients, at their latest versions from the npm registry
# (tests/clients/package.json), into tests/clients/node_modules (git-ignored,
# no lock file). Only when missing: no network when they are there. If npm
# or the registry cannot be reached this is a note, not a failure: the Node
# drivers then exit 77 and say why.
CLIENTS_DIR=$ROOT/tests/clients
need_clients=0
for m in ioredis redis; do
	[ -f "$CLIENTS_DIR/node_modules/$m/package.json" ] || need_clients=1
done

install_clients() {
	if ! command -v npm >/dev/null 2>&1; then
		echo "bootstrap: note: no npm: the ioredis and node-redis tests will skip" >&2
		return 0
	fi
	if timeout 180 npm install --prefix "$CLIENTS_DIR" --no-package-lock \
		--fetch-retries=1 --fetch-timeout=30000 \
		--no-audit --no-fund --loglevel=error >/dev/null 2>&1; then
		echo "bootstrap: installed ioredis $(npm_version ioredis)," \
			"redis (node-redis) $(npm_version redis) into tests/clients/node_modules"
	else
		echo "bootstrap: note: npm install failed (registry unreachable?):" \
			"the ioredis and node-redis tests will skip" >&2
	fi
	return 0
}

npm_version() {
	sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' \
		"$CLIENTS_DIR/node_modules/$1/package.json" 2>/dev/null | head -n 1
}

# promtool (the /metrics lint in integration_metrics) ships only inside
# Debian's prometheus package, whose dependencies are 330 MB of web-UI
# libraries: take the one binary out of the .deb instead (it needs only
# libc) and put it on PATH.
PROMTOOL_DIR=/opt/grapevine-promtool
need_promtool=0
command -v promtool >/dev/null 2>&1 || need_promtool=1

install_promtool() {
	local tmp
	tmp=$(mktemp -d)
	if (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1) &&
		dpkg -x "$tmp"/prometheus_*.deb "$tmp/x" &&
		install -D -m 755 "$tmp/x/usr/bin/promtool" \
			"$PROMTOOL_DIR/promtool" &&
		ln -sf "$PROMTOOL_DIR/promtool" /usr/local/bin/promtool; then
		echo "bootstrap: installed promtool (from Debian's prometheus package)"
	else
		echo "bootstrap: could not get promtool; integration_metrics will skip" >&2
	fi
	rm -rf "$tmp"
}

if [ ${#missing[@]} -eq 0 ] && [ $need_promtool -eq 0 ] && [ $need_clients -eq 0 ]; then
	echo "bootstrap: all ${#PACKAGES[@]} packages, node and the Node clients present"
	exit 0
fi
if [ $check_only -eq 1 ]; then
	what=("${missing[@]}")
	[ $need_promtool -eq 1 ] && what+=(promtool)
	[ $need_clients -eq 1 ] && what+=("npm:ioredis npm:redis")
	echo "bootstrap: missing: ${what[*]}"
	exit 1
fi
if [ ${#missing[@]} -eq 0 ] && [ $need_promtool -eq 0 ]; then
	install_clients # needs no root
	exit 0
fi
if [ ${#missing[@]} -eq 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "bootstrap: not root: cannot install promtool" >&2
	else
		apt-get update -qq
		install_promtool
	fi
	[ $need_clients -eq 1 ] && install_clients
	exit 0
fi

echo "bootstrap: missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "bootstrap: not root; install them with:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
	echo "  (or run: sudo tools/bootstrap.sh)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "bootstrap: installed ${missing[*]}"
# Debian's redis-server package starts a server on 6379: the tests start
# their own, so stop it (no init system in CI containers: best effort).
if [[ " ${missing[*]} " == *" redis-server "* ]]; then
	(service redis-server stop || pkill -x redis-server) >/dev/null 2>&1 || true
fi
[ $need_promtool -eq 1 ] && install_promtool
[ $need_clients -eq 1 ] && install_clients
exit 0
