/* SPDX-License-Identifier: MIT */
/*
 * test_keyring_mt.c - one keyring shared by threads, as a daemon's shards
 * share theirs: two threads seal and open datagrams (each with its own
 * cache) while the main thread rotates keys (install, use, switch back,
 * remove) thousands of times. Every datagram must open: each is sealed
 * with a key that stays held for the whole run. Run under TSan by
 * tools/test.sh (label concurrency).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/keyring.h"
#include "core/wire.h"

#define K1 "1111111111111111111111111111111111111111111111111111111111111111"
#define K2 "2222222222222222222222222222222222222222222222222222222222222222"

static gv_keyring *ring;
static atomic_int stop;

struct worker {
	uint64_t sender;
	unsigned sealed, opened, failed;
};

static void *
work(void *arg)
{
	struct worker *w = arg;
	gv_seal_cache *c;
	if (gv_seal_cache_new(&c, gv_mem_libc()))
		return NULL;
	uint8_t buf[600], out[600];
	for (uint64_t seq = 1; !atomic_load(&stop) || seq < 2000; seq++) {
		gv_wire_header h = {.cluster = 1, .sender = w->sender,
				    .seq = seq};
		gv_wire_writer wr;
		gv_wire_begin(&wr, buf, 500, &h);
		memset(buf + GV_WIRE_HEADER_LEN, (int)seq, 400);
		wr.len = GV_WIRE_HEADER_LEN + 400;
		ssize_t n = gv_seal(ring, c, buf, wr.len, sizeof(buf),
				    (uint32_t)w->sender);
		if (n < 0) {
			w->failed++;
			continue;
		}
		w->sealed++;
		size_t ol;
		if (gv_open(ring, c, buf, (size_t)n, out, &ol) == 0 &&
		    ol == GV_WIRE_HEADER_LEN + 400 &&
		    out[GV_WIRE_HEADER_LEN + 17] == (uint8_t)seq)
			w->opened++;
		else
			w->failed++;
	}
	gv_seal_cache_del(c, gv_mem_libc());
	return NULL;
}

static void
test_shared_ring(void **state)
{
	(void)state;
	assert_int_equal(gv_keyring_new(&ring, NULL), 0);
	const char *text = K1 "\n" K2 "\n";
	assert_int_equal(gv_keyring_load(ring, text, strlen(text), NULL, 0), 0);
	uint8_t k1[GV_KEY_LEN], k2[GV_KEY_LEN], k3[GV_KEY_LEN];
	gv_key_parse(K1, 64, k1);
	gv_key_parse(K2, 64, k2);
	memset(k3, 0x33, sizeof(k3));
	pthread_t th[2];
	struct worker w[2] = {{.sender = 7}, {.sender = 8}};
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	for (int r = 0; r < 3000; r++) {
		assert_int_equal(gv_keyring_install(ring, k3), 1);
		assert_int_equal(gv_keyring_use(ring, gv_key_id(k2)), 1);
		assert_int_equal(gv_keyring_use(ring, gv_key_id(k1)), 1);
		assert_int_equal(gv_keyring_remove(ring, gv_key_id(k3)), 1);
		if (r % 2)
			assert_int_equal(gv_keyring_set_cipher(ring,
							       GV_CIPHER_XCHACHA20),
					 0);
		else
			gv_keyring_set_cipher(ring, GV_CIPHER_AUTO);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	printf("# %u + %u datagrams sealed and opened during 3000 rotations\n",
	       w[0].opened, w[1].opened);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(w[i].failed, 0);
		assert_true(w[i].opened >= 1999);
		assert_int_equal(w[i].opened, w[i].sealed);
	}
	gv_keyring_del(ring);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_ring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
