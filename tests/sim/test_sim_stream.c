/* SPDX-License-Identifier: MIT */
/*
 * test_sim_stream.c - large values over the stream channel, on the
 * simulated network (sim.h's stream model):
 *  - a value of megabytes written at one node is, at every node, byte for
 *    byte the same (digest), fetched about once per node, in every
 *    dissemination mode and under datagram loss, duplication, reordering;
 *  - while a value travels, every node holds the old value or the new one,
 *    whole, never a torn one; a write that overtakes a transfer wins;
 *  - a node restarted empty gets the value back (anti-entropy announces,
 *    the stream carries); a delete (tombstone) of a large value replicates;
 *  - a partition in the middle of a transfer: the fetch moves to another
 *    source and completes after the heal;
 *  - a stalled peer does not stall gossip: small writes still converge,
 *    the bytes queued for it stay bounded, its transfer is abandoned
 *    (stream_stalls), and it catches up once it reads again;
 *  - a node whose memory cap is too small refuses the value (counted),
 *    the others are unaffected;
 *  - garbage stream messages are counted and dropped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <xxhash.h>

#include "core/node_int.h"
#include "sim/cluster.h"

#define MS_US 1000ull

static gv_cluster *
cluster(size_t nodes, int mode, double loss, size_t max_memory)
{
	gv_cluster_config cfg;
	gv_cluster_config_default(&cfg);
	cfg.nodes = nodes;
	cfg.seed = 7;
	cfg.node.mode = mode;
	cfg.node.ae_interval_ms = 200;
	cfg.node.store.max_value = 64u << 20;
	cfg.node.store.max_memory = max_memory;
	cfg.node.stream_stall_ms = 1000;
	cfg.net.loss = loss;
	cfg.net.dup = loss / 2;
	cfg.net.reorder = loss;
	cfg.stream = true;
	cfg.stream_bps = 200u << 20; /* 200 MiB/s per pair */
	cfg.stream_queue = 1u << 20;
	gv_cluster *c;
	assert_int_equal(gv_cluster_new(&c, &cfg), 0);
	gv_cluster_run_for(c, 500 * MS_US);
	return c;
}

static uint8_t *
bytes(size_t len, uint64_t seed)
{
	uint8_t *b = malloc(len ? len : 1);
	assert_non_null(b);
	for (size_t i = 0; i < len; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		b[i] = (uint8_t)(seed >> 56);
	}
	return b;
}

static int
put(gv_cluster *c, size_t i, const char *key, const uint8_t *v, size_t len)
{
	return gv_node_put(gv_cluster_node(c, i), gv_cluster_now(c), key,
			   strlen(key), v, len, GV_PRIO_NORMAL);
}

/* The digest of key's value at node i; 0 if absent. */
static uint64_t
digest_at(gv_cluster *c, size_t i, const char *key, size_t *len)
{
	gv_record r;
	if (gv_node_get(gv_cluster_node(c, i), key, strlen(key), &r) ||
	    r.tombstone)
		return 0;
	if (len)
		*len = r.vlen;
	return XXH3_64bits(r.val, r.vlen) | 1;
}

static bool
all_hold(gv_cluster *c, const char *key, uint64_t d)
{
	for (size_t i = 0; i < gv_cluster_size(c); i++)
		if (gv_cluster_up(c, i) && digest_at(c, i, key, NULL) != d)
			return false;
	return true;
}

static void
run_until_all_hold(gv_cluster *c, const char *key, uint64_t d,
		   gv_time budget)
{
	gv_time end = gv_cluster_now(c) + budget;
	while (!all_hold(c, key, d) && gv_cluster_now(c) < end)
		gv_cluster_run_for(c, 5 * MS_US);
	assert_true(all_hold(c, key, d));
}

