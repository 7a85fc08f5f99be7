/* SPDX-License-Identifier: MIT */
/*
 * test_spsc.c - the SPSC ring: init's argument checks and allocation
 * failure, a seeded model test against a plain FIFO (single thread, random
 * interleavings of single and batch pushes and pops through full and
 * empty, several capacities and element sizes), and two-thread stress runs
 * that check exact order with no loss or duplication, one with single
 * operations on 8-byte sequence numbers and one with batches of 64-byte
 * messages. The stress runs print their throughput as "# " lines.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/rng.h"
#include "shard/spsc.h"
#include "test_mem.h"

/* TSan runs some 10-50 times slower: a tenth of the operations there. */
#ifdef GV_TSAN
#define STRESS_OPS 1000000UL
#else
#define STRESS_OPS 10000000UL
#endif

static void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Wait politely: pause a few times, then give the CPU away (the machine
 * may have fewer free cores than spinning threads).
 */
static void
backoff(unsigned *spins)
{
	if (++*spins < 64) {
		cpu_relax();
	} else {
		*spins = 0;
		sched_yield();
	}
}

static double
now_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
test_spsc_init_errors(void **state)
{
	gv_test_mem tm;
	gv_spsc r, before;
	(void)state;

	gv_test_mem_init(&tm);
	memset(&r, 0xa5, sizeof(r));
	memcpy(&before, &r, sizeof(r));
	assert_int_equal(gv_spsc_init(&r, &tm.mem, 0, 8), GV_EINVAL);
	assert_int_equal(gv_spsc_init(&r, &tm.mem, 3, 8), GV_EINVAL);
	assert_int_equal(gv_spsc_init(&r, &tm.mem, 6, 8), GV_EINVAL);
	assert_int_equal(gv_spsc_init(&r, &tm.mem, 1000, 8), GV_EINVAL);
	assert_int_equal(gv_spsc_init(&r, &tm.mem, 8, 0), GV_EINVAL);
	assert_int_equal(gv_spsc_init(&r, &tm.mem, 0, 0), GV_EINVAL);
	assert_int_equal(gv_spsc_init(&r, NULL, 8, 8), GV_EINVAL);
	assert_int_equal(gv_spsc_init(NULL, &tm.mem, 8, 8), GV_EINVAL);
	/* capacity * elem_size overflows size_t. */
	assert_int_equal(gv_spsc_init(&r, &tm.mem, (size_t)1 << 62, 8),
	                 GV_EINVAL);
	assert_int_equal(gv_spsc_init(&r, &tm.mem, (size_t)1 << 63, 2),
	                 GV_EINVAL);
	/* Failures leave the ring alone and allocate nothing. */
	assert_memory_equal(&r, &before, sizeof(r));
	assert_int_equal(tm.total_allocs, 0);
	assert_int_equal(tm.failures, 0);
	assert_string_equal(gv_strerror(GV_EFULL), "table full");
}

static void
test_spsc_alloc_failure(void **state)
{
	gv_test_mem tm;
	gv_spsc r, before;
	(void)state;

	gv_test_mem_init(&tm);
	memset(&r, 0x5a, sizeof(r));
	memcpy(&before, &r, sizeof(r));
	gv_test_mem_fail_after(&tm, 0, 0);
	assert_int_equal(gv_spsc_init(&r, &tm.mem, 64, 64), GV_ENOMEM);
	assert_int_equal(tm.failures, 1);
	assert_int_equal(tm.live_allocs, 0);
	assert_memory_equal(&r, &before, sizeof(r));

	/* The injected failure was one-shot: the next init works. */
	assert_int_equal(gv_spsc_init(&r, &tm.mem, 64, 64), 0);
	assert_int_equal(tm.live_allocs, 1);
	assert_true(tm.live_bytes >= 64 * 64);
	unsigned char msg[64] = {7};
	assert_int_equal(gv_spsc_push(&r, msg), 0);
	gv_spsc_fini(&r);
	assert_int_equal(tm.live_allocs, 0);
	assert_int_equal(tm.live_bytes, 0);
	gv_spsc_fini(&r); /* a second fini is harmless */
}

