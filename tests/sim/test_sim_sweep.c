/* SPDX-License-Identifier: MIT */
/*
 * test_sim_sweep.c - many seeds, short runs: random writes and deletes,
 * random loss, partitions, crashes and restarts (empty or with state); then
 * the network heals and the invariants must hold: identical contents and
 * Merkle roots on every live node, no accepted write lost, no deleted key
 * back. Also the smaller protocol features: regions, priorities, the
 * read-only minority, and the periodic modes, each converging fully.
 *
 * A failing seed is printed; rerun it alone with GV_SWEEP_SEED=<seed>.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sim_check.h"

#define S 1000000ull

#ifdef GV_SANITIZED
#define SEEDS 6
#else
#define SEEDS 24
#endif

/*
 * Node i restarts empty: a write that no other node holds (at least as
 * new) dies with it - it was accepted there and the node crashed before
 * passing it on, or the others that had it were lost the same way. That is
 * the contract of an in-memory replica, not a lost write, so drop it from
 * the log. (Crashed nodes that keep their state still count as holders.)
 */
static void
forget_unreplicated(gv_cluster *c, struct write_log *l, size_t i)
{
	size_t k = 0;
	for (size_t w = 0; w < l->n; w++) {
		struct accepted *a = &l->w[w];
		bool keep = false;
		for (size_t j = 0; !keep && j < gv_cluster_size(c); j++) {
			if (j == i)
				continue;
			gv_record r;
			if (gv_store_lookup(gv_node_store(gv_cluster_node(c, j)),
					    a->key, a->klen, &r) == 0 &&
			    gv_version_cmp(&r.ver, &a->ver) >= 0)
				keep = true;
		}
		if (keep)
			l->w[k++] = *a;
	}
	l->n = k;
}

static void
one_seed(uint64_t seed)
{
	gv_rng rng;
	gv_rng_seed(&rng, seed);
	gv_cluster_config cfg;
	gv_cluster_config_default(&cfg);
	cfg.nodes = 12 + gv_rng_below(&rng, 30);
	cfg.seed = seed;
	cfg.node.mode = (enum gv_mode)gv_rng_below(&rng, 4);
	cfg.net.loss = 0.05 * (double)gv_rng_below(&rng, 5);
	cfg.net.dup = 0.02 * (double)gv_rng_below(&rng, 3);
	cfg.net.reorder = 0.1 * (double)gv_rng_below(&rng, 3);
	cfg.regions = gv_rng_below(&rng, 2) ? 3 : 0;
	cfg.node.probe_interval_ms = 500;
	cfg.node.probe_timeout_ms = 200;
	gv_cluster *c;
	assert_int_equal(gv_cluster_new(&c, &cfg), 0);
	size_t n = cfg.nodes;
	struct write_log l = {0};
	char key[32], val[32];
	gv_cluster_run_for(c, S);
	bool parted = false;
	for (int step = 0; step < 400; step++) {
		size_t i = gv_rng_below(&rng, n);
		unsigned op = (unsigned)gv_rng_below(&rng, 100);
		if (op < 60) {
			snprintf(key, sizeof(key), "k%llu",
				 (unsigned long long)gv_rng_below(&rng, 40));
			snprintf(val, sizeof(val), "s%d", step);
			if (gv_cluster_up(c, i))
				sim_put(c, &l, i, key, val, op < 12);
		} else if (op < 63 && !parted) {
			unsigned group[64];
			for (size_t j = 0; j < n; j++)
				group[j] = (unsigned)gv_rng_below(&rng, 2);
			gv_cluster_partition(c, group);
			parted = true;
		} else if (op < 68 && parted) {
			gv_cluster_heal(c);
			parted = false;
		} else if (op < 70 && gv_cluster_up(c, i) &&
			   gv_cluster_live(c) > n / 2) {
			gv_cluster_crash(c, i);
		} else if (op < 74 && !gv_cluster_up(c, i)) {
			bool keep = gv_rng_below(&rng, 2);
			if (!keep)
				forget_unreplicated(c, &l, i);
			gv_cluster_restart(c, i, keep);
		}
		gv_cluster_run_for(c, 10000 + gv_rng_below(&rng, 100000));
	}
	/* heal everything and let it settle */
	gv_cluster_heal(c);
	gv_cluster_set_loss(c, 0.0);
	for (size_t i = 0; i < n; i++)
		if (!gv_cluster_up(c, i))
			gv_cluster_restart(c, i, true);
	gv_time eq = gv_cluster_run_until_roots_equal(
		c, 50000, gv_cluster_now(c) + 180 * S);
	if (eq == GV_TIME_NEVER)
		printf("# seed %llu: roots still differ (nodes %zu mode %s "
		       "loss %.2f)\n",
		       (unsigned long long)seed, n, gv_mode_name(cfg.node.mode),
		       cfg.net.loss);
	assert_true(eq != GV_TIME_NEVER);
	size_t lost = check_no_lost_writes(c, &l);
	size_t diff = check_identical(c);
	if (lost || diff)
		printf("# seed %llu: %zu lost, %zu differing\n",
		       (unsigned long long)seed, lost, diff);
	assert_int_equal(lost, 0);
	assert_int_equal(diff, 0);
	free(l.w);
	gv_cluster_del(c);
}

