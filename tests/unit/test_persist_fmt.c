/* SPDX-License-Identifier: MIT */
/*
 * test_persist_fmt.c - the snapshot and log format (engine/server/
 * persist_fmt.c).
 *
 * The header: round trip, and each way it is refused (short, magic,
 * checksum, version, kind, shard numbers). Records: round trips of every
 * type and entry shape (tombstone, cond, counter kind, expiry, empty key
 * or value, a 2 MiB value written as head + value + tail), fields the
 * decoder refuses, torn tails (every strict prefix, zero tails), and
 * every single-byte change of a record refused as damage. The loader:
 * what a snapshot and a log may hold, where it stops, torn logs loading
 * what precedes the tear, the memory cap, and records installed exactly
 * (an older version replaces a newer one: no merge).
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

#include "server/persist_fmt.h"
#include "test_mem.h"

#define NOW 1000000 /* gv_time, us */

static gv_record
rec(const char *key, const char *val, uint64_t hlc)
{
	return (gv_record){.key = (const uint8_t *)key, .klen = strlen(key),
			   .val = (const uint8_t *)val,
			   .vlen = val ? strlen(val) : 0,
			   .ver = {hlc, 7}, .prev = {hlc - 1, 7}};
}

/* Decode p[0..n) as exactly one record of the type given. */
static struct gvp_rec
decode_one(const uint8_t *p, size_t n, uint8_t type)
{
	struct gvp_rec r;
	size_t used = 0;
	const char *why = "unset";
	int rc = gvp_next(p, n, &used, &r, &why);
	if (rc != GVP_OK)
		print_error("gvp_next: %d (%s)\n", rc, why ? why : "-");
	assert_int_equal(rc, GVP_OK);
	assert_null(why);
	assert_int_equal(used, n);
	assert_int_equal(r.type, type);
	return r;
}

static int
next_rc(const uint8_t *p, size_t n, const char **why)
{
	struct gvp_rec r;
	size_t used = 0;
	const char *w = NULL;
	int rc = gvp_next(p, n, &used, &r, &w);
	if (rc == GVP_TORN)
		assert_int_equal(used, n);
	if (rc == GVP_BAD)
		assert_non_null(w);
	if (why)
		*why = w;
	return rc;
}

/* The checks of a record rewritten after its fields were changed. */
static void
refix(uint8_t *p)
{
	uint32_t len;
	memcpy(&len, p, 4);
	uint32_t lc = XXH32(p, 4, GVP_SEED);
	memcpy(p + 4, &lc, 4);
	const uint8_t *b = p + 8;
	uint32_t bc = (uint32_t)XXH3_64bits(b, len);
	size_t fixed = GVP_ENTRY_FIXED + (b[3] | (size_t)b[4] << 8);
	if (b[0] == GVP_ENTRY && len >= fixed)
		bc = (uint32_t)XXH3_64bits_withSeed(
			b + fixed, len - fixed, XXH3_64bits(b, fixed));
	memcpy(p + 8 + len, &bc, 4);
}

/* ------------------------------------------------------------ header */

static const struct gvp_header hdr0 = {
	.kind = GVP_KIND_SNAP, .version = GVP_VERSION, .shard = 2,
	.shards = 4, .gen = 0x0102030405060708ull, .node = 0xfeedull,
	.created_ms = 1700000000123ull,
};

static void
test_header_round_trip(void **state)
{
	(void)state;
	uint8_t b[GVP_HDR_LEN + 1];
	gvp_header_encode(&hdr0, b);
	assert_memory_equal(b, GVP_MAGIC, 4);
	struct gvp_header h;
	const char *why = NULL;
	assert_int_equal(gvp_header_decode(b, GVP_HDR_LEN, &h, &why), 0);
	assert_int_equal(h.kind, hdr0.kind);
	assert_int_equal(h.version, hdr0.version);
	assert_int_equal(h.shard, hdr0.shard);
	assert_int_equal(h.shards, hdr0.shards);
	assert_int_equal(h.gen, hdr0.gen);
	assert_int_equal(h.node, hdr0.node);
	assert_int_equal(h.created_ms, hdr0.created_ms);
	/* flags and reserved are zero */
	for (int i = 10; i < 16; i++)
		assert_int_equal(b[i], 0);
	struct gvp_header l = hdr0;
	l.kind = GVP_KIND_LOG;
	l.shard = 0;
	l.shards = 1;
	gvp_header_encode(&l, b);
	assert_int_equal(gvp_header_decode(b, sizeof(b), &h, &why), 0);
	assert_int_equal(h.kind, GVP_KIND_LOG);
}

/* A header with one field changed and its check made valid again. */
static int
decode_changed(struct gvp_header h, const char **why)
{
	uint8_t b[GVP_HDR_LEN];
	gvp_header_encode(&h, b);
	struct gvp_header out;
	*why = NULL;
	return gvp_header_decode(b, sizeof(b), &out, why);
}