static void
test_spsc_basic(void **state)
{
	gv_test_mem tm;
	gv_spsc r;
	uint64_t v;
	(void)state;

	gv_test_mem_init(&tm);
	assert_int_equal(gv_spsc_init(&r, &tm.mem, 4, sizeof(uint64_t)), 0);
	assert_int_equal(gv_spsc_capacity(&r), 4);
	assert_int_equal(gv_spsc_size(&r), 0);

	v = 99;
	assert_int_equal(gv_spsc_pop(&r, &v), 0);
	assert_int_equal(v, 99); /* out untouched when empty */

	for (uint64_t i = 0; i < 4; i++) {
		assert_int_equal(gv_spsc_push(&r, &i), 0);
		assert_int_equal(gv_spsc_size(&r), i + 1);
	}
	v = 4;
	assert_int_equal(gv_spsc_push(&r, &v), GV_EFULL);
	assert_int_equal(gv_spsc_size(&r), 4);
	for (uint64_t i = 0; i < 4; i++) {
		assert_int_equal(gv_spsc_pop(&r, &v), 1);
		assert_int_equal(v, i);
	}
	assert_int_equal(gv_spsc_pop(&r, &v), 0);

	/* Capacity one: alternately full and empty. */
	gv_spsc r1;
	assert_int_equal(gv_spsc_init(&r1, &tm.mem, 1, 3), 0);
	for (int i = 0; i < 10; i++) {
		char in[3] = {(char)i, 'x', 'y'}, out[3];
		assert_int_equal(gv_spsc_push(&r1, in), 0);
		assert_int_equal(gv_spsc_push(&r1, in), GV_EFULL);
		assert_int_equal(gv_spsc_pop(&r1, out), 1);
		assert_memory_equal(in, out, 3);
		assert_int_equal(gv_spsc_pop(&r1, out), 0);
	}
	gv_spsc_fini(&r1);
	gv_spsc_fini(&r);
	assert_int_equal(tm.live_bytes, 0);
}

static void
test_spsc_slot_alignment(void **state)
{
	gv_test_mem tm;
	gv_spsc r;
	(void)state;

	/* Several inits, so at least some allocations are not 64-aligned. */
	gv_test_mem_init(&tm);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(gv_spsc_init(&r, &tm.mem, 16, 64), 0);
		assert_int_equal((uintptr_t)r.slots % 64, 0);
		/* The last slot still lies inside the allocation. */
		unsigned char *end = (unsigned char *)r.raw + r.raw_size;
		assert_true(r.slots + 16 * 64 <= end);
		memset(r.slots, 0xee, 16 * 64);
		gv_spsc_fini(&r);
	}
	/* head and tail on different cache lines wherever r lies. */
	assert_true(offsetof(gv_spsc, tail) - offsetof(gv_spsc, head) >=
	            GV_SPSC_LINE + sizeof(size_t));
	assert_true(offsetof(gv_spsc, slots) - offsetof(gv_spsc, head_cache) >=
	            GV_SPSC_LINE + sizeof(size_t));
	assert_true(offsetof(gv_spsc, head) >= GV_SPSC_LINE);
}

/* Fill an element with bytes derived from its sequence number. */
static void
fill_elem(unsigned char *p, size_t size, uint64_t seq)
{
	uint64_t x = seq;
	for (size_t i = 0; i < size; i++) {
		if (i % 8 == 0)
			x = gv_splitmix64(&x);
		p[i] = (unsigned char)(x >> (8 * (i % 8)));
	}
}

/*
 * One model run: random single and batch operations against a plain array
 * FIFO; every return value, every byte popped and the size must match.
 */
