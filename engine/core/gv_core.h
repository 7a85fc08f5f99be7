/* SPDX-License-Identifier: MIT */
/*
 * gv_core.h - included first by every file of the sans-IO core (the build
 * force-includes it with -include, so no file can forget).
 *
 * The core never reads a clock, never draws randomness and never touches a
 * socket: time, randomness and bytes are passed in by the caller. This
 * header pulls in every system header the core may use and then poisons the
 * identifiers that would break that rule, so a slip fails at compile time
 * ("attempt to use poisoned"). tests/build checks that it does.
 *
 * It also holds the little helpers every core file shares: little-endian
 * loads and stores and the allocator shorthands.
 */
#ifndef GV_CORE_H
#define GV_CORE_H

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <grapevine/grapevine.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* libsodium (keyring.c): its headers use names poisoned below. */
#include <sodium/core.h>
#include <sodium/crypto_aead_aes256gcm.h>
#include <sodium/crypto_aead_xchacha20poly1305.h>
#include <sodium/crypto_generichash.h>
#include <sodium/utils.h>

/* zstd (compress.c): its context-with-allocator calls are in the
 * "static linking only" part of the header, exported by libzstd.so. */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "grapevine's core assumes a little-endian host (x86-64, aarch64)"
#endif

/* Clocks, sleeping, randomness and sockets are the caller's business. */
#pragma GCC poison time clock gettimeofday clock_gettime timespec_get
#pragma GCC poison nanosleep usleep sleep
#pragma GCC poison rand rand_r srand random srandom drand48 lrand48 getrandom
#pragma GCC poison arc4random
#pragma GCC poison socket bind connect accept listen send sendto sendmsg
#pragma GCC poison recv recvfrom recvmsg sendmmsg recvmmsg
#pragma GCC poison io_uring_submit io_uring_enter
#pragma GCC poison malloc calloc realloc free

#define GV_LIKELY(x) __builtin_expect(!!(x), 1)
#define GV_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GV_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation goes through the gv_mem the caller gave us. */
static inline void *
gv__alloc(const gv_mem *mem, size_t size)
{
	return mem->alloc(mem->ctx, size);
}

static inline void *
gv__zalloc(const gv_mem *mem, size_t size)
{
	void *p = mem->alloc(mem->ctx, size);
	if (p)
		memset(p, 0, size);
	return p;
}

static inline void
gv__free(const gv_mem *mem, void *ptr, size_t size)
{
	if (ptr)
		mem->dealloc(mem->ctx, ptr, size);
}

/* Little-endian loads and stores at any alignment. */
static inline uint16_t
gv__ld16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}
static inline uint32_t
gv__ld32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}
static inline uint64_t
gv__ld64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}
static inline void
gv__st16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}
static inline void
gv__st32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}
static inline void
gv__st64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* The key hash every module agrees on (store slot, merkle bucket, shard). */
static inline uint64_t
gv__key_hash(const void *key, size_t klen)
{
	return XXH3_64bits(key, klen);
}

#endif /* GV_CORE_H */