static void
test_header_bad(void **state)
{
	(void)state;
	uint8_t b[GVP_HDR_LEN];
	struct gvp_header h;
	const char *why;
	gvp_header_encode(&hdr0, b);
	/* short */
	for (size_t n = 0; n < GVP_HDR_LEN; n++) {
		why = NULL;
		assert_int_equal(gvp_header_decode(b, n, &h, &why), GVP_BAD);
		assert_non_null(strstr(why, "shorter"));
	}
	/* magic (its check is not even looked at) */
	for (int i = 0; i < 4; i++) {
		b[i] ^= 0x20;
		why = NULL;
		assert_int_equal(gvp_header_decode(b, sizeof(b), &h, &why),
				 GVP_BAD);
		assert_non_null(strstr(why, "magic"));
		b[i] ^= 0x20;
	}
	/* every other byte: the checksum fails */
	for (int i = 4; i < GVP_HDR_LEN; i++)
		for (int x = 1; x < 256; x <<= 1) {
			b[i] ^= (uint8_t)x;
			why = NULL;
			assert_int_equal(gvp_header_decode(b, sizeof(b), &h,
							   &why), GVP_BAD);
			assert_non_null(strstr(why, "checksum"));
			b[i] ^= (uint8_t)x;
		}
	/* fields that check but are not readable */
	struct gvp_header c = hdr0;
	c.version = 2;
	assert_int_equal(decode_changed(c, &why), GVP_BAD);
	assert_non_null(strstr(why, "version"));
	c.version = 0;
	assert_int_equal(decode_changed(c, &why), GVP_BAD);
	assert_non_null(strstr(why, "version"));
	c = hdr0;
	c.kind = 'X';
	assert_int_equal(decode_changed(c, &why), GVP_BAD);
	assert_non_null(strstr(why, "kind"));
	c.kind = 0;
	assert_int_equal(decode_changed(c, &why), GVP_BAD);
	c = hdr0;
	c.shards = 0;
	c.shard = 0;
	assert_int_equal(decode_changed(c, &why), GVP_BAD);
	assert_non_null(strstr(why, "shard"));
	c.shards = 4;
	c.shard = 4;
	assert_int_equal(decode_changed(c, &why), GVP_BAD);
	assert_non_null(strstr(why, "shard"));
	c.shard = 3;
	assert_int_equal(decode_changed(c, &why), 0);
	assert_null(why);
}

/* ------------------------------------------------------------ records */

static void
entry_round_trip(const gv_record *in)
{
	size_t size = gvp_entry_size(in->klen, in->vlen);
	uint8_t *b = malloc(size + 1);
	assert_non_null(b);
	assert_int_equal(gvp_entry_encode(in, b), size);
	struct gvp_rec r = decode_one(b, size, GVP_ENTRY);
	const gv_record *o = &r.rec;
	assert_int_equal(o->klen, in->klen);
	assert_int_equal(o->vlen, in->vlen);
	assert_ptr_equal(o->key, b + GVP_ENTRY_HEAD);
	if (in->klen)
		assert_memory_equal(o->key, in->key, in->klen);
	if (in->vlen) {
		assert_ptr_equal(o->val, o->key + o->klen);
		assert_memory_equal(o->val, in->val, in->vlen);
	} else {
		assert_null(o->val);
	}
	assert_int_equal(o->ver.hlc, in->ver.hlc);
	assert_int_equal(o->ver.origin, in->ver.origin);
	assert_int_equal(o->prev.hlc, in->prev.hlc);
	assert_int_equal(o->prev.origin, in->prev.origin);
	assert_int_equal(o->tombstone, in->tombstone);
	assert_int_equal(o->cond, in->cond);
	assert_int_equal(o->kind, in->kind);
	assert_int_equal(o->expire, in->expire);
	/* and encoded again, the same bytes */
	uint8_t *again = malloc(size);
	assert_non_null(again);
	assert_int_equal(gvp_entry_encode(o, again), size);
	assert_memory_equal(again, b, size);
	free(again);
	free(b);
}

