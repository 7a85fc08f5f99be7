/* SPDX-License-Identifier: MIT */
/*
 * dedup.c - the sliding window of recent message ids (see dedup.h).
 *
 * Generation g lives in table gens[g % ngens]; the live generations are g,
 * g - 1, ..., g - ngens + 1 (those that have existed). A slot holds an id or
 * 0 for "empty", so id 0 gets a flag of its own per table. Slots only ever
 * go from 0 to an id, by CAS, until the whole table is recycled, which is
 * what makes lock-free linear probing work: a probe that passed a slot
 * never needs to look at it again. gv_dedup_advance() recycles the table of
 * the oldest generation and then publishes the new generation number with a
 * release store, so an inserter that acquires the new number sees a clean
 * table. Only one thread recycles at a time (the `advancing` flag); the
 * others skip rather than wait.
 *
 * What this buys and what it does not, said plainly:
 *  - Within one generation the answer is exact: two threads inserting the
 *    same id race on the same slot's CAS (or the same zero flag) and exactly
 *    one of them gets 1.
 *  - Two threads inserting the same never-seen id at the very instant the
 *    window advances may both get 1: one lands in the old current table,
 *    the other, having loaded the new generation number, in the new one.
 *  - A thread that loaded the generation number ngens - 1 advances ago (it
 *    was descheduled) may still write into the table being recycled, or,
 *    once recycled, into the new generation. That is harmless: it only
 *    records an id that was really seen, at worst twice or where a probe
 *    cannot find it.
 *  - An insert that finds no free slot (more than slots / 2 inserts landed
 *    in one table while its advance was pending) returns 1 without
 *    recording the id, and counts it in `overflow`. The advance is
 *    "pending" while the thread holding `advancing` clears a table: if
 *    that thread is preempted, no generation can start until it runs
 *    again, though inserts go on. Rare with a sensible per_gen and an
 *    advance driven by a timer; an advancer spinning on an oversubscribed
 *    machine with a tiny per_gen does see it (test_dedup measures it).
 * The protocol uses this set as a fast filter in front of the store, whose
 * version check is the ground truth: a spurious "new" costs one redundant
 * merge, never a wrong state.
 */
#include "dedup.h"

struct gv_dedup_gen {
	_Atomic uint64_t *slot; /* d->slots ids, 0 = empty */
	/*
	 * New ids recorded in this table since it was recycled. Atomic
	 * because every inserter adds to it; the count only decides when a
	 * generation is full, so the increments are relaxed.
	 */
	_Atomic size_t count;
	/*
	 * Whether this table holds id 0 (which a slot cannot). Claimed by
	 * exchange so that two threads inserting 0 at once do not both see
	 * it as new.
	 */
	_Atomic bool has_zero;
};

enum walk_result { FOUND, ABSENT, FULL };

/*
 * Fibonacci hashing: the top bits of id * 2^64/phi. Sequential ids (tests,
 * counters) spread over the whole table instead of clustering.
 */
static inline size_t
home(const gv_dedup *d, uint64_t id)
{
	return (size_t)((id * UINT64_C(0x9E3779B97F4A7C15)) >> d->shift);
}

/*
 * Walk id's probe path in t from step *step: FOUND if a slot holds id,
 * ABSENT at the first empty slot (its step in *step), FULL if the whole
 * table was walked. id != 0.
 *
 * The loads are acquire, pairing with the inserting CAS (acq_rel): a
 * thread that finds id sees whatever the inserter did before inserting it,
 * so "insert returned 0" may be read as "someone recorded this id first
 * and finished what came before". The set itself would be correct with
 * relaxed loads; on x86-64 acquire costs nothing.
 */
static enum walk_result
walk(const gv_dedup *d, struct gv_dedup_gen *t, uint64_t id, size_t *step)
{
	size_t mask = d->slots - 1;
	size_t h = home(d, id);

	for (size_t n = *step; n < d->slots; n++) {
		uint64_t v = atomic_load_explicit(&t->slot[(h + n) & mask],
		                                  memory_order_acquire);
		if (v == id)
			return FOUND;
		if (v == 0) {
			*step = n;
			return ABSENT;
		}
	}
	return FULL;
}

static bool
table_has(const gv_dedup *d, struct gv_dedup_gen *t, uint64_t id)
{
	size_t step = 0;

	if (id == 0)
		return atomic_load_explicit(&t->has_zero, memory_order_acquire);
	return walk(d, t, id, &step) == FOUND;
}

