/* SPDX-License-Identifier: MIT */
/*
 * test_compress.c - zstd compression (engine/core/compress.c) and the
 * wire's compressed datagrams (gv_wire_inflate, gv_wire_unpadded_len).
 *
 * Round trips at several levels and sizes (a datagram, a 256 KiB stream
 * chunk); "not smaller" for incompressible input and too small a
 * destination; the decoder's bounds: a frame declaring more than the
 * caller's buffer, or no size at all, or a dictionary, truncated, with
 * trailing bytes, two frames, a skippable frame, every single-byte
 * corruption (refused, or decoded to exactly the declared size, never a
 * byte past the buffer); every allocation through the given gv_mem,
 * each one failed in turn without a leak.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "core/compress.h"
#include "core/rng.h"
#include "core/wire.h"
#include "test_mem.h"

#define CLUSTER 0xC0FFEE01u
#define GUARD 64

/* JSON-ish text: what a cache holds, compressible about 3x. */
static size_t
json_like(uint8_t *out, size_t len, uint64_t seed)
{
	gv_rng r;
	gv_rng_seed(&r, seed);
	size_t n = 0;
	while (n < len) {
		char rec[160];
		int l = snprintf(
		        rec, sizeof(rec),
		        "{\"id\":%u,\"user\":\"user%04u\",\"active\":%s,"
		        "\"score\":%u.%02u,\"tags\":[\"a\",\"b%u\"]},",
		        (unsigned)gv_rng_below(&r, 100000),
		        (unsigned)gv_rng_below(&r, 10000),
		        gv_rng_below(&r, 2) ? "true" : "false",
		        (unsigned)gv_rng_below(&r, 1000),
		        (unsigned)gv_rng_below(&r, 100),
		        (unsigned)gv_rng_below(&r, 9));
		size_t c = (size_t)l < len - n ? (size_t)l : len - n;
		memcpy(out + n, rec, c);
		n += c;
	}
	return n;
}

static void
random_bytes(uint8_t *out, size_t len, uint64_t seed)
{
	gv_rng r;
	gv_rng_seed(&r, seed);
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)gv_rng_next(&r);
}

static void
round_trip(gv_zctx *z, size_t len, int level)
{
	uint8_t *src = malloc(len), *dst = malloc(len + GUARD);
	uint8_t *back = malloc(len + GUARD);
	assert_non_null(src);
	assert_non_null(dst);
	assert_non_null(back);
	json_like(src, len, len * 31 + (size_t)level);
	ssize_t n = gv_compress(z, dst, len, src, len, level);
	assert_true(n >= 0);
	if (len >= 600)
		assert_true(n > 0 && (size_t)n < len / 2); /* JSON: 2x */
	if (n == 0) {
		free(src);
		free(dst);
		free(back);
		return;
	}
	uint64_t sz;
	assert_int_equal(gv_decompressed_size(dst, (size_t)n, &sz), 0);
	assert_int_equal(sz, len);
	memset(back, 0xa5, len + GUARD);
	assert_int_equal(gv_decompress(z, back, len, dst, (size_t)n),
	                 (ssize_t)len);
	assert_memory_equal(back, src, len);
	for (size_t i = 0; i < GUARD; i++)
		assert_int_equal(back[len + i], 0xa5);
	free(src);
	free(dst);
	free(back);
}

static void
test_compress_round_trips(void **state)
{
	(void)state;
	gv_test_mem tm;
	gv_test_mem_init(&tm);
	gv_zctx *z;
	assert_int_equal(gv_zctx_new(&z, &tm.mem), 0);
	static const size_t sizes[] = {64, 600, 1360, 9000, 65000, 256 << 10};
	static const int levels[] = {-5, 1, 3, 9};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++)
			round_trip(z, sizes[i], levels[l]);
	assert_true(tm.live_bytes > 0); /* zstd's, through our gv_mem */
	gv_zctx_del(z);
	assert_int_equal(tm.live_bytes, 0);
	assert_int_equal(tm.live_allocs, 0);
}