static void
test_sim_sweep_random_faults(void **state)
{
	const char *one = getenv("GV_SWEEP_SEED");
	if (one) {
		one_seed(strtoull(one, NULL, 0));
		return;
	}
	for (uint64_t seed = 100; seed < 100 + SEEDS; seed++)
		one_seed(seed);
}

/* ------------------------------------------------------------ features */

static gv_cluster *
make(size_t n, uint64_t seed, int mode, unsigned regions)
{
	gv_cluster_config cfg;
	gv_cluster_config_default(&cfg);
	cfg.nodes = n;
	cfg.seed = seed;
	cfg.node.mode = mode;
	cfg.regions = regions;
	cfg.node.ae_interval_ms = 0; /* dissemination alone must do it */
	gv_cluster *c;
	assert_int_equal(gv_cluster_new(&c, &cfg), 0);
	gv_cluster_run_for(c, S);
	return c;
}

/* Every mode carries 20 writes to every node without anti-entropy. */
static void
test_sim_modes_converge(void **state)
{
	for (int mode = GV_MODE_EAGER; mode <= GV_MODE_PUSHPULL; mode++) {
		gv_cluster *c = make(100, 61 + (uint64_t)mode, mode, 0);
		char key[16];
		for (int k = 0; k < 20; k++) {
			snprintf(key, sizeof(key), "m%d", k);
			assert_true(gv_cluster_put(c, (size_t)k * 7 % 100, key,
						   strlen(key), "x", 1,
						   GV_PRIO_NORMAL) >= 0);
			gv_cluster_run_for(c, 20000);
		}
		bool ok = gv_cluster_run_until_converged(
			c, gv_cluster_now(c) + 30 * S);
		printf("# mode %s: 20 writes reached all 100 nodes: %s\n",
		       gv_mode_name(mode), ok ? "yes" : "NO");
		assert_true(ok);
		gv_cluster_del(c);
	}
}

struct region_count {
	gv_cluster *c;
	unsigned regions;
	uint64_t cross, local;
};

static void
count_regions(void *ud, gv_time now, int from, int to, const uint8_t *buf,
	      size_t len)
{
	struct region_count *rc = ud;
	if ((unsigned)from % rc->regions == (unsigned)to % rc->regions)
		rc->local++;
	else
		rc->cross++;
}

