/* SPDX-License-Identifier: MIT */
/*
 * test_sim_bounds.c - the node's send queues are bounded, and a write that
 * finds its queue full is still stored, counted, and reaches every node
 * through anti-entropy: the eager flooding buffer (flood_max_bytes,
 * flood_drops), the push rumor queue (max_rumors, rumor_drops) and the
 * ready list of bulk datagrams (ready_max_bytes, outbox_drops). Each test
 * shrinks one bound far below its default so that it overflows, then
 * checks that nothing accepted is lost. Figures are printed as `# ` lines.
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
#define N 20

static gv_cluster *
cluster(const gv_node_config *tmpl)
{
	gv_cluster_config cfg;
	gv_cluster_config_default(&cfg);
	cfg.nodes = N;
	cfg.seed = 7;
	if (tmpl)
		cfg.node = *tmpl;
	gv_cluster *c;
	assert_int_equal(gv_cluster_new(&c, &cfg), 0);
	return c;
}

static uint64_t
sum_stat(gv_cluster *c, size_t off)
{
	uint64_t t = 0;
	for (size_t i = 0; i < gv_cluster_size(c); i++) {
		const gv_node_stats *st = gv_node_get_stats(gv_cluster_node(c, i));
		t += *(const uint64_t *)((const char *)st + off);
	}
	return t;
}

/* `count` writes at node 0 with no time between them: they all wait for
 * the same send. */
static void
burst(gv_cluster *c, struct write_log *l, int count)
{
	char key[48], val[64];
	for (int k = 0; k < count; k++) {
		snprintf(key, sizeof(key), "burst%d", k);
		snprintf(val, sizeof(val), "value-%d-%032d", k, k);
		assert_int_equal(sim_put(c, l, 0, key, val, false), 0);
	}
}

static void
settle(gv_cluster *c, struct write_log *l, const char *what, size_t off)
{
	gv_time t0 = gv_cluster_now(c);
	gv_time eq = gv_cluster_run_until_roots_equal(c, 10000, t0 + 60 * S);
	assert_true(eq != GV_TIME_NEVER);
	uint64_t drops = sum_stat(c, off);
	printf("# %s: %llu dropped from the queue, every node holds every "
	       "write %.0f ms after the burst\n",
	       what, (unsigned long long)drops, (double)(eq - t0) / 1000.0);
	assert_true(drops > 0);
	assert_int_equal(check_identical(c), 0);
	assert_int_equal(check_no_lost_writes(c, l), 0);
	free(l->w);
}

static void
test_sim_bounds_flood(void **state)
{
	(void)state;
	gv_node_config nc;
	gv_node_config_default(&nc);
	nc.flood_max_bytes = 1024; /* ~10 writes per pass */
	gv_cluster *c = cluster(&nc);
	gv_cluster_run_for(c, S);
	struct write_log l = {0};
	burst(c, &l, 500);
	settle(c, &l, "eager, flood buffer of 1 KiB, 500 writes at once",
	       offsetof(gv_node_stats, flood_drops));
	gv_cluster_del(c);
}

static void
test_sim_bounds_rumors(void **state)
{
	(void)state;
	gv_node_config nc;
	gv_node_config_default(&nc);
	nc.mode = GV_MODE_PUSH;
	nc.max_rumors = 8;
	gv_cluster *c = cluster(&nc);
	gv_cluster_run_for(c, S);
	struct write_log l = {0};
	burst(c, &l, 500);
	settle(c, &l, "push, 8 rumors queued at most, 500 writes at once",
	       offsetof(gv_node_stats, rumor_drops));
	gv_cluster_del(c);
}

static void
test_sim_bounds_ready(void **state)
{
	(void)state;
	gv_node_config nc;
	gv_node_config_default(&nc);
	nc.ready_max_bytes = 4096; /* two bulk datagrams */
	gv_cluster *c = cluster(&nc);
	gv_cluster_run_for(c, S);
	struct write_log l = {0};
	/* node 5 is down while the others take 2,000 writes; it comes back
	 * empty and anti-entropy, through ready lists of 4 KiB, fills it */
	assert_int_equal(gv_cluster_crash(c, 5), 0);
	for (int k = 0; k < 2000; k++) {
		char key[48], val[64];
		snprintf(key, sizeof(key), "k%d", k);
		snprintf(val, sizeof(val), "v%d-%040d", k, k);
		assert_int_equal(sim_put(c, &l, (size_t)k % 4, key, val, false),
				 0);
		if (k % 50 == 0)
			gv_cluster_run_for(c, 1000);
	}
	gv_cluster_run_for(c, S);
	assert_int_equal(gv_cluster_restart(c, 5, false), 0);
	settle(c, &l, "anti-entropy into an empty node, ready list of 4 KiB",
	       offsetof(gv_node_stats, outbox_drops));
	gv_cluster_del(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_bounds_flood),
		cmocka_unit_test(test_sim_bounds_rumors),
		cmocka_unit_test(test_sim_bounds_ready),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
