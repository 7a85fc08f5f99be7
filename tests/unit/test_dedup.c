/* SPDX-License-Identifier: MIT */
/*
 * test_dedup.c - the sliding-window dedup set: a model test against a
 * naive array (single thread, seeded), the window's behaviour when far more
 * ids arrive than it holds, init's error paths under injected allocation
 * failures, and two-thread stress runs, one with exact accounting (no
 * advance can happen) and one racing gv_dedup_advance().
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/dedup.h"
#include "core/rng.h"
#include "test_mem.h"

/* TSan runs some 10-50 times slower: keep the stress runs short there. */
#ifdef GV_TSAN
#define STRESS_SCALE 10
#else
#define STRESS_SCALE 1
#endif

static void
test_dedup_basic(void **state)
{
	gv_test_mem tm;
	gv_dedup d;
	(void)state;

	gv_test_mem_init(&tm);
	assert_int_equal(gv_dedup_init(&d, &tm.mem, 8, 2), 0);
	assert_int_equal(tm.live_allocs, 3); /* gens array + 2 tables */
	assert_int_equal(d.slots, 16);

	assert_false(gv_dedup_contains(&d, 0));
	assert_false(gv_dedup_contains(&d, UINT64_MAX));
	assert_int_equal(gv_dedup_insert(&d, 0), 1);
	assert_int_equal(gv_dedup_insert(&d, 0), 0);
	assert_int_equal(gv_dedup_insert(&d, UINT64_MAX), 1);
	assert_int_equal(gv_dedup_insert(&d, UINT64_MAX), 0);
	assert_int_equal(gv_dedup_insert(&d, 42), 1);
	assert_true(gv_dedup_contains(&d, 0));
	assert_true(gv_dedup_contains(&d, UINT64_MAX));
	assert_true(gv_dedup_contains(&d, 42));
	assert_false(gv_dedup_contains(&d, 43));

	/* One advance keeps them (ngens = 2), the second forgets them. */
	assert_true(gv_dedup_advance(&d));
	assert_true(gv_dedup_contains(&d, 0));
	assert_true(gv_dedup_contains(&d, 42));
	assert_int_equal(gv_dedup_insert(&d, 42), 0);
	assert_true(gv_dedup_advance(&d));
	assert_false(gv_dedup_contains(&d, 0));
	assert_false(gv_dedup_contains(&d, UINT64_MAX));
	assert_false(gv_dedup_contains(&d, 42));
	assert_int_equal(gv_dedup_insert(&d, 42), 1);

	assert_int_equal(atomic_load(&d.inserted), 4);
	assert_int_equal(atomic_load(&d.hits), 3);
	assert_int_equal(atomic_load(&d.advances), 2);
	assert_int_equal(atomic_load(&d.overflow), 0);

	gv_dedup_fini(&d);
	assert_int_equal(tm.live_bytes, 0);
	assert_int_equal(tm.live_allocs, 0);
}

/*
 * The model: for each id of a small universe, the generation it was last
 * recorded in. An id is present iff that generation is one of the last
 * ngens; a hit does not refresh it (the set does not move ids forward).
 */
#define MODEL_UNIVERSE 300
#define NEVER INT64_MIN

struct model {
	uint64_t id[MODEL_UNIVERSE];
	int64_t gen[MODEL_UNIVERSE];
	int64_t cur;  /* current generation */
	size_t fresh; /* ids recorded in the current generation */
	size_t per_gen;
	unsigned ngens;
};

static bool
model_present(const struct model *m, size_t u)
{
	return m->gen[u] != NEVER && m->gen[u] > m->cur - (int64_t)m->ngens;
}

static void
model_advance(struct model *m)
{
	m->cur++;
	m->fresh = 0;
}