/* With regions, most gossip stays local, yet every region gets it all. */
static void
test_sim_regions_prefer_local_and_converge(void **state)
{
	struct region_count rc = {.regions = 3};
	gv_cluster_config cfg;
	gv_cluster_config_default(&cfg);
	cfg.nodes = 150;
	cfg.seed = 71;
	cfg.regions = 3;
	cfg.node.ae_interval_ms = 0;
	cfg.observer = count_regions;
	cfg.observer_ud = &rc;
	gv_cluster *c;
	assert_int_equal(gv_cluster_new(&c, &cfg), 0);
	rc.c = c;
	gv_cluster_run_for(c, S);
	rc.cross = rc.local = 0;
	char key[16];
	for (int k = 0; k < 50; k++) {
		snprintf(key, sizeof(key), "r%d", k);
		assert_true(gv_cluster_put(c, (size_t)k * 3 % 150, key,
					   strlen(key), "v", 1,
					   GV_PRIO_NORMAL) >= 0);
		gv_cluster_run_for(c, 5000);
	}
	assert_true(gv_cluster_run_until_converged(c, gv_cluster_now(c) +
							      30 * S));
	double frac = (double)rc.cross / (double)(rc.cross + rc.local);
	printf("# 3 regions: %.0f%% of datagrams crossed regions (2/3 "
	       "without affinity); all 50 writes reached all 150 nodes\n",
	       frac * 100);
	assert_true(frac < 0.45);
	gv_cluster_del(c);
}

/* Priority scales the eager fanout: critical sends more copies than low
 * (the tree's priorities: test_sim_tree.c). */
static void
test_sim_priority_scales_fanout(void **state)
{
	uint64_t msgs[2];
	int prios[2] = {GV_PRIO_LOW, GV_PRIO_CRITICAL};
	for (int p = 0; p < 2; p++) {
		gv_cluster *c = make(100, 81, GV_MODE_EAGER, 0);
		uint64_t before = gv_cluster_payload_msgs(c);
		assert_true(gv_cluster_put(c, 5, "p", 1, "v", 1, prios[p]) >= 0);
		assert_true(gv_cluster_run_until_converged(
			c, gv_cluster_now(c) + 10 * S));
		gv_cluster_run_for(c, S);
		msgs[p] = gv_cluster_payload_msgs(c) - before;
		gv_cluster_del(c);
	}
	printf("# priority: low %llu payload messages, critical %llu\n",
	       (unsigned long long)msgs[0], (unsigned long long)msgs[1]);
	assert_true(msgs[1] > msgs[0]);
}

/* Update records sent by every node so far. */
static uint64_t
updates_out(gv_cluster *c, size_t n)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += gv_node_get_stats(gv_cluster_node(c, i))->updates_out;
	return sum;
}

/*
 * Eager flooding over successor cycles: 150 nodes, 50 writes at random
 * nodes, all reach every node with about fanout copies per node (random
 * push of the whole budget sent ~12); and a cluster of at most
 * GV_DIRECT_MAX peers gets each write straight from its origin, one copy
 * per node, not forwarded.
 */
static void
test_sim_eager_flood_copies(void **state)
{
	(void)state;
	gv_cluster *c = make(150, 83, GV_MODE_EAGER, 0);
	uint64_t before = updates_out(c, 150);
	char key[16];
	for (int k = 0; k < 50; k++) {
		snprintf(key, sizeof(key), "f%d", k);
		assert_true(gv_cluster_put(c, (size_t)(k * 7) % 150, key,
					   strlen(key), "v", 1,
					   GV_PRIO_NORMAL) >= 0);
		gv_cluster_run_for(c, 20000);
	}
	assert_true(gv_cluster_run_until_converged(c, gv_cluster_now(c) +
							      10 * S));
	double per = (double)(updates_out(c, 150) - before) / (50.0 * 149);
	printf("# eager 150 nodes: %.2f update records per node per write\n",
	       per);
	/* relays send fanout (3) copies, the origin 6: ~3.0 */
	assert_true(per > 2.5 && per < 3.5);
	gv_cluster_del(c);

	c = make(12, 84, GV_MODE_EAGER, 0);
	before = updates_out(c, 12);
	for (int k = 0; k < 20; k++) {
		snprintf(key, sizeof(key), "d%d", k);
		assert_true(gv_cluster_put(c, (size_t)k % 12, key, strlen(key),
					   "v", 1, GV_PRIO_NORMAL) >= 0);
		gv_cluster_run_for(c, 20000);
	}
	assert_true(gv_cluster_run_until_converged(c, gv_cluster_now(c) +
							      10 * S));
	assert_int_equal(updates_out(c, 12) - before, 20 * 11);
	gv_cluster_del(c);
}