static void
test_entry_round_trip(void **state)
{
	(void)state;
	gv_record r = rec("user:1", "hello", 100);
	entry_round_trip(&r);
	r.expire = 1700000000000ull;
	entry_round_trip(&r);
	r.cond = true;
	entry_round_trip(&r);
	/* a counter state */
	static const uint8_t ctr[24] = {1, 0, 0, 0, 0, 0, 0, 0, 7};
	r = rec("hits", NULL, 5);
	r.kind = GV_KIND_COUNTER;
	r.val = ctr;
	r.vlen = sizeof(ctr);
	entry_round_trip(&r);
	/* a tombstone (no value, kind 0), expiry kept; a conditional
	 * tombstone is no store's entry (the store keeps cond on live
	 * entries only) and the decoder refuses it */
	r = rec("gone", NULL, 9);
	r.tombstone = true;
	entry_round_trip(&r);
	r.expire = 42;
	entry_round_trip(&r);
	{
		uint8_t b[256];
		struct gvp_rec o;
		size_t used;
		const char *why;
		r.cond = true;
		size_t n = gvp_entry_encode(&r, b);
		assert_int_equal(gvp_next(b, n, &used, &o, &why), GVP_BAD);
	}
	/* empty key, empty value, both */
	r = rec("", "v", 3);
	entry_round_trip(&r);
	r = rec("k", "", 3);
	entry_round_trip(&r);
	r = rec("", NULL, 3);
	entry_round_trip(&r);
	/* the longest key, and extreme numbers */
	static uint8_t key[GV_MAX_KEY];
	memset(key, 'k', sizeof(key));
	r = rec("", "x", UINT64_MAX);
	r.key = key;
	r.klen = sizeof(key);
	r.ver.origin = UINT64_MAX;
	r.prev = (gv_version){0, 0};
	r.expire = UINT64_MAX;
	entry_round_trip(&r);
}

static void
test_entry_big_value(void **state)
{
	(void)state;
	size_t vlen = 2u << 20;
	uint8_t *val = malloc(vlen);
	assert_non_null(val);
	for (size_t i = 0; i < vlen; i++)
		val[i] = (uint8_t)(i * 131 + (i >> 12));
	gv_record r = rec("big", NULL, 77);
	r.val = val;
	r.vlen = vlen;
	size_t size = gvp_entry_size(r.klen, vlen);
	uint8_t *whole = malloc(size), *parts = malloc(size);
	assert_non_null(whole);
	assert_non_null(parts);
	assert_int_equal(gvp_entry_encode(&r, whole), size);
	/* head, the value from where it lies, tail */
	uint8_t tail[4];
	size_t h = gvp_entry_head(&r, parts, tail);
	assert_int_equal(h, GVP_ENTRY_HEAD + r.klen);
	memcpy(parts + h, val, vlen);
	memcpy(parts + h + vlen, tail, 4);
	assert_memory_equal(parts, whole, size);
	struct gvp_rec o = decode_one(whole, size, GVP_ENTRY);
	assert_int_equal(o.rec.vlen, vlen);
	assert_ptr_equal(o.rec.val, whole + h);
	/* a byte of the value changed is seen */
	whole[h + vlen / 2] ^= 1;
	assert_int_equal(next_rc(whole, size, NULL), GVP_BAD);
	whole[h + vlen / 2] ^= 1;
	entry_round_trip(&r);
	free(parts);
	free(whole);
	free(val);
}

static void
test_other_round_trips(void **state)
{
	(void)state;
	uint8_t b[64 + GV_MAX_KEY], again[64 + GV_MAX_KEY];
	/* REMOVE */
	static const char *keys[] = {"", "k", "user:1234"};
	for (size_t i = 0; i < 3; i++) {
		size_t klen = strlen(keys[i]);
		size_t n = gvp_remove_encode(keys[i], klen, b);
		assert_int_equal(n, GVP_FRAME + 3 + klen);
		struct gvp_rec r = decode_one(b, n, GVP_REMOVE);
		assert_int_equal(r.rec.klen, klen);
		assert_ptr_equal(r.rec.key, b + 11);
		assert_memory_equal(r.rec.key, keys[i], klen);
		assert_int_equal(gvp_remove_encode(r.rec.key, klen, again), n);
		assert_memory_equal(again, b, n);
	}
	static uint8_t key[GV_MAX_KEY];
	memset(key, 'z', sizeof(key));
	size_t n = gvp_remove_encode(key, sizeof(key), b);
	assert_int_equal(decode_one(b, n, GVP_REMOVE).rec.klen, GV_MAX_KEY);
	/* MEMBER, both families */
	gv_addr a4 = {.family = 4, .port = 7946, .addr = {10, 1, 2, 3}};
	gv_addr a6 = {.family = 6, .port = 65535};
	for (int i = 0; i < 16; i++)
		a6.addr[i] = (uint8_t)(0xf0 + i);
	const gv_addr *as[] = {&a4, &a6};
	for (int i = 0; i < 2; i++) {
		n = gvp_member_encode(as[i], b);
		assert_int_equal(n, GVP_FRAME + 20);
		struct gvp_rec r = decode_one(b, n, GVP_MEMBER);
		assert_int_equal(r.addr.family, as[i]->family);
		assert_int_equal(r.addr.port, as[i]->port);
		assert_memory_equal(r.addr.addr, as[i]->addr, 16);
		assert_int_equal(gvp_member_encode(&r.addr, again), n);
		assert_memory_equal(again, b, n);
	}
	/* END */
	static const uint64_t counts[] = {0, 1, 123456789, UINT64_MAX};
	for (int i = 0; i < 4; i++) {
		n = gvp_end_encode(counts[i], b);
		assert_int_equal(n, GVP_FRAME + 9);
		struct gvp_rec r = decode_one(b, n, GVP_END);
		assert_int_equal(r.count, counts[i]);
		assert_int_equal(gvp_end_encode(r.count, again), n);
		assert_memory_equal(again, b, n);
	}
	/* records one after another, then the end of the buffer */
	size_t off = gvp_remove_encode("a", 1, b);
	off += gvp_end_encode(3, b + off);
	size_t used;
	struct gvp_rec r;
	const char *why;
	assert_int_equal(gvp_next(b, off, &used, &r, &why), GVP_OK);
	assert_int_equal(r.type, GVP_REMOVE);
	assert_int_equal(gvp_next(b + used, off - used, &used, &r, &why),
			 GVP_OK);
	assert_int_equal(r.type, GVP_END);
	used = 99;
	assert_int_equal(gvp_next(b + off, 0, &used, &r, &why), GVP_EOF);
	assert_int_equal(used, 0);
}

