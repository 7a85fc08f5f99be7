/* SPDX-License-Identifier: MIT */
/*
 * rng.h - a small deterministic pseudo-random generator (xoshiro256**,
 * seeded through splitmix64). The core never draws randomness of its own:
 * the caller seeds one of these and hands it in, so a simulation replays
 * exactly from its seed. Not for cryptography.
 */
#ifndef GV_CORE_RNG_H
#define GV_CORE_RNG_H

#include <stdint.h>

typedef struct gv_rng {
	uint64_t s[4];
} gv_rng;

static inline uint64_t
gv_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static inline void
gv_rng_seed(gv_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = gv_splitmix64(&seed);
}

static inline uint64_t
gv_rng_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t
gv_rng_next(gv_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = gv_rng_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = gv_rng_rotl(s[3], 45);
	return out;
}

/* Uniform in [0, n), n > 0 (Lemire's multiply-shift; bias < n / 2^64). */
static inline uint64_t
gv_rng_below(gv_rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)gv_rng_next(r) * n) >> 64);
}

/* Uniform double in [0, 1). */
static inline double
gv_rng_double(gv_rng *r)
{
	return (double)(gv_rng_next(r) >> 11) * 0x1.0p-53;
}

#endif /* GV_CORE_RNG_H */
