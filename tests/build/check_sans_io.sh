#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves the core is sans-IO, two ways:
#  1. compiling a core-style file that calls a clock, randomness, a socket
#     or malloc fails with "poisoned" (gv_core.h force-included, as the
#     build does), while a clean file compiles;
#  2. the built libgv_core.a references no clock, random or socket symbol.
# usage: check_sans_io.sh CC SOURCE_DIR LIBGV_CORE [XXHASH_INCLUDEDIR]
set -u
cc=$1 src=$2 lib=$3 xxinc=${4:-/usr/include}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
flags=(-std=gnu11 -fsyntax-only -include "$src/engine/core/gv_core.h"
	-I"$src/include" -I"$src/engine" -I"$xxinc")

printf 'int f(void); int f(void) { return 1; }\n' >"$tmp/ok.c"
if ! "$cc" "${flags[@]}" "$tmp/ok.c" 2>"$tmp/err"; then
	echo "FAIL: a clean core file does not compile:"; cat "$tmp/err"; fail=1
fi

calls=('time(0)' 'clock()' 'clock_gettime(0, 0)' 'gettimeofday(0, 0)'
	'rand()' 'random()' 'getrandom(0, 0, 0)' 'socket(0, 0, 0)'
	'sendto(0, 0, 0, 0, 0, 0)' 'recvmsg(0, 0, 0)' 'malloc(1)'
	'nanosleep(0, 0)')
for c in "${calls[@]}"; do
	printf 'long f(void); long f(void) { return (long)%s; }\n' "$c" >"$tmp/bad.c"
	if "$cc" "${flags[@]}" "$tmp/bad.c" 2>"$tmp/err"; then
		echo "FAIL: core file calling $c compiled"; fail=1
	elif ! grep -q poisoned "$tmp/err"; then
		echo "FAIL: $c rejected, but not by the poison:"; cat "$tmp/err"; fail=1
	else
		echo "ok: $c is poisoned in the core"
	fi
done

bad_syms='^(time|clock|clock_gettime|gettimeofday|rand|random|srand|getrandom|socket|bind|connect|send|sendto|sendmsg|sendmmsg|recv|recvfrom|recvmsg|recvmmsg|io_uring_.*|nanosleep|usleep|sleep|pthread_.*)$'
undef=$(nm -u "$lib" | awk 'NF >= 2 {print $NF}' | sort -u)
hits=$(printf '%s\n' "$undef" | grep -E "$bad_syms" || true)
if [ -n "$hits" ]; then
	echo "FAIL: libgv_core.a references: $hits"; fail=1
else
	echo "ok: libgv_core.a references no clock, random, socket or thread symbol"
fi
echo "undefined symbols of libgv_core.a: $(printf '%s ' $undef)"
exit $fail
