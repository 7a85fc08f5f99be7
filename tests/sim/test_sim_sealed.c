/* SPDX-License-Identifier: MIT */
/*
 * test_sim_sealed.c - sealed gossip in the deterministic simulator.
 *
 * A cluster whose nodes each hold their own keyring (as separate processes
 * would) converges under loss, duplication and reordering, and the
 * network's duplicates are dropped as replays. Captured datagrams replayed
 * later, tampered ones, forgeries with an outsider's key (also claiming
 * the cluster key's id), clear datagrams, and sealed datagrams of another
 * cluster are all refused, counted, and change nothing. A key is rotated
 * while writes flow (install everywhere, switch half the nodes, then all,
 * remove the old key) without a refused datagram; a node left on the
 * removed key is shut out.
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

#define S 1000000ull /* one virtual second */
#define K1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define K2 "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
#define EVIL "deadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeefdeadbeef"

static gv_keyring *
ring(const char *text)
{
	gv_keyring *kr;
	assert_int_equal(gv_keyring_new(&kr, NULL), 0);
	assert_int_equal(gv_keyring_load(kr, text, strlen(text), NULL, 0), 0);
	return kr;
}

struct capture {
	size_t n;
	int to[64];
	size_t len[64];
	uint8_t buf[64][1500];
};

static void
observe(void *ud, gv_time now, int from, int to, const uint8_t *buf,
	size_t len)
{
	(void)now;
	(void)from;
	struct capture *cap = ud;
	if (cap->n < 64 && len <= sizeof(cap->buf[0])) {
		cap->to[cap->n] = to;
		cap->len[cap->n] = len;
		memcpy(cap->buf[cap->n], buf, len);
		cap->n++;
	}
}

static gv_cluster *
sealed_cluster(size_t n, uint64_t seed, gv_keyring **rings, double loss,
	       double dup, double reorder, struct capture *cap)
{
	gv_cluster_config cfg;
	gv_cluster_config_default(&cfg);
	cfg.nodes = n;
	cfg.seed = seed;
	cfg.keyrings = rings;
	cfg.net.loss = loss;
	cfg.net.dup = dup;
	cfg.net.reorder = reorder;
	if (cap) {
		cfg.observer = observe;
		cfg.observer_ud = cap;
	}
	gv_cluster *c;
	assert_int_equal(gv_cluster_new(&c, &cfg), 0);
	return c;
}

static void
sum_stats(gv_cluster *c, gv_node_stats *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < gv_cluster_size(c); i++) {
		const gv_node_stats *s = gv_node_get_stats(gv_cluster_node(c, i));
		t->auth_clear += s->auth_clear;
		t->auth_no_keyring += s->auth_no_keyring;
		t->auth_unknown_key += s->auth_unknown_key;
		t->auth_failed += s->auth_failed;
		t->auth_replayed += s->auth_replayed;
		t->auth_stale += s->auth_stale;
		t->seal_errors += s->seal_errors;
		t->keyring_changes += s->keyring_changes;
		t->keyring_errors += s->keyring_errors;
		t->dgrams_in += s->dgrams_in;
		t->dgrams_foreign += s->dgrams_foreign;
		t->dgrams_bad += s->dgrams_bad;
	}
}

static void
writes(gv_cluster *c, struct write_log *l, gv_rng *rng, int n,
       const char *prefix)
{
	char key[48], val[32];
	for (int k = 0; k < n; k++) {
		size_t i = gv_rng_below(rng, gv_cluster_size(c));
		snprintf(key, sizeof(key), "%s%llu", prefix,
			 (unsigned long long)gv_rng_below(rng, 200));
		snprintf(val, sizeof(val), "v%d@%zu", k, i);
		if (gv_cluster_up(c, i))
			sim_put(c, l, i, key, val, false);
		gv_cluster_run_for(c, 2000);
	}
}

static void
settle(gv_cluster *c, struct write_log *l)
{
	gv_time t0 = gv_cluster_now(c);
	gv_time eq = gv_cluster_run_until_roots_equal(c, 10000, t0 + 60 * S);
	assert_true(eq != GV_TIME_NEVER);
	assert_int_equal(check_identical(c), 0);
	assert_int_equal(check_no_lost_writes(c, l), 0);
}