static uint64_t
sum_stat(gv_cluster *c, size_t off)
{
	uint64_t k = 0;
	for (size_t i = 0; i < gv_cluster_size(c); i++) {
		const uint8_t *st =
			(const uint8_t *)gv_node_get_stats(gv_cluster_node(c, i));
		uint64_t v;
		memcpy(&v, st + off, sizeof(v));
		k += v;
	}
	return k;
}
#define SUM(c, field) sum_stat((c), offsetof(gv_node_stats, field))

static void
spreads_in_mode(int mode, double loss)
{
	enum { N = 8 };
	const size_t len = 3u << 20;
	gv_cluster *c = cluster(N, mode, loss, 0);
	uint8_t *v = bytes(len, 1);
	uint64_t d = XXH3_64bits(v, len) | 1;
	assert_int_equal(put(c, 2, "big", v, len), 0);
	run_until_all_hold(c, "big", d, 20000 * MS_US);
	/* each node fetched it about once (retries under loss aside) */
	uint64_t in = SUM(c, stream_values_in);
	assert_true(in >= N - 1);
	if (loss == 0)
		assert_true(in <= N - 1 + 2);
	assert_int_equal(SUM(c, stream_bad), 0);
	assert_true(gv_cluster_run_until_roots_equal(
			    c, 20 * MS_US, gv_cluster_now(c) + 5000 * MS_US) !=
		    GV_TIME_NEVER);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(gv_node_stream_pending(gv_cluster_node(c, i)),
				 0);
	free(v);
	gv_cluster_del(c);
}

static void
test_eager(void **state)
{
	(void)state;
	spreads_in_mode(GV_MODE_EAGER, 0);
}

static void
test_eager_lossy(void **state)
{
	(void)state;
	spreads_in_mode(GV_MODE_EAGER, 0.05);
}

static void
test_push(void **state)
{
	(void)state;
	spreads_in_mode(GV_MODE_PUSH, 0);
}

static void
test_pushpull(void **state)
{
	(void)state;
	spreads_in_mode(GV_MODE_PUSHPULL, 0.05);
}

/* Never a torn value: every node holds v1 or v2 whole (or nothing yet),
 * at every moment; the later write wins everywhere. */
static void
test_overtaken(void **state)
{
	(void)state;
	enum { N = 6 };
	const size_t len = 4u << 20;
	gv_cluster *c = cluster(N, GV_MODE_EAGER, 0, 0);
	uint8_t *v1 = bytes(len, 1), *v2 = bytes(len + 7, 2);
	uint64_t d1 = XXH3_64bits(v1, len) | 1,
		 d2 = XXH3_64bits(v2, len + 7) | 1;
	assert_int_equal(put(c, 0, "k", v1, len), 0);
	gv_cluster_run_for(c, 25 * MS_US); /* v1 under way */
	assert_int_equal(put(c, 4, "k", v2, len + 7), 0);
	bool saw_v1 = false;
	gv_time end = gv_cluster_now(c) + 20000 * MS_US;
	while (!all_hold(c, "k", d2) && gv_cluster_now(c) < end) {
		gv_cluster_run_for(c, 1 * MS_US);
		for (size_t i = 0; i < N; i++) {
			uint64_t d = digest_at(c, i, "k", NULL);
			assert_true(d == 0 || d == d1 || d == d2);
			saw_v1 |= (d == d1 && i != 0);
		}
	}
	assert_true(all_hold(c, "k", d2));
	(void)saw_v1;
	free(v1);
	free(v2);
	gv_cluster_del(c);
}

/* A node restarted empty gets it back; a delete replicates. */
static void
test_restart_and_delete(void **state)
{
	(void)state;
	enum { N = 4 };
	const size_t len = 2u << 20;
	gv_cluster *c = cluster(N, GV_MODE_EAGER, 0, 0);
	uint8_t *v = bytes(len, 3);
	uint64_t d = XXH3_64bits(v, len) | 1;
	assert_int_equal(put(c, 1, "big", v, len), 0);
	run_until_all_hold(c, "big", d, 10000 * MS_US);
	assert_int_equal(gv_cluster_crash(c, 3), 0);
	gv_cluster_run_for(c, 100 * MS_US);
	assert_int_equal(gv_cluster_restart(c, 3, false), 0);
	assert_int_equal(digest_at(c, 3, "big", NULL), 0);
	run_until_all_hold(c, "big", d, 20000 * MS_US);
	/* the delete: a tombstone, in a datagram */
	assert_int_equal(gv_node_delete(gv_cluster_node(c, 0),
					gv_cluster_now(c), "big", 3,
					GV_PRIO_NORMAL),
			 0);
	run_until_all_hold(c, "big", 0, 10000 * MS_US);
	free(v);
	gv_cluster_del(c);
}