/* Number of live generations when the current one is g. */
static inline unsigned
live_gens(const gv_dedup *d, uint64_t g)
{
	return g < d->ngens ? (unsigned)g + 1 : d->ngens;
}

/* Whether a generation older than g (and still live) holds id. */
static bool
older_has(const gv_dedup *d, uint64_t g, uint64_t id)
{
	unsigned live = live_gens(d, g);

	for (unsigned i = 1; i < live; i++)
		if (table_has(d, &d->gens[(g - i) % d->ngens], id))
			return true;
	return false;
}

/*
 * Start generation from + 1 if the current one is still `from` (or
 * unconditionally when any is true). The condition keeps a thread that
 * filled an old generation from advancing the window past a generation
 * that has only just begun.
 */
static bool
advance(gv_dedup *d, bool any, uint64_t from)
{
	int idle = 0;

	/*
	 * Acquire: two threads must never recycle the same table at once,
	 * and this one must see the previous advancer's clearing stores and
	 * its gen store (released below) before it reads gen and clears.
	 */
	if (!atomic_compare_exchange_strong_explicit(&d->advancing, &idle, 1,
	                                             memory_order_acquire,
	                                             memory_order_relaxed))
		return false;

	/* Relaxed: gen is written only under `advancing`, acquired above. */
	uint64_t g = atomic_load_explicit(&d->gen, memory_order_relaxed);
	bool done = any || g == from;

	if (done) {
		struct gv_dedup_gen *t = &d->gens[(g + 1) % d->ngens];

		/*
		 * Relaxed stores: nobody may rely on this table until gen
		 * g + 1 is published, and the release store of gen below
		 * orders all of them before it. A stale inserter racing
		 * with the clearing is the harmless case of the opening
		 * comment.
		 */
		for (size_t i = 0; i < d->slots; i++)
			atomic_store_explicit(&t->slot[i], 0,
			                      memory_order_relaxed);
		atomic_store_explicit(&t->has_zero, false,
		                      memory_order_relaxed);
		atomic_store_explicit(&t->count, 0, memory_order_relaxed);

		/*
		 * Release: an inserter that acquires g + 1 must see the
		 * cleared table, not the ids of the generation it held.
		 */
		atomic_store_explicit(&d->gen, g + 1, memory_order_release);
		/* Relaxed: a statistic; atomic only so no increment is lost. */
		atomic_fetch_add_explicit(&d->advances, 1,
		                          memory_order_relaxed);
	}

	/* Release: hands the clearing and the gen store to the next one. */
	atomic_store_explicit(&d->advancing, 0, memory_order_release);
	return done;
}

int
gv_dedup_init(gv_dedup *d, const gv_mem *mem, size_t per_gen, unsigned ngens)
{
	struct gv_dedup_gen *gens;
	size_t slots = 2;
	unsigned shift = 63;

	if (!d || !mem || per_gen == 0 || ngens < 2 ||
	    ngens > GV_DEDUP_MAX_GENS)
		return GV_EINVAL;
	/* 2 * per_gen rounded up is below 4 * per_gen slots of 8 bytes. */
	if (per_gen > SIZE_MAX / 4 / sizeof(uint64_t))
		return GV_ENOMEM;
	while (slots < 2 * per_gen) {
		slots <<= 1;
		shift--;
	}

	gens = gv__zalloc(mem, ngens * sizeof(*gens));
	if (!gens)
		return GV_ENOMEM;
	for (unsigned i = 0; i < ngens; i++) {
		/*
		 * All-zero bytes are a valid empty slot: lock-free 64-bit
		 * atomics have the plain representation on every target the
		 * core supports, and nothing is shared before init returns.
		 */
		gens[i].slot = gv__zalloc(mem, slots * sizeof(uint64_t));
		if (!gens[i].slot) {
			while (i-- > 0)
				gv__free(mem, gens[i].slot,
				         slots * sizeof(uint64_t));
			gv__free(mem, gens, ngens * sizeof(*gens));
			return GV_ENOMEM;
		}
		atomic_init(&gens[i].count, 0);
		atomic_init(&gens[i].has_zero, false);
	}

	d->mem = mem;
	d->gens = gens;
	d->ngens = ngens;
	d->per_gen = per_gen;
	d->slots = slots;
	d->shift = shift;
	atomic_init(&d->gen, 0);
	atomic_init(&d->advancing, 0);
	atomic_init(&d->inserted, 0);
	atomic_init(&d->hits, 0);
	atomic_init(&d->advances, 0);
	atomic_init(&d->overflow, 0);
	return 0;
}