static void
test_sealed_converges(void **state)
{
	(void)state;
	enum { N = 24 };
	gv_keyring *rings[N];
	for (int i = 0; i < N; i++)
		rings[i] = ring(K1 "\n");
	gv_cluster *c = sealed_cluster(N, 7, rings, 0.05, 0.05, 0.1, NULL);
	gv_cluster_run_for(c, S);
	struct write_log l = {0};
	gv_rng rng;
	gv_rng_seed(&rng, 7);
	writes(c, &l, &rng, 400, "k");
	settle(c, &l);
	gv_node_stats t;
	sum_stats(c, &t);
	printf("# %d sealed nodes, 400 writes, 5%% loss and duplication: "
	       "%llu datagrams in, %llu duplicates dropped as replays, "
	       "%llu stale\n",
	       N, (unsigned long long)t.dgrams_in,
	       (unsigned long long)t.auth_replayed,
	       (unsigned long long)t.auth_stale);
	assert_true(t.auth_replayed > 0); /* the network's duplicates */
	assert_int_equal(t.auth_failed, 0);
	assert_int_equal(t.auth_unknown_key, 0);
	assert_int_equal(t.auth_clear, 0);
	assert_int_equal(t.seal_errors, 0);
	assert_int_equal(t.dgrams_bad, 0);
	free(l.w);
	gv_cluster_del(c);
	for (int i = 0; i < N; i++)
		gv_keyring_del(rings[i]);
}

/* A clear datagram carrying one update of key to value. */
static size_t
clear_update(uint8_t *buf, uint32_t cluster, uint64_t sender, uint64_t seq,
	     const char *key, const char *val)
{
	gv_wire_header h = {.cluster = cluster, .sender = sender,
			    .incarnation = 0, .seq = seq};
	gv_wire_writer w;
	assert_int_equal(gv_wire_begin(&w, buf, 1400, &h), 0);
	gv_wire_update u = {
		.ver = {.hlc = (uint64_t)1 << 40, .origin = sender},
		.priority = 1,
		.key = (const uint8_t *)key,
		.klen = (uint16_t)strlen(key),
		.val = (const uint8_t *)val,
		.vlen = (uint16_t)strlen(val),
	};
	assert_int_equal(gv_wire_put_update(&w, &u), 0);
	return (size_t)gv_wire_finish(&w);
}

static void
assert_absent(gv_cluster *c, const char *key)
{
	for (size_t i = 0; i < gv_cluster_size(c); i++) {
		gv_record r;
		assert_int_equal(gv_store_lookup(gv_node_store(
							 gv_cluster_node(c, i)),
						 key, strlen(key), &r),
				 GV_ENOTFOUND);
	}
}

