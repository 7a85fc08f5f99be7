/* SPDX-License-Identifier: MIT */
/*
 * test_sim_cache.c - the cache's replicated state on the simulated
 * network, against a simple model:
 *  - counters: increments at every node, under loss, duplication and
 *    reordering and across a partition and its heal, sum to the model on
 *    every node, with no conflict reported and equal Merkle roots;
 *  - expiry: a key expires on every node at its deadline whatever order
 *    its writes arrived in; once every node has reclaimed it the roots
 *    are equal, and they stay equal while only some have (no
 *    anti-entropy ping-pong); a value held by a partitioned node does not
 *    come back over the expired newer write after the heal;
 *  - a counter's EXPIRE concurrent with increments keeps the increments;
 *  - FLUSHDB: writes before it gone everywhere, later ones kept, applied on
 *    heal by a node that was cut off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/node_int.h"
#include "sim/cluster.h"

#define MS_US 1000ull

static gv_cluster *
cluster(size_t nodes, double loss, double dup, double reorder, int mode)
{
	gv_cluster_config cfg;
	gv_cluster_config_default(&cfg);
	cfg.nodes = nodes;
	cfg.seed = 11;
	cfg.node.mode = mode;
	cfg.node.ae_interval_ms = 200;
	cfg.net.loss = loss;
	cfg.net.dup = dup;
	cfg.net.reorder = reorder;
	gv_cluster *c;
	assert_int_equal(gv_cluster_new(&c, &cfg), 0);
	gv_cluster_run_for(c, 500 * MS_US);
	return c;
}

static int
incr(gv_cluster *c, size_t i, const char *key, int64_t by)
{
	gv_incr d = {.di = by};
	gv_node *n = gv_cluster_node(c, i);
	return gv_node_incr(n, gv_cluster_now(c), key, strlen(key), &d,
			    GV_PRIO_NORMAL, NULL);
}

/* The counter's value at node i; INT64_MIN if absent. */
static int64_t
value(gv_cluster *c, size_t i, const char *key)
{
	gv_node *n = gv_cluster_node(c, i);
	gv_record r;
	if (gv_node_get_at(n, gv_cluster_now(c), key, strlen(key), &r))
		return INT64_MIN;
	if (r.kind != GV_KIND_COUNTER) {
		int64_t v;
		assert_true(gv_parse_i64(r.val, r.vlen, &v));
		return v;
	}
	gv_counter ct;
	assert_int_equal(gv_counter_decode(r.val, r.vlen, &ct), 0);
	int64_t v;
	assert_int_equal(gv_counter_int(&ct, &v), 0);
	return v;
}

static uint64_t
conflicts(gv_cluster *c)
{
	uint64_t k = 0;
	for (size_t i = 0; i < gv_cluster_size(c); i++) {
		const gv_node_stats *st =
			gv_node_get_stats(gv_cluster_node(c, i));
		k += st->merge[GV_MERGE_CONFLICT_APPLIED] +
		     st->merge[GV_MERGE_CONFLICT_LOST];
	}
	return k;
}

static void
counters_under(double loss, double dup, double reorder, int mode)
{
	enum { N = 5, ROUNDS = 300 };
	gv_cluster *c = cluster(N, loss, dup, reorder, mode);
	int64_t model = 0;
	unsigned groups[N] = {0, 0, 0, 1, 1};
	uint64_t x = 99;
	for (int r = 0; r < ROUNDS; r++) {
		if (r == ROUNDS / 3)
			assert_int_equal(gv_cluster_partition(c, groups), 0);
		if (r == 2 * ROUNDS / 3)
			gv_cluster_heal(c);
		for (size_t i = 0; i < N; i++) {
			x = x * 6364136223846793005ull + 1;
			int64_t by = (int64_t)((x >> 40) % 7) - 2;
			if (incr(c, i, "hits", by) == 0)
				model += by;
		}
		gv_cluster_run_for(c, 2 * MS_US);
	}
	gv_cluster_set_loss(c, 0);
	gv_cluster_run_until_roots_equal(c, 50 * MS_US,
					 gv_cluster_now(c) + 20000 * MS_US);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(value(c, i, "hits"), model);
	assert_true(gv_cluster_roots_equal(c));
	assert_int_equal(conflicts(c), 0);
	gv_cluster_del(c);
}

static void
test_counters_eager(void **state)
{
	(void)state;
	counters_under(0.05, 0.05, 0.2, GV_MODE_EAGER);
}