static void
model_run(size_t cap, size_t esz, uint64_t seed, int ops)
{
	gv_test_mem tm;
	gv_spsc r;
	gv_rng rng;
	enum { MAXB = 80 };
	unsigned char model[256 * 64]; /* FIFO of cap elements, circular */
	unsigned char in[MAXB * 64], out[MAXB * 64], want[64];
	size_t mhead = 0, mlen = 0;
	uint64_t next_seq = 0;
	unsigned hit_full = 0, hit_empty = 0;

	assert_true(cap <= 256 && esz <= 64);
	gv_test_mem_init(&tm);
	gv_rng_seed(&rng, seed);
	assert_int_equal(gv_spsc_init(&r, &tm.mem, cap, esz), 0);

	for (int op = 0; op < ops; op++) {
		/* Bias phases towards filling or draining so both ends hit. */
		int fill_bias = (op / 500) % 2;
		unsigned dice = (unsigned)gv_rng_below(&rng, 100);
		bool push = fill_bias ? dice < 70 : dice < 30;
		bool batch = gv_rng_below(&rng, 3) == 0;
		size_t maxn = cap + 4 < MAXB ? cap + 4 : MAXB;
		size_t n = batch ? (size_t)gv_rng_below(&rng, maxn) : 1;

		if (push) {
			for (size_t i = 0; i < n; i++)
				fill_elem(in + i * esz, esz, next_seq + i);
			size_t space = cap - mlen;
			size_t expect = n < space ? n : space;
			hit_full += n > 0 && space == 0;
			if (batch) {
				assert_int_equal(gv_spsc_push_n(&r, in, n),
				                 expect);
			} else {
				int rc = gv_spsc_push(&r, in);
				assert_int_equal(rc, space ? 0 : GV_EFULL);
			}
			for (size_t i = 0; i < expect; i++)
				memcpy(model + ((mhead + mlen + i) % cap) * esz,
				       in + i * esz, esz);
			mlen += expect;
			next_seq += expect;
		} else {
			size_t expect = n < mlen ? n : mlen;
			hit_empty += n > 0 && mlen == 0;
			memset(out, 0xcc, sizeof(out));
			if (batch) {
				assert_int_equal(gv_spsc_pop_n(&r, out, n),
				                 expect);
			} else {
				assert_int_equal(gv_spsc_pop(&r, out),
				                 mlen ? 1 : 0);
			}
			for (size_t i = 0; i < expect; i++) {
				memcpy(want, model + ((mhead + i) % cap) * esz,
				       esz);
				assert_memory_equal(out + i * esz, want, esz);
			}
			/* Nothing written past what was popped. */
			assert_int_equal(out[expect * esz], 0xcc);
			mhead = (mhead + expect) % cap;
			mlen -= expect;
		}
		assert_int_equal(gv_spsc_size(&r), mlen);
	}
	/* The run went through both ends many times. */
	assert_true(hit_full > 10 && hit_empty > 10);
	gv_spsc_fini(&r);
	assert_int_equal(tm.live_bytes, 0);
}

static void
test_spsc_model(void **state)
{
	static const size_t caps[] = {1, 2, 4, 8, 64, 256};
	static const size_t sizes[] = {1, 3, 8, 24, 64};
	uint64_t seed = 0x5a5c0001;
	(void)state;

	for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++)
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
			model_run(caps[c], sizes[s], seed++, 20000);
}

