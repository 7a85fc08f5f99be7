/* SPDX-License-Identifier: MIT */
/*
 * test_sim_compress.c - compressed gossip (GV_WIRE_FLAG_ZSTD) in the
 * deterministic simulator.
 *
 * Nodes with compression on converge under loss, duplication and
 * reordering, with JSON values from a few hundred bytes to several
 * datagrams' worth, every value read back byte for byte; the same with
 * the GSO-padded datagrams compressed too, with flooding datagrams
 * packed (more records, compressed, padded to full size), and sealed
 * and packed. A mixed cluster
 * (compression off at half the nodes) converges, the nodes that have it
 * off sending nothing compressed yet accepting what the others send.
 * A compressed datagram whose frame is corrupted (checksum fixed, so it
 * reaches the decompressor) is refused, counted, and changes nothing;
 * with an unknown flag bit too it is refused; repaired, it is applied.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/compress.h"
#include "core/keyring.h"
#include "core/wire.h"
#include "sim_check.h"

#define S 1000000ull /* one virtual second */
#define K1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define NKEYS 60
#define VMAX 5000

/* A JSON document of about len bytes, different for each seed. */
static void
json_value(char *out, size_t len, uint64_t seed)
{
	gv_rng r;
	gv_rng_seed(&r, seed);
	size_t n = (size_t)snprintf(out, len, "[");
	while (n + 120 < len)
		n += (size_t)snprintf(
		        out + n, len - n,
		        "{\"id\":%u,\"user\":\"user%04u\",\"city\":\"%s\","
		        "\"active\":%s,\"score\":%u},",
		        (unsigned)gv_rng_below(&r, 1000000),
		        (unsigned)gv_rng_below(&r, 10000),
		        gv_rng_below(&r, 2) ? "Paris" : "Osaka",
		        gv_rng_below(&r, 2) ? "true" : "false",
		        (unsigned)gv_rng_below(&r, 100));
	snprintf(out + n, len - n, "{}]");
}

/* The value each key was last written with, to read it back. */
struct values {
	char v[NKEYS][VMAX];
};

static void
writes(gv_cluster *c, struct write_log *l, struct values *vals, gv_rng *rng,
       int n)
{
	char key[48];
	for (int k = 0; k < n; k++) {
		size_t i = gv_rng_below(rng, gv_cluster_size(c));
		size_t kk = (size_t)gv_rng_below(rng, NKEYS);
		snprintf(key, sizeof(key), "doc:%zu", kk);
		/* mostly datagram-sized, some bigger than one */
		size_t len = 200 + (size_t)gv_rng_below(rng, 1200);
		if (gv_rng_below(rng, 8) == 0)
			len = 2000 + (size_t)gv_rng_below(rng, VMAX - 2000);
		char v[VMAX];
		json_value(v, len, gv_rng_next(rng));
		if (gv_cluster_up(c, i) && sim_put(c, l, i, key, v, false) == 0)
			memcpy(vals->v[kk], v, strlen(v) + 1);
		gv_cluster_run_for(c, 3000);
	}
}

/* Every node holds every key's last value, byte for byte. */
static void
settle(gv_cluster *c, struct write_log *l, const struct values *vals)
{
	gv_time t0 = gv_cluster_now(c);
	gv_time eq = gv_cluster_run_until_roots_equal(c, 10000, t0 + 60 * S);
	assert_true(eq != GV_TIME_NEVER);
	assert_int_equal(check_identical(c), 0);
	assert_int_equal(check_no_lost_writes(c, l), 0);
	char key[48];
	for (size_t kk = 0; kk < NKEYS; kk++) {
		if (!vals->v[kk][0])
			continue;
		snprintf(key, sizeof(key), "doc:%zu", kk);
		for (size_t i = 0; i < gv_cluster_size(c); i++) {
			gv_record r;
			assert_int_equal(
			        gv_store_lookup(
			                gv_node_store(gv_cluster_node(c, i)),
			                key, strlen(key), &r),
			        0);
			assert_int_equal(r.vlen, strlen(vals->v[kk]));
			assert_memory_equal(r.val, vals->v[kk], r.vlen);
		}
	}
}

struct zsum {
	uint64_t compressed, skipped, in, out, decompressed, errors, bad;
};

static void
zsum_of(gv_cluster *c, size_t from, size_t to, struct zsum *z)
{
	memset(z, 0, sizeof(*z));
	for (size_t i = from; i < to; i++) {
		const gv_node_stats *s =
		        gv_node_get_stats(gv_cluster_node(c, i));
		z->compressed += s->compressed_datagrams;
		z->skipped += s->compress_skipped;
		z->in += s->compress_in_bytes;
		z->out += s->compress_out_bytes;
		z->decompressed += s->decompressed_datagrams;
		z->errors += s->decompress_errors;
		z->bad += s->dgrams_bad;
	}
}