static void
test_counters_pushpull(void **state)
{
	(void)state;
	counters_under(0.05, 0.05, 0.2, GV_MODE_PUSHPULL);
}

/* After a SET the next INCR counts from the SET's value. */
static void
test_counter_after_set(void **state)
{
	(void)state;
	gv_cluster *c = cluster(3, 0, 0, 0, GV_MODE_EAGER);
	incr(c, 0, "k", 5);
	incr(c, 1, "k", 5);
	gv_cluster_run_for(c, 100 * MS_US);
	assert_int_equal(value(c, 2, "k"), 10);
	gv_node *n = gv_cluster_node(c, 2);
	assert_int_equal(gv_node_put(n, gv_cluster_now(c), "k", 1, "100", 3,
				     GV_PRIO_NORMAL),
			 0);
	gv_cluster_run_for(c, 100 * MS_US);
	incr(c, 0, "k", 1);
	incr(c, 1, "k", 1);
	gv_cluster_run_for(c, 100 * MS_US);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(value(c, i, "k"), 102);
	/* an INCR of a value that is not an integer is refused */
	assert_int_equal(gv_node_put(n, gv_cluster_now(c), "s", 1, "abc", 3,
				     GV_PRIO_NORMAL),
			 0);
	assert_int_equal(incr(c, 2, "s", 1), GV_ENOTINT);
	gv_cluster_del(c);
}

static uint64_t
clock_ms(gv_cluster *c)
{
	return gv_node_clock_ms(gv_cluster_node(c, 0), gv_cluster_now(c));
}

static void
test_expiry_everywhere(void **state)
{
	(void)state;
	enum { N = 5 };
	gv_cluster *c = cluster(N, 0.02, 0.02, 0.3, GV_MODE_EAGER);
	gv_node *a = gv_cluster_node(c, 0);
	uint64_t deadline = clock_ms(c) + 300;
	char key[16];
	for (int k = 0; k < 200; k++) {
		snprintf(key, sizeof(key), "e%d", k);
		assert_int_equal(gv_node_put_ex(a, gv_cluster_now(c), key,
						strlen(key), "v", 1, deadline,
						GV_PRIO_NORMAL),
				 0);
	}
	assert_int_equal(gv_node_put(a, gv_cluster_now(c), "stay", 4, "v", 1,
				     GV_PRIO_NORMAL),
			 0);
	gv_cluster_run_until_roots_equal(c, 10 * MS_US,
					 gv_cluster_now(c) + 5000 * MS_US);
	/* before the deadline: everywhere; at it: nowhere */
	while (clock_ms(c) + 20 < deadline)
		gv_cluster_run_for(c, 10 * MS_US);
	for (size_t i = 0; i < N; i++) {
		gv_record r;
		assert_int_equal(gv_node_get_at(gv_cluster_node(c, i),
						gv_cluster_now(c), "e7", 2, &r),
				 0);
	}
	while (clock_ms(c) < deadline)
		gv_cluster_run_for(c, 1 * MS_US);
	for (size_t i = 0; i < N; i++) {
		gv_record r;
		assert_int_equal(gv_node_get_at(gv_cluster_node(c, i),
						gv_cluster_now(c), "e7", 2, &r),
				 GV_ENOTFOUND);
		assert_int_equal(gv_node_get_at(gv_cluster_node(c, i),
						gv_cluster_now(c), "stay", 4,
						&r),
				 0);
	}
	/* reclaiming at different moments: the roots never differ for it */
	gv_cluster_set_loss(c, 0);
	uint64_t sessions0 = 0;
	for (size_t i = 0; i < N; i++)
		sessions0 += gv_node_get_stats(gv_cluster_node(c, i))
				     ->ae_entries_sent;
	for (int t = 0; t < 100; t++) {
		gv_cluster_run_for(c, 10 * MS_US);
		assert_true(gv_cluster_roots_equal(c));
	}
	uint64_t reclaimed = 0, sent = 0;
	for (size_t i = 0; i < N; i++) {
		const gv_node_stats *st =
			gv_node_get_stats(gv_cluster_node(c, i));
		reclaimed += st->expired_reclaimed;
		sent += st->ae_entries_sent;
		assert_int_equal(gv_node_store(gv_cluster_node(c, i))->expiring,
				 0);
	}
	assert_int_equal(reclaimed, 200 * N);
	assert_int_equal(sent, sessions0);
	gv_cluster_del(c);
}

/* A node cut off holds the old value; the newer write with a deadline
 * expires while it is away; after the heal the old value stays gone. */