/* A compressible value's chunks travel compressed (zstd), an
 * incompressible one's raw after CHUNK_TRIES attempts; both arrive
 * identical. */
static void
test_compressed_chunks(void **state)
{
	(void)state;
	enum { N = 4 };
	const size_t len = 4u << 20;
	gv_cluster *c = cluster(N, GV_MODE_EAGER, 0, 0);
	uint8_t *text = malloc(len);
	assert_non_null(text);
	for (size_t i = 0; i < len;) {
		char rec[128];
		int k = snprintf(rec, sizeof(rec),
				 "{\"id\":%zu,\"name\":\"user%zu\",\"ok\":true},",
				 i, i % 977);
		for (int j = 0; j < k && i < len; j++)
			text[i++] = (uint8_t)rec[j];
	}
	uint64_t d = XXH3_64bits(text, len) | 1;
	assert_int_equal(put(c, 0, "json", text, len), 0);
	run_until_all_hold(c, "json", d, 20000 * MS_US);
	uint64_t zipped = SUM(c, stream_chunks_zipped);
	assert_true(zipped >= (N - 1) * (len / GV_STREAM_DEFAULT_CHUNK));
	assert_int_equal(SUM(c, stream_chunks_unzipped), zipped);
	/* the stream carried a fraction of the value's bytes per copy */
	assert_true(SUM(c, stream_bytes_out) < (N - 1) * len / 2);
	uint64_t before = zipped;
	uint8_t *rnd = bytes(len, 8);
	d = XXH3_64bits(rnd, len) | 1;
	assert_int_equal(put(c, 1, "rnd", rnd, len), 0);
	run_until_all_hold(c, "rnd", d, 20000 * MS_US);
	assert_int_equal(SUM(c, stream_chunks_zipped), before);
	assert_int_equal(SUM(c, stream_bad), 0);
	free(text);
	free(rnd);
	gv_cluster_del(c);
}

/* A fetcher that leaves a source (its connection reported broken while
 * chunks still flow) tells it to stop: the old transfer ends early
 * (stream_cancels), no whole extra copy is sent, and the value arrives
 * from the next source. */
static void
test_cancel(void **state)
{
	(void)state;
	enum { N = 3 };
	const size_t len = 16u << 20;
	gv_cluster *c = cluster(N, GV_MODE_EAGER, 0, 0);
	uint8_t *v = bytes(len, 9);
	uint64_t d = XXH3_64bits(v, len) | 1;
	assert_int_equal(put(c, 0, "big", v, len), 0);
	gv_node *n2 = gv_cluster_node(c, 2);
	while (gv_node_get_stats(n2)->stream_bytes_in < (1u << 20))
		gv_cluster_run_for(c, 1 * MS_US);
	/* its source is node 0 or 1: both "broke" (the sim still delivers
	 * what they send) */
	for (int i = 0; i < 2 && !SUM(c, stream_cancels); i++) {
		gv_addr src;
		gv_sim_addr(gv_cluster_sim(c), i, &src);
		gv_node_stream_down(n2, gv_cluster_now(c), &src);
		gv_sim_poke(gv_cluster_sim(c), 2);
		gv_cluster_run_for(c, 2 * MS_US);
	}
	run_until_all_hold(c, "big", d, 20000 * MS_US);
	assert_true(SUM(c, stream_cancels) >= 1);
	/* node 1 got one copy, node 2 one whole and the start of another */
	assert_true(SUM(c, stream_value_bytes_out) < 3 * len);
	free(v);
	gv_cluster_del(c);
}

