/* SPDX-License-Identifier: MIT */
/*
 * test_hlc.c - the hybrid logical clock: monotonic under any wall clock,
 * ahead of everything observed, future timestamps rejected and counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/hlc.h"
#include "core/rng.h"

static void
test_hlc_monotonic_with_wall_clock(void **state)
{
	gv_hlc c;
	gv_hlc_init(&c, 0);
	assert_int_equal(c.max_drift_ms, GV_HLC_DEFAULT_MAX_DRIFT_MS);
	uint64_t a = gv_hlc_now(&c, 1000);
	assert_int_equal(gv_hlc_ms(a), 1000);
	assert_int_equal(a & 0xffff, 0);
	uint64_t b = gv_hlc_now(&c, 1000); /* same millisecond: logical + 1 */
	assert_true(b > a);
	assert_int_equal(gv_hlc_ms(b), 1000);
	assert_int_equal(b & 0xffff, 1);
	uint64_t d = gv_hlc_now(&c, 1005); /* wall moved: logical resets */
	assert_int_equal(d, gv_hlc_make(1005, 0));
}

static void
test_hlc_backward_wall_clock(void **state)
{
	gv_hlc c;
	gv_hlc_init(&c, 0);
	uint64_t a = gv_hlc_now(&c, 50000);
	/* The wall clock steps back by 10 s: timestamps keep increasing and
	 * stay at the old physical time until the wall clock catches up. */
	uint64_t prev = a;
	for (int i = 0; i < 1000; i++) {
		uint64_t t = gv_hlc_now(&c, 40000 + (uint64_t)i);
		assert_true(t > prev);
		assert_int_equal(gv_hlc_ms(t), 50000);
		prev = t;
	}
	assert_int_equal(gv_hlc_now(&c, 50001), gv_hlc_make(50001, 0));
}

static void
test_hlc_logical_overflow_carries(void **state)
{
	gv_hlc c;
	gv_hlc_init(&c, 0);
	uint64_t prev = gv_hlc_now(&c, 7);
	for (int i = 0; i < 70000; i++) {
		uint64_t t = gv_hlc_now(&c, 7);
		assert_true(t > prev);
		prev = t;
	}
	assert_int_equal(gv_hlc_ms(prev), 8); /* 65,536 ticks carried */
}

static void
test_hlc_observe_orders_after_remote(void **state)
{
	gv_hlc c;
	gv_hlc_init(&c, 0);
	gv_hlc_now(&c, 1000);
	uint64_t remote = gv_hlc_make(1500, 42); /* a peer 500 ms ahead */
	assert_int_equal(gv_hlc_observe(&c, remote, 1000), 0);
	uint64_t t = gv_hlc_now(&c, 1001);
	assert_true(t > remote);
	assert_int_equal(gv_hlc_ms(t), 1500);
	/* Observing an old timestamp changes nothing but still orders. */
	uint64_t before = gv_hlc_now(&c, 1002);
	assert_int_equal(gv_hlc_observe(&c, gv_hlc_make(10, 0), 1002), 0);
	assert_true(gv_hlc_now(&c, 1002) > before);
	assert_int_equal(c.rejected, 0);
}

static void
test_hlc_future_rejected(void **state)
{
	gv_hlc c;
	gv_hlc_init(&c, 60000);
	uint64_t t0 = gv_hlc_now(&c, 100000);
	uint64_t far = gv_hlc_make(100000 + 60001, 0);
	assert_false(gv_hlc_acceptable(&c, far, 100000));
	assert_int_equal(gv_hlc_observe(&c, far, 100000), GV_EFUTURE);
	assert_int_equal(c.rejected, 1);
	/* Not adopted: the next local timestamp is near the wall clock. */
	uint64_t t1 = gv_hlc_now(&c, 100000);
	assert_int_equal(t1, t0 + 1);
	/* Exactly at the limit is accepted. */
	uint64_t edge = gv_hlc_make(100000 + 60000, 5);
	assert_int_equal(gv_hlc_observe(&c, edge, 100000), 0);
	assert_true(gv_hlc_now(&c, 100000) > edge);
	/* A custom drift bound. */
	gv_hlc_init(&c, 10);
	assert_int_equal(gv_hlc_observe(&c, gv_hlc_make(111, 0), 100),
			 GV_EFUTURE);
	assert_int_equal(gv_hlc_observe(&c, gv_hlc_make(110, 0), 100), 0);
}

/* Random interleavings of local events and messages among 4 clocks: every
 * clock is strictly monotonic and every receive orders after its send
 * (the happens-before property HLC exists for). */
static void
test_hlc_random_causality(void **state)
{
	gv_rng rng;
	gv_rng_seed(&rng, 7);
	gv_hlc c[4];
	uint64_t last[4] = {0};
	uint64_t wall[4] = {1000, 900, 1200, 1100}; /* skewed clocks */
	for (int i = 0; i < 4; i++)
		gv_hlc_init(&c[i], 0);
	for (int step = 0; step < 100000; step++) {
		int n = (int)gv_rng_below(&rng, 4);
		/* wall clocks drift and sometimes step back */
		if (gv_rng_below(&rng, 100) == 0 && wall[n] > 50)
			wall[n] -= gv_rng_below(&rng, 50);
		else
			wall[n] += gv_rng_below(&rng, 3);
		uint64_t sent = gv_hlc_now(&c[n], wall[n]);
		assert_true(sent > last[n]);
		last[n] = sent;
		int m = (int)gv_rng_below(&rng, 4);
		assert_int_equal(gv_hlc_observe(&c[m], sent, wall[m]), 0);
		uint64_t after = gv_hlc_now(&c[m], wall[m]);
		assert_true(after > sent);
		assert_true(after > last[m]);
		last[m] = after;
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hlc_monotonic_with_wall_clock),
		cmocka_unit_test(test_hlc_backward_wall_clock),
		cmocka_unit_test(test_hlc_logical_overflow_carries),
		cmocka_unit_test(test_hlc_observe_orders_after_remote),
		cmocka_unit_test(test_hlc_future_rejected),
		cmocka_unit_test(test_hlc_random_causality),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