static void
test_compress_not_smaller(void **state)
{
	(void)state;
	gv_zctx *z;
	assert_int_equal(gv_zctx_new(&z, gv_mem_libc()), 0);
	uint8_t src[1400], dst[2 * 1400];
	random_bytes(src, sizeof(src), 7);
	/* incompressible: never returned, even with room for the bound */
	assert_int_equal(gv_compress(z, dst, sizeof(dst), src, sizeof(src), 1),
	                 0);
	assert_int_equal(gv_compress(z, dst, sizeof(dst), src, sizeof(src), 19),
	                 0);
	/* compressible, but the caller's bound asks for more */
	json_like(src, sizeof(src), 1);
	ssize_t n = gv_compress(z, dst, sizeof(dst), src, sizeof(src), 1);
	assert_true(n > 0 && n < 1400);
	assert_int_equal(
	        gv_compress(z, dst, (size_t)n - 1, src, sizeof(src), 1), 0);
	/* the context is usable after a refusal */
	assert_int_equal(gv_compress(z, dst, sizeof(dst), src, sizeof(src), 1),
	                 n);
	/* tiny inputs are not tried; bad arguments */
	assert_int_equal(gv_compress(z, dst, sizeof(dst), src, 31, 1), 0);
	assert_int_equal(gv_compress(z, dst, sizeof(dst), src, sizeof(src), 99),
	                 GV_EINVAL);
	assert_int_equal(gv_compress(NULL, dst, sizeof(dst), src, 100, 1),
	                 GV_EINVAL);
	assert_int_equal(gv_compress(z, dst, sizeof(dst), NULL, 100, 1),
	                 GV_EINVAL);
	assert_true(gv_compress_bound(1400) >= 1400);
	gv_zctx_del(z);
}

static void
test_compress_bounds(void **state)
{
	(void)state;
	gv_zctx *z;
	assert_int_equal(gv_zctx_new(&z, gv_mem_libc()), 0);
	uint8_t src[4000], f[4000], out[4000 + GUARD];
	json_like(src, sizeof(src), 3);
	ssize_t n = gv_compress(z, f, sizeof(f), src, sizeof(src), 1);
	assert_true(n > 0);
	/* one byte short of the declared size: refused, nothing written */
	memset(out, 0x5a, sizeof(out));
	assert_int_equal(gv_decompress(z, out, sizeof(src) - 1, f, (size_t)n),
	                 GV_ERANGE);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0x5a);
	/* a frame header declaring 1 GiB (single segment, 8-byte size) */
	uint8_t big[32] = {0x28, 0xb5, 0x2f, 0xfd, 0xe0};
	uint64_t gib = 1ull << 30;
	memcpy(big + 5, &gib, 8);
	uint64_t sz = 0;
	assert_int_equal(gv_decompressed_size(big, 13, &sz), 0);
	assert_int_equal(sz, gib);
	assert_int_equal(gv_decompress(z, out, sizeof(out), big, sizeof(big)),
	                 GV_ERANGE);
	/* truncated: every prefix refused */
	for (size_t l = 0; l < (size_t)n; l++)
		assert_int_equal(gv_decompress(z, out, sizeof(src), f, l),
		                 GV_EMALFORMED);
	/* trailing bytes, two frames */
	uint8_t two[8200];
	memcpy(two, f, (size_t)n);
	two[n] = 0;
	assert_int_equal(gv_decompress(z, out, sizeof(src), two, (size_t)n + 1),
	                 GV_EMALFORMED);
	memcpy(two + n, f, (size_t)n);
	assert_int_equal(gv_decompress(z, out, sizeof(out), two, 2 * (size_t)n),
	                 GV_EMALFORMED);
	/* not a frame; an empty input; a skippable frame */
	assert_int_equal(gv_decompress(z, out, sizeof(out), src, 100),
	                 GV_EMALFORMED);
	assert_int_equal(gv_decompress(z, out, sizeof(out), src, 0),
	                 GV_EMALFORMED);
	uint8_t skip[12] = {0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0};
	assert_int_equal(gv_decompress(z, out, sizeof(out), skip, sizeof(skip)),
	                 GV_EMALFORMED);
	/* the context still works */
	assert_int_equal(gv_decompress(z, out, sizeof(src), f, (size_t)n),
	                 (ssize_t)sizeof(src));
	assert_memory_equal(out, src, sizeof(src));
	gv_zctx_del(z);
}

/* A frame that does not state its content size (zstd's streaming API
 * with an unknown size) is refused before anything is decompressed. */