/* Batch calls with n = 0 and on full / empty rings. */
static void
test_spsc_batch_edges(void **state)
{
	gv_test_mem tm;
	gv_spsc r;
	uint32_t in[16], out[16];
	(void)state;

	gv_test_mem_init(&tm);
	assert_int_equal(gv_spsc_init(&r, &tm.mem, 8, sizeof(uint32_t)), 0);
	for (uint32_t i = 0; i < 16; i++)
		in[i] = 100 + i;
	assert_int_equal(gv_spsc_push_n(&r, in, 0), 0);
	assert_int_equal(gv_spsc_pop_n(&r, out, 0), 0);
	assert_int_equal(gv_spsc_pop_n(&r, out, 4), 0);
	/* 16 offered, 8 fit; then nothing fits. */
	assert_int_equal(gv_spsc_push_n(&r, in, 16), 8);
	assert_int_equal(gv_spsc_push_n(&r, in, 1), 0);
	assert_int_equal(gv_spsc_push(&r, in), GV_EFULL);
	/* Pop 5, push 5 more (slots 0..4, behind the 3 still queued). */
	assert_int_equal(gv_spsc_pop_n(&r, out, 5), 5);
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(out[i], 100 + i);
	assert_int_equal(gv_spsc_push_n(&r, in + 8, 6), 5);
	assert_int_equal(gv_spsc_size(&r), 8);
	assert_int_equal(gv_spsc_pop_n(&r, out, 16), 8);
	for (uint32_t i = 0; i < 8; i++)
		assert_int_equal(out[i], 105 + i);
	assert_int_equal(gv_spsc_size(&r), 0);
	/* Head and tail at slot 5: both batches wrap past the end. */
	assert_int_equal(gv_spsc_push_n(&r, in, 8), 8);
	assert_int_equal(gv_spsc_pop_n(&r, out, 8), 8);
	for (uint32_t i = 0; i < 8; i++)
		assert_int_equal(out[i], 100 + i);
	assert_int_equal(gv_spsc_size(&r), 0);
	gv_spsc_fini(&r);
}

/* ---------------------------------------------------------------------- */
/* Two-thread stress                                                      */
/* ---------------------------------------------------------------------- */

struct stress {
	gv_spsc ring;
	uint64_t n;
	size_t batch; /* 0: single push/pop; else up to this many per call */
	/* Written by the consumer only, read after join. */
	uint64_t received;
	uint64_t bad;       /* elements out of order or corrupt */
	uint64_t first_bad; /* sequence number expected at the first one */
	uint64_t bad_size;  /* gv_spsc_size() above capacity */
};

/* A 64-byte message: a sequence number and a check pattern. */
struct msg {
	uint64_t seq;
	uint64_t check[7];
};

static void
msg_make(struct msg *m, uint64_t seq)
{
	m->seq = seq;
	for (int i = 0; i < 7; i++)
		m->check[i] = seq * UINT64_C(0x9e3779b97f4a7c15) + (uint64_t)i;
}

static bool
msg_ok(const struct msg *m, uint64_t seq)
{
	if (m->seq != seq)
		return false;
	for (int i = 0; i < 7; i++)
		if (m->check[i] !=
		    seq * UINT64_C(0x9e3779b97f4a7c15) + (uint64_t)i)
			return false;
	return true;
}

static void *
producer_single(void *arg)
{
	struct stress *s = arg;
	unsigned spins = 0;
	for (uint64_t i = 0; i < s->n; i++)
		while (gv_spsc_push(&s->ring, &i) == GV_EFULL)
			backoff(&spins);
	return NULL;
}

static void *
consumer_single(void *arg)
{
	struct stress *s = arg;
	unsigned spins = 0;
	uint64_t expect = 0, v;
	while (expect < s->n) {
		if (!gv_spsc_pop(&s->ring, &v)) {
			backoff(&spins);
			continue;
		}
		if (v != expect && s->bad++ == 0)
			s->first_bad = expect;
		expect++;
		if ((expect & 0xffff) == 0 &&
		    gv_spsc_size(&s->ring) > gv_spsc_capacity(&s->ring))
			s->bad_size++;
	}
	s->received = expect;
	/* Nothing beyond the n elements: no duplicates were queued. */
	if (gv_spsc_pop(&s->ring, &v))
		s->bad++;
	return NULL;
}