static void
test_expired_write_beats_old_value(void **state)
{
	(void)state;
	enum { N = 4 };
	gv_cluster *c = cluster(N, 0, 0, 0, GV_MODE_EAGER);
	gv_node *a = gv_cluster_node(c, 0);
	assert_int_equal(gv_node_put(a, gv_cluster_now(c), "k", 1, "old", 3,
				     GV_PRIO_NORMAL),
			 0);
	gv_cluster_run_for(c, 200 * MS_US);
	unsigned groups[N] = {0, 0, 0, 1};
	assert_int_equal(gv_cluster_partition(c, groups), 0);
	assert_int_equal(gv_node_put_ex(a, gv_cluster_now(c), "k", 1, "new", 3,
					clock_ms(c) + 200, GV_PRIO_NORMAL),
			 0);
	gv_cluster_run_for(c, 1000 * MS_US);
	gv_record r;
	assert_int_equal(gv_node_get_at(gv_cluster_node(c, 3),
					gv_cluster_now(c), "k", 1, &r),
			 0);
	assert_memory_equal(r.val, "old", 3);
	gv_cluster_heal(c);
	gv_cluster_run_until_roots_equal(c, 50 * MS_US,
					 gv_cluster_now(c) + 20000 * MS_US);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(gv_node_get_at(gv_cluster_node(c, i),
						gv_cluster_now(c), "k", 1, &r),
				 GV_ENOTFOUND);
	gv_cluster_del(c);
}

/* EXPIRE on a counter while another node increments: both kept. */
static void
test_counter_expire_keeps_increments(void **state)
{
	(void)state;
	gv_cluster *c = cluster(3, 0, 0, 0.3, GV_MODE_EAGER);
	incr(c, 0, "ctr", 1);
	gv_cluster_run_for(c, 100 * MS_US);
	gv_node *b = gv_cluster_node(c, 1);
	uint64_t deadline = clock_ms(c) + 60000;
	assert_int_equal(gv_node_expire(b, gv_cluster_now(c), "ctr", 3,
					deadline, GV_PRIO_NORMAL),
			 0);
	incr(c, 2, "ctr", 10); /* concurrent with the EXPIRE */
	gv_cluster_run_for(c, 500 * MS_US);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(value(c, i, "ctr"), 11);
		gv_record r;
		gv_node_get_at(gv_cluster_node(c, i), gv_cluster_now(c), "ctr",
			       3, &r);
		assert_int_equal(r.expire, deadline);
	}
	gv_cluster_del(c);
}

static bool
has(gv_cluster *c, size_t i, const char *key)
{
	gv_record r;
	return gv_node_get_at(gv_cluster_node(c, i), gv_cluster_now(c), key,
			      strlen(key), &r) == 0;
}

static void
put(gv_cluster *c, size_t i, const char *key)
{
	assert_int_equal(gv_node_put(gv_cluster_node(c, i), gv_cluster_now(c),
				     key, strlen(key), "v", 1, GV_PRIO_NORMAL),
			 0);
}

/* FLUSHDB: writes ordered before it are gone on every node, later ones
 * survive, and a node partitioned during it applies it on heal. */
static void
test_flush(void **state)
{
	(void)state;
	enum { N = 4 };
	gv_cluster *c = cluster(N, 0.02, 0.02, 0.2, GV_MODE_EAGER);
	char key[32];
	for (int k = 0; k < 300; k++) {
		snprintf(key, sizeof(key), "old%d", k);
		put(c, (size_t)k % N, key);
	}
	incr(c, 1, "ctr", 5);
	gv_cluster_run_until_roots_equal(c, 10 * MS_US,
					 gv_cluster_now(c) + 5000 * MS_US);
	unsigned groups[N] = {0, 0, 0, 1};
	assert_int_equal(gv_cluster_partition(c, groups), 0);
	put(c, 3, "cut_before"); /* on the far side, before the flush */
	gv_cluster_run_for(c, 50 * MS_US);
	assert_int_equal(gv_node_flush(gv_cluster_node(c, 0), gv_cluster_now(c),
				       GV_PRIO_NORMAL),
			 0);
	gv_cluster_run_for(c, 50 * MS_US);
	put(c, 1, "new_majority");
	put(c, 3, "cut_after"); /* after the flush, not seen there yet */
	gv_cluster_run_for(c, 500 * MS_US);
	assert_false(has(c, 1, "old7"));
	assert_true(has(c, 3, "old7")); /* not applied across the cut yet */
	gv_cluster_heal(c);
	gv_cluster_set_loss(c, 0);
	gv_cluster_run_until_roots_equal(c, 50 * MS_US,
					 gv_cluster_now(c) + 20000 * MS_US);
	assert_true(gv_cluster_roots_equal(c));
	for (size_t i = 0; i < N; i++) {
		for (int k = 0; k < 300; k++) {
			snprintf(key, sizeof(key), "old%d", k);
			assert_false(has(c, i, key));
		}
		assert_false(has(c, i, "ctr"));
		assert_false(has(c, i, "cut_before"));
		assert_true(has(c, i, "new_majority"));
		assert_true(has(c, i, "cut_after"));
		const gv_store *st = gv_node_store(gv_cluster_node(c, i));
		/* only the two later keys and the flush entry remain */
		assert_int_equal(st->count - st->tombstones -
					 gv_node_reserved_count(
						 gv_cluster_node(c, i)),
				 2);
		assert_true(gv_node_get_stats(gv_cluster_node(c, i))->flushes >=
			    1);
	}
	gv_cluster_del(c);
}