/* Fields the decoder refuses, each record's checks made valid. */
static void
test_bad_fields(void **state)
{
	(void)state;
	uint8_t b[256];
	const char *why;
	gv_record e = rec("key", "value", 10);
	size_t n = gvp_entry_encode(&e, b);
	uint8_t *body = b + 8;
	/* unknown flags */
	body[1] = 4;
	refix(b);
	assert_int_equal(next_rc(b, n, &why), GVP_BAD);
	assert_non_null(strstr(why, "flags"));
	/* an unknown kind; a tombstone with a value or a kind */
	body[1] = 0;
	body[2] = GV_KIND_MAX + 1;
	refix(b);
	assert_int_equal(next_rc(b, n, &why), GVP_BAD);
	assert_non_null(strstr(why, "kind"));
	body[1] = 1;
	body[2] = 0;
	refix(b);
	assert_int_equal(next_rc(b, n, &why), GVP_BAD);
	e = rec("key", NULL, 10);
	e.tombstone = true;
	n = gvp_entry_encode(&e, b);
	assert_int_equal(next_rc(b, n, NULL), GVP_OK);
	body[2] = GV_KIND_COUNTER;
	refix(b);
	assert_int_equal(next_rc(b, n, &why), GVP_BAD);
	/* a zero version */
	e = rec("key", "v", 1);
	e.ver = (gv_version){0, 0};
	n = gvp_entry_encode(&e, b);
	assert_int_equal(next_rc(b, n, &why), GVP_BAD);
	assert_non_null(strstr(why, "zero version"));
	/* key and value lengths that do not add up to the record's */
	e = rec("key", "value", 10);
	n = gvp_entry_encode(&e, b);
	body[3] = 4;
	refix(b);
	assert_int_equal(next_rc(b, n, &why), GVP_BAD);
	assert_non_null(strstr(why, "add up"));
	body[3] = 3;
	body[5] = 4;
	refix(b);
	assert_int_equal(next_rc(b, n, &why), GVP_BAD);
	/* an entry shorter than its fixed fields */
	uint32_t len = 10;
	memcpy(b, &len, 4);
	refix(b);
	assert_int_equal(next_rc(b, GVP_FRAME + len, &why), GVP_BAD);
	assert_non_null(strstr(why, "too short"));
	/* a key longer than GV_MAX_KEY (an entry and a remove) */
	static uint8_t big[GVP_FRAME + GVP_ENTRY_FIXED + GV_MAX_KEY + 1];
	static uint8_t key[GV_MAX_KEY + 1];
	e = rec("", NULL, 5);
	e.key = key;
	e.klen = sizeof(key);
	n = gvp_entry_encode(&e, big);
	assert_int_equal(next_rc(big, n, &why), GVP_BAD);
	assert_non_null(strstr(why, "too long"));
	n = gvp_remove_encode(key, sizeof(key), big);
	assert_int_equal(next_rc(big, n, &why), GVP_BAD);
	assert_non_null(strstr(why, "too long"));
	/* a remove whose key length does not add up */
	n = gvp_remove_encode("abc", 3, b);
	b[9] = 2;
	refix(b);
	assert_int_equal(next_rc(b, n, &why), GVP_BAD);
	/* a member of another family, of another length */
	gv_addr a = {.family = 4, .port = 1};
	n = gvp_member_encode(&a, b);
	b[9] = 5;
	refix(b);
	assert_int_equal(next_rc(b, n, &why), GVP_BAD);
	assert_non_null(strstr(why, "family"));
	len = 19;
	memcpy(b, &len, 4);
	b[9] = 4;
	refix(b);
	assert_int_equal(next_rc(b, GVP_FRAME + len, &why), GVP_BAD);
	/* an end of another length */
	n = gvp_end_encode(1, b);
	len = 8;
	memcpy(b, &len, 4);
	refix(b);
	assert_int_equal(next_rc(b, GVP_FRAME + len, &why), GVP_BAD);
	/* an unknown type, type 0 */
	n = gvp_end_encode(1, b);
	for (int t = 0; t < 256; t++) {
		if (t >= GVP_ENTRY && t <= GVP_END)
			continue;
		b[8] = (uint8_t)t;
		refix(b);
		assert_int_equal(next_rc(b, n, &why), GVP_BAD);
		assert_non_null(strstr(why, "unknown record type"));
	}
	/* a zero length with a valid check */
	memset(b, 0, 16);
	refix(b);
	assert_int_equal(next_rc(b, 16, &why), GVP_BAD);
	assert_non_null(strstr(why, "length"));
	/* a zero frame head with more than zeroes after it */
	memset(b, 0, 32);
	b[20] = 1;
	assert_int_equal(next_rc(b, 32, &why), GVP_BAD);
	assert_non_null(strstr(why, "length"));
}