static void
test_sealed_attacks(void **state)
{
	(void)state;
	enum { N = 8 };
	gv_keyring *rings[N];
	for (int i = 0; i < N; i++)
		rings[i] = ring(K1 "\n");
	struct capture *cap = calloc(1, sizeof(*cap));
	assert_non_null(cap);
	gv_cluster *c = sealed_cluster(N, 11, rings, 0, 0, 0, cap);
	struct write_log l = {0};
	gv_rng rng;
	gv_rng_seed(&rng, 11);
	writes(c, &l, &rng, 50, "k");
	settle(c, &l);
	assert_int_equal(cap->n, 64);

	gv_node *v = gv_cluster_node(c, 3);
	const gv_node_stats *st = gv_node_get_stats(v);
	uint64_t root = gv_node_root(v);
	gv_time now = gv_cluster_now(c);
	gv_addr from;
	gv_sim_addr(gv_cluster_sim(c), 1, &from);
	gv_node_stats t0;
	sum_stats(c, &t0);
	uint32_t cid;
	memcpy(&cid, cap->buf[0] + 4, sizeof(cid)); /* the cluster id */

	/* 1. every captured datagram, replayed to its receiver */
	for (size_t k = 0; k < cap->n; k++) {
		gv_node *to = gv_cluster_node(c, (size_t)cap->to[k]);
		int rc = gv_node_recv(to, now, &from, cap->buf[k], cap->len[k]);
		assert_int_equal(rc, GV_EREPLAY);
	}
	gv_node_stats t1;
	sum_stats(c, &t1);
	assert_int_equal(t1.auth_replayed + t1.auth_stale -
				 t0.auth_replayed - t0.auth_stale,
			 cap->n);

	/* 2. tampered: a byte of the body, of the tag, of the header */
	uint8_t buf[1500];
	size_t spots[] = {45, cap->len[0] - 1, 25};
	for (size_t s = 0; s < 3; s++) {
		memcpy(buf, cap->buf[0], cap->len[0]);
		buf[spots[s]] ^= 0x20;
		gv_node *to = gv_cluster_node(c, (size_t)cap->to[0]);
		st = gv_node_get_stats(to);
		uint64_t before = st->auth_failed + st->auth_replayed + st->auth_stale;
		int rc = gv_node_recv(to, now, &from, buf, cap->len[0]);
		assert_true(rc == GV_EAUTH || rc == GV_EREPLAY);
		assert_int_equal(st->auth_failed + st->auth_replayed +
					 st->auth_stale,
				 before + 1);
	}
	/* a fresh seq, so that the window cannot be what refuses it */
	memcpy(buf, cap->buf[0], cap->len[0]);
	buf[24] ^= 0x40; /* seq += 2^62: new to the window */
	st = gv_node_get_stats(gv_cluster_node(c, (size_t)cap->to[0]));
	uint64_t failed = st->auth_failed;
	assert_int_equal(gv_node_recv(gv_cluster_node(c, (size_t)cap->to[0]),
				      now, &from, buf, cap->len[0]),
			 GV_EAUTH);
	assert_int_equal(st->auth_failed, failed + 1);

	/* 3. forged with an outsider's key: unknown key id; then with the
	 *    cluster key's id written in: the tag fails */
	gv_keyring *evil = ring(EVIL "\n");
	gv_seal_cache *sc;
	assert_int_equal(gv_seal_cache_new(&sc, gv_mem_libc()), 0);
	st = gv_node_get_stats(v);
	size_t len = clear_update(buf, cid,
				  0x5eed, 1u << 30, "evil", "x");
	ssize_t sl = gv_seal(evil, sc, buf, len, sizeof(buf), 99);
	assert_true(sl > 0);
	assert_int_equal(gv_node_recv(v, now, &from, buf, (size_t)sl),
			 GV_EAUTH);
	assert_int_equal(st->auth_unknown_key, 1);
	uint8_t k1[GV_KEY_LEN];
	gv_key_parse(K1, strlen(K1), k1);
	len = clear_update(buf, cid,
			   0x5eed, (1u << 30) + 1, "evil", "x");
	sl = gv_seal(evil, sc, buf, len, sizeof(buf), 99);
	buf[32] = (uint8_t)gv_key_id(k1);
	buf[33] = (uint8_t)(gv_key_id(k1) >> 8);
	buf[34] = (uint8_t)(gv_key_id(k1) >> 16);
	buf[35] = (uint8_t)(gv_key_id(k1) >> 24);
	failed = st->auth_failed;
	assert_int_equal(gv_node_recv(v, now, &from, buf, (size_t)sl),
			 GV_EAUTH);
	assert_int_equal(st->auth_failed, failed + 1);

	/* 4. clear datagrams are refused outright */
	len = clear_update(buf, cid,
			   0x5eed, (1u << 30) + 2, "evil", "x");
	assert_int_equal(gv_node_recv(v, now, &from, buf, len), GV_EAUTH);
	assert_int_equal(st->auth_clear, 1);

	/* 5. sealed with the right key, for another cluster */
	len = clear_update(buf, cid + 1,
			   0x5eed, (1u << 30) + 3, "evil", "x");
	sl = gv_seal(rings[1], sc, buf, len, sizeof(buf), 99);
	uint64_t foreign = st->dgrams_foreign;
	assert_int_equal(gv_node_recv(v, now, &from, buf, (size_t)sl),
			 GV_ECLUSTER);
	assert_int_equal(st->dgrams_foreign, foreign + 1);

	/* nothing changed: the same root, no "evil" anywhere, and the
	 * cluster carries on */
	assert_int_equal(gv_node_root(v), root);
	gv_cluster_run_for(c, 2 * S);
	assert_absent(c, "evil");
	writes(c, &l, &rng, 50, "after");
	settle(c, &l);
	assert_absent(c, "evil");

	gv_seal_cache_del(sc, gv_mem_libc());
	gv_keyring_del(evil);
	free(l.w);
	free(cap);
	gv_cluster_del(c);
	for (int i = 0; i < N; i++)
		gv_keyring_del(rings[i]);
}

