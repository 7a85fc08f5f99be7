/* SPDX-License-Identifier: MIT */
/*
 * test_sim_tree.c - the broadcast tree of eager mode (engine/core/tree.c)
 * on the deterministic simulator: it forms (each node receives each write
 * about once, and the eager links reach every node from every node), it
 * repairs itself under loss, after a partition heals and when members
 * crash and come back, without anti-entropy where the tree alone must do
 * it; writes of high priority take every link without pruning any; and
 * `flood` still floods. Figures are printed as `# ` lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/node_int.h"
#include "sim_check.h"

#define S 1000000ull /* one virtual second */
#define MSEC 1000ull

static gv_cluster *
cluster(size_t nodes, uint64_t seed, double loss, bool ae, int mode)
{
	gv_cluster_config cfg;
	gv_cluster_config_default(&cfg);
	cfg.nodes = nodes;
	cfg.seed = seed;
	cfg.net.loss = loss;
	cfg.node.mode = mode;
	if (!ae)
		cfg.node.ae_interval_ms = 0;
	gv_cluster *c;
	assert_int_equal(gv_cluster_new(&c, &cfg), 0);
	gv_cluster_run_for(c, 200 * MSEC);
	return c;
}

static uint64_t
sum_stat(gv_cluster *c, size_t off)
{
	uint64_t t = 0;
	for (size_t i = 0; i < gv_cluster_size(c); i++) {
		if (!gv_cluster_up(c, i))
			continue;
		const gv_node_stats *st = gv_node_get_stats(gv_cluster_node(c, i));
		t += *(const uint64_t *)((const char *)st + off);
	}
	return t;
}
#define STAT(c, f) sum_stat(c, offsetof(gv_node_stats, f))

/*
 * One tracked write at node `at`, run until it reached every live node
 * (or `deadline` later). Returns the time it took, GV_TIME_NEVER if it
 * did not converge.
 */
static gv_time
write_one(gv_cluster *c, size_t at, unsigned k, int prio, gv_time deadline)
{
	char key[48], val[48];
	snprintf(key, sizeof(key), "t%u", k);
	snprintf(val, sizeof(val), "value-%u", k);
	int t = gv_cluster_put(c, at, key, strlen(key), val, strlen(val), prio);
	assert_true(t >= 0);
	const gv_track *tr = gv_cluster_track(c, t);
	gv_time t0 = tr->injected;
	gv_time end = gv_cluster_now(c) + deadline;
	while (!gv_cluster_track_done(c, t) && gv_cluster_now(c) < end)
		gv_cluster_run_for(c, 200);
	gv_time r = gv_cluster_track_done(c, t) ? tr->t100 - t0 : GV_TIME_NEVER;
	gv_cluster_clear_tracks(c);
	return r;
}

static int
cmp_time(const void *a, const void *b)
{
	gv_time x = *(const gv_time *)a, y = *(const gv_time *)b;
	return x < y ? -1 : x > y;
}

/* `count` writes at random live nodes, each followed until it converged
 * and `gap` more; returns how many converged, *p99 their p99 (us). */
static size_t
write_many(gv_cluster *c, gv_rng *rng, unsigned first, unsigned count,
	   gv_time deadline, gv_time gap, gv_time *p99)
{
	gv_time *t = calloc(count, sizeof(*t));
	assert_non_null(t);
	size_t ok = 0;
	for (unsigned k = 0; k < count; k++) {
		size_t at;
		do
			at = (size_t)gv_rng_below(rng, gv_cluster_size(c));
		while (!gv_cluster_up(c, at));
		gv_time d = write_one(c, at, first + k, GV_PRIO_NORMAL,
				      deadline);
		if (d != GV_TIME_NEVER)
			t[ok++] = d;
		gv_cluster_run_for(c, gap);
	}
	qsort(t, ok, sizeof(*t), cmp_time);
	*p99 = ok ? t[(ok * 99 + 99) / 100 - 1] : GV_TIME_NEVER;
	free(t);
	return ok;
}