static void *
producer_batch(void *arg)
{
	struct stress *s = arg;
	struct msg buf[64];
	unsigned spins = 0;
	uint64_t x = 0x12345, seq = 0;
	while (seq < s->n) {
		size_t want = 1 + (size_t)(gv_splitmix64(&x) % s->batch);
		if (want > s->n - seq)
			want = (size_t)(s->n - seq);
		for (size_t i = 0; i < want; i++)
			msg_make(&buf[i], seq + i);
		size_t done = 0;
		while (done < want) {
			size_t k = gv_spsc_push_n(&s->ring, buf + done,
			                          want - done);
			if (k == 0)
				backoff(&spins);
			done += k;
		}
		seq += want;
	}
	return NULL;
}

static void *
consumer_batch(void *arg)
{
	struct stress *s = arg;
	struct msg buf[64];
	unsigned spins = 0;
	uint64_t x = 0x54321, expect = 0;
	while (expect < s->n) {
		size_t want = 1 + (size_t)(gv_splitmix64(&x) % s->batch);
		size_t k = gv_spsc_pop_n(&s->ring, buf, want);
		if (k == 0) {
			backoff(&spins);
			continue;
		}
		for (size_t i = 0; i < k; i++, expect++)
			if (!msg_ok(&buf[i], expect) && s->bad++ == 0)
				s->first_bad = expect;
	}
	s->received = expect;
	if (gv_spsc_pop_n(&s->ring, buf, 1))
		s->bad++;
	return NULL;
}

static void
stress_run(const char *what, uint64_t n, size_t cap, size_t esz, size_t batch,
           void *(*prod)(void *), void *(*cons)(void *))
{
	static struct stress s; /* big: keep it off the stack */
	gv_test_mem tm;
	pthread_t tp, tc;

	gv_test_mem_init(&tm);
	memset(&s, 0, sizeof(s));
	s.n = n;
	s.batch = batch;
	assert_int_equal(gv_spsc_init(&s.ring, &tm.mem, cap, esz), 0);

	double t0 = now_sec();
	assert_int_equal(pthread_create(&tc, NULL, cons, &s), 0);
	assert_int_equal(pthread_create(&tp, NULL, prod, &s), 0);
	assert_int_equal(pthread_join(tp, NULL), 0);
	assert_int_equal(pthread_join(tc, NULL), 0);
	double dt = now_sec() - t0;

	printf("# spsc %s: %lu elements (%zu B, capacity %zu) in %.3f s: "
	       "%.1f M/s\n",
	       what, (unsigned long)s.n, esz, cap, dt, (double)s.n / dt / 1e6);
	if (s.bad)
		printf("# first bad element: expected seq %lu\n",
		       (unsigned long)s.first_bad);
	assert_int_equal(s.received, s.n);
	assert_int_equal(s.bad, 0);
	assert_int_equal(s.bad_size, 0);
	assert_int_equal(gv_spsc_size(&s.ring), 0);
	gv_spsc_fini(&s.ring);
	assert_int_equal(tm.live_bytes, 0);
}

static void
test_spsc_stress(void **state)
{
	(void)state;
	stress_run("single", STRESS_OPS, 1024, sizeof(uint64_t), 0,
	           producer_single, consumer_single);
}

static void
test_spsc_stress_small_ring(void **state)
{
	(void)state;
	/* Capacity 2: full or empty nearly every operation, so slower. */
	stress_run("single/cap2", STRESS_OPS / 10, 2, sizeof(uint64_t), 0,
	           producer_single, consumer_single);
}

static void
test_spsc_stress_batch(void **state)
{
	(void)state;
	stress_run("batch", STRESS_OPS, 256, sizeof(struct msg), 32,
	           producer_batch, consumer_batch);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_spsc_init_errors),
	        cmocka_unit_test(test_spsc_alloc_failure),
	        cmocka_unit_test(test_spsc_basic),
	        cmocka_unit_test(test_spsc_slot_alignment),
	        cmocka_unit_test(test_spsc_model),
	        cmocka_unit_test(test_spsc_batch_edges),
	        cmocka_unit_test(test_spsc_stress),
	        cmocka_unit_test(test_spsc_stress_small_ring),
	        cmocka_unit_test(test_spsc_stress_batch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
