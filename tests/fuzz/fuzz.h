/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - what the fuzz targets share. Each target defines
 * LLVMFuzzerTestOneInput; built with clang's -fsanitize=fuzzer by
 * tools/fuzz.sh, or with replay.c's main() (any compiler) so CTest runs
 * the checked-in corpus and every past crash under the sanitizers.
 */
#ifndef GV_TESTS_FUZZ_H
#define GV_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <xxhash.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Give a datagram a valid checksum (XXH3-64 of bytes [40, len) seeded with
 * XXH3-64 of bytes [0, 32), at offset 32), so the fuzzer explores the
 * records instead of stopping at the checksum. buf: len >= 40.
 */
static inline void
fuzz_fix_checksum(uint8_t *buf, size_t len)
{
	uint64_t seed = XXH3_64bits(buf, 32);
	uint64_t sum = XXH3_64bits_withSeed(buf + 40, len - 40, seed);
	for (int i = 0; i < 8; i++)
		buf[32 + i] = (uint8_t)(sum >> (8 * i));
}

#endif
