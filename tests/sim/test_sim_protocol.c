/* SPDX-License-Identifier: MIT */
/*
 * test_sim_protocol.c - the protocol's claims, shown in the deterministic
 * simulator with fixed seeds: convergence under loss, partitions with
 * conflicting writes and healing, failure detection without false
 * positives, rejoin and catch-up, deletes that never resurrect and
 * tombstones that are collected. Figures are printed as `# ` lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sim_check.h"

#define S 1000000ull /* one virtual second */

static gv_cluster *
cluster(size_t n, uint64_t seed, unsigned regions, double loss)
{
	gv_cluster_config cfg;
	gv_cluster_config_default(&cfg);
	cfg.nodes = n;
	cfg.seed = seed;
	cfg.regions = regions;
	cfg.net.loss = loss;
	gv_cluster *c;
	assert_int_equal(gv_cluster_new(&c, &cfg), 0);
	return c;
}

static void
free_log(struct write_log *l)
{
	free(l->w);
	memset(l, 0, sizeof(*l));
}

/* 1,000 writes at random nodes (some to the same keys), 1 ms apart. */
static void
write_burst(gv_cluster *c, struct write_log *l, gv_rng *rng, int n,
	    const char *prefix)
{
	char key[48], val[32];
	for (int k = 0; k < n; k++) {
		size_t i = gv_rng_below(rng, gv_cluster_size(c));
		snprintf(key, sizeof(key), "%s%llu", prefix,
			 (unsigned long long)gv_rng_below(rng, 600));
		snprintf(val, sizeof(val), "v%d@%zu", k, i);
		if (gv_cluster_up(c, i))
			sim_put(c, l, i, key, val, false);
		gv_cluster_run_for(c, 1000);
	}
}

static void
converge_under_loss(double loss, uint64_t seed)
{
	gv_cluster *c = cluster(150, seed, 0, loss);
	gv_cluster_run_for(c, S);
	struct write_log l = {0};
	gv_rng rng;
	gv_rng_seed(&rng, seed);
	write_burst(c, &l, &rng, 1000, "k");
	gv_time t0 = gv_cluster_now(c);
	gv_time eq = gv_cluster_run_until_roots_equal(c, 10000, t0 + 60 * S);
	assert_true(eq != GV_TIME_NEVER);
	printf("# 150 nodes, 1000 writes, loss %.0f%%: roots equal %.0f ms "
	       "after the last write\n",
	       loss * 100, (double)(eq - t0) / 1000.0);
	assert_int_equal(check_identical(c), 0);
	assert_int_equal(check_no_lost_writes(c, &l), 0);
	free_log(&l);
	gv_cluster_del(c);
}

static void
test_sim_converge_no_loss(void **state)
{
	converge_under_loss(0.0, 11);
}

static void
test_sim_converge_20pct_loss(void **state)
{
	converge_under_loss(0.2, 12);
}

/* ------------------------------------------------------------ partition */

static bool
log_has_pair(gv_cluster *c, const char *key, const char *va, const char *vb)
{
	gv_conflict_info ci[128];
	for (size_t i = 0; i < gv_cluster_size(c); i++) {
		size_t k = gv_node_conflicts(gv_cluster_node(c, i), ci, 128);
		for (size_t j = 0; j < k; j++) {
			if (ci[j].klen != strlen(key) ||
			    memcmp(ci[j].key, key, ci[j].klen))
				continue;
			bool ab = ci[j].winner_vlen == strlen(va) &&
				  !memcmp(ci[j].winner_val, va, strlen(va)) &&
				  ci[j].loser_vlen == strlen(vb) &&
				  !memcmp(ci[j].loser_val, vb, strlen(vb));
			bool ba = ci[j].winner_vlen == strlen(vb) &&
				  !memcmp(ci[j].winner_val, vb, strlen(vb)) &&
				  ci[j].loser_vlen == strlen(va) &&
				  !memcmp(ci[j].loser_val, va, strlen(va));
			if (ab || ba)
				return true;
		}
	}
	return false;
}