/*
 * flood_gap_us batches a burst: 20 writes at one node within an instant go
 * out in two passes (the first write at once, the other 19 together one
 * gap later), ~2 x 6 datagrams from the origin, not 20 x 6.
 */
static void
test_sim_eager_flood_gap_batches(void **state)
{
	(void)state;
	gv_cluster *c = make(150, 85, GV_MODE_EAGER, 0);
	gv_node *o = gv_cluster_node(c, 3);
	uint64_t before = gv_node_get_stats(o)->dgrams_out;
	char key[16];
	for (int k = 0; k < 20; k++) {
		snprintf(key, sizeof(key), "g%d", k);
		assert_true(gv_cluster_put(c, 3, key, strlen(key), "v", 1,
					   GV_PRIO_NORMAL) >= 0);
	}
	assert_true(gv_cluster_run_until_converged(c, gv_cluster_now(c) +
							      10 * S));
	uint64_t sent = gv_node_get_stats(o)->dgrams_out - before;
	printf("# eager burst of 20 writes: %llu datagrams from the origin\n",
	       (unsigned long long)sent);
	assert_true(sent <= 20); /* 120 with one pass per write */
	gv_cluster_del(c);
}

/* The minority side refuses local writes when configured read-only. */
static void
test_sim_read_only_minority(void **state)
{
	gv_cluster_config cfg;
	gv_cluster_config_default(&cfg);
	cfg.nodes = 30;
	cfg.seed = 91;
	cfg.node.read_only_in_minority = true;
	cfg.node.probe_interval_ms = 200;
	cfg.node.probe_timeout_ms = 100;
	gv_cluster *c;
	assert_int_equal(gv_cluster_new(&c, &cfg), 0);
	gv_cluster_run_for(c, S);
	unsigned group[30];
	for (size_t i = 0; i < 30; i++)
		group[i] = i < 10 ? 1 : 0;
	gv_cluster_partition(c, group);
	gv_cluster_run_for(c, 20 * S);
	gv_node *minor = gv_cluster_node(c, 2), *major = gv_cluster_node(c, 20);
	assert_true(gv_node_partitioned(minor));
	assert_false(gv_node_partitioned(major));
	gv_time now = gv_cluster_now(c);
	assert_int_equal(gv_node_put(minor, now, "a", 1, "b", 1,
				     GV_PRIO_NORMAL),
			 GV_EREADONLY);
	assert_int_equal(gv_node_put(major, now, "a", 1, "b", 1,
				     GV_PRIO_NORMAL),
			 0);
	gv_sim_poke(gv_cluster_sim(c), 20);
	gv_cluster_heal(c);
	gv_cluster_run_for(c, 20 * S);
	assert_false(gv_node_partitioned(minor));
	assert_int_equal(gv_node_put(minor, gv_cluster_now(c), "c", 1, "d", 1,
				     GV_PRIO_NORMAL),
			 0);
	gv_cluster_del(c);
}

/* Values bigger than max_datagram travel alone in a datagram of their
 * own (up to the largest UDP payload) in every mode, and through
 * anti-entropy; a value that cannot fit any datagram is refused. */