static gv_cluster *
zcluster(size_t n, uint64_t seed, double loss, int padded, gv_keyring **rings)
{
	gv_cluster_config cfg;
	gv_cluster_config_default(&cfg);
	cfg.nodes = n;
	cfg.seed = seed;
	cfg.net.loss = loss;
	cfg.net.dup = loss;
	cfg.net.reorder = 2 * loss;
	cfg.node.compress_threshold = 128;
	cfg.node.compress_padded = padded == 1;
	cfg.node.compress_pack = padded == 2;
	cfg.keyrings = rings;
	gv_cluster *c;
	assert_int_equal(gv_cluster_new(&c, &cfg), 0);
	return c;
}

/* padded: 0 no, 1 compress padded datagrams, 2 pack them */
static void
run_converges(int padded, bool sealed, uint64_t seed)
{
	enum { N = 16 };
	gv_keyring *rings[N] = {0};
	if (sealed)
		for (int i = 0; i < N; i++) {
			assert_int_equal(gv_keyring_new(&rings[i], NULL), 0);
			assert_int_equal(gv_keyring_load(rings[i], K1 "\n",
			                                 strlen(K1) + 1, NULL,
			                                 0),
			                 0);
		}
	gv_cluster *c = zcluster(N, seed, 0.05, padded, sealed ? rings : NULL);
	gv_cluster_run_for(c, S);
	struct write_log l = {0};
	struct values *vals = calloc(1, sizeof(*vals));
	assert_non_null(vals);
	gv_rng rng;
	gv_rng_seed(&rng, seed);
	writes(c, &l, vals, &rng, 300);
	settle(c, &l, vals);
	struct zsum z;
	zsum_of(c, 0, N, &z);
	printf("# %d nodes%s%s, 300 JSON writes, 5%% loss: %llu datagrams "
	       "compressed (ratio %.2f), %llu skipped, %llu inflated\n",
	       N,
	       padded == 1 ? ", padded too"
	       : padded    ? ", packed"
	                   : "",
	       sealed ? ", sealed" : "", (unsigned long long)z.compressed,
	       z.out ? (double)z.in / (double)z.out : 0,
	       (unsigned long long)z.skipped,
	       (unsigned long long)z.decompressed);
	assert_true(z.compressed > 100);
	assert_true(z.in > 2 * z.out); /* JSON: better than 2x */
	assert_true(z.decompressed > 100);
	assert_int_equal(z.errors, 0);
	assert_int_equal(z.bad, 0);
	free(l.w);
	free(vals);
	gv_cluster_del(c);
	for (int i = 0; i < N; i++)
		gv_keyring_del(rings[i]);
}

static void
test_sim_compress_converges(void **state)
{
	(void)state;
	run_converges(0, false, 21);
}

static void
test_sim_compress_padded(void **state)
{
	(void)state;
	run_converges(1, false, 22);
}

static void
test_sim_compress_packed(void **state)
{
	(void)state;
	run_converges(2, false, 24);
}

static void
test_sim_compress_sealed(void **state)
{
	(void)state;
	run_converges(2, true, 23);
}

/* Compression off at nodes 0..5, on at 6..11: all converge; the first
 * half sends nothing compressed and inflates what the others send. */
static void
test_sim_compress_mixed(void **state)
{
	(void)state;
	enum { N = 12 };
	gv_cluster *c = zcluster(N, 31, 0.02, 2, NULL);
	for (size_t i = 0; i < N / 2; i++)
		assert_int_equal(
		        gv_node_set_compress(gv_cluster_node(c, i), 0, 1), 0);
	gv_cluster_run_for(c, S);
	struct write_log l = {0};
	struct values *vals = calloc(1, sizeof(*vals));
	assert_non_null(vals);
	gv_rng rng;
	gv_rng_seed(&rng, 31);
	writes(c, &l, vals, &rng, 200);
	settle(c, &l, vals);
	struct zsum off, on;
	zsum_of(c, 0, N / 2, &off);
	zsum_of(c, N / 2, N, &on);
	printf("# mixed: off half sent %llu compressed, inflated %llu; on "
	       "half sent %llu compressed\n",
	       (unsigned long long)off.compressed,
	       (unsigned long long)off.decompressed,
	       (unsigned long long)on.compressed);
	assert_int_equal(off.compressed, 0);
	assert_int_equal(off.skipped, 0);
	assert_true(off.decompressed > 20);
	assert_true(on.compressed > 20);
	assert_int_equal(off.errors + on.errors, 0);
	assert_int_equal(off.bad + on.bad, 0);
	free(l.w);
	free(vals);
	gv_cluster_del(c);
}

