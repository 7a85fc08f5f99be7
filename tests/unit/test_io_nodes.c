/* SPDX-License-Identifier: MIT */
/*
 * test_io_nodes.c - the real protocol over real sockets: five gv_nodes on
 * one worker, each on its own loopback UDP socket, with a prejoined
 * membership. A write at node 0 must become readable at all five within
 * a generous wall-clock deadline (the time it took is printed; the
 * protocol needs one eager push round, well under a second); then 100
 * writes spread over the nodes converge everywhere, Merkle roots equal.
 * Run with both backends; io_uring is skipped, saying why, where the
 * kernel refuses it.
 *
 * The sockets are added first, without an endpoint, because a node must
 * know its own bound address before it is created; it is attached after.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/node.h"
#include "io/io.h"

#define N 5
#define MS 1000u
#define SEC 1000000u

static const int backend_uring = GV_IO_URING;
static const int backend_mmsg = GV_IO_MMSG;


static bool
has(gv_node *n, const char *key, const char *val)
{
	gv_record rec;

	if (gv_node_get(n, key, strlen(key), &rec) != 0)
		return false;
	return rec.vlen == strlen(val) && !memcmp(rec.val, val, rec.vlen);
}

static void
test_io_nodes_converge(void **state)
{
	gv_io_config cfg;
	gv_io_stats st;
	gv_io *io = NULL;
	gv_node *n[N];
	gv_addr addr[N];
	int idx[N], r;
	gv_time t0, took;
	bool all;

	gv_io_config_default(&cfg);
	cfg.backend = **(const int **)state;
	r = gv_io_new(&io, &cfg);
	if (r < 0 && cfg.backend == GV_IO_URING) {
		print_message("io_uring unavailable here (%s): skipped\n",
		              gv_strerror(r));
		skip();
	}
	assert_int_equal(r, 0);

	for (int i = 0; i < N; i++) {
		gv_addr bind;

		assert_int_equal(gv_io_addr_parse(&bind, "127.0.0.1:0"), 0);
		idx[i] = gv_io_add(io, &bind, NULL, NULL, &addr[i]);
		assert_int_equal(idx[i], i);
	}
	for (int i = 0; i < N; i++) {
		gv_node_config nc;

		gv_node_config_default(&nc);
		nc.id = 100 + (gv_node_id)i;
		nc.addr = addr[i];
		nc.seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		nc.cluster = 42;
		snprintf(nc.name, sizeof(nc.name), "n%d", i);
		assert_int_equal(gv_node_new(&n[i], &nc, gv_io_now()), 0);
	}
	for (int i = 0; i < N; i++) {
		for (int j = 0; j < N; j++) {
			char name[8];
			gv_member_info m = {0};

			if (j == i)
				continue;
			snprintf(name, sizeof(name), "n%d", j);
			m.id = 100 + (gv_node_id)j;
			m.addr = addr[j];
			m.state = GV_MEMBER_ALIVE;
			m.name = name;
			m.region = "";
			assert_int_equal(
			        gv_node_add_member(n[i], gv_io_now(), &m), 0);
		}
		assert_int_equal(gv_io_attach(io, idx[i], &gv_node_ops, n[i]), 0);
	}

	/* one write at node 0 */
	t0 = gv_io_now();
	assert_int_equal(gv_node_put(n[0], gv_io_now(), "hello", 5, "world", 5,
	                             GV_PRIO_NORMAL),
	                 0);
	assert_int_equal(gv_io_poke(io, idx[0]), 0);
	do {
		assert_true(gv_io_run_once(io, 50 * MS) >= 0);
		all = true;
		for (int i = 0; i < N; i++)
			all = all && has(n[i], "hello", "world");
	} while (!all && gv_io_now() - t0 < 5 * SEC);
	took = gv_io_now() - t0;
	print_message("%s: a write reached all %d nodes in %.2f ms\n",
	              gv_io_backend_name(io), N, took / 1e3);
	assert_true(all);
	assert_true(took < 5 * SEC);

	/* 100 writes from every node, then everyone agrees */
	t0 = gv_io_now();
	for (int k = 0; k < 100; k++) {
		char key[16], val[16];
		int w = k % N;

		snprintf(key, sizeof(key), "k%03d", k);
		snprintf(val, sizeof(val), "v%d-%d", k, w);
		assert_int_equal(gv_node_put(n[w], gv_io_now(), key,
		                             strlen(key), val, strlen(val),
		                             GV_PRIO_NORMAL),
		                 0);
		assert_int_equal(gv_io_poke(io, idx[w]), 0);
	}
	do {
		assert_true(gv_io_run_once(io, 50 * MS) >= 0);
		all = true;
		for (int i = 0; i < N && all; i++) {
			for (int k = 0; k < 100 && all; k++) {
				char key[16], val[16];

				snprintf(key, sizeof(key), "k%03d", k);
				snprintf(val, sizeof(val), "v%d-%d", k, k % N);
				all = has(n[i], key, val);
			}
		}
	} while (!all && gv_io_now() - t0 < 10 * SEC);
	took = gv_io_now() - t0;
	print_message("%s: 100 writes converged at %d nodes in %.2f ms\n",
	              gv_io_backend_name(io), N, took / 1e3);
	assert_true(all);
	for (int i = 1; i < N; i++)
		assert_int_equal(gv_node_root(n[i]), gv_node_root(n[0]));
	for (int i = 0; i < N; i++) {
		const gv_node_stats *ns = gv_node_get_stats(n[i]);

		assert_int_equal(ns->dgrams_bad, 0);
		assert_int_equal(ns->dgrams_foreign, 0);
		assert_true(gv_node_reach(n[i]) > 0.99);
	}
	gv_io_get_stats(io, &st);
	print_message("%s: %" PRIu64 " datagrams in, %" PRIu64 " out, %" PRIu64
	              " iterations, %" PRIu64 " submits\n",
	              gv_io_backend_name(io), st.dgrams_in, st.dgrams_out,
	              st.iterations, st.submits);
	assert_int_equal(st.send_errors, 0);
	assert_int_equal(st.recv_errors, 0);
	assert_int_equal(st.ep_errors, 0);
	assert_int_equal(st.truncated, 0);

	gv_io_del(io);
	for (int i = 0; i < N; i++)
		gv_node_del(n[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        {"test_io_nodes_converge/io_uring", test_io_nodes_converge,
	         NULL, NULL, (void *)&backend_uring},
	        {"test_io_nodes_converge/recvmmsg", test_io_nodes_converge,
	         NULL, NULL, (void *)&backend_mmsg},
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