static void
test_compress_no_content_size(void **state)
{
	(void)state;
	uint8_t src[2000], f[2100], out[4000];
	json_like(src, sizeof(src), 5);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	assert_non_null(cc);
	ZSTD_outBuffer ob = {f, sizeof(f), 0};
	ZSTD_inBuffer ib = {src, sizeof(src), 0};
	size_t r = ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_continue);
	assert_false(ZSTD_isError(r));
	r = ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end);
	assert_int_equal(r, 0);
	ZSTD_freeCCtx(cc);
	assert_int_equal(ZSTD_getFrameContentSize(f, ob.pos),
	                 ZSTD_CONTENTSIZE_UNKNOWN);
	gv_zctx *z;
	assert_int_equal(gv_zctx_new(&z, gv_mem_libc()), 0);
	uint64_t sz;
	assert_int_equal(gv_decompressed_size(f, ob.pos, &sz), GV_EMALFORMED);
	assert_int_equal(gv_decompress(z, out, sizeof(out), f, ob.pos),
	                 GV_EMALFORMED);
	gv_zctx_del(z);
}

/* Every single-byte change: refused, or exactly the declared size
 * decoded (there is no frame checksum: the datagram's covers it), and
 * never a byte past the buffer. */
static void
test_compress_corrupted(void **state)
{
	(void)state;
	gv_zctx *z;
	assert_int_equal(gv_zctx_new(&z, gv_mem_libc()), 0);
	uint8_t src[1300], f[1300], bad[1300], out[1300 + GUARD];
	json_like(src, sizeof(src), 11);
	ssize_t n = gv_compress(z, f, sizeof(f), src, sizeof(src), 3);
	assert_true(n > 0);
	static const uint8_t flips[] = {0x01, 0x80, 0xff};
	for (size_t i = 0; i < (size_t)n; i++)
		for (size_t k = 0; k < sizeof(flips); k++) {
			memcpy(bad, f, (size_t)n);
			bad[i] ^= flips[k];
			memset(out, 0x77, sizeof(out));
			ssize_t r = gv_decompress(z, out, sizeof(src), bad,
			                          (size_t)n);
			assert_true(r == GV_EMALFORMED || r == GV_ERANGE ||
			            (r >= 0 && (size_t)r <= sizeof(src)));
			for (size_t g = 0; g < GUARD; g++)
				assert_int_equal(out[sizeof(src) + g], 0x77);
		}
	gv_zctx_del(z);
}

static void
test_compress_alloc_failures(void **state)
{
	(void)state;
	uint8_t src[3000], f[3000], out[3000];
	json_like(src, sizeof(src), 13);
	gv_test_mem tm;
	gv_test_mem_init(&tm);
	bool done = false;
	for (long k = 0; !done && k < 64; k++) {
		gv_test_mem_fail_after(&tm, k, 0);
		gv_zctx *z = NULL;
		int rc = gv_zctx_new(&z, &tm.mem);
		if (rc) {
			assert_int_equal(rc, GV_ENOMEM);
			assert_int_equal(tm.live_bytes, 0);
			continue;
		}
		ssize_t n = gv_compress(z, f, sizeof(f), src, sizeof(src), 1);
		assert_true(n == GV_ENOMEM || n > 0);
		if (n > 0) {
			ssize_t d = gv_decompress(z, out, sizeof(out), f,
			                          (size_t)n);
			if (d == (ssize_t)sizeof(src) && tm.failures == 0)
				done = true;
		}
		gv_zctx_del(z);
		assert_int_equal(tm.live_bytes, 0);
		gv_test_mem_no_fail(&tm);
		tm.failures = 0;
	}
	assert_true(done);
}

/* A compressed datagram: its records region one frame, opened by the
 * wire decoder and inflated back to the same records; the PAD left out. */