static void
test_sealed_rotation(void **state)
{
	(void)state;
	enum { N = 12 };
	gv_keyring *rings[N];
	for (int i = 0; i < N; i++)
		rings[i] = ring(K1 "\n");
	gv_cluster *c = sealed_cluster(N, 23, rings, 0.02, 0, 0, NULL);
	struct write_log l = {0};
	gv_rng rng;
	gv_rng_seed(&rng, 23);
	uint8_t k1[GV_KEY_LEN], k2[GV_KEY_LEN];
	gv_key_parse(K1, strlen(K1), k1);
	gv_key_parse(K2, strlen(K2), k2);

	writes(c, &l, &rng, 50, "a");
	for (int i = 0; i < N; i++)
		assert_int_equal(gv_keyring_install(rings[i], k2), 1);
	writes(c, &l, &rng, 50, "b");
	for (int i = 0; i < N / 2; i++)
		assert_int_equal(gv_keyring_use(rings[i], gv_key_id(k2)), 1);
	writes(c, &l, &rng, 50, "c"); /* mixed primaries */
	for (int i = N / 2; i < N - 1; i++)
		assert_int_equal(gv_keyring_use(rings[i], gv_key_id(k2)), 1);
	/* the last node misses the switch and the removal */
	writes(c, &l, &rng, 50, "d");
	for (int i = 0; i < N - 1; i++)
		assert_int_equal(gv_keyring_remove(rings[i], gv_key_id(k1)), 1);
	gv_node_stats t;
	sum_stats(c, &t);
	assert_int_equal(t.auth_unknown_key, 0);
	assert_int_equal(t.auth_failed, 0);

	/* the node still sealing with K1 is shut out: its datagrams name a
	 * key nobody holds */
	gv_cluster_run_for(c, 3 * S);
	sum_stats(c, &t);
	printf("# rotation: the node left on the removed key had %llu "
	       "datagrams refused\n",
	       (unsigned long long)t.auth_unknown_key);
	assert_true(t.auth_unknown_key > 0);
	const gv_node_stats *last = gv_node_get_stats(gv_cluster_node(c, N - 1));
	assert_int_equal(last->auth_unknown_key, 0); /* it holds K2 too */
	/* once it switches, it is back */
	assert_int_equal(gv_keyring_use(rings[N - 1], gv_key_id(k2)), 1);
	assert_int_equal(gv_keyring_remove(rings[N - 1], gv_key_id(k1)), 1);
	writes(c, &l, &rng, 50, "e");
	settle(c, &l);
	free(l.w);
	gv_cluster_del(c);
	for (int i = 0; i < N; i++)
		gv_keyring_del(rings[i]);
}

static const gv_key_status *
status_of(const gv_key_status *st, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (st[i].id == id)
			return &st[i];
	return NULL;
}

/* Every ring holds exactly these keys, the first primary. */
static void
assert_rings(gv_keyring **rings, size_t n, const uint32_t *ids, size_t k)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t got[GV_KEYRING_MAX];
		size_t m = gv_keyring_list(rings[i], got, GV_KEYRING_MAX);
		if (m != k || got[0] != ids[0])
			printf("# node %zu: %zu keys, primary %08x\n", i, m,
			       got[0]);
		assert_int_equal(m, k);
		assert_int_equal(got[0], ids[0]);
		for (size_t j = 1; j < k; j++)
			assert_true(got[1] == ids[j] ||
				    (k > 2 && got[2] == ids[j]));
	}
}