static void
test_sim_partition_conflicts_heal(void **state)
{
	enum { N = 150 };
	gv_cluster *c = cluster(N, 21, 3, 0.0);
	gv_cluster_run_for(c, 2 * S);
	/* split 50 / 100 across the three regions */
	unsigned group[N];
	for (size_t i = 0; i < N; i++)
		group[i] = i < 50 ? 1 : 0;
	gv_cluster_reset_events(c);
	gv_time tp = gv_cluster_now(c);
	assert_int_equal(gv_cluster_partition(c, group), 0);
	/* the minority notices */
	gv_time detect = GV_TIME_NEVER;
	for (int step = 0; step < 300; step++) {
		gv_cluster_run_for(c, 100000);
		if (gv_cluster_get_events(c)->nodes_partitioned == 50) {
			detect = gv_cluster_now(c);
			break;
		}
	}
	assert_true(detect != GV_TIME_NEVER);
	printf("# partition 50/100: all 50 minority nodes raised the event "
	       "within %.1f s\n",
	       (double)(detect - tp) / 1e6);
	/* conflicting writes on both sides */
	struct write_log l = {0};
	char key[32], va[32], vb[32];
	for (int k = 0; k < 20; k++) {
		snprintf(key, sizeof(key), "cfg%d", k);
		snprintf(va, sizeof(va), "minority-%d", k);
		snprintf(vb, sizeof(vb), "majority-%d", k);
		assert_int_equal(sim_put(c, &l, (size_t)k % 50, key, va, false),
				 0);
		assert_int_equal(sim_put(c, &l, 50 + (size_t)k * 3, key, vb,
					 false),
				 0);
		gv_cluster_run_for(c, 10000);
	}
	gv_cluster_run_for(c, 5 * S);
	/* heal */
	gv_time th = gv_cluster_now(c);
	gv_cluster_heal(c);
	gv_time eq = gv_cluster_run_until_roots_equal(c, 10000, th + 120 * S);
	assert_true(eq != GV_TIME_NEVER);
	printf("# heal: roots equal %.0f ms after the partition healed\n",
	       (double)(eq - th) / 1000.0);
	gv_cluster_run_for(c, 20 * S);
	assert_true(gv_cluster_roots_equal(c));
	const gv_cluster_events *ev = gv_cluster_get_events(c);
	assert_true(ev->partition >= 50);
	assert_true(ev->heal >= 50);
	assert_int_equal(ev->nodes_partitioned, 0);
	assert_int_equal(check_identical(c), 0);
	assert_int_equal(check_no_lost_writes(c, &l), 0);
	/* every conflict resolved the same way everywhere, and logged with
	 * both values */
	for (int k = 0; k < 20; k++) {
		snprintf(key, sizeof(key), "cfg%d", k);
		snprintf(va, sizeof(va), "minority-%d", k);
		snprintf(vb, sizeof(vb), "majority-%d", k);
		assert_true(log_has_pair(c, key, va, vb));
	}
	free_log(&l);
	gv_cluster_del(c);
}

/* ------------------------------------------------- failure detection */

static void
test_sim_failure_detection_and_rejoin(void **state)
{
	enum { N = 150 };
	gv_cluster *c = cluster(N, 31, 0, 0.0);
	gv_cluster_run_for(c, 2 * S);
	struct write_log l = {0};
	gv_rng rng;
	gv_rng_seed(&rng, 31);
	write_burst(c, &l, &rng, 100, "a");
	size_t victim = 77;
	gv_node_id vid = gv_cluster_id(c, victim);
	gv_time tc = gv_cluster_now(c);
	assert_int_equal(gv_cluster_crash(c, victim), 0);
	gv_time all_dead = GV_TIME_NEVER;
	for (int step = 0; step < 600; step++) {
		gv_cluster_run_for(c, 100000);
		if (gv_cluster_count_view(c, vid, GV_MEMBER_DEAD) == N - 1) {
			all_dead = gv_cluster_now(c);
			break;
		}
	}
	assert_true(all_dead != GV_TIME_NEVER);
	double secs = (double)(all_dead - tc) / 1e6;
	printf("# crash of 1 of 150: every live node marked it dead after "
	       "%.1f s (bound 30 s; test_sim_detect times it)\n",
	       secs);
	assert_true(secs <= 30.0);
	/* writes while it is down; it comes back empty and catches up */
	write_burst(c, &l, &rng, 100, "b");
	assert_int_equal(gv_cluster_restart(c, victim, false), 0);
	gv_time tr = gv_cluster_now(c);
	gv_time back = GV_TIME_NEVER;
	for (int step = 0; step < 300; step++) {
		gv_cluster_run_for(c, 100000);
		if (gv_cluster_count_view(c, vid, GV_MEMBER_ALIVE) == N - 1 &&
		    gv_cluster_roots_equal(c)) {
			back = gv_cluster_now(c);
			break;
		}
	}
	assert_true(back != GV_TIME_NEVER);
	printf("# restart empty: alive everywhere and caught up after "
	       "%.1f s\n",
	       (double)(back - tr) / 1e6);
	assert_int_equal(check_no_lost_writes(c, &l), 0);
	free_log(&l);
	gv_cluster_del(c);
}