static void
test_compress_datagram(void **state)
{
	(void)state;
	uint8_t buf[1400], zb[1400], out[GV_WIRE_MAX_MTU];
	gv_wire_header h = {.cluster = CLUSTER,
	                    .shard = 0,
	                    .sender = 42,
	                    .incarnation = 1,
	                    .seq = 9};
	gv_wire_writer w;
	assert_int_equal(gv_wire_begin(&w, buf, sizeof(buf), &h), 0);
	uint8_t val[200];
	int nrec = 0;
	for (;; nrec++) {
		json_like(val, sizeof(val), (uint64_t)nrec);
		char key[32];
		snprintf(key, sizeof(key), "user:%05d", nrec);
		gv_wire_update u = {.ver = {1000 + (uint64_t)nrec, 42},
		                    .key = (const uint8_t *)key,
		                    .klen = (uint16_t)strlen(key),
		                    .val = val,
		                    .vlen = sizeof(val)};
		if (gv_wire_put_update(&w, &u))
			break;
	}
	size_t unpadded = w.len;
	assert_int_equal(gv_wire_pad_to(&w, w.cap), 0);
	ssize_t len = gv_wire_finish(&w);
	assert_int_equal(len, 1400);
	assert_int_equal(gv_wire_unpadded_len(buf, (size_t)len), unpadded);
	assert_int_equal(gv_wire_unpadded_len(buf, unpadded), unpadded);

	gv_zctx *z;
	assert_int_equal(gv_zctx_new(&z, gv_mem_libc()), 0);
	size_t raw = unpadded - GV_WIRE_HEADER_LEN;
	ssize_t n = gv_compress(z, zb, raw, buf + GV_WIRE_HEADER_LEN, raw, 1);
	assert_true(n > 0);
	uint8_t dg[1400];
	memcpy(dg, buf, GV_WIRE_HEADER_LEN);
	memcpy(dg + GV_WIRE_HEADER_LEN, zb, (size_t)n);
	size_t dlen = GV_WIRE_HEADER_LEN + (size_t)n;
	gv_wire_set_compressed(dg, dlen, true);
	assert_int_equal(dg[3], GV_WIRE_FLAG_ZSTD);

	gv_wire_reader r;
	gv_wire_header got;
	assert_int_equal(gv_wire_open(&r, &got, dg, dlen, CLUSTER), 0);
	assert_int_equal(got.flags, GV_WIRE_FLAG_ZSTD);
	size_t olen;
	assert_int_equal(
	        gv_wire_inflate(z, &r, out, sizeof(out), dg, dlen, &olen), 0);
	assert_int_equal(olen, unpadded);
	assert_int_equal(out[3], 0);
	assert_memory_equal(out + 4, buf + 4, 28);
	assert_memory_equal(out + GV_WIRE_HEADER_LEN, buf + GV_WIRE_HEADER_LEN,
	                    raw);
	gv_wire_record rec;
	int got_n = 0, rc;
	while ((rc = gv_wire_next(&r, &rec)) == 1)
		got_n++;
	assert_int_equal(rc, 0);
	assert_int_equal(got_n, nrec);

	/* padded with zeros after the frame (a packed datagram): accepted;
	 * a non-zero byte there: refused */
	uint8_t pd[1400];
	memcpy(pd, dg, dlen);
	memset(pd + dlen, 0, sizeof(pd) - dlen);
	gv_wire_set_compressed(pd, sizeof(pd), true);
	assert_int_equal(gv_wire_open(&r, &got, pd, sizeof(pd), CLUSTER), 0);
	assert_int_equal(
	        gv_wire_inflate(z, &r, out, sizeof(out), pd, sizeof(pd), &olen),
	        0);
	assert_int_equal(olen, unpadded);
	pd[sizeof(pd) - 7] = 1;
	assert_int_equal(
	        gv_wire_inflate(z, &r, out, sizeof(out), pd, sizeof(pd), &olen),
	        GV_EMALFORMED);
	assert_int_equal(gv_compressed_len(dg + GV_WIRE_HEADER_LEN,
	                                   dlen - GV_WIRE_HEADER_LEN),
	                 n);
	assert_int_equal(gv_compressed_len(dg + GV_WIRE_HEADER_LEN, 5),
	                 GV_EMALFORMED);
	/* a changed byte fails the checksum; an unknown flag is refused */
	dg[dlen - 1] ^= 1;
	assert_int_equal(gv_wire_open(&r, &got, dg, dlen, CLUSTER),
	                 GV_ECHECKSUM);
	dg[dlen - 1] ^= 1;
	dg[3] |= 0x08;
	assert_int_equal(gv_wire_open(&r, &got, dg, dlen, CLUSTER),
	                 GV_EMALFORMED);
	dg[3] &= (uint8_t)~0x08;
	/* a frame declaring more than a datagram holds: refused */
	assert_int_equal(gv_wire_inflate(z, &r, out, GV_WIRE_HEADER_LEN + 100,
	                                 dg, dlen, &olen),
	                 GV_ERANGE);
	/* not compressed: refused */
	assert_int_equal(gv_wire_inflate(z, &r, out, sizeof(out), buf,
	                                 (size_t)len, &olen),
	                 GV_EMALFORMED);
	gv_zctx_del(z);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_compress_round_trips),
	        cmocka_unit_test(test_compress_not_smaller),
	        cmocka_unit_test(test_compress_bounds),
	        cmocka_unit_test(test_compress_no_content_size),
	        cmocka_unit_test(test_compress_corrupted),
	        cmocka_unit_test(test_compress_alloc_failures),
	        cmocka_unit_test(test_compress_datagram),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
