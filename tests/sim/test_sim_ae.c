/* SPDX-License-Identifier: MIT */
/*
 * test_sim_ae.c - anti-entropy alone (no dissemination): two nodes with
 * the same large key set except d differences reconcile through one
 * Merkle session, and the bytes and round trips it costs grow with d, not
 * with the number of keys. Prints the figures as `# ` lines.
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

#ifdef GV_SANITIZED
#define BIG_KEYS 200000
#else
#define BIG_KEYS 1000000
#endif

struct ae_result {
	uint64_t bytes;  /* anti-entropy bytes sent by both nodes */
	uint64_t msgs;   /* anti-entropy datagrams sent by both nodes */
	double rtts;     /* session duration / round-trip time */
	uint64_t entries;
};

static void
import(gv_node *n, const char *key, uint64_t hlc, gv_node_id origin)
{
	char val[32];
	snprintf(val, sizeof(val), "v%llu", (unsigned long long)hlc);
	gv_record r = {.key = (const uint8_t *)key,
		       .klen = strlen(key),
		       .val = (const uint8_t *)val,
		       .vlen = strlen(val),
		       .ver = {gv_hlc_make(1000 + hlc, 0), origin}};
	assert_true(gv_node_import(n, 0, &r) >= 0);
}

/*
 * nkeys shared keys; d differences, a third of each kind: B has a newer
 * version, A has a key B lacks, B has a key A lacks.
 */
static struct ae_result
reconcile(size_t nkeys, size_t d)
{
	gv_cluster_config cfg;
	gv_cluster_config_default(&cfg);
	cfg.nodes = 2;
	cfg.seed = 7;
	cfg.node.mode = GV_MODE_PUSH;  /* no eager push */
	cfg.node.ae_interval_ms = 0;   /* no periodic sessions */
	cfg.node.dedup_per_gen = 0;
	cfg.net.lat_min_us = cfg.net.lat_max_us = 1000; /* RTT 2 ms */
	gv_cluster *c;
	assert_int_equal(gv_cluster_new(&c, &cfg), 0);
	gv_node *a = gv_cluster_node(c, 0), *b = gv_cluster_node(c, 1);
	char key[32];
	for (size_t i = 0; i < nkeys; i++) {
		snprintf(key, sizeof(key), "key:%zu", i);
		import(a, key, i, 1);
		import(b, key, i, 1);
	}
	for (size_t k = 0; k < d; k++) {
		switch (k % 3) {
		case 0:
			snprintf(key, sizeof(key), "key:%zu", k * 7919 % nkeys);
			import(b, key, nkeys + k, 2);
			break;
		case 1:
			snprintf(key, sizeof(key), "onlyA:%zu", k);
			import(a, key, k, 1);
			break;
		default:
			snprintf(key, sizeof(key), "onlyB:%zu", k);
			import(b, key, k, 2);
			break;
		}
	}
	if (d)
		assert_int_not_equal(gv_node_root(a), gv_node_root(b));
	gv_cluster_run_for(c, 10000); /* let membership settle briefly */
	const gv_node_stats *sa = gv_node_get_stats(a);
	const gv_node_stats *sb = gv_node_get_stats(b);
	uint64_t bytes0 = sa->ae_bytes_out + sb->ae_bytes_out;
	uint64_t msgs0 = sa->ae_msgs_out + sb->ae_msgs_out;
	uint64_t ent0 = sa->ae_entries_sent + sb->ae_entries_sent;
	gv_time t0 = gv_cluster_now(c);
	gv_addr baddr;
	gv_sim_addr(gv_cluster_sim(c), 1, &baddr);
	assert_int_equal(gv_node_sync(a, t0, gv_cluster_id(c, 1), &baddr), 0);
	gv_sim_poke(gv_cluster_sim(c), 0);
	/* run until the roots agree; note when the last AE datagram left */
	gv_time done;
	if (d) {
		done = gv_cluster_run_until_roots_equal(c, 100, t0 + 5000000);
		assert_true(done != GV_TIME_NEVER);
	} else {
		gv_cluster_run_for(c, 100000);
		done = t0;
	}
	struct ae_result r;
	r.bytes = sa->ae_bytes_out + sb->ae_bytes_out - bytes0;
	r.msgs = sa->ae_msgs_out + sb->ae_msgs_out - msgs0;
	r.entries = sa->ae_entries_sent + sb->ae_entries_sent - ent0;
	r.rtts = (double)(done - t0) / 2000.0;
	/* every difference resolved to the newer side */
	for (size_t k = 0; k < d; k++) {
		gv_record ra, rb;
		if (k % 3 == 0)
			snprintf(key, sizeof(key), "key:%zu", k * 7919 % nkeys);
		else
			snprintf(key, sizeof(key), "%s:%zu",
				 k % 3 == 1 ? "onlyA" : "onlyB", k);
		assert_int_equal(gv_node_get(a, key, strlen(key), &ra), 0);
		assert_int_equal(gv_node_get(b, key, strlen(key), &rb), 0);
		assert_int_equal(gv_version_cmp(&ra.ver, &rb.ver), 0);
	}
	assert_int_equal(gv_node_store(a)->count, gv_node_store(b)->count);
	gv_cluster_del(c);
	return r;
}

static void
test_sim_ae_cost_grows_with_differences(void **state)
{
	size_t ds[] = {1, 10, 1000};
	uint64_t prev = 0;
	for (size_t i = 0; i < 3; i++) {
		struct ae_result r = reconcile(100000, ds[i]);
		printf("# anti-entropy 10^5 keys, d=%zu: %llu bytes, %llu "
		       "datagrams, %.1f round trips, %llu entries sent\n",
		       ds[i], (unsigned long long)r.bytes,
		       (unsigned long long)r.msgs, r.rtts,
		       (unsigned long long)r.entries);
		assert_true(r.bytes > prev);
		prev = r.bytes;
		/* entries sent: about the differences, never the key set */
		assert_true(r.entries >= ds[i] && r.entries <= 3 * ds[i] + 2);
		assert_true(r.bytes < 2000 + 700 * ds[i]);
	}
}

static void
test_sim_ae_one_difference_in_a_million(void **state)
{
	struct ae_result r = reconcile(BIG_KEYS, 1);
	printf("# anti-entropy %d keys, d=1: %llu bytes, %llu datagrams, "
	       "%.1f round trips\n",
	       BIG_KEYS, (unsigned long long)r.bytes,
	       (unsigned long long)r.msgs, r.rtts);
	assert_true(r.bytes <= 2048);
	assert_true(r.rtts <= 4.0);
}

static void
test_sim_ae_equal_trees_cost_one_exchange(void **state)
{
	struct ae_result r = reconcile(10000, 0);
	printf("# anti-entropy equal trees: %llu bytes, %llu datagrams\n",
	       (unsigned long long)r.bytes, (unsigned long long)r.msgs);
	assert_true(r.msgs <= 2);
	assert_true(r.bytes <= 400);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_ae_equal_trees_cost_one_exchange),
		cmocka_unit_test(test_sim_ae_cost_grows_with_differences),
		cmocka_unit_test(test_sim_ae_one_difference_in_a_million),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