static void
test_sim_no_false_death_at_10pct_loss(void **state)
{
	enum { N = 150 };
	gv_cluster *c = cluster(N, 41, 0, 0.10);
	gv_cluster_run_for(c, 600 * S); /* ten virtual minutes */
	const gv_cluster_events *ev = gv_cluster_get_events(c);
	uint64_t susp = 0, refutes = 0;
	for (size_t i = 0; i < N; i++) {
		const gv_node_stats *st =
			gv_node_get_stats(gv_cluster_node(c, i));
		susp += st->suspicions;
		refutes += st->refutes;
	}
	printf("# 10%% loss, 10 min, 150 nodes: %llu suspicions, %llu "
	       "refutations, %llu deaths\n",
	       (unsigned long long)susp, (unsigned long long)refutes,
	       (unsigned long long)ev->member_dead);
	assert_int_equal(ev->member_dead, 0);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(gv_cluster_count_view(c, gv_cluster_id(c, i),
						       GV_MEMBER_DEAD),
				 0);
	gv_cluster_del(c);
}

/* ------------------------------------------------------------ deletes */

static void
test_sim_delete_during_partition(void **state)
{
	enum { N = 60 };
	gv_cluster *c = cluster(N, 51, 0, 0.0);
	gv_cluster_run_for(c, S);
	struct write_log l = {0};
	assert_int_equal(sim_put(c, &l, 3, "doomed", "old", false), 0);
	assert_int_equal(sim_put(c, &l, 4, "kept", "yes", false), 0);
	gv_cluster_run_for(c, S);
	unsigned group[N];
	for (size_t i = 0; i < N; i++)
		group[i] = i < 20 ? 1 : 0;
	assert_int_equal(gv_cluster_partition(c, group), 0);
	gv_cluster_run_for(c, 2 * S);
	/* delete on the minority side; the majority still has the value */
	assert_int_equal(sim_put(c, &l, 5, "doomed", "", true), 0);
	gv_cluster_run_for(c, 20 * S);
	gv_record r;
	assert_int_equal(gv_node_get(gv_cluster_node(c, 40), "doomed", 6, &r),
			 0);
	gv_cluster_heal(c);
	gv_time eq = gv_cluster_run_until_roots_equal(
		c, 10000, gv_cluster_now(c) + 120 * S);
	assert_true(eq != GV_TIME_NEVER);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(gv_node_get(gv_cluster_node(c, i), "doomed",
					     6, &r),
				 GV_ENOTFOUND);
	/* it never comes back, and the tombstones are collected */
	gv_time tc = GV_TIME_NEVER, t0 = gv_cluster_now(c);
	for (int step = 0; step < 120; step++) {
		gv_cluster_run_for(c, S);
		size_t tombs = 0;
		for (size_t i = 0; i < N; i++) {
			gv_node *n = gv_cluster_node(c, i);
			assert_int_equal(gv_node_get(n, "doomed", 6, &r),
					 GV_ENOTFOUND);
			tombs += gv_node_store(n)->tombstones;
		}
		if (!tombs && tc == GV_TIME_NEVER)
			tc = gv_cluster_now(c);
	}
	assert_true(tc != GV_TIME_NEVER);
	printf("# delete in a partition: absent everywhere after heal; "
	       "tombstones collected %.0f s after the roots agreed\n",
	       (double)(tc - t0) / 1e6);
	for (size_t i = 0; i < N; i++) {
		gv_node *n = gv_cluster_node(c, i);
		assert_int_equal(gv_store_lookup(gv_node_store(n), "doomed", 6,
						 &r),
				 GV_ENOTFOUND);
		assert_int_equal(gv_node_get(n, "kept", 4, &r), 0);
	}
	assert_true(gv_cluster_roots_equal(c));
	free_log(&l);
	gv_cluster_del(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_converge_no_loss),
		cmocka_unit_test(test_sim_converge_20pct_loss),
		cmocka_unit_test(test_sim_partition_conflicts_heal),
		cmocka_unit_test(test_sim_failure_detection_and_rejoin),
		cmocka_unit_test(test_sim_no_false_death_at_10pct_loss),
		cmocka_unit_test(test_sim_delete_during_partition),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