static void
test_sim_big_values(void **state)
{
	static char big[40000];
	memset(big, 'b', sizeof(big));
	for (int mode = GV_MODE_EAGER; mode <= GV_MODE_PUSHPULL; mode++) {
		gv_cluster *c = make(30, 95 + (uint64_t)mode, mode, 0);
		assert_true(gv_cluster_put(c, 3, "big", 3, big, sizeof(big),
					   GV_PRIO_NORMAL) >= 0);
		assert_true(gv_cluster_put(c, 4, "small", 5, "s", 1,
					   GV_PRIO_NORMAL) >= 0);
		assert_true(gv_cluster_run_until_converged(
			c, gv_cluster_now(c) + 30 * S));
		gv_record r;
		for (size_t i = 0; i < 30; i++) {
			assert_int_equal(gv_node_get(gv_cluster_node(c, i),
						     "big", 3, &r),
					 0);
			assert_int_equal(r.vlen, sizeof(big));
		}
		gv_cluster_del(c);
	}
	/* anti-entropy carries big values too */
	gv_cluster_config cfg;
	gv_cluster_config_default(&cfg);
	cfg.nodes = 2;
	cfg.seed = 99;
	cfg.node.mode = GV_MODE_PULL;
	gv_cluster *c;
	assert_int_equal(gv_cluster_new(&c, &cfg), 0);
	gv_record in = {.key = (const uint8_t *)"ae", .klen = 2,
			.val = (const uint8_t *)big, .vlen = sizeof(big),
			.ver = {gv_hlc_make(5, 0), 1}};
	assert_true(gv_node_import(gv_cluster_node(c, 0), 0, &in) >= 0);
	assert_true(gv_cluster_run_until_roots_equal(c, 10000, 10 * S) !=
		    GV_TIME_NEVER);
	static char huge[65536];
	assert_int_equal(gv_node_put(gv_cluster_node(c, 0), gv_cluster_now(c),
				     "h", 1, huge, sizeof(huge),
				     GV_PRIO_NORMAL),
			 GV_EVALSIZE);
	gv_cluster_del(c);
}

/* The convergence watch counts the members holding the newest version. */
static void
test_sim_watch(void **state)
{
	gv_cluster *c = make(10, 97, GV_MODE_PUSH, 0);
	gv_node *w = gv_cluster_node(c, 7);
	gv_node_watch_result r;
	assert_int_equal(gv_node_watch(w, gv_cluster_now(c), "wk", 2, &r), 0);
	gv_sim_poke(gv_cluster_sim(c), 7);
	assert_true(gv_version_is_zero(&r.latest)); /* first round: local */
	assert_true(gv_cluster_put(c, 2, "wk", 2, "v1", 2, GV_PRIO_NORMAL) >=
		    0);
	const gv_track *t = gv_cluster_track(c, 0);
	/* before it spread: the next round sees it only at node 2 */
	gv_cluster_run_for(c, 3000);
	assert_int_equal(gv_node_watch(w, gv_cluster_now(c), "wk", 2, &r), 0);
	gv_sim_poke(gv_cluster_sim(c), 7);
	gv_cluster_run_for(c, 3000);
	assert_int_equal(gv_node_watch(w, gv_cluster_now(c), "wk", 2, &r), 0);
	gv_sim_poke(gv_cluster_sim(c), 7);
	assert_int_equal(gv_version_cmp(&r.latest, &t->ver), 0);
	assert_int_equal(r.total, 10);
	assert_true(r.with_latest >= 1 && r.with_latest < 10);
	assert_true(gv_cluster_run_until_converged(c, gv_cluster_now(c) +
							      10 * S));
	gv_cluster_run_for(c, 3000);
	assert_int_equal(gv_node_watch(w, gv_cluster_now(c), "wk", 2, &r), 0);
	gv_sim_poke(gv_cluster_sim(c), 7);
	gv_cluster_run_for(c, 3000);
	assert_int_equal(gv_node_watch(w, gv_cluster_now(c), "wk", 2, &r), 0);
	gv_sim_poke(gv_cluster_sim(c), 7);
	assert_int_equal(r.with_latest, 10);
	assert_int_equal(r.answered, 10);
	gv_cluster_del(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_modes_converge),
		cmocka_unit_test(test_sim_regions_prefer_local_and_converge),
		cmocka_unit_test(test_sim_eager_flood_copies),
		cmocka_unit_test(test_sim_eager_flood_gap_batches),
		cmocka_unit_test(test_sim_priority_scales_fanout),
		cmocka_unit_test(test_sim_read_only_minority),
		cmocka_unit_test(test_sim_big_values),
		cmocka_unit_test(test_sim_watch),
		cmocka_unit_test(test_sim_sweep_random_faults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
