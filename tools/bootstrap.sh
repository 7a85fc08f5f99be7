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
# redis-tools (RESP interop tests), iproute2 and
# nftables (network-namespace tests), clang + compiler-rt (libFuzzer),
# valgrind and linux-perf (profiles, instruction counts), cppcheck (static
# checks).
PACKAGES=(
	gcc make libc6-dev cmake pkg-config
	liburing-dev libxxhash-dev libmimalloc-dev libcmocka-dev libsodium-dev
	hyperfine gnuplot-nox redis-tools iproute2 nftables python3
	clang libclang-rt-14-dev valgrind linux-perf cppcheck
)

check_only=0
[ "${1:-}" = "--check" ] && check_only=1

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	*" installed") ;;
	*) missing+=("$p") ;;
	esac
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "bootstrap: all ${#PACKAGES[@]} packages present"
	exit 0
fi

echo "bootstrap: missing: ${missing[*]}"
if [ $check_only -eq 1 ]; then
	exit 1
fi
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