/* A node restarted empty is repaired by anti-entropy in batches over the
 * stream (whole datagrams of up to 60 KB), not in paced gossip datagrams:
 * 4,000 small keys come back, and most of the bytes came by stream. */
static void
test_bulk_repair(void **state)
{
	(void)state;
	enum { N = 3, K = 4000 };
	gv_cluster *c = cluster(N, GV_MODE_EAGER, 0, 0);
	char key[32], val[64];
	for (int k = 0; k < K; k++) {
		snprintf(key, sizeof(key), "key:%d", k);
		snprintf(val, sizeof(val), "value of key %d, some bytes", k);
		assert_int_equal(put(c, (size_t)k % 2, key,
				     (const uint8_t *)val, strlen(val)),
				 0);
		if (k % 100 == 99)
			gv_cluster_run_for(c, 2 * MS_US);
	}
	gv_cluster_run_for(c, 2000 * MS_US);
	assert_int_equal(gv_cluster_restart(c, 2, false), 0);
	assert_true(gv_cluster_run_until_roots_equal(
			    c, 50 * MS_US, gv_cluster_now(c) + 20000 * MS_US) !=
		    GV_TIME_NEVER);
	gv_node *fresh = gv_cluster_node(c, 2);
	assert_int_equal(gv_node_store(fresh)->count, K);
	const gv_node_stats *st = gv_node_get_stats(fresh);
	assert_true(st->stream_bytes_in > st->ae_bytes_in / 2);
	assert_int_equal(st->stream_bad, 0);
	gv_cluster_del(c);
}

/* A partition cuts the transfer: the fetch asks another source, and the
 * value arrives after the heal. */
static void
test_partition_mid_transfer(void **state)
{
	(void)state;
	enum { N = 5 };
	const size_t len = 8u << 20;
	gv_cluster *c = cluster(N, GV_MODE_EAGER, 0, 0);
	uint8_t *v = bytes(len, 4);
	uint64_t d = XXH3_64bits(v, len) | 1;
	assert_int_equal(put(c, 0, "big", v, len), 0);
	/* cut, from the writer, the first node that started fetching */
	size_t cut = N;
	while (cut == N) {
		gv_cluster_run_for(c, 1 * MS_US);
		for (size_t i = 1; i < N && cut == N; i++)
			if (gv_node_stream_pending(gv_cluster_node(c, i)))
				cut = i;
	}
	gv_cluster_run_for(c, 5 * MS_US);
	unsigned groups[N] = {0, 0, 0, 0, 0};
	groups[cut] = 1;
	groups[(cut % (N - 1)) + 1] = 1;
	assert_int_equal(gv_cluster_partition(c, groups), 0);
	gv_cluster_run_for(c, 3000 * MS_US);
	assert_int_equal(digest_at(c, cut, "big", NULL), 0);
	gv_cluster_heal(c);
	run_until_all_hold(c, "big", d, 30000 * MS_US);
	assert_true(gv_sim_stream_get_stats(gv_cluster_sim(c))->resets > 0);
	free(v);
	gv_cluster_del(c);
}

/* A peer that stops reading its streams: gossip goes on, its queue stays
 * bounded, its transfer is abandoned, and it catches up later. */