/* A few records of each type, for the damage tests. */
static size_t
sample(int i, uint8_t *b)
{
	static const uint8_t ctr[24] = {1, 0, 0, 0, 0, 0, 0, 0, 9};
	gv_record r;
	gv_addr a = {.family = 6, .port = 7946, .addr = {0xfe, 0x80, 1}};
	switch (i) {
	case 0:
		r = rec("user:1", "hello world", 100);
		r.expire = 1700000000000ull;
		return gvp_entry_encode(&r, b);
	case 1:
		r = rec("t", NULL, 101);
		r.tombstone = true;
		return gvp_entry_encode(&r, b);
	case 2:
		r = rec("hits", NULL, 102);
		r.kind = GV_KIND_COUNTER;
		r.val = ctr;
		r.vlen = sizeof(ctr);
		r.cond = true;
		return gvp_entry_encode(&r, b);
	case 3:
		r = rec("", "", 103);
		return gvp_entry_encode(&r, b);
	case 4:
		return gvp_remove_encode("user:1", 6, b);
	case 5:
		return gvp_remove_encode("", 0, b);
	case 6:
		return gvp_member_encode(&a, b);
	default:
		return gvp_end_encode(12345, b);
	}
}

#define NSAMPLES 8

static void
test_torn(void **state)
{
	(void)state;
	uint8_t b[256];
	for (int s = 0; s < NSAMPLES; s++) {
		size_t n = sample(s, b);
		/* every strict prefix */
		for (size_t k = 1; k < n; k++)
			assert_int_equal(next_rc(b, k, NULL), GVP_TORN);
		assert_int_equal(next_rc(b, n, NULL), GVP_OK);
		/* a whole record then a zero tail of any length */
		for (size_t z = 1; z <= 40; z++) {
			memset(b + n, 0, z);
			size_t used;
			struct gvp_rec r;
			const char *why;
			assert_int_equal(gvp_next(b, n + z, &used, &r, &why),
					 GVP_OK);
			assert_int_equal(used, n);
			assert_int_equal(next_rc(b + n, z, &why), GVP_TORN);
			assert_non_null(why);
		}
		/* a record after a zeroed one is no tail */
		uint8_t c[512];
		memset(c, 0, n);
		memcpy(c + n, b, n);
		assert_int_equal(next_rc(c, 2 * n, NULL), GVP_BAD);
	}
	/* zero tails alone; a short tail of any bytes */
	uint8_t z[100] = {0};
	for (size_t k = 1; k <= sizeof(z); k++)
		assert_int_equal(next_rc(z, k, NULL), GVP_TORN);
	uint8_t junk[7] = {1, 2, 3, 4, 5, 6, 7};
	for (size_t k = 1; k <= sizeof(junk); k++)
		assert_int_equal(next_rc(junk, k, NULL), GVP_TORN);
}

/*
 * Every single-byte change of a record is damage (GVP_BAD): in the length
 * or its check, the length check fails (XXH32 of 4 bytes is a bijection,
 * so a changed length never matches its old check, and a changed check
 * never matches the length; never all zero here, where the record's other
 * bytes are not); in the body or its check, a check or a field does.
 */
