/* SPDX-License-Identifier: MIT */
/*
 * test_sim_shards.c - what sharding needs from the node: a join between
 * nodes with different shard counts is refused with a clear signal (and
 * the refused node is not adopted), and a shard without SWIM of its own
 * (external_membership) gossips with the members it is told about.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/node.h"
#include "sim/sim.h"


struct refusal {
	int count;
	unsigned their;
};

static void
on_refused(void *ud, const gv_addr *seed, unsigned their, gv_time now)
{
	struct refusal *r = ud;
	r->count++;
	r->their = their;
}

static gv_node *
node(gv_sim *sim, int i, unsigned shards, bool external, void *ud)
{
	gv_node_config cfg;
	gv_node_config_default(&cfg);
	cfg.id = 100 + (gv_node_id)i;
	gv_sim_addr(sim, i, &cfg.addr);
	cfg.seed = (uint64_t)i;
	cfg.shards = (uint16_t)shards;
	cfg.external_membership = external;
	cfg.cb.on_join_refused = on_refused;
	cfg.ud = ud;
	cfg.wall_offset_ms = INT64_C(1700000000000);
	gv_node *n;
	assert_int_equal(gv_node_new(&n, &cfg, 0), 0);
	assert_int_equal(gv_sim_attach(sim, i, &gv_node_ops, n), 0);
	return n;
}

static void
test_sim_join_shard_mismatch_refused(void **state)
{
	gv_sim_config sc;
	gv_sim_config_default(&sc);
	sc.nendpoints = 3;
	gv_sim *sim;
	assert_int_equal(gv_sim_new(&sim, &sc), 0);
	struct refusal ra = {0}, rb = {0}, rc = {0};
	gv_node *a = node(sim, 0, 2, false, &ra);
	gv_node *b = node(sim, 1, 4, false, &rb);
	gv_node *c = node(sim, 2, 2, false, &rc);
	gv_addr seed;
	gv_sim_addr(sim, 0, &seed);
	assert_int_equal(gv_node_join(b, 0, &seed, 1), 0);
	assert_int_equal(gv_node_join(c, 0, &seed, 1), 0);
	gv_sim_poke(sim, 1);
	gv_sim_poke(sim, 2);
	gv_sim_run_until(sim, 3000000);
	/* b was told why, a refused it and did not adopt it */
	assert_true(rb.count >= 1);
	assert_int_equal(rb.their, 2);
	assert_true(gv_node_get_stats(a)->joins_refused >= 1);
	gv_member_info m[4];
	size_t k = gv_node_members(a, m, 4);
	assert_int_equal(k, 1); /* c only */
	assert_true(m[0].id == 102);
	assert_int_equal(rc.count, 0);
	assert_int_equal(gv_node_members(b, m, 4), 0);
	gv_sim_del(sim);
	gv_node_del(a);
	gv_node_del(b);
	gv_node_del(c);
}

static void
test_sim_external_membership(void **state)
{
	gv_sim_config sc;
	gv_sim_config_default(&sc);
	sc.nendpoints = 3;
	gv_sim *sim;
	assert_int_equal(gv_sim_new(&sim, &sc), 0);
	gv_node *n[3];
	for (int i = 0; i < 3; i++)
		n[i] = node(sim, i, 2, true, NULL);
	/* a node without SWIM refuses to join by itself */
	gv_addr seed;
	gv_sim_addr(sim, 0, &seed);
	assert_int_equal(gv_node_join(n[1], 0, &seed, 1), GV_EINVAL);
	/* membership is fed from outside */
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++) {
			if (i == j)
				continue;
			gv_member_info mi = {.id = 100 + (gv_node_id)j,
					     .state = GV_MEMBER_ALIVE};
			gv_sim_addr(sim, j, &mi.addr);
			assert_int_equal(gv_node_set_member(n[i], 0, &mi), 0);
		}
	assert_int_equal(gv_node_put(n[0], 0, "k", 1, "v", 1, GV_PRIO_NORMAL),
			 0);
	gv_sim_poke(sim, 0);
	gv_sim_run_until(sim, 100000);
	gv_record r;
	for (int i = 0; i < 3; i++)
		assert_int_equal(gv_node_get(n[i], "k", 1, &r), 0);
	/* no probes of its own: no member is ever suspected here */
	gv_sim_run_until(sim, 10000000);
	for (int i = 0; i < 3; i++)
		assert_int_equal(gv_node_get_stats(n[i])->probes, 0);
	/* a member marked dead from outside stops receiving gossip */
	gv_member_info dead = {.id = 102, .state = GV_MEMBER_DEAD};
	gv_sim_addr(sim, 2, &dead.addr);
	assert_int_equal(gv_node_set_member(n[0], 0, &dead), 0);
	assert_int_equal(gv_node_set_member(n[1], 0, &dead), 0);
	gv_member_info mi[4];
	gv_node_members(n[0], mi, 4);
	assert_true((mi[0].id == 102 && mi[0].state == GV_MEMBER_DEAD) ||
		    (mi[1].id == 102 && mi[1].state == GV_MEMBER_DEAD));
	gv_sim_del(sim);
	for (int i = 0; i < 3; i++)
		gv_node_del(n[i]);
}