static void
test_stalled_peer(void **state)
{
	(void)state;
	enum { N = 4 };
	const size_t len = 16u << 20;
	gv_cluster *c = cluster(N, GV_MODE_EAGER, 0, 0);
	gv_sim *sim = gv_cluster_sim(c);
	uint8_t *v = bytes(len, 5);
	uint64_t d = XXH3_64bits(v, len) | 1;
	assert_int_equal(gv_sim_stream_stall(sim, 3, true), 0);
	assert_int_equal(put(c, 0, "big", v, len), 0);
	gv_cluster_run_for(c, 50 * MS_US);
	/* small writes keep flowing to the stalled node */
	for (int k = 0; k < 20; k++) {
		char key[16];
		snprintf(key, sizeof(key), "s%d", k);
		assert_int_equal(put(c, (size_t)k % 3, key,
				     (const uint8_t *)"x", 1),
				 0);
	}
	assert_true(gv_cluster_run_until_converged(
		c, gv_cluster_now(c) + 2000 * MS_US));
	gv_cluster_run_for(c, 3000 * MS_US);
	assert_int_equal(digest_at(c, 3, "big", NULL), 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(digest_at(c, i, "big", NULL), d);
	/* bounded: the queue toward it never grew past its cap and a chunk */
	assert_true(gv_sim_stream_get_stats(sim)->peak_queued <=
		    (1u << 20) + GV_STREAM_MAX_MSG(GV_STREAM_DEFAULT_CHUNK));
	assert_true(SUM(c, stream_stalls) > 0);
	assert_int_equal(gv_sim_stream_stall(sim, 3, false), 0);
	run_until_all_hold(c, "big", d, 30000 * MS_US);
	free(v);
	gv_cluster_del(c);
}

/* A node whose cap cannot hold the value refuses it; no one else cares. */
static void
test_memory_cap(void **state)
{
	(void)state;
	enum { N = 3 };
	const size_t len = 6u << 20;
	gv_cluster *c = cluster(N, GV_MODE_EAGER, 0, 0);
	/* node 2 alone gets a cap 4 MiB above what it uses */
	gv_node *small = gv_cluster_node(c, 2);
	small->store.max_memory = small->store.mem_used + (4u << 20);
	uint8_t *v = bytes(len, 6);
	uint64_t d = XXH3_64bits(v, len) | 1;
	assert_int_equal(put(c, 0, "big", v, len), 0);
	gv_cluster_run_for(c, 3000 * MS_US);
	assert_int_equal(digest_at(c, 1, "big", NULL), d);
	assert_int_equal(digest_at(c, 2, "big", NULL), 0);
	assert_true(gv_node_get_stats(small)->stream_refused > 0);
	assert_int_equal(small->stream.pending_bytes, 0);
	free(v);
	gv_cluster_del(c);
}

/* Garbage on the stream: counted, dropped, nothing changes. */
static void
test_garbage(void **state)
{
	(void)state;
	gv_cluster *c = cluster(2, GV_MODE_EAGER, 0, 0);
	gv_node *n = gv_cluster_node(c, 0);
	gv_addr from;
	gv_sim_addr(gv_cluster_sim(c), 1, &from);
	uint8_t msg[512];
	uint64_t x = 42;
	for (int k = 0; k < 20000; k++) {
		size_t len = (size_t)(x >> 55) % sizeof(msg);
		for (size_t i = 0; i < len; i++) {
			x = x * 6364136223846793005ull + 1;
			msg[i] = (uint8_t)(x >> 56);
		}
		if (len)
			msg[0] = (uint8_t)(1 + k % 4);
		if (len > 18)
			msg[17] = msg[18] = 0; /* klen 0: reach the bodies */
		gv_node_stream_recv(n, gv_cluster_now(c), &from, msg, len);
	}
	assert_true(gv_node_get_stats(n)->stream_bad > 0);
	assert_int_equal(n->stream.pending_bytes, 0);
	assert_int_equal(gv_node_store(n)->count, 0);
	gv_cluster_del(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eager),
		cmocka_unit_test(test_eager_lossy),
		cmocka_unit_test(test_push),
		cmocka_unit_test(test_pushpull),
		cmocka_unit_test(test_overtaken),
		cmocka_unit_test(test_restart_and_delete),
		cmocka_unit_test(test_compressed_chunks),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_bulk_repair),
		cmocka_unit_test(test_partition_mid_transfer),
		cmocka_unit_test(test_stalled_peer),
		cmocka_unit_test(test_memory_cap),
		cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