void
gv_dedup_fini(gv_dedup *d)
{
	if (!d || !d->gens)
		return;
	for (unsigned i = 0; i < d->ngens; i++)
		gv__free(d->mem, d->gens[i].slot, d->slots * sizeof(uint64_t));
	gv__free(d->mem, d->gens, d->ngens * sizeof(*d->gens));
	d->gens = NULL;
}

/* The answer for an id a live generation holds. */
static int
hit(gv_dedup *d)
{
	/* Relaxed: a statistic; atomic only so no increment is lost. */
	atomic_fetch_add_explicit(&d->hits, 1, memory_order_relaxed);
	return 0;
}

/* The answer for an id just recorded in table t of generation g. */
static int
recorded(gv_dedup *d, struct gv_dedup_gen *t, uint64_t g)
{
	/*
	 * Relaxed: the count only has to be exact in total (no lost
	 * increment), not ordered with the slots it counts.
	 */
	size_t n =
	        atomic_fetch_add_explicit(&t->count, 1, memory_order_relaxed) +
	        1;

	/* Relaxed: a statistic; atomic only so no increment is lost. */
	atomic_fetch_add_explicit(&d->inserted, 1, memory_order_relaxed);
	/*
	 * ">=" rather than "==": if the thread that filled the generation
	 * lost the advance to a no-op (see advance()), the next insert
	 * into the full generation tries again.
	 */
	if (GV_UNLIKELY(n >= d->per_gen))
		advance(d, false, g);
	return 1;
}

int
gv_dedup_insert(gv_dedup *d, uint64_t id)
{
	/*
	 * Acquire, pairing with the release in advance(): if we see the new
	 * generation we see its table cleared.
	 */
	uint64_t g = atomic_load_explicit(&d->gen, memory_order_acquire);
	struct gv_dedup_gen *t = &d->gens[g % d->ngens];
	size_t mask = d->slots - 1;
	size_t step = 0;
	enum walk_result r;

	if (id == 0) {
		if (atomic_load_explicit(&t->has_zero, memory_order_acquire) ||
		    older_has(d, g, 0))
			return hit(d);
		/*
		 * acq_rel exchange: of two threads inserting 0 at once,
		 * exactly one reads false; release/acquire as for slots.
		 */
		if (atomic_exchange_explicit(&t->has_zero, true,
		                             memory_order_acq_rel))
			return hit(d);
		return recorded(d, t, g);
	}

	/*
	 * The current generation first: a recent duplicate is the common
	 * hit, and the walk leaves us at the first empty slot to claim.
	 */
	r = walk(d, t, id, &step);
	if (r == FOUND || older_has(d, g, id))
		return hit(d);

	while (r == ABSENT) {
		uint64_t expected = 0;

		/*
		 * acq_rel CAS: it decides, for the whole generation, which of
		 * two threads inserting the same id records it (the other
		 * fails and reads the id back). Release publishes what the
		 * caller did before inserting to a thread that later finds
		 * the id (see walk()); acquire on failure is the same as the
		 * walk's loads.
		 */
		if (atomic_compare_exchange_strong_explicit(
		            &t->slot[(home(d, id) + step) & mask], &expected,
		            id, memory_order_acq_rel, memory_order_acquire))
			return recorded(d, t, g);
		if (expected == id)
			return hit(d);
		/* Another id took the slot: walk on past it. */
		step++;
		r = walk(d, t, id, &step);
		if (r == FOUND)
			return hit(d);
	}

	/*
	 * No free slot: the generation is long full and its advance is held
	 * up (see the opening comment). Nudge it along in case the thread
	 * that should have advanced lost the race to a no-op.
	 * Relaxed: a statistic; atomic only so no increment is lost.
	 */
	atomic_fetch_add_explicit(&d->overflow, 1, memory_order_relaxed);
	advance(d, false, g);
	return 1;
}

bool
gv_dedup_contains(gv_dedup *d, uint64_t id)
{
	/* Acquire: as in gv_dedup_insert(), never look at a stale table. */
	uint64_t g = atomic_load_explicit(&d->gen, memory_order_acquire);

	return table_has(d, &d->gens[g % d->ngens], id) || older_has(d, g, id);
}

bool
gv_dedup_advance(gv_dedup *d)
{
	return advance(d, true, 0);
}