static void
run_model(size_t per_gen, unsigned ngens, uint64_t seed, size_t ops)
{
	static struct model m;
	gv_test_mem tm;
	gv_dedup d;
	gv_rng rng;
	size_t explicit_adv = 0;

	gv_rng_seed(&rng, seed);
	memset(&m, 0, sizeof(m));
	m.per_gen = per_gen;
	m.ngens = ngens;
	/*
	 * The universe: 0, UINT64_MAX, a run of small sequential ids (which
	 * a weak hash would cluster) and random 64-bit ids.
	 */
	m.id[0] = 0;
	m.id[1] = UINT64_MAX;
	for (size_t u = 2; u < MODEL_UNIVERSE; u++)
		m.id[u] = u < MODEL_UNIVERSE / 2 ? u - 1 : gv_rng_next(&rng);
	for (size_t u = 0; u < MODEL_UNIVERSE; u++)
		m.gen[u] = NEVER;

	gv_test_mem_init(&tm);
	assert_int_equal(gv_dedup_init(&d, &tm.mem, per_gen, ngens), 0);

	for (size_t op = 0; op < ops; op++) {
		if (gv_rng_below(&rng, 100) < 3) {
			assert_true(gv_dedup_advance(&d));
			model_advance(&m);
			explicit_adv++;
		} else {
			size_t u = gv_rng_below(&rng, MODEL_UNIVERSE);
			int want = model_present(&m, u) ? 0 : 1;
			int got = gv_dedup_insert(&d, m.id[u]);

			if (got != want)
				fail_msg("op %zu: insert(%llu) = %d, model %d "
				         "(per_gen %zu, ngens %u)",
				         op, (unsigned long long)m.id[u], got,
				         want, per_gen, ngens);
			if (want) {
				m.gen[u] = m.cur;
				if (++m.fresh == per_gen)
					model_advance(&m);
			}
		}
		assert_int_equal(atomic_load(&d.gen), (uint64_t)m.cur);

		/* contains() agrees too, on a random id. */
		size_t v = gv_rng_below(&rng, MODEL_UNIVERSE);
		assert_int_equal(gv_dedup_contains(&d, m.id[v]),
		                 model_present(&m, v));
	}
	assert_int_equal(atomic_load(&d.overflow), 0);
	assert_int_equal(atomic_load(&d.inserted) + atomic_load(&d.hits),
	                 ops - explicit_adv);
	assert_int_equal(atomic_load(&d.advances), (uint64_t)m.cur);

	gv_dedup_fini(&d);
	assert_int_equal(tm.live_bytes, 0);
}

static void
test_dedup_model(void **state)
{
	(void)state;
	run_model(1, 2, 1, 20000);
	run_model(16, 3, 2, 200000);
	run_model(5, GV_DEDUP_MAX_GENS, 3, 200000);
	run_model(100, 2, 4, 200000);
	run_model(200, 4, 5, 100000); /* mostly explicit advances */
	run_model(1000, 7, 6, 50000); /* no automatic advance at all */
}

/*
 * Far more distinct ids than the window holds: every insert is new and
 * succeeds, the window advances by itself every per_gen ids, the last
 * ngens generations are all present and everything older is gone.
 */
static void
test_dedup_full_table(void **state)
{
	const size_t per_gen = 64;
	const unsigned ngens = 4;
	const uint64_t n = per_gen * ngens * 50;
	gv_test_mem tm;
	gv_dedup d;
	(void)state;

	gv_test_mem_init(&tm);
	assert_int_equal(gv_dedup_init(&d, &tm.mem, per_gen, ngens), 0);
	for (uint64_t i = 0; i < n; i++) {
		assert_int_equal(gv_dedup_insert(&d, i), 1);

		/* Ids are sequential, so generation of id x is x / per_gen. */
		uint64_t g = atomic_load(&d.gen);
		assert_int_equal(g, (i + 1) / per_gen);
		uint64_t oldest = g >= ngens - 1 ? g - (ngens - 1) : 0;
		uint64_t first = oldest * per_gen;
		/* Everything from the oldest live generation on... */
		for (uint64_t x = first; x <= i; x++)
			assert_true(gv_dedup_contains(&d, x));
		/* ...and nothing of the generation just before it. */
		if (first >= per_gen)
			for (uint64_t x = first - per_gen; x < first; x++)
				assert_false(gv_dedup_contains(&d, x));
	}
	assert_int_equal(atomic_load(&d.inserted), n);
	assert_int_equal(atomic_load(&d.advances), n / per_gen);
	assert_int_equal(atomic_load(&d.overflow), 0);
	assert_int_equal(tm.live_allocs, ngens + 1);

	/* A re-insert of a forgotten id is new again, of a live one not. */
	assert_int_equal(gv_dedup_insert(&d, 0), 1);
	assert_int_equal(gv_dedup_insert(&d, n - 1), 0);

	gv_dedup_fini(&d);
	assert_int_equal(tm.live_bytes, 0);
}

