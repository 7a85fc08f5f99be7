/* SPDX-License-Identifier: MIT */
/*
 * dedup.h - a fixed-capacity set of recent 64-bit message ids, safe for
 * concurrent gv_dedup_insert() from several threads without locks.
 *
 * It is a sliding window of generations. Each generation is its own
 * open-addressing table of ids (linear probing, claimed by CAS); an id is
 * "present" if any live generation holds it. gv_dedup_advance() starts a new
 * generation and forgets the oldest one; a generation that fills up
 * (per_gen ids) advances the window by itself, so the set never blocks and
 * never grows. Ids inserted in the current generation are never forgotten
 * before ngens - 1 further advances.
 *
 * Memory: ngens tables of 2 * per_gen slots (rounded up to a power of two),
 * 8 bytes each, allocated once by gv_dedup_init().
 */
#ifndef GV_CORE_DEDUP_H
#define GV_CORE_DEDUP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <grapevine/grapevine.h>

#define GV_DEDUP_MAX_GENS 16

struct gv_dedup_gen;

typedef struct gv_dedup {
	const gv_mem *mem;
	struct gv_dedup_gen *gens; /* ngens tables */
	unsigned ngens;
	size_t per_gen;  /* ids a generation holds before it advances itself */
	size_t slots;    /* slots per table, power of two */
	unsigned shift;  /* 64 - log2(slots): home slot = mixed id >> shift */
	_Atomic uint64_t gen;      /* current generation number */
	_Atomic int advancing;     /* one thread recycles a table at a time */
	_Atomic uint64_t inserted; /* stats: ids newly inserted */
	_Atomic uint64_t hits;     /* stats: ids found present */
	_Atomic uint64_t advances; /* stats: generations started */
	_Atomic uint64_t overflow; /* stats: inserts that found no free slot */
} gv_dedup;

/*
 * gv_dedup_init - set up a set for per_gen ids per generation, ngens
 * generations (2..GV_DEDUP_MAX_GENS).
 * Returns 0, GV_EINVAL (per_gen == 0, ngens out of range) or GV_ENOMEM.
 */
int gv_dedup_init(gv_dedup *d, const gv_mem *mem, size_t per_gen,
		  unsigned ngens);

/* Free the tables. No thread may be using the set. */
void gv_dedup_fini(gv_dedup *d);

/*
 * gv_dedup_insert - insert id unless a live generation holds it.
 * Returns 1 if the id was absent (it is now recorded in the current
 * generation), 0 if it was already present. Lock-free; never blocks.
 * Any 64-bit value is a valid id, 0 included.
 */
int gv_dedup_insert(gv_dedup *d, uint64_t id);

/* Whether a live generation holds id. Lock-free. */
bool gv_dedup_contains(gv_dedup *d, uint64_t id);

/*
 * gv_dedup_advance - start a new generation; the oldest is forgotten.
 * Safe to call from any thread at any time; concurrent callers do not
 * block (if another thread is advancing, this call does nothing).
 * Returns true if this call advanced the window.
 */
bool gv_dedup_advance(gv_dedup *d);

#endif /* GV_CORE_DEDUP_H */