static void
test_flipped_bytes(void **state)
{
	(void)state;
	uint8_t b[256];
	for (int s = 0; s < NSAMPLES; s++) {
		size_t n = sample(s, b);
		for (size_t i = 0; i < n; i++)
			for (int x = 1; x < 256; x++) {
				b[i] ^= (uint8_t)x;
				const char *why = NULL;
				int rc = next_rc(b, n, &why);
				if (rc != GVP_BAD)
					print_error("record %d byte %zu ^ %#x: "
						    "%d\n", s, i, x, rc);
				assert_int_equal(rc, GVP_BAD);
				if (i < 8)
					assert_non_null(strstr(why, "check "
								    "fails"));
				b[i] ^= (uint8_t)x;
			}
		/* and with more bytes after it: the same */
		memset(b + n, 0xaa, 64);
		for (size_t i = 0; i < n; i++) {
			b[i] ^= 0x10;
			assert_int_equal(next_rc(b, n + 64, NULL), GVP_BAD);
			b[i] ^= 0x10;
		}
	}
}

/* ------------------------------------------------------------- loader */

static gv_test_mem tm;

static gv_node *
node_new(size_t max_memory)
{
	gv_test_mem_init(&tm);
	gv_node_config c;
	gv_node_config_default(&c);
	c.id = 1;
	c.addr = (gv_addr){.family = 4, .port = 7000, .addr = {127, 0, 0, 1}};
	c.cluster = 7;
	c.mem = &tm.mem;
	c.store.max_memory = max_memory;
	gv_node *n;
	assert_int_equal(gv_node_new(&n, &c, NOW), 0);
	/* a member: gv_node_del of a node without one walks a NULL member
	 * array (dissem.c), which clang's UBSan reports */
	gv_member_info m = {.id = 100, .state = GV_MEMBER_ALIVE, .name = "p",
			    .region = "",
			    .addr = {.family = 4, .port = 7001,
				     .addr = {127, 0, 0, 2}}};
	assert_int_equal(gv_node_add_member(n, NOW, &m), 0);
	return n;
}

static void
node_del(gv_node *n)
{
	assert_int_equal(gv_node_load_end(n, NOW), 0);
	gv_node_del(n);
	assert_int_equal(tm.live_bytes, 0);
	assert_int_equal(tm.live_allocs, 0);
}

static uint8_t file[1 << 16];
static size_t flen;

static size_t
put_entry(const char *key, const char *val, uint64_t hlc)
{
	size_t at = flen;
	gv_record r = rec(key, val, hlc);
	flen += gvp_entry_encode(&r, file + flen);
	return at;
}

static size_t
put_remove(const char *key)
{
	size_t at = flen;
	flen += gvp_remove_encode(key, strlen(key), file + flen);
	return at;
}

static size_t
put_member(uint8_t family)
{
	size_t at = flen;
	gv_addr a = {.family = family, .port = 7946, .addr = {10, 0, 0, 1}};
	flen += gvp_member_encode(&a, file + flen);
	return at;
}

static size_t
put_end(uint64_t count)
{
	size_t at = flen;
	flen += gvp_end_encode(count, file + flen);
	return at;
}

static unsigned members_seen;

static void
on_member(void *ud, const gv_addr *a)
{
	assert_ptr_equal(ud, &members_seen);
	assert_int_equal(a->port, 7946);
	members_seen++;
}

/* Load file[GVP_HDR_LEN..flen) (a header's room left before it). */
static int
load(gv_node *n, bool snap, struct gvp_load *L)
{
	*L = (struct gvp_load){.snap = snap, .now = NOW, .now_ms = 5000,
			       .on_member = on_member, .ud = &members_seen};
	members_seen = 0;
	return gvp_load_records(n, file + GVP_HDR_LEN, flen - GVP_HDR_LEN,
				GVP_HDR_LEN, L);
}

static void
assert_loaded(gv_node *n, const char *key, const char *val, uint64_t hlc)
{
	gv_record got;
	assert_int_equal(gv_node_get(n, key, strlen(key), &got), 0);
	assert_int_equal(got.vlen, strlen(val));
	assert_memory_equal(got.val, val, got.vlen);
	assert_int_equal(got.ver.hlc, hlc);
	assert_int_equal(got.ver.origin, 7);
}

static void
assert_absent(gv_node *n, const char *key)
{
	gv_record got;
	assert_int_equal(gv_node_get(n, key, strlen(key), &got),
			 GV_ENOTFOUND);
}