static void
test_dedup_init_errors(void **state)
{
	gv_test_mem tm;
	gv_dedup d, untouched;
	(void)state;

	gv_test_mem_init(&tm);
	memset(&d, 0xab, sizeof(d));
	memcpy(&untouched, &d, sizeof(d));

	assert_int_equal(gv_dedup_init(&d, &tm.mem, 0, 2), GV_EINVAL);
	assert_int_equal(gv_dedup_init(&d, &tm.mem, 8, 0), GV_EINVAL);
	assert_int_equal(gv_dedup_init(&d, &tm.mem, 8, 1), GV_EINVAL);
	assert_int_equal(gv_dedup_init(&d, &tm.mem, 8, GV_DEDUP_MAX_GENS + 1),
	                 GV_EINVAL);
	assert_int_equal(gv_dedup_init(&d, NULL, 8, 2), GV_EINVAL);
	assert_int_equal(gv_dedup_init(NULL, &tm.mem, 8, 2), GV_EINVAL);
	/* A size whose tables cannot even be expressed. */
	assert_int_equal(gv_dedup_init(&d, &tm.mem, SIZE_MAX / 2, 2),
	                 GV_ENOMEM);
	assert_int_equal(tm.total_allocs, 0);
	assert_memory_equal(&d, &untouched, sizeof(d));

	/* The extremes of ngens are accepted. */
	assert_int_equal(gv_dedup_init(&d, &tm.mem, 1, 2), 0);
	gv_dedup_fini(&d);
	assert_int_equal(gv_dedup_init(&d, &tm.mem, 1, GV_DEDUP_MAX_GENS), 0);
	gv_dedup_fini(&d);
	assert_int_equal(tm.live_bytes, 0);
}

/* Fail each allocation of init in turn: GV_ENOMEM, nothing leaked. */
static void
test_dedup_alloc_failure(void **state)
{
	const unsigned ngens = 5;
	gv_test_mem tm;
	gv_dedup d, untouched;
	long n;
	(void)state;

	gv_test_mem_init(&tm);
	memset(&d, 0x5a, sizeof(d));
	memcpy(&untouched, &d, sizeof(d));
	for (n = 0;; n++) {
		gv_test_mem_fail_after(&tm, n, 0);
		int rc = gv_dedup_init(&d, &tm.mem, 100, ngens);
		gv_test_mem_no_fail(&tm);
		if (rc == 0)
			break;
		assert_int_equal(rc, GV_ENOMEM);
		assert_int_equal(tm.live_bytes, 0);
		assert_int_equal(tm.live_allocs, 0);
		assert_memory_equal(&d, &untouched, sizeof(d));
	}
	/* One failure point per allocation: the array and each table. */
	assert_int_equal(n, ngens + 1);
	assert_int_equal(tm.failures, ngens + 1);
	assert_int_equal(gv_dedup_insert(&d, 7), 1);
	gv_dedup_fini(&d);
	assert_int_equal(tm.live_bytes, 0);
	assert_int_equal(tm.live_allocs, 0);

	/* Sticky failure: every allocation refused. */
	gv_test_mem_fail_after(&tm, 0, 1);
	assert_int_equal(gv_dedup_init(&d, &tm.mem, 100, ngens), GV_ENOMEM);
	gv_test_mem_fail_after(&tm, 2, 1);
	assert_int_equal(gv_dedup_init(&d, &tm.mem, 100, ngens), GV_ENOMEM);
	gv_test_mem_no_fail(&tm);
	assert_int_equal(tm.live_bytes, 0);
}

/* Two threads, started together through a barrier. */
struct stress {
	gv_dedup *d;
	pthread_barrier_t *start;
	uint64_t nids;   /* ids 1..nids */
	uint64_t stride; /* visiting order: coprime with nids */
	uint64_t offset;
	uint64_t calls;
	uint64_t news; /* inserts that returned 1 */
};