static void
test_sealed_gossip_rotation(void **state)
{
	(void)state;
	enum { N = 16 };
	gv_keyring *rings[N];
	for (int i = 0; i < N; i++)
		rings[i] = ring(K1 "\n");
	gv_cluster *c = sealed_cluster(N, 31, rings, 0.02, 0, 0, NULL);
	struct write_log l = {0};
	gv_rng rng;
	gv_rng_seed(&rng, 31);
	uint8_t k1[GV_KEY_LEN], k2[GV_KEY_LEN];
	gv_key_parse(K1, strlen(K1), k1);
	gv_key_parse(K2, strlen(K2), k2);
	uint32_t id1 = gv_key_id(k1), id2 = gv_key_id(k2);
	gv_key_status st[4];
	unsigned live = 0;

	writes(c, &l, &rng, 30, "a");
	gv_node *n0 = gv_cluster_node(c, 0), *n5 = gv_cluster_node(c, 5);
	gv_time now = gv_cluster_now(c);
	/* refusals first: no such key, the primary, junk */
	assert_int_equal(gv_node_keys_op(n0, now, GV_KEYOP_USE, NULL, id2),
			 GV_ENOTFOUND);
	assert_int_equal(gv_node_keys_op(n0, now, GV_KEYOP_REMOVE, NULL, id1),
			 GV_EPRIMARY);
	assert_int_equal(gv_node_keys_op(n0, now, 99, NULL, id1), GV_EINVAL);
	assert_int_equal(gv_node_put(n0, now, GV_RESERVED_PREFIX "k", 5, "x",
				     1, GV_PRIO_NORMAL),
			 GV_EINVAL);

	/* install at node 0: every ring gets it, every member reports it */
	assert_int_equal(gv_node_keys_op(n0, now, GV_KEYOP_INSTALL, k2, 0), 0);
	gv_sim_poke(gv_cluster_sim(c), 0);
	writes(c, &l, &rng, 30, "b");
	gv_cluster_run_for(c, 2 * S);
	uint32_t after_install[] = {id1, id2};
	assert_rings(rings, N, after_install, 2);
	size_t k = gv_node_keys_list(n5, st, 4, &live);
	assert_int_equal(k, 2);
	assert_int_equal(live, N);
	assert_int_equal(st[0].id, id1);
	assert_true(st[0].primary);
	assert_int_equal(status_of(st, k, id1)->holders, N);
	assert_int_equal(status_of(st, k, id1)->primaries, N);
	assert_int_equal(status_of(st, k, id2)->holders, N);
	assert_int_equal(status_of(st, k, id2)->primaries, 0);

	/* use, from another node */
	gv_node *n3 = gv_cluster_node(c, 3);
	assert_int_equal(gv_node_keys_op(n3, gv_cluster_now(c), GV_KEYOP_USE,
					 NULL, id2),
			 0);
	gv_sim_poke(gv_cluster_sim(c), 3);
	writes(c, &l, &rng, 30, "c");
	gv_cluster_run_for(c, 2 * S);
	uint32_t after_use[] = {id2, id1};
	assert_rings(rings, N, after_use, 2);
	k = gv_node_keys_list(n5, st, 4, &live);
	assert_int_equal(status_of(st, k, id2)->primaries, N);

	/* remove the old key, from a third node */
	gv_node *n7 = gv_cluster_node(c, 7);
	assert_int_equal(gv_node_keys_op(n7, gv_cluster_now(c),
					 GV_KEYOP_REMOVE, NULL, id1),
			 0);
	gv_sim_poke(gv_cluster_sim(c), 7);
	writes(c, &l, &rng, 30, "d");
	gv_cluster_run_for(c, 2 * S);
	uint32_t after_remove[] = {id2};
	assert_rings(rings, N, after_remove, 1);
	k = gv_node_keys_list(n5, st, 4, &live);
	assert_int_equal(k, 1);
	assert_int_equal(st[0].holders, N);
	settle(c, &l);

	gv_node_stats t;
	sum_stats(c, &t);
	printf("# gossiped rotation over %d nodes: %llu ring changes, %llu "
	       "datagrams refused\n",
	       N, (unsigned long long)t.keyring_changes,
	       (unsigned long long)(t.auth_failed + t.auth_unknown_key));
	assert_true(t.keyring_changes >= 3 * (N - 1));
	assert_int_equal(t.keyring_errors, 0);
	assert_int_equal(t.auth_failed, 0);
	assert_int_equal(t.auth_unknown_key, 0);
	free(l.w);
	gv_cluster_del(c);
	for (int i = 0; i < N; i++)
		gv_keyring_del(rings[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sealed_converges),
		cmocka_unit_test(test_sealed_attacks),
		cmocka_unit_test(test_sealed_rotation),
		cmocka_unit_test(test_sealed_gossip_rotation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