/* SET NX at two nodes cut apart: both succeed (a local check); when the
 * heal brings them together the conflict is counted in nx_conflicts, and
 * a plain SET's conflict is not. */
static void
test_nx_conflicts(void **state)
{
	(void)state;
	enum { N = 4 };
	gv_cluster *c = cluster(N, 0, 0, 0, GV_MODE_EAGER);
	unsigned groups[N] = {0, 0, 1, 1};
	assert_int_equal(gv_cluster_partition(c, groups), 0);
	gv_node *a = gv_cluster_node(c, 0), *b = gv_cluster_node(c, 2);
	assert_int_equal(gv_node_put_nx(a, gv_cluster_now(c), "lock", 4, "a", 1,
					0, GV_PRIO_NORMAL),
			 0);
	assert_int_equal(gv_node_put_nx(b, gv_cluster_now(c), "lock", 4, "b", 1,
					0, GV_PRIO_NORMAL),
			 0);
	gv_cluster_run_for(c, 100 * MS_US);
	/* a second try on a's side finds the key there */
	assert_int_equal(gv_node_put_nx(gv_cluster_node(c, 1),
					gv_cluster_now(c), "lock", 4, "c", 1,
					0, GV_PRIO_NORMAL),
			 1);
	put(c, 0, "plain");
	put(c, 2, "plain");
	gv_cluster_run_for(c, 300 * MS_US);
	gv_cluster_heal(c);
	gv_cluster_run_until_roots_equal(c, 50 * MS_US,
					 gv_cluster_now(c) + 20000 * MS_US);
	uint64_t nx = 0, all = conflicts(c);
	for (size_t i = 0; i < N; i++)
		nx += gv_node_get_stats(gv_cluster_node(c, i))->nx_conflicts;
	assert_true(nx >= 1);
	assert_true(all > nx); /* the plain SETs' conflict is not one */
	gv_cluster_del(c);
}

/* A node restarted empty (same id) keeps counting: its increments go to
 * a new slot, not to one whose sequence it forgot. */
static void
test_counter_restart(void **state)
{
	(void)state;
	enum { N = 3 };
	gv_cluster *c = cluster(N, 0, 0, 0, GV_MODE_EAGER);
	int64_t model = 0;
	for (int r = 0; r < 50; r++)
		for (size_t i = 0; i < N; i++)
			if (incr(c, i, "k", 1) == 0)
				model++;
	gv_cluster_run_until_roots_equal(c, 10 * MS_US,
					 gv_cluster_now(c) + 5000 * MS_US);
	assert_int_equal(gv_cluster_crash(c, 1), 0);
	gv_cluster_run_for(c, 200 * MS_US);
	assert_int_equal(gv_cluster_restart(c, 1, false), 0);
	/* at once: before anti-entropy has brought its old state back */
	for (int r = 0; r < 20; r++)
		if (incr(c, 1, "k", 1) == 0)
			model++;
	gv_cluster_run_until_roots_equal(c, 50 * MS_US,
					 gv_cluster_now(c) + 20000 * MS_US);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(value(c, i, "k"), model);
	gv_cluster_del(c);
}

/* EXPIRE at one node, SET at another, cut apart: on heal every node
 * agrees, and on the later of the two (last write wins). */