static void
test_load_snapshot(void **state)
{
	(void)state;
	struct gvp_load L;
	/* entries, members, END: whole */
	flen = GVP_HDR_LEN;
	put_entry("a", "1", 10);
	put_member(4);
	put_entry("b", "2", 11);
	gv_record x = rec("old", "x", 12);
	x.expire = 4000; /* before now_ms: counted as expired */
	flen += gvp_entry_encode(&x, file + flen);
	put_member(6);
	put_end(3);
	gv_node *n = node_new(0);
	assert_int_equal(load(n, true, &L), GVP_OK);
	assert_int_equal(L.entries, 3);
	assert_int_equal(L.records, 6);
	assert_int_equal(L.expired, 1);
	assert_int_equal(L.off, flen);
	assert_null(L.why);
	assert_int_equal(members_seen, 2);
	assert_loaded(n, "a", "1", 10);
	assert_loaded(n, "b", "2", 11);
	node_del(n);

	/* no END: incomplete */
	flen = GVP_HDR_LEN;
	put_entry("a", "1", 10);
	put_entry("b", "2", 11);
	n = node_new(0);
	assert_int_equal(load(n, true, &L), GVP_BAD);
	assert_int_equal(L.off, flen);
	assert_non_null(strstr(L.why, "end record"));
	node_del(n);
	/* empty: incomplete too */
	flen = GVP_HDR_LEN;
	n = node_new(0);
	assert_int_equal(load(n, true, &L), GVP_BAD);
	assert_int_equal(L.off, GVP_HDR_LEN);
	node_del(n);

	/* END's count not the entries' */
	flen = GVP_HDR_LEN;
	put_entry("a", "1", 10);
	put_member(4);
	size_t at = put_end(2);
	n = node_new(0);
	assert_int_equal(load(n, true, &L), GVP_BAD);
	assert_int_equal(L.off, at);
	assert_non_null(strstr(L.why, "count"));
	node_del(n);

	/* a REMOVE */
	flen = GVP_HDR_LEN;
	put_entry("a", "1", 10);
	at = put_remove("a");
	put_end(1);
	n = node_new(0);
	assert_int_equal(load(n, true, &L), GVP_BAD);
	assert_int_equal(L.off, at);
	assert_non_null(strstr(L.why, "remove"));
	node_del(n);

	/* anything after END */
	flen = GVP_HDR_LEN;
	put_entry("a", "1", 10);
	put_end(1);
	at = put_entry("b", "2", 11);
	n = node_new(0);
	assert_int_equal(load(n, true, &L), GVP_BAD);
	assert_int_equal(L.off, at);
	node_del(n);

	/* cut short: a snapshot is renamed into place whole, so damage */
	flen = GVP_HDR_LEN;
	put_entry("a", "1", 10);
	at = put_end(1);
	flen -= 3;
	n = node_new(0);
	assert_int_equal(load(n, true, &L), GVP_BAD);
	assert_int_equal(L.off, at);
	node_del(n);
}

static void
test_load_log(void **state)
{
	(void)state;
	struct gvp_load L;
	/* entries and removes */
	flen = GVP_HDR_LEN;
	put_entry("a", "1", 10);
	put_entry("b", "2", 11);
	put_entry("c", "3", 12);
	put_remove("b");
	put_remove("never-there");
	put_entry("a", "1b", 13);
	gv_node *n = node_new(0);
	assert_int_equal(load(n, false, &L), GVP_OK);
	assert_int_equal(L.entries, 4);
	assert_int_equal(L.records, 6);
	assert_int_equal(L.off, flen);
	assert_loaded(n, "a", "1b", 13);
	assert_absent(n, "b");
	assert_loaded(n, "c", "3", 12);
	node_del(n);
	/* empty: nothing to do */
	flen = GVP_HDR_LEN;
	n = node_new(0);
	assert_int_equal(load(n, false, &L), GVP_OK);
	assert_int_equal(L.records, 0);
	node_del(n);

	/* MEMBER and END have no place in a log */
	flen = GVP_HDR_LEN;
	put_entry("a", "1", 10);
	size_t at = put_member(4);
	n = node_new(0);
	assert_int_equal(load(n, false, &L), GVP_BAD);
	assert_int_equal(L.off, at);
	assert_non_null(strstr(L.why, "member"));
	assert_int_equal(members_seen, 0);
	node_del(n);
	flen = GVP_HDR_LEN;
	put_entry("a", "1", 10);
	at = put_end(1);
	n = node_new(0);
	assert_int_equal(load(n, false, &L), GVP_BAD);
	assert_int_equal(L.off, at);
	node_del(n);

	/* a torn tail: every record before it loaded, off at the tear */
	for (size_t cut = 1; cut < gvp_entry_size(1, 1); cut++) {
		flen = GVP_HDR_LEN;
		put_entry("a", "1", 10);
		put_remove("a");
		put_entry("b", "2", 11);
		at = put_entry("c", "3", 12);
		flen = at + cut;
		n = node_new(0);
		assert_int_equal(load(n, false, &L), GVP_TORN);
		assert_int_equal(L.off, at);
		assert_int_equal(L.records, 3);
		assert_int_equal(L.entries, 2);
		assert_non_null(L.why);
		assert_absent(n, "a");
		assert_loaded(n, "b", "2", 11);
		assert_absent(n, "c");
		node_del(n);
	}
	/* a zero tail (a power loss) is torn too */
	flen = GVP_HDR_LEN;
	put_entry("a", "1", 10);
	at = flen;
	memset(file + flen, 0, 300);
	flen += 300;
	n = node_new(0);
	assert_int_equal(load(n, false, &L), GVP_TORN);
	assert_int_equal(L.off, at);
	assert_int_equal(L.records, 1);
	assert_loaded(n, "a", "1", 10);
	node_del(n);

	/* a damaged record in the middle: the ones before it loaded */
	flen = GVP_HDR_LEN;
	put_entry("a", "1", 10);
	at = put_entry("b", "2", 11);
	put_entry("c", "3", 12);
	file[at + 20] ^= 1;
	n = node_new(0);
	assert_int_equal(load(n, false, &L), GVP_BAD);
	assert_int_equal(L.off, at);
	assert_int_equal(L.records, 1);
	assert_non_null(strstr(L.why, "checksum"));
	assert_loaded(n, "a", "1", 10);
	assert_absent(n, "b");
	node_del(n);
}