static void *
stress_thread(void *arg)
{
	struct stress *s = arg;
	uint64_t news = 0;

	pthread_barrier_wait(s->start);
	for (uint64_t i = 0; i < s->nids; i++) {
		uint64_t id = 1 + (s->offset + i * s->stride) % s->nids;
		news += (uint64_t)gv_dedup_insert(s->d, id);
	}
	s->calls = s->nids;
	s->news = news;
	return NULL;
}

static void
run_exact(uint64_t nids, uint64_t stride0, uint64_t offset0, uint64_t stride1,
          uint64_t offset1)
{
	gv_test_mem tm;
	gv_dedup d;
	pthread_barrier_t start;
	pthread_t th[2];
	struct stress s[2] = {
	        {&d, &start, nids, stride0, offset0, 0, 0},
	        {&d, &start, nids, stride1, offset1, 0, 0},
	};

	gv_test_mem_init(&tm);
	/* per_gen > nids: the window cannot advance during the run. */
	assert_int_equal(gv_dedup_init(&d, &tm.mem, nids + 1, 2), 0);
	pthread_barrier_init(&start, NULL, 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(
		        pthread_create(&th[i], NULL, stress_thread, &s[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);

	/* Exactly one thread got 1 for each id. */
	assert_int_equal(s[0].news + s[1].news, nids);
	assert_int_equal(atomic_load(&d.inserted), nids);
	assert_int_equal(atomic_load(&d.hits), nids);
	assert_int_equal(atomic_load(&d.advances), 0);
	assert_int_equal(atomic_load(&d.overflow), 0);
	for (uint64_t id = 1; id <= nids; id++)
		if (!gv_dedup_contains(&d, id))
			fail_msg("id %llu missing", (unsigned long long)id);
	assert_false(gv_dedup_contains(&d, nids + 1));

	gv_dedup_fini(&d);
	assert_int_equal(tm.live_bytes, 0);
}

static void
test_dedup_concurrent_exact(void **state)
{
	const uint64_t n = 1000000 / STRESS_SCALE; /* 2n inserts per run */
	(void)state;

	/* Same order, same start: the threads race for the same slots. */
	run_exact(n, 1, 0, 1, 0);
	/* Opposite halves, then scattered orders. */
	run_exact(n, 1, 0, 1, n / 2);
	run_exact(n, 1, 0, n - 1, 0); /* n - 1 = -1 mod n: descending */
	run_exact(n, 7, 3, 1000003, 11);
}

/*
 * Concurrent advances: two inserters over an overlapping range with a
 * small per_gen (so the window advances by itself), and a third thread
 * calling gv_dedup_advance() in a loop. Checks that nothing crashes or
 * deadlocks, that the statistics add up, and that ids inserted after the
 * advancer stopped are all present.
 */
#define TAIL 200

struct adv {
	gv_dedup *d;
	pthread_barrier_t *phase; /* 4 parties: 2 inserters, advancer, main */
	_Atomic bool *stop;       /* set by the second inserter to finish */
	_Atomic int *done;        /* inserters finished with phase 1 */
	uint64_t nids;
	uint64_t offset;
	uint64_t tail_base; /* this thread's private tail ids */
	uint64_t calls;
	uint64_t tail_news;
	uint64_t adv_ok;
	bool final_adv;
};

static void *
adv_inserter(void *arg)
{
	struct adv *a = arg;
	uint64_t calls = 0;
	gv_rng rng;

	gv_rng_seed(&rng, a->offset);
	pthread_barrier_wait(a->phase);
	for (uint64_t i = 0; i < a->nids; i++) {
		/* Mostly walking the range, sometimes a recent repeat. */
		uint64_t id = a->offset + i;
		if (gv_rng_below(&rng, 4) == 0 && i > 100)
			id -= gv_rng_below(&rng, 100);
		gv_dedup_insert(a->d, id);
		calls++;
	}
	/* The last inserter to finish stops the advancer. */
	if (atomic_fetch_add(a->done, 1) == 1)
		atomic_store(a->stop, true);
	/* Phase 2: once the advancer has stopped, insert the tail. */
	pthread_barrier_wait(a->phase);
	for (uint64_t i = 0; i < TAIL; i++) {
		a->tail_news +=
		        (uint64_t)gv_dedup_insert(a->d, a->tail_base + i);
		calls++;
	}
	a->calls = calls;
	return NULL;
}

static void *
adv_advancer(void *arg)
{
	struct adv *a = arg;

	pthread_barrier_wait(a->phase);
	/*
	 * Yield between advances so that automatic advances get their
	 * turn too; a flat-out advancer, preempted while it clears a table,
	 * also stalls the automatic advances, and the inserters overflow.
	 */
	while (!atomic_load_explicit(a->stop, memory_order_relaxed)) {
		a->adv_ok += gv_dedup_advance(a->d);
		sched_yield();
	}
	/*
	 * The inserters are idle now, so this advance cannot lose: the tail
	 * starts in a clean generation, whatever state phase 1 left behind
	 * (even a full table whose advance was held up).
	 */
	a->final_adv = gv_dedup_advance(a->d);
	pthread_barrier_wait(a->phase);
	return NULL;
}

static void
test_dedup_concurrent_advance(void **state)
{
	const uint64_t n = 1000000 / STRESS_SCALE;
	const size_t per_gen = 4 * TAIL; /* 2 * TAIL < per_gen */
	const unsigned ngens = 3;
	gv_test_mem tm;
	gv_dedup d;
	pthread_barrier_t phase;
	_Atomic bool stop = false;
	_Atomic int done = 0;
	pthread_t th[3];
	struct adv a[3];
	(void)state;

	for (int i = 0; i < 3; i++)
		a[i] = (struct adv){
		        .d = &d, .phase = &phase, .stop = &stop, .done = &done};
	/* Overlapping ranges; the tails are private. */
	a[0].nids = n;
	a[0].offset = 1;
	a[0].tail_base = (uint64_t)1 << 40;
	a[1].nids = n;
	a[1].offset = n / 3;
	a[1].tail_base = (uint64_t)1 << 41;

	gv_test_mem_init(&tm);
	assert_int_equal(gv_dedup_init(&d, &tm.mem, per_gen, ngens), 0);
	pthread_barrier_init(&phase, NULL, 4);
	assert_int_equal(pthread_create(&th[0], NULL, adv_inserter, &a[0]), 0);
	assert_int_equal(pthread_create(&th[1], NULL, adv_inserter, &a[1]), 0);
	assert_int_equal(pthread_create(&th[2], NULL, adv_advancer, &a[2]), 0);
	pthread_barrier_wait(&phase); /* go */
	/*
	 * When this opens the advancer has left its loop and started a
	 * fresh generation; the 2 * TAIL < per_gen tail ids all fit in it.
	 */
	pthread_barrier_wait(&phase);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&phase);

	uint64_t calls = a[0].calls + a[1].calls;
	assert_int_equal(calls, 2 * (n + TAIL));
	assert_int_equal(atomic_load(&d.inserted) + atomic_load(&d.hits) +
	                         atomic_load(&d.overflow),
	                 calls);
	assert_true(a[2].final_adv);
	assert_true(atomic_load(&d.advances) >= a[2].adv_ok + 1);
	/* Tail ids are fresh and private: each was new, and is present. */
	for (int t = 0; t < 2; t++) {
		assert_int_equal(a[t].tail_news, TAIL);
		for (uint64_t i = 0; i < TAIL; i++)
			assert_true(gv_dedup_contains(&d, a[t].tail_base + i));
	}
	print_message("concurrent advance: %llu calls, %llu inserted, "
	              "%llu hits, %llu advances (%llu explicit), "
	              "%llu overflow\n",
	              (unsigned long long)calls,
	              (unsigned long long)atomic_load(&d.inserted),
	              (unsigned long long)atomic_load(&d.hits),
	              (unsigned long long)atomic_load(&d.advances),
	              (unsigned long long)a[2].adv_ok,
	              (unsigned long long)atomic_load(&d.overflow));

	gv_dedup_fini(&d);
	assert_int_equal(tm.live_bytes, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_dedup_basic),
	        cmocka_unit_test(test_dedup_model),
	        cmocka_unit_test(test_dedup_full_table),
	        cmocka_unit_test(test_dedup_init_errors),
	        cmocka_unit_test(test_dedup_alloc_failure),
	        cmocka_unit_test(test_dedup_concurrent_exact),
	        cmocka_unit_test(test_dedup_concurrent_advance),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