/* The index of node id among the cluster's nodes. */
static size_t
index_of(gv_cluster *c, gv_node_id id)
{
	for (size_t i = 0; i < gv_cluster_size(c); i++)
		if (gv_cluster_id(c, i) == id)
			return i;
	return SIZE_MAX;
}

/*
 * The eager links as a directed graph (u -> v: u pushes to v): the most
 * hops from `src` to any live node over them, or SIZE_MAX if some live
 * node is not reached. *edges: eager links (directed) among live nodes.
 */
static size_t
eager_depth(gv_cluster *c, size_t src, size_t *edges)
{
	size_t n = gv_cluster_size(c);
	size_t *dist = malloc(n * sizeof(*dist)), *q = malloc(n * sizeof(*q));
	assert_true(dist && q);
	for (size_t i = 0; i < n; i++)
		dist[i] = SIZE_MAX;
	size_t qh = 0, qt = 0, far = 0, e = 0;
	dist[src] = 0;
	q[qt++] = src;
	while (qh < qt) {
		size_t u = q[qh++];
		gv_node *nu = gv_cluster_node(c, u);
		gv__tree_refresh(nu);
		for (unsigned j = 0; j < nu->tree.nn; j++) {
			if (!nu->tree.nb[j].eager)
				continue;
			size_t v = index_of(c, nu->tree.nb[j].id);
			if (v == SIZE_MAX || !gv_cluster_up(c, v))
				continue;
			e++;
			if (dist[v] != SIZE_MAX)
				continue;
			dist[v] = dist[u] + 1;
			if (dist[v] > far)
				far = dist[v];
			q[qt++] = v;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (gv_cluster_up(c, i) && dist[i] == SIZE_MAX)
			far = SIZE_MAX;
	*edges = e;
	free(dist);
	free(q);
	return far;
}

/* Every live node reaches every live node over eager links; returns the
 * largest depth seen from the sources sampled. */
static size_t
check_tree_spans(gv_cluster *c, size_t *edges)
{
	size_t worst = 0;
	for (size_t s = 0; s < gv_cluster_size(c); s += 7) {
		if (!gv_cluster_up(c, s))
			continue;
		size_t d = eager_depth(c, s, edges);
		assert_true(d != SIZE_MAX);
		if (d > worst)
			worst = d;
	}
	return worst;
}

static double
rmr_since(gv_cluster *c, uint64_t out0, unsigned writes)
{
	double live = (double)gv_cluster_live(c);
	return (double)(STAT(c, updates_out) - out0) /
		       ((double)writes * (live - 1)) -
	       1.0;
}

static void
test_tree_forms(void **state)
{
	(void)state;
	const size_t n = 150;
	gv_cluster *c = cluster(n, 11, 0, false, GV_MODE_TREE);
	gv_rng rng;
	gv_rng_seed(&rng, 5);
	gv_time p99;
	/* the first writes flood every link and prune the duplicates */
	assert_int_equal(write_many(c, &rng, 0, 50, 5 * S, 20 * MSEC, &p99),
			 50);
	uint64_t out0 = STAT(c, updates_out);
	assert_int_equal(write_many(c, &rng, 50, 200, 5 * S, 20 * MSEC, &p99),
			 200);
	double rmr = rmr_since(c, out0, 200);
	size_t edges;
	size_t depth = check_tree_spans(c, &edges);
	printf("# tree, %zu nodes: rmr %.3f, p99 %.1f ms, eager links %zu "
	       "(a tree has %zu), depth <= %zu; dups %llu, grafts %llu, "
	       "ihave %llu\n",
	       n, rmr, (double)p99 / 1000.0, edges, 2 * (n - 1), depth,
	       (unsigned long long)STAT(c, tree_dups),
	       (unsigned long long)STAT(c, tree_grafts_out),
	       (unsigned long long)STAT(c, tree_ihave_out));
	assert_true(rmr <= 0.3);
	/* close to a spanning tree: each link eager at both ends */
	assert_true(edges <= 3 * (n - 1));
	gv_cluster_del(c);
}

static void
test_tree_repairs_loss(void **state)
{
	(void)state;
	const size_t n = 150;
	/* anti-entropy off: the grafts alone must bring every write */
	gv_cluster *c = cluster(n, 12, 0, false, GV_MODE_TREE);
	gv_rng rng;
	gv_rng_seed(&rng, 6);
	gv_time p99;
	assert_int_equal(write_many(c, &rng, 0, 40, 5 * S, 20 * MSEC, &p99),
			 40);
	gv_cluster_set_loss(c, 0.01);
	size_t ok1 = write_many(c, &rng, 40, 100, 5 * S, 50 * MSEC, &p99);
	printf("# tree, 1%% loss, no anti-entropy: %zu/100 converged, p99 "
	       "%.1f ms\n",
	       ok1, (double)p99 / 1000.0);
	assert_int_equal(ok1, 100);
	uint64_t g0 = STAT(c, tree_grafts_out);
	gv_cluster_set_loss(c, 0.10);
	size_t ok10 = write_many(c, &rng, 140, 100, 5 * S, 50 * MSEC, &p99);
	printf("# tree, 10%% loss, no anti-entropy: %zu/100 converged, p99 "
	       "%.1f ms, grafts %llu\n",
	       ok10, (double)p99 / 1000.0,
	       (unsigned long long)(STAT(c, tree_grafts_out) - g0));
	/* five tries per announcer: nearly all, without any repair */
	assert_true(ok10 >= 95);
	assert_true(STAT(c, tree_grafts_out) > g0);
	gv_cluster_del(c);

	/* with anti-entropy (the default), every one converges */
	c = cluster(n, 13, 0.10, true, GV_MODE_TREE);
	size_t ok = write_many(c, &rng, 0, 100, 20 * S, 20 * MSEC, &p99);
	printf("# tree, 10%% loss, anti-entropy on: %zu/100 converged, p99 "
	       "%.1f ms\n",
	       ok, (double)p99 / 1000.0);
	assert_int_equal(ok, 100);
	gv_cluster_del(c);
}

static void
test_tree_partition_heal(void **state)
{
	(void)state;
	const size_t n = 60;
	gv_cluster *c = cluster(n, 14, 0, true, GV_MODE_TREE);
	struct write_log l = {0};
	gv_rng rng;
	gv_rng_seed(&rng, 7);
	gv_time p99;
	assert_int_equal(write_many(c, &rng, 0, 30, 5 * S, 20 * MSEC, &p99),
			 30);
	unsigned group[60];
	for (size_t i = 0; i < n; i++)
		group[i] = i < n / 2 ? 0 : 1;
	assert_int_equal(gv_cluster_partition(c, group), 0);
	char key[32], val[32];
	for (int k = 0; k < 200; k++) {
		snprintf(key, sizeof(key), "p%d", k % 50);
		snprintf(val, sizeof(val), "v%d", k);
		assert_int_equal(sim_put(c, &l, (size_t)gv_rng_below(&rng, n),
					 key, val, false),
				 0);
		gv_cluster_run_for(c, 50 * MSEC);
	}
	gv_cluster_run_for(c, 20 * S); /* each side declares the other dead */
	gv_cluster_heal(c);
	gv_time t = gv_cluster_run_until_roots_equal(c, 100 * MSEC,
						     gv_cluster_now(c) + 60 * S);
	assert_true(t != GV_TIME_NEVER);
	assert_int_equal(check_no_lost_writes(c, &l), 0);
	/* the tree spans the healed cluster: new writes need no repair */
	uint64_t out0 = STAT(c, updates_out);
	assert_int_equal(write_many(c, &rng, 100, 100, 5 * S, 20 * MSEC, &p99),
			 100);
	double rmr = rmr_since(c, out0, 100);
	size_t edges;
	size_t depth = check_tree_spans(c, &edges);
	printf("# tree, partition healed: roots equal after %.1f s, then rmr "
	       "%.3f, p99 %.1f ms, depth <= %zu\n",
	       (double)(t - gv_cluster_now(c) + gv_cluster_now(c)) / 1e6, rmr,
	       (double)p99 / 1000.0, depth);
	assert_true(rmr <= 0.5);
	free(l.w);
	gv_cluster_del(c);
}

static void
test_tree_churn(void **state)
{
	(void)state;
	const size_t n = 100;
	/* no anti-entropy: what reaches the live nodes, the tree brought */
	gv_cluster *c = cluster(n, 15, 0, false, GV_MODE_TREE);
	gv_rng rng;
	gv_rng_seed(&rng, 8);
	gv_time p99;
	assert_int_equal(write_many(c, &rng, 0, 40, 5 * S, 20 * MSEC, &p99),
			 40);
	size_t victims[10];
	for (int v = 0; v < 10; v++) {
		victims[v] = (size_t)(v * 9 + 3);
		assert_int_equal(gv_cluster_crash(c, victims[v]), 0);
	}
	/* before the crashes are detected, their subtrees are cut: the
	 * lazy links bring the writes */
	size_t during = write_many(c, &rng, 40, 60, 5 * S, 50 * MSEC, &p99);
	printf("# tree, 10 of 100 crashed, before detection: %zu/60 "
	       "converged, p99 %.1f ms\n",
	       during, (double)p99 / 1000.0);
	assert_int_equal(during, 60);
	gv_cluster_run_for(c, 30 * S);
	uint64_t out0 = STAT(c, updates_out);
	size_t after = write_many(c, &rng, 100, 100, 5 * S, 20 * MSEC, &p99);
	double rmr = rmr_since(c, out0, 100);
	printf("# tree, after detection: %zu/100 converged, p99 %.1f ms, rmr "
	       "%.3f\n",
	       after, (double)p99 / 1000.0, rmr);
	assert_int_equal(after, 100);
	assert_true(rmr <= 0.5);
	size_t edges;
	check_tree_spans(c, &edges);
	/* back, empty, with new ids: they join and get new writes */
	for (int v = 0; v < 10; v++)
		assert_int_equal(gv_cluster_restart(c, victims[v], false), 0);
	gv_cluster_run_for(c, 10 * S);
	size_t back = write_many(c, &rng, 200, 100, 5 * S, 20 * MSEC, &p99);
	printf("# tree, restarted: %zu/100 converged at all %zu, p99 %.1f ms\n",
	       back, gv_cluster_live(c), (double)p99 / 1000.0);
	assert_int_equal(back, 100);
	check_tree_spans(c, &edges);
	gv_cluster_del(c);
}

/* Tracked writes under background writes at random nodes (a shared tree
 * carries writes from every origin at once): each converges, and fast. */
static void
test_tree_under_load(void **state)
{
	(void)state;
	const size_t n = 150;
	gv_cluster *c = cluster(n, 18, 0, true, GV_MODE_TREE);
	gv_rng rng;
	gv_rng_seed(&rng, 11);
	gv_time p99;
	assert_int_equal(write_many(c, &rng, 0, 20, 5 * S, 20 * MSEC, &p99),
			 20);
	/* 5,000 background writes/s: one every 200 us at a random node */
	char key[32], val[32];
	unsigned tracked = 0, ok = 0;
	gv_time worst = 0;
	for (int step = 0; step < 10000; step++) {
		snprintf(key, sizeof(key), "bg%llu",
			 (unsigned long long)gv_rng_below(&rng, 4096));
		snprintf(val, sizeof(val), "v%d", step);
		size_t at = (size_t)gv_rng_below(&rng, n);
		gv_node *nd = gv_cluster_node(c, at);
		assert_int_equal(gv_node_put(nd, gv_cluster_now(c), key,
					     strlen(key), val, strlen(val),
					     GV_PRIO_NORMAL),
				 0);
		gv_sim_poke(gv_cluster_sim(c), (int)at);
		if (step % 100 == 50) {
			snprintf(key, sizeof(key), "tr%u", tracked++);
			int t = gv_cluster_put(c, at, key, strlen(key), "x", 1,
					       GV_PRIO_NORMAL);
			assert_true(t >= 0);
		}
		gv_cluster_run_for(c, 200);
	}
	assert_true(gv_cluster_run_until_converged(c, gv_cluster_now(c) +
							      10 * S));
	for (size_t t = 0; t < gv_cluster_ntracks(c); t++) {
		const gv_track *tr = gv_cluster_track(c, (int)t);
		if (gv_cluster_track_done(c, (int)t)) {
			ok++;
			if (tr->t100 - tr->injected > worst)
				worst = tr->t100 - tr->injected;
		}
	}
	printf("# tree, 5,000 writes/s, %zu nodes: %u/%u tracked converged, "
	       "worst %.1f ms; grafts %llu, dups %llu\n",
	       n, ok, tracked, (double)worst / 1000.0,
	       (unsigned long long)STAT(c, tree_grafts_out),
	       (unsigned long long)STAT(c, tree_dups));
	assert_int_equal(ok, tracked);
	assert_true(worst < 1 * S);
	gv_cluster_del(c);
}

static void
test_tree_priority(void **state)
{
	(void)state;
	const size_t n = 80;
	gv_cluster *c = cluster(n, 16, 0, false, GV_MODE_TREE);
	gv_rng rng;
	gv_rng_seed(&rng, 9);
	gv_time p99;
	assert_int_equal(write_many(c, &rng, 0, 60, 5 * S, 20 * MSEC, &p99),
			 60);
	gv_cluster_run_for(c, 100 * MSEC);
	uint64_t pr0 = STAT(c, tree_dups);
	uint64_t out0 = STAT(c, updates_out);
	gv_time d = write_one(c, 3, 1000, GV_PRIO_CRITICAL, 5 * S);
	gv_cluster_run_for(c, 100 * MSEC);
	assert_true(d != GV_TIME_NEVER);
	double copies = (double)(STAT(c, updates_out) - out0) / (double)(n - 1);
	printf("# tree, a critical write: %.1f ms, %.2f copies per node, "
	       "dups %llu\n",
	       (double)d / 1000.0, copies,
	       (unsigned long long)(STAT(c, tree_dups) - pr0));
	assert_true(copies > 1.5); /* every link */
	assert_int_equal(STAT(c, tree_dups) - pr0, 0);
	gv_cluster_del(c);
}

static void
test_flood_mode(void **state)
{
	(void)state;
	const size_t n = 50;
	gv_cluster *c = cluster(n, 17, 0, false, GV_MODE_EAGER);
	gv_rng rng;
	gv_rng_seed(&rng, 10);
	gv_time p99;
	uint64_t out0 = STAT(c, updates_out);
	assert_int_equal(write_many(c, &rng, 0, 50, 5 * S, 20 * MSEC, &p99),
			 50);
	double rmr = rmr_since(c, out0, 50);
	printf("# eager (flooding), %zu nodes: rmr %.3f, p99 %.1f ms, tree messages "
	       "%llu\n",
	       n, rmr, (double)p99 / 1000.0,
	       (unsigned long long)(STAT(c, tree_ihave_out) +
				    STAT(c, tree_dups)));
	assert_true(rmr > 1.0);
	assert_int_equal(STAT(c, tree_ihave_out) + STAT(c, tree_dups), 0);
	gv_cluster_del(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tree_forms),
		cmocka_unit_test(test_tree_repairs_loss),
		cmocka_unit_test(test_tree_partition_heal),
		cmocka_unit_test(test_tree_churn),
		cmocka_unit_test(test_tree_under_load),
		cmocka_unit_test(test_tree_priority),
		cmocka_unit_test(test_flood_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