/* Installed exactly: an older version still replaces what is held. */
static void
test_load_exact(void **state)
{
	(void)state;
	struct gvp_load L;
	gv_node *n = node_new(0);
	gv_record held = rec("k", "newest", 5000);
	assert_int_equal(gv_node_load(n, NOW, &held), 0);
	assert_int_equal(gv_node_put(n, NOW, "p", 1, "put", 3,
				     GV_PRIO_NORMAL), 0);
	gv_record got;
	assert_int_equal(gv_node_get(n, "p", 1, &got), 0);
	uint64_t put_hlc = got.ver.hlc;
	flen = GVP_HDR_LEN;
	put_entry("k", "older", 20);
	put_entry("p", "older too", 21);
	assert_true(put_hlc > 21);
	assert_int_equal(load(n, false, &L), GVP_OK);
	assert_loaded(n, "k", "older", 20);
	assert_loaded(n, "p", "older too", 21);
	assert_int_equal(gv_node_get(n, "k", 1, &got), 0);
	assert_int_equal(got.prev.hlc, 19);
	/* a tombstone of an older version replaces a value too */
	flen = GVP_HDR_LEN;
	gv_record t = rec("k", NULL, 3);
	t.tombstone = true;
	flen += gvp_entry_encode(&t, file + flen);
	assert_int_equal(load(n, false, &L), GVP_OK);
	assert_absent(n, "k");
	node_del(n);
}

static void
test_load_refused(void **state)
{
	(void)state;
	struct gvp_load L;
	/* the memory cap: GVP_NOROOM at the entry refused */
	gv_node *n = node_new(16u << 10);
	flen = GVP_HDR_LEN;
	size_t at[400];
	int i;
	char key[16];
	for (i = 0; i < 400; i++) {
		snprintf(key, sizeof(key), "key%03d", i);
		at[i] = put_entry(key, "0123456789abcdef0123456789abcdef",
				  100 + (uint64_t)i);
	}
	int rc = load(n, false, &L);
	assert_int_equal(rc, GVP_NOROOM);
	assert_true(L.records > 0 && L.records < 400);
	assert_int_equal(L.off, at[L.records]);
	assert_non_null(L.why);
	snprintf(key, sizeof(key), "key%03d", (int)L.records - 1);
	assert_loaded(n, key, "0123456789abcdef0123456789abcdef",
		     100 + L.records - 1);
	snprintf(key, sizeof(key), "key%03d", (int)L.records);
	assert_absent(n, key);
	node_del(n);

	/* a value longer than the node's maximum: not damage, this node's
	 * limit (GVP_NOROOM, as a memory cap) */
	n = node_new(0);
	size_t vlen = 2u << 20;
	uint8_t *big = malloc(GVP_HDR_LEN + gvp_entry_size(1, vlen));
	assert_non_null(big);
	gv_record r = rec("v", NULL, 9);
	uint8_t *val = calloc(1, vlen);
	assert_non_null(val);
	r.val = val;
	r.vlen = vlen;
	size_t sz = gvp_entry_encode(&r, big + GVP_HDR_LEN);
	L = (struct gvp_load){.snap = false, .now = NOW};
	assert_int_equal(gvp_load_records(n, big + GVP_HDR_LEN, sz,
					  GVP_HDR_LEN, &L), GVP_NOROOM);
	assert_int_equal(L.off, GVP_HDR_LEN);
	assert_non_null(L.why);
	free(val);
	free(big);
	node_del(n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_round_trip),
		cmocka_unit_test(test_header_bad),
		cmocka_unit_test(test_entry_round_trip),
		cmocka_unit_test(test_entry_big_value),
		cmocka_unit_test(test_other_round_trips),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_torn),
		cmocka_unit_test(test_flipped_bytes),
		cmocka_unit_test(test_load_snapshot),
		cmocka_unit_test(test_load_log),
		cmocka_unit_test(test_load_exact),
		cmocka_unit_test(test_load_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