static void
test_expire_vs_set(void **state)
{
	(void)state;
	enum { N = 4 };
	for (int later = 0; later < 2; later++) {
		gv_cluster *c = cluster(N, 0, 0, 0.3, GV_MODE_EAGER);
		put(c, 0, "k");
		gv_cluster_run_for(c, 200 * MS_US);
		unsigned groups[N] = {0, 0, 1, 1};
		assert_int_equal(gv_cluster_partition(c, groups), 0);
		uint64_t deadline = clock_ms(c) + 600000;
		gv_node *a = gv_cluster_node(c, 0), *b = gv_cluster_node(c, 2);
		if (later) {
			assert_int_equal(gv_node_put(b, gv_cluster_now(c), "k",
						     1, "set", 3,
						     GV_PRIO_NORMAL),
					 0);
			gv_cluster_run_for(c, 5 * MS_US);
		}
		assert_int_equal(gv_node_expire(a, gv_cluster_now(c), "k", 1,
						deadline, GV_PRIO_NORMAL),
				 0);
		if (!later) {
			gv_cluster_run_for(c, 5 * MS_US);
			assert_int_equal(gv_node_put(b, gv_cluster_now(c), "k",
						     1, "set", 3,
						     GV_PRIO_NORMAL),
					 0);
		}
		gv_cluster_run_for(c, 200 * MS_US);
		gv_cluster_heal(c);
		gv_cluster_run_until_roots_equal(
			c, 50 * MS_US, gv_cluster_now(c) + 20000 * MS_US);
		for (size_t i = 0; i < N; i++) {
			gv_record r;
			assert_int_equal(gv_node_get_at(gv_cluster_node(c, i),
							gv_cluster_now(c), "k",
							1, &r),
					 0);
			if (later) { /* the EXPIRE came last: old value, TTL */
				assert_memory_equal(r.val, "v", 1);
				assert_int_equal(r.expire, deadline);
			} else { /* the SET came last: its value, no TTL */
				assert_memory_equal(r.val, "set", 3);
				assert_int_equal(r.expire, 0);
			}
		}
		gv_cluster_del(c);
	}
}

/* WAIT's question: members holding a write count once they answer; one
 * cut off does not, and counts after the heal brings it the write. */
static void
test_holders(void **state)
{
	(void)state;
	enum { N = 4 };
	gv_cluster *c = cluster(N, 0, 0, 0, GV_MODE_EAGER);
	unsigned groups[N] = {0, 0, 0, 1};
	assert_int_equal(gv_cluster_partition(c, groups), 0);
	gv_node *a = gv_cluster_node(c, 0);
	put(c, 0, "w");
	gv_record r;
	assert_int_equal(gv_node_get_at(a, gv_cluster_now(c), "w", 1, &r), 0);
	gv_version ver = r.ver;
	unsigned holders = 0, alive = 0;
	for (int i = 0; i < 50; i++) {
		assert_int_equal(gv_node_holders(a, gv_cluster_now(c), "w", 1,
						 &ver, &holders, &alive),
				 0);
		gv_cluster_run_for(c, 3 * MS_US);
	}
	assert_int_equal(holders, 2); /* nodes 1 and 2; 3 is cut off */
	/* a newer write asked about: nobody holds it yet but its writer */
	gv_version later = {ver.hlc + (1 << 16), ver.origin};
	assert_int_equal(gv_node_holders(a, gv_cluster_now(c), "w", 1, &later,
					 &holders, &alive),
			 0);
	gv_cluster_run_for(c, 10 * MS_US);
	assert_int_equal(gv_node_holders(a, gv_cluster_now(c), "w", 1, &later,
					 &holders, &alive),
			 0);
	assert_int_equal(holders, 0);
	gv_cluster_heal(c);
	gv_cluster_run_until_roots_equal(c, 50 * MS_US,
					 gv_cluster_now(c) + 20000 * MS_US);
	for (int i = 0; i < 50 && holders < 3; i++) {
		gv_node_holders(a, gv_cluster_now(c), "w", 1, &ver, &holders,
				&alive);
		gv_cluster_run_for(c, 3 * MS_US);
	}
	assert_int_equal(holders, 3);
	gv_cluster_del(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counters_eager),
		cmocka_unit_test(test_counters_pushpull),
		cmocka_unit_test(test_counter_after_set),
		cmocka_unit_test(test_expiry_everywhere),
		cmocka_unit_test(test_expired_write_beats_old_value),
		cmocka_unit_test(test_counter_expire_keeps_increments),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_nx_conflicts),
		cmocka_unit_test(test_counter_restart),
		cmocka_unit_test(test_expire_vs_set),
		cmocka_unit_test(test_holders),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