/* A compressed datagram from a member, its frame damaged behind a valid
 * checksum: refused as malformed, counted, nothing applied. */
static void
test_sim_compress_corrupt_frame(void **state)
{
	(void)state;
	gv_cluster *c = zcluster(4, 41, 0, 0, NULL);
	gv_cluster_run_for(c, S);
	gv_node *v = gv_cluster_node(c, 1);
	uint64_t root = gv_node_root(v);
	uint8_t buf[1400], rec[1400], zb[1400];
	gv_wire_header h = {.sender = gv_cluster_id(c, 2), .seq = 1u << 30};
	/* the cluster id: the template's, shared by every node */
	gv_cluster_config dc;
	gv_cluster_config_default(&dc);
	h.cluster = dc.node.cluster;
	gv_wire_writer w;
	assert_int_equal(gv_wire_begin(&w, buf, sizeof(buf), &h), 0);
	char val[900];
	json_value(val, sizeof(val), 5);
	gv_wire_update u = {.ver = {(uint64_t)1 << 50, h.sender},
	                    .priority = 1,
	                    .key = (const uint8_t *)"zz",
	                    .klen = 2,
	                    .val = (const uint8_t *)val,
	                    .vlen = (uint16_t)strlen(val)};
	assert_int_equal(gv_wire_put_update(&w, &u), 0);
	ssize_t len = gv_wire_finish(&w);
	size_t raw = (size_t)len - GV_WIRE_HEADER_LEN;
	memcpy(rec, buf + GV_WIRE_HEADER_LEN, raw);
	gv_zctx *z;
	assert_int_equal(gv_zctx_new(&z, gv_mem_libc()), 0);
	ssize_t zn = gv_compress(z, zb, raw, rec, raw, 1);
	assert_true(zn > 0);
	gv_zctx_del(z);
	memcpy(buf + GV_WIRE_HEADER_LEN, zb, (size_t)zn);
	size_t dlen = GV_WIRE_HEADER_LEN + (size_t)zn;
	buf[dlen - 3] ^= 0x5a;               /* damage the frame's last block */
	buf[GV_WIRE_HEADER_LEN + 5] ^= 0x7f; /* and its declared size */
	gv_wire_set_compressed(buf, dlen, true);
	gv_addr from;
	gv_sim_addr(gv_cluster_sim(c), 2, &from);
	const gv_node_stats *st = gv_node_get_stats(v);
	uint64_t errs = st->decompress_errors, bad = st->dgrams_bad;
	int rc = gv_node_recv(v, gv_cluster_now(c), &from, buf, dlen);
	assert_true(rc == GV_EMALFORMED || rc == GV_ERANGE);
	assert_int_equal(st->decompress_errors, errs + 1);
	assert_int_equal(st->dgrams_bad, bad + 1);
	assert_int_equal(gv_node_root(v), root);
	gv_record r;
	assert_int_equal(gv_store_lookup(gv_node_store(v), "zz", 2, &r),
	                 GV_ENOTFOUND);
	/* an unknown flag bit next to the compressed one (the frame
	 * repaired): refused as malformed by a node without a keyring */
	buf[dlen - 3] ^= 0x5a;
	buf[GV_WIRE_HEADER_LEN + 5] ^= 0x7f;
	buf[3] |= 0x08;
	gv_wire_set_compressed(buf, dlen, true);
	bad = st->dgrams_bad;
	assert_int_equal(gv_node_recv(v, gv_cluster_now(c), &from, buf, dlen),
	                 GV_EMALFORMED);
	assert_int_equal(st->dgrams_bad, bad + 1);
	/* without it the same datagram is accepted and applied */
	buf[3] &= (uint8_t)~0x08;
	gv_wire_set_compressed(buf, dlen, true);
	uint64_t inflated = st->decompressed_datagrams;
	assert_int_equal(gv_node_recv(v, gv_cluster_now(c), &from, buf, dlen),
	                 0);
	assert_int_equal(st->decompressed_datagrams, inflated + 1);
	assert_int_equal(gv_store_lookup(gv_node_store(v), "zz", 2, &r), 0);
	gv_cluster_del(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sim_compress_converges),
	        cmocka_unit_test(test_sim_compress_padded),
	        cmocka_unit_test(test_sim_compress_packed),
	        cmocka_unit_test(test_sim_compress_sealed),
	        cmocka_unit_test(test_sim_compress_mixed),
	        cmocka_unit_test(test_sim_compress_corrupt_frame),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