/*
 * 20 shards without SWIM of their own, all in region "r1", told their
 * members with name and region (as grapevined's shard 0 tells the other
 * shards): every member reads as region "r1" everywhere, and eager
 * flooding alone (no anti-entropy) carries writes to all 20 within a few
 * flooding hops. A member first told without a region (as before the
 * fix) is corrected by the next message that names it.
 */
static void
test_sim_external_membership_regions(void **state)
{
	enum { N = 20, W = 40 };
	gv_sim_config sc;
	gv_sim_config_default(&sc);
	sc.nendpoints = N;
	gv_sim *sim;
	assert_int_equal(gv_sim_new(&sim, &sc), 0);
	gv_node *n[N];
	for (int i = 0; i < N; i++) {
		gv_node_config cfg;
		gv_node_config_default(&cfg);
		cfg.id = 100 + (gv_node_id)i;
		gv_sim_addr(sim, i, &cfg.addr);
		cfg.seed = (uint64_t)i + 7;
		cfg.shards = 4;
		cfg.shard = 1;
		cfg.external_membership = true;
		cfg.ae_interval_ms = 0; /* flooding alone must do it */
		snprintf(cfg.name, sizeof(cfg.name), "n%d", i);
		snprintf(cfg.region, sizeof(cfg.region), "r1");
		cfg.wall_offset_ms = INT64_C(1700000000000);
		assert_int_equal(gv_node_new(&n[i], &cfg, 0), 0);
		assert_int_equal(gv_sim_attach(sim, i, &gv_node_ops, n[i]), 0);
	}
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++) {
			if (i == j)
				continue;
			char name[16];
			snprintf(name, sizeof(name), "n%d", j);
			gv_member_info mi = {.id = 100 + (gv_node_id)j,
					     .state = GV_MEMBER_ALIVE,
					     .name = name,
					     .region = "r1"};
			gv_sim_addr(sim, j, &mi.addr);
			if (i == 0 && j == 1) {
				/* first without name or region */
				mi.name = NULL;
				mi.region = NULL;
			}
			assert_int_equal(gv_node_set_member(n[i], 0, &mi), 0);
		}
	/* the correction: node 0 hears of member 1 again, with region */
	gv_member_info again = {.id = 101, .state = GV_MEMBER_ALIVE,
				.name = "n1", .region = "r1"};
	gv_sim_addr(sim, 1, &again.addr);
	assert_int_equal(gv_node_set_member(n[0], 0, &again), 0);
	for (int i = 0; i < N; i++) {
		gv_member_info mi[N];
		size_t k = gv_node_members(n[i], mi, N);
		assert_int_equal(k, N - 1);
		for (size_t j = 0; j < k; j++) {
			assert_string_equal(mi[j].region, "r1");
			char want[16];
			snprintf(want, sizeof(want), "n%d",
				 (int)(mi[j].id - 100));
			assert_string_equal(mi[j].name, want);
		}
	}
	/* writes at every node reach all N by flooding alone */
	for (int w = 0; w < W; w++) {
		char key[16];
		int kl = snprintf(key, sizeof(key), "k%d", w);
		int at = w % N;
		assert_int_equal(gv_node_put(n[at], 1000, key, (size_t)kl, "v",
					     1, GV_PRIO_NORMAL),
				 0);
		gv_sim_poke(sim, at);
	}
	gv_sim_run_until(sim, 300000); /* 300 ms */
	for (int i = 0; i < N; i++)
		for (int w = 0; w < W; w++) {
			char key[16];
			int kl = snprintf(key, sizeof(key), "k%d", w);
			gv_record r;
			if (gv_node_get(n[i], key, (size_t)kl, &r))
				fail_msg("node %d lacks %s after 300 ms", i,
					 key);
		}
	gv_sim_del(sim);
	for (int i = 0; i < N; i++)
		gv_node_del(n[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_join_shard_mismatch_refused),
		cmocka_unit_test(test_sim_external_membership),
		cmocka_unit_test(test_sim_external_membership_regions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
