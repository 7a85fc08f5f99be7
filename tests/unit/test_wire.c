/* SPDX-License-Identifier: MIT */
/*
 * test_wire.c - the datagram encoder and decoder (engine/core/wire.c).
 *
 * Round trips of every record type (by hand and from a seeded generator),
 * the exact byte layout of the header and of a few records, and the
 * decoder's totality: truncation at every offset, random byte flips with
 * and without a recomputed checksum, hand-made bad lengths and bad fields,
 * and plain random bytes. Every datagram the decoder sees is copied into a
 * heap block of exactly its length, so under ASan any read past the end is
 * caught, and every pointer a decoded record carries is checked to lie
 * inside the datagram. All randomness comes from gv_rng with fixed seeds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "core/rng.h"
#include "core/wire.h"

#define CLUSTER 0xC0FFEE01u
#define MTU GV_WIRE_DEFAULT_MTU
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* Known record types are 1..NTYPES; FIRST_UNKNOWN is the next free one. */
#define NTYPES GV_REC_PURGE
#define FIRST_UNKNOWN (NTYPES + 1)

/* ------------------------------------------------------------- helpers */

/* Recompute the checksum exactly as wire.h specifies: XXH3-64 of bytes
 * [40, len) seeded with XXH3-64 of bytes [0, 32), stored at offset 32. */
static void
fix_checksum(uint8_t *buf, size_t len)
{
	uint64_t seed = XXH3_64bits(buf, 32);
	uint64_t sum = XXH3_64bits_withSeed(buf + 40, len - 40, seed);
	memcpy(buf + 32, &sum, 8);
}

static void
st16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static uint16_t
ld16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static gv_wire_header
make_header(uint64_t seq)
{
	gv_wire_header h = {
		.version = GV_WIRE_VERSION,
		.flags = 0,
		.cluster = CLUSTER,
		.shard = 3,
		.sender = UINT64_C(0x1122334455667788),
		.incarnation = 7,
		.seq = seq,
	};
	return h;
}

static void
begin(gv_wire_writer *w, uint8_t *buf, size_t cap)
{
	gv_wire_header h = make_header(1);
	assert_int_equal(gv_wire_begin(w, buf, cap, &h), 0);
}

static size_t
finish(gv_wire_writer *w)
{
	ssize_t n = gv_wire_finish(w);
	assert_true(n >= GV_WIRE_HEADER_LEN);
	return (size_t)n;
}

/* An exact-size heap copy, so ASan sees any read past the end. */
static uint8_t *
dup_exact(const uint8_t *buf, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	assert_non_null(p);
	if (len)
		memcpy(p, buf, len);
	return p;
}

static volatile uint8_t sink;

/* Assert [p, p + n) lies inside [buf, buf + len) and touch every byte. */
static void
check_span(const uint8_t *buf, size_t len, const uint8_t *p, size_t n)
{
	uintptr_t b = (uintptr_t)buf, q = (uintptr_t)p;
	assert_non_null(p);
	assert_true(q >= b && q <= b + len);
	assert_true(n <= b + len - q);
	for (size_t i = 0; i < n; i++)
		sink ^= p[i];
}

/* Every field of a decoded record is in range and inside the datagram. */
static void
check_record(const uint8_t *buf, size_t len, const gv_wire_record *rec)
{
	switch (rec->type) {
	case GV_REC_UPDATE: {
		const gv_wire_update *u = &rec->u.update;
		assert_true(u->klen <= GV_MAX_KEY);
		assert_true(u->priority <= 3);
		assert_int_equal(u->flags & ~GV_UPD_FLAGS_ALL, 0);
		if (u->flags & GV_UPD_TOMBSTONE)
			assert_int_equal(u->vlen, 0);
		check_span(buf, len, u->key, u->klen);
		check_span(buf, len, u->val, u->vlen);
		break;
	}
	case GV_REC_PING:
		break;
	case GV_REC_ACK:
		assert_int_equal(rec->u.ack.flags & ~GV_ACK_NACK, 0);
		break;
	case GV_REC_PING_REQ:
		assert_true(rec->u.ping_req.addr.family == 4 ||
			    rec->u.ping_req.addr.family == 6);
		break;
	case GV_REC_MEMBER: {
		const gv_wire_member *m = &rec->u.member;
		assert_true(m->state <= GV_MEMBER_LEFT);
		assert_true(m->addr.family == 4 || m->addr.family == 6);
		assert_true(m->region_len <= GV_WIRE_MAX_REGION);
		assert_true(m->name_len <= GV_WIRE_MAX_NAME);
		check_span(buf, len, m->region, m->region_len);
		check_span(buf, len, m->name, m->name_len);
		break;
	}
	case GV_REC_MERKLE_REQ: {
		const gv_wire_merkle_req *q = &rec->u.merkle_req;
		check_span(buf, len, q->index, 4 * (size_t)q->count);
		for (size_t i = 0; i < q->count; i++)
			sink ^= (uint8_t)gv_wire_u32_at(q->index, i);
		break;
	}
	case GV_REC_MERKLE_RESP: {
		const gv_wire_merkle_resp *q = &rec->u.merkle_resp;
		assert_true(q->fan_log2 >= 1 && q->fan_log2 <= 8);
		size_t group = 4 + 8 * ((size_t)1 << q->fan_log2);
		check_span(buf, len, q->groups, group * q->count);
		break;
	}
	case GV_REC_ENTRIES_REQ: {
		const gv_wire_entries_req *q = &rec->u.entries_req;
		assert_true(q->kind <= GV_ENTRIES_KEYS);
		check_span(buf, len, q->items, 8 * (size_t)q->count);
		for (size_t i = 0; i < q->count; i++)
			sink ^= (uint8_t)gv_wire_u64_at(q->items, i);
		break;
	}
	case GV_REC_ENTRIES_RESP:
		assert_int_equal(rec->u.entries_resp.flags & ~GV_ENTRIES_LAST,
				 0);
		break;
	case GV_REC_PULL_DIGEST: {
		const gv_wire_pull_digest *q = &rec->u.pull_digest;
		check_span(buf, len, q->items, 24 * (size_t)q->count);
		break;
	}
	case GV_REC_SYNC_REQ:
		assert_int_equal(rec->u.sync_req.flags & ~GV_SYNC_FLAGS_ALL, 0);
		break;
	case GV_REC_TOMB_ACK: {
		const gv_wire_tomb_ack *q = &rec->u.tomb_ack;
		check_span(buf, len, q->items, 24 * (size_t)q->count);
		for (size_t i = 0; i < 3 * (size_t)q->count; i++)
			sink ^= (uint8_t)gv_wire_u64_at(q->items, i);
		break;
	}
	case GV_REC_PURGE: {
		const gv_wire_purge *q = &rec->u.purge;
		assert_true(q->klen <= GV_MAX_KEY);
		check_span(buf, len, q->key, q->klen);
		break;
	}
	case GV_REC_TREE: {
		const gv_wire_tree *q = &rec->u.tree;
		assert_true(q->kind >= GV_TREE_IHAVE &&
			    q->kind <= GV_TREE_KIND_MAX);
		check_span(buf, len, q->items, GV_TREE_ITEM * (size_t)q->count);
		break;
	}
	default:
		fail_msg("decoder returned unknown record type %u", rec->type);
	}
}

/*
 * Open and walk a datagram (from an exact-size copy), checking every record
 * and the error contract: an error repeats, leaves the reader where it was
 * and never writes *rec. Returns 0 or the error; *nrec counts the records.
 */
static int
walk(const uint8_t *src, size_t len, size_t *nrec)
{
	uint8_t *buf = dup_exact(src, len);
	gv_wire_reader r;
	gv_wire_header h;
	size_t n = 0;
	int rc = gv_wire_open(&r, &h, buf, len, CLUSTER);
	if (rc) {
		assert_true(rc < 0);
		goto out;
	}
	assert_int_equal(r.off, GV_WIRE_HEADER_LEN);
	for (;;) {
		gv_wire_record rec;
		rc = gv_wire_next(&r, &rec);
		if (rc == 1) {
			check_record(buf, len, &rec);
			n++;
			assert_true(n <= len / GV_WIRE_RECORD_HDR);
			continue;
		}
		if (rc == 0) {
			assert_int_equal(r.off, len);
			assert_int_equal(gv_wire_next(&r, &rec), 0);
			break;
		}
		assert_true(rc == GV_ETRUNCATED || rc == GV_EMALFORMED);
		size_t off = r.off;
		gv_wire_record again, canary;
		memset(&again, 0x5a, sizeof(again));
		memset(&canary, 0x5a, sizeof(canary));
		assert_int_equal(gv_wire_next(&r, &again), rc);
		assert_int_equal(gv_wire_next(&r, &again), rc);
		assert_int_equal(r.off, off);
		assert_memory_equal(&again, &canary, sizeof(again));
		break;
	}
out:
	free(buf);
	if (nrec)
		*nrec = n;
	return rc;
}

/* Open a datagram that must be valid and decode exactly @max records. */
static size_t
decode_all(const uint8_t *buf, size_t len, gv_wire_header *h,
	   gv_wire_record *recs, size_t max)
{
	gv_wire_reader r;
	size_t n = 0;
	int rc;
	assert_int_equal(gv_wire_open(&r, h, buf, len, CLUSTER), 0);
	while ((rc = gv_wire_next(&r, &recs[n < max ? n : max - 1])) == 1) {
		check_record(buf, len, &recs[n < max ? n : max - 1]);
		n++;
		assert_true(n <= max && n <= len / GV_WIRE_RECORD_HDR);
	}
	assert_int_equal(rc, 0);
	return n;
}

/* ----------------------------------------------- record specifications
 *
 * A spec is one record as the encoder takes it; put_spec() encodes it and
 * check_spec() compares a decoded record against it. Arrays point into
 * pools of random data filled once.
 */
typedef struct spec {
	uint8_t type;
	gv_wire_update upd;
	gv_wire_ping ping;
	gv_wire_ack ack;
	gv_wire_ping_req preq;
	gv_wire_member mem;
	gv_wire_entries_resp eresp;
	gv_wire_sync_req sync;
	gv_wire_purge purge;
	uint32_t session;
	uint32_t bucket;
	uint8_t level;
	uint8_t fan_log2;
	uint8_t kind;
	uint16_t count;
	const uint32_t *idx;
	const uint64_t *u64;
} spec;

static uint8_t byte_pool[4096];
static uint32_t u32_pool[1024];
static uint64_t u64_pool[4096];

static void
fill_pools(void)
{
	gv_rng g;
	gv_rng_seed(&g, 42);
	for (size_t i = 0; i < sizeof(byte_pool); i++)
		byte_pool[i] = (uint8_t)gv_rng_next(&g);
	for (size_t i = 0; i < ARRAY_LEN(u32_pool); i++)
		u32_pool[i] = (uint32_t)gv_rng_next(&g);
	for (size_t i = 0; i < ARRAY_LEN(u64_pool); i++)
		u64_pool[i] = gv_rng_next(&g);
}

static int
put_spec(gv_wire_writer *w, const spec *s)
{
	switch (s->type) {
	case GV_REC_UPDATE:
		return gv_wire_put_update(w, &s->upd);
	case GV_REC_PING:
		return gv_wire_put_ping(w, &s->ping);
	case GV_REC_ACK:
		return gv_wire_put_ack(w, &s->ack);
	case GV_REC_PING_REQ:
		return gv_wire_put_ping_req(w, &s->preq);
	case GV_REC_MEMBER:
		return gv_wire_put_member(w, &s->mem);
	case GV_REC_MERKLE_REQ:
		return gv_wire_put_merkle_req(w, s->session, s->level, s->idx,
					      s->count);
	case GV_REC_MERKLE_RESP:
		return gv_wire_put_merkle_resp(w, s->session, s->level,
					       s->fan_log2, s->idx, s->u64,
					       s->count);
	case GV_REC_ENTRIES_REQ:
		return gv_wire_put_entries_req(w, s->session, s->kind, s->u64,
					       s->count);
	case GV_REC_ENTRIES_RESP:
		return gv_wire_put_entries_resp(w, &s->eresp);
	case GV_REC_PULL_DIGEST:
		return gv_wire_put_pull_digest(w, s->session, s->bucket,
					       s->u64, s->count);
	case GV_REC_SYNC_REQ:
		return gv_wire_put_sync_req(w, &s->sync);
	case GV_REC_TOMB_ACK:
		return gv_wire_put_tomb_ack(w, s->u64, s->count);
	case GV_REC_PURGE:
		return gv_wire_put_purge(w, &s->purge);
	}
	fail();
	return -1;
}

static void
check_bytes(const uint8_t *a, const uint8_t *b, size_t n)
{
	if (n)
		assert_memory_equal(a, b, n);
}

static void
check_addr(const gv_wire_addr *got, const gv_wire_addr *want)
{
	assert_int_equal(got->family, want->family);
	assert_int_equal(got->port, want->port);
	assert_memory_equal(got->addr, want->addr, want->family == 4 ? 4 : 16);
	if (want->family == 4) {
		static const uint8_t zero[12];
		assert_memory_equal(got->addr + 4, zero, 12);
	}
}

static void
check_spec(const gv_wire_record *rec, const spec *s)
{
	assert_int_equal(rec->type, s->type);
	switch (s->type) {
	case GV_REC_UPDATE: {
		const gv_wire_update *u = &rec->u.update, *e = &s->upd;
		assert_true(u->ver.hlc == e->ver.hlc);
		assert_true(u->ver.origin == e->ver.origin);
		assert_true(u->prev.hlc == e->prev.hlc);
		assert_true(u->prev.origin == e->prev.origin);
		assert_int_equal(u->flags, e->flags);
		assert_int_equal(u->priority, e->priority);
		assert_int_equal(u->hops, e->hops);
		assert_int_equal(u->klen, e->klen);
		assert_int_equal(u->vlen, e->vlen);
		check_bytes(u->key, e->key, e->klen);
		check_bytes(u->val, e->val, e->vlen);
		break;
	}
	case GV_REC_PING:
		assert_int_equal(rec->u.ping.probe, s->ping.probe);
		assert_true(rec->u.ping.target == s->ping.target);
		break;
	case GV_REC_ACK:
		assert_int_equal(rec->u.ack.probe, s->ack.probe);
		assert_int_equal(rec->u.ack.flags, s->ack.flags);
		break;
	case GV_REC_PING_REQ:
		assert_int_equal(rec->u.ping_req.probe, s->preq.probe);
		assert_true(rec->u.ping_req.target == s->preq.target);
		check_addr(&rec->u.ping_req.addr, &s->preq.addr);
		break;
	case GV_REC_MEMBER: {
		const gv_wire_member *m = &rec->u.member, *e = &s->mem;
		assert_int_equal(m->state, e->state);
		assert_true(m->node == e->node);
		assert_int_equal(m->incarnation, e->incarnation);
		assert_true(m->accuser == e->accuser);
		check_addr(&m->addr, &e->addr);
		assert_int_equal(m->region_len, e->region_len);
		assert_int_equal(m->name_len, e->name_len);
		check_bytes(m->region, e->region, e->region_len);
		check_bytes(m->name, e->name, e->name_len);
		break;
	}
	case GV_REC_MERKLE_REQ: {
		const gv_wire_merkle_req *q = &rec->u.merkle_req;
		assert_int_equal(q->session, s->session);
		assert_int_equal(q->level, s->level);
		assert_int_equal(q->count, s->count);
		for (size_t i = 0; i < s->count; i++)
			assert_int_equal(gv_wire_u32_at(q->index, i),
					 s->idx[i]);
		break;
	}
	case GV_REC_MERKLE_RESP: {
		const gv_wire_merkle_resp *q = &rec->u.merkle_resp;
		assert_int_equal(q->session, s->session);
		assert_int_equal(q->level, s->level);
		assert_int_equal(q->fan_log2, s->fan_log2);
		assert_int_equal(q->count, s->count);
		size_t fan = (size_t)1 << s->fan_log2;
		const uint8_t *g = q->groups;
		for (size_t i = 0; i < s->count; i++) {
			assert_int_equal(gv_wire_u32_at(g, 0), s->idx[i]);
			for (size_t j = 0; j < fan; j++)
				assert_true(gv_wire_u64_at(g + 4, j) ==
					    s->u64[i * fan + j]);
			g += 4 + 8 * fan;
		}
		break;
	}
	case GV_REC_ENTRIES_REQ: {
		const gv_wire_entries_req *q = &rec->u.entries_req;
		assert_int_equal(q->session, s->session);
		assert_int_equal(q->kind, s->kind);
		assert_int_equal(q->count, s->count);
		for (size_t i = 0; i < s->count; i++)
			assert_true(gv_wire_u64_at(q->items, i) == s->u64[i]);
		break;
	}
	case GV_REC_ENTRIES_RESP:
		assert_int_equal(rec->u.entries_resp.session, s->eresp.session);
		assert_int_equal(rec->u.entries_resp.flags, s->eresp.flags);
		assert_int_equal(rec->u.entries_resp.count, s->eresp.count);
		break;
	case GV_REC_PULL_DIGEST: {
		const gv_wire_pull_digest *q = &rec->u.pull_digest;
		assert_int_equal(q->session, s->session);
		assert_int_equal(q->bucket, s->bucket);
		assert_int_equal(q->count, s->count);
		for (size_t i = 0; i < 3 * (size_t)s->count; i++)
			assert_true(gv_wire_u64_at(q->items, i) == s->u64[i]);
		break;
	}
	case GV_REC_SYNC_REQ:
		assert_int_equal(rec->u.sync_req.session, s->sync.session);
		assert_int_equal(rec->u.sync_req.flags, s->sync.flags);
		assert_int_equal(rec->u.sync_req.shards, s->sync.shards);
		break;
	case GV_REC_TOMB_ACK: {
		const gv_wire_tomb_ack *q = &rec->u.tomb_ack;
		assert_int_equal(q->count, s->count);
		for (size_t i = 0; i < 3 * (size_t)s->count; i++)
			assert_true(gv_wire_u64_at(q->items, i) == s->u64[i]);
		break;
	}
	case GV_REC_PURGE: {
		const gv_wire_purge *q = &rec->u.purge, *e = &s->purge;
		assert_true(q->ver.hlc == e->ver.hlc);
		assert_true(q->ver.origin == e->ver.origin);
		assert_int_equal(q->klen, e->klen);
		check_bytes(q->key, e->key, e->klen);
		break;
	}
	default:
		fail();
	}
}

static void
rand_addr(gv_rng *g, gv_wire_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = gv_rng_below(g, 2) ? 4 : 6;
	a->port = (uint16_t)gv_rng_next(g);
	for (int i = 0; i < (a->family == 4 ? 4 : 16); i++)
		a->addr[i] = (uint8_t)gv_rng_next(g);
}

static const uint8_t *
pool_bytes(gv_rng *g, size_t n)
{
	return byte_pool + gv_rng_below(g, sizeof(byte_pool) - n + 1);
}

/* A random valid record of a random (or the given, if non-zero) type. */
static void
rand_spec(gv_rng *g, spec *s, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->type = type ? type : (uint8_t)(1 + gv_rng_below(g, NTYPES));
	s->session = (uint32_t)gv_rng_next(g);
	s->level = (uint8_t)gv_rng_next(g);
	switch (s->type) {
	case GV_REC_UPDATE: {
		gv_wire_update *u = &s->upd;
		u->ver.hlc = gv_rng_next(g);
		u->ver.origin = gv_rng_next(g);
		u->prev.hlc = gv_rng_next(g);
		u->prev.origin = gv_rng_next(g);
		u->flags = (uint8_t)gv_rng_below(g, 4);
		u->priority = (uint8_t)gv_rng_below(g, 4);
		u->hops = (uint8_t)gv_rng_next(g);
		u->klen = (uint16_t)(gv_rng_below(g, 8) ? gv_rng_below(g, 65)
						      : gv_rng_below(g, 1025));
		u->vlen = (u->flags & GV_UPD_TOMBSTONE)
				  ? 0
				  : (uint16_t)gv_rng_below(g, 400);
		u->key = pool_bytes(g, u->klen);
		u->val = pool_bytes(g, u->vlen);
		break;
	}
	case GV_REC_PING:
		s->ping.probe = (uint32_t)gv_rng_next(g);
		s->ping.target = gv_rng_next(g);
		break;
	case GV_REC_ACK:
		s->ack.probe = (uint32_t)gv_rng_next(g);
		s->ack.flags = (uint8_t)gv_rng_below(g, 2);
		break;
	case GV_REC_PING_REQ:
		s->preq.probe = (uint32_t)gv_rng_next(g);
		s->preq.target = gv_rng_next(g);
		rand_addr(g, &s->preq.addr);
		break;
	case GV_REC_MEMBER:
		s->mem.state = (uint8_t)gv_rng_below(g, 4);
		s->mem.node = gv_rng_next(g);
		s->mem.incarnation = (uint32_t)gv_rng_next(g);
		s->mem.accuser = gv_rng_next(g);
		rand_addr(g, &s->mem.addr);
		s->mem.region_len = (uint8_t)gv_rng_below(g, 64);
		s->mem.name_len = (uint8_t)gv_rng_below(g, 64);
		s->mem.region = pool_bytes(g, s->mem.region_len);
		s->mem.name = pool_bytes(g, s->mem.name_len);
		break;
	case GV_REC_MERKLE_REQ:
		s->count = (uint16_t)gv_rng_below(g, 80);
		s->idx = u32_pool + gv_rng_below(g, 1024 - s->count + 1);
		break;
	case GV_REC_MERKLE_RESP:
		s->fan_log2 = (uint8_t)(1 + gv_rng_below(g, 4));
		s->count = (uint16_t)gv_rng_below(g, 5);
		s->idx = u32_pool + gv_rng_below(g, 1024 - s->count + 1);
		s->u64 = u64_pool;
		break;
	case GV_REC_ENTRIES_REQ:
		s->kind = (uint8_t)gv_rng_below(g, 2);
		s->count = (uint16_t)gv_rng_below(g, 40);
		s->u64 = u64_pool + gv_rng_below(g, 1024);
		break;
	case GV_REC_ENTRIES_RESP:
		s->eresp.session = s->session;
		s->eresp.flags = (uint8_t)gv_rng_below(g, 2);
		s->eresp.count = (uint16_t)gv_rng_next(g);
		break;
	case GV_REC_PULL_DIGEST:
		s->bucket = gv_rng_below(g, 4) ? (uint32_t)gv_rng_below(g, 256)
					       : GV_PULL_RECENT;
		s->count = (uint16_t)gv_rng_below(g, 20);
		s->u64 = u64_pool + gv_rng_below(g, 1024);
		break;
	case GV_REC_SYNC_REQ:
		s->sync.session = s->session;
		s->sync.flags = (uint8_t)gv_rng_below(g, 8);
		s->sync.shards = (uint16_t)gv_rng_next(g);
		break;
	case GV_REC_TOMB_ACK:
		s->count = (uint16_t)gv_rng_below(g, 20);
		s->u64 = u64_pool + gv_rng_below(g, 1024);
		break;
	case GV_REC_PURGE: {
		gv_wire_purge *q = &s->purge;
		q->ver.hlc = gv_rng_next(g);
		q->ver.origin = gv_rng_next(g);
		q->klen = (uint16_t)(gv_rng_below(g, 8) ? gv_rng_below(g, 65)
						      : gv_rng_below(g, 1025));
		q->key = pool_bytes(g, q->klen);
		break;
	}
	}
}

/*
 * Shrink a random record so that one of each type fits in one datagram of
 * MTU bytes: at most 180 (UPDATE) + 15 + 8 + 25 + 163 (MEMBER) + 22 +
 * 407 (MERKLE_RESP, fan 16) + 34 + 10 + 85 + 8 + 77 + 60 (PURGE) = 1094
 * bytes of records.
 */
static void
shrink_spec(spec *s)
{
	s->upd.klen %= 40;
	s->upd.vlen %= 100;
	s->purge.klen %= 40;
	s->count %= 4;
}

#define MAX_SPECS 256

/*
 * Fill a datagram greedily with random records until one does not fit.
 * Records that could never fit an empty datagram are drawn again. Record
 * start offsets go to offs[0..n], offs[n] being the datagram length.
 */
static size_t
build_random(gv_rng *g, uint8_t *buf, size_t cap, spec *specs, size_t *n,
	     size_t *offs)
{
	gv_wire_writer w;
	gv_wire_header h = make_header(gv_rng_next(g));
	assert_int_equal(gv_wire_begin(&w, buf, cap, &h), 0);
	*n = 0;
	for (;;) {
		spec s;
		rand_spec(g, &s, 0);
		offs[*n] = w.len;
		if (*n == MAX_SPECS)
			break;
		int rc = put_spec(&w, &s);
		if (rc == GV_ENOBUFS) {
			if (w.records == 0)
				continue;
			break;
		}
		assert_int_equal(rc, 0);
		specs[(*n)++] = s;
		assert_int_equal(w.records, *n);
	}
	return finish(&w);
}

/* ------------------------------------------------------------- tests */

static void
test_wire_header_layout(void **state)
{
	(void)state;
	uint8_t buf[128];
	gv_wire_writer w;
	gv_wire_header h = {
		.cluster = 0x11223344,
		.shard = 0x5566,
		.sender = UINT64_C(0x0102030405060708),
		.incarnation = 0xaabbccdd,
		.seq = UINT64_C(0x1112131415161718),
	};
	assert_int_equal(gv_wire_begin(&w, buf, sizeof(buf), &h), 0);
	gv_wire_ping ping = {.probe = 0x01020304,
			     .target = UINT64_C(0x0a0b0c0d0e0f1011)};
	assert_int_equal(gv_wire_put_ping(&w, &ping), 0);
	assert_int_equal(gv_wire_finish(&w), 55);

	static const uint8_t want[40] = {
		0x67, 0x76, GV_WIRE_VERSION, 0x00,     /* magic, ver, flags */
		0x44, 0x33, 0x22, 0x11,                /* cluster */
		0x66, 0x55, 0x00, 0x00,                /* shard, reserved */
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* sender */
		0xdd, 0xcc, 0xbb, 0xaa,                /* incarnation */
		0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11, /* seq */
	};
	assert_memory_equal(buf, want, 32);
	static const uint8_t rec[15] = {
		GV_REC_PING, 12,   0,    0x04, 0x03, 0x02, 0x01, 0x11,
		0x10,        0x0f, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a,
	};
	assert_memory_equal(buf + 40, rec, sizeof(rec));

	/* The checksum is the one wire.h documents. */
	uint8_t copy[55];
	memcpy(copy, buf, 55);
	memset(copy + 32, 0, 8);
	fix_checksum(copy, 55);
	assert_memory_equal(copy, buf, 55);
}

static void
test_wire_record_layout(void **state)
{
	(void)state;
	uint8_t buf[256];
	gv_wire_writer w;
	begin(&w, buf, sizeof(buf));
	gv_wire_update u = {
		.ver = {0x0102, 0x0304},
		.prev = {0x0506, 0x0708},
		.flags = GV_UPD_AE,
		.priority = 2,
		.hops = 9,
		.key = (const uint8_t *)"ab",
		.klen = 2,
		.val = (const uint8_t *)"xyz",
		.vlen = 3,
	};
	assert_int_equal(gv_wire_put_update(&w, &u), 0);
	const uint8_t *p = buf + 40;
	assert_int_equal(p[0], GV_REC_UPDATE);
	assert_int_equal(ld16(p + 1), GV_WIRE_UPDATE_FIXED + 5);
	p += 3;
	assert_int_equal(p[0], 0x02);
	assert_int_equal(p[8], 0x04);
	assert_int_equal(p[16], 0x06);
	assert_int_equal(p[24], 0x08);
	assert_int_equal(p[32], GV_UPD_AE);
	assert_int_equal(p[33], 2);
	assert_int_equal(p[34], 9);
	assert_int_equal(ld16(p + 35), 2);
	assert_int_equal(ld16(p + 37), 3);
	assert_memory_equal(p + 39, "abxyz", 5);
	assert_int_equal(w.len, 40 + gv_wire_update_size(2, 3));

	size_t at = w.len;
	gv_wire_ping_req pr = {.probe = 1, .target = 2,
			       .addr = {.family = 4, .port = 8080,
					.addr = {127, 0, 0, 1}}};
	assert_int_equal(gv_wire_put_ping_req(&w, &pr), 0);
	static const uint8_t want_pr[] = {
		GV_REC_PING_REQ, 19, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
		4, 0x90, 0x1f, 127, 0, 0, 1,
	};
	assert_int_equal(w.len - at, sizeof(want_pr));
	assert_memory_equal(buf + at, want_pr, sizeof(want_pr));

	at = w.len;
	gv_wire_sync_req sr = {.session = 0x01020304,
			       .flags = GV_SYNC_JOIN | GV_SYNC_REPLY,
			       .shards = 0x0506};
	assert_int_equal(gv_wire_put_sync_req(&w, &sr), 0);
	static const uint8_t want_sr[] = {
		GV_REC_SYNC_REQ, 7, 0, 0x04, 0x03, 0x02, 0x01, 0x03, 0x06, 0x05,
	};
	assert_int_equal(w.len - at, sizeof(want_sr));
	assert_memory_equal(buf + at, want_sr, sizeof(want_sr));

	at = w.len;
	static const uint64_t items[3] = {0x0102, 0x0304, 0x0506};
	assert_int_equal(gv_wire_put_tomb_ack(&w, items, 1), 0);
	static const uint8_t want_ta[] = {
		GV_REC_TOMB_ACK, 26, 0, 1, 0,
		0x02, 0x01, 0, 0, 0, 0, 0, 0,
		0x04, 0x03, 0, 0, 0, 0, 0, 0,
		0x06, 0x05, 0, 0, 0, 0, 0, 0,
	};
	assert_int_equal(w.len - at, sizeof(want_ta));
	assert_memory_equal(buf + at, want_ta, sizeof(want_ta));
	assert_int_equal(w.len - at, gv_wire_tomb_ack_size(1));

	at = w.len;
	gv_wire_purge pg = {.ver = {0x0102, 0x0304},
			    .key = (const uint8_t *)"ab",
			    .klen = 2};
	assert_int_equal(gv_wire_put_purge(&w, &pg), 0);
	static const uint8_t want_pg[] = {
		GV_REC_PURGE, 20, 0,
		0x02, 0x01, 0, 0, 0, 0, 0, 0,
		0x04, 0x03, 0, 0, 0, 0, 0, 0,
		2, 0, 'a', 'b',
	};
	assert_int_equal(w.len - at, sizeof(want_pg));
	assert_memory_equal(buf + at, want_pg, sizeof(want_pg));
	assert_int_equal(w.len - at, gv_wire_purge_size(2));
}

static void
test_wire_roundtrip_each_type(void **state)
{
	(void)state;
	fill_pools();
	uint8_t buf[MTU];
	spec all[NTYPES];
	gv_rng g;
	gv_rng_seed(&g, 1);
	gv_wire_writer wall;
	begin(&wall, buf, sizeof(buf));
	for (uint8_t t = 1; t <= NTYPES; t++) {
		/* Alone in a datagram ... */
		uint8_t one[MTU];
		gv_wire_writer w;
		spec s;
		rand_spec(&g, &s, t);
		shrink_spec(&s);
		begin(&w, one, sizeof(one));
		assert_int_equal(put_spec(&w, &s), 0);
		size_t len = finish(&w);
		gv_wire_record rec[2];
		gv_wire_header h;
		assert_int_equal(decode_all(one, len, &h, rec, 2), 1);
		check_spec(&rec[0], &s);
		/* ... and all of them together. */
		all[t - 1] = s;
		assert_int_equal(put_spec(&wall, &s), 0);
	}
	size_t len = finish(&wall);
	gv_wire_record rec[NTYPES + 1];
	gv_wire_header h;
	assert_int_equal(decode_all(buf, len, &h, rec, NTYPES + 1), NTYPES);
	for (size_t i = 0; i < NTYPES; i++)
		check_spec(&rec[i], &all[i]);
}

static void
test_wire_roundtrip_extremes(void **state)
{
	(void)state;
	static uint8_t buf[GV_WIRE_MAX_MTU];
	static uint8_t key[GV_MAX_KEY];
	static uint32_t idx[40];
	static uint64_t dig[40 * 256];
	memset(key, 'k', sizeof(key));
	for (size_t i = 0; i < 40; i++)
		idx[i] = UINT32_MAX - (uint32_t)i;
	for (size_t i = 0; i < ARRAY_LEN(dig); i++)
		dig[i] = UINT64_MAX - i;

	gv_wire_writer w;
	gv_wire_header hdr = {
		.version = 0, /* ignored: begin writes GV_WIRE_VERSION */
		.cluster = CLUSTER,
		.shard = UINT16_MAX,
		.sender = UINT64_MAX,
		.incarnation = UINT32_MAX,
		.seq = UINT64_MAX,
	};
	assert_int_equal(gv_wire_begin(&w, buf, sizeof(buf), &hdr), 0);
	spec s[13];
	memset(s, 0, sizeof(s));
	/* Longest key, a tombstone. */
	s[0].type = GV_REC_UPDATE;
	s[0].upd = (gv_wire_update){
		.ver = {UINT64_MAX, UINT64_MAX},
		.flags = GV_UPD_TOMBSTONE | GV_UPD_AE,
		.priority = 3,
		.hops = 255,
		.key = key,
		.klen = GV_MAX_KEY,
	};
	/* Empty key and empty value. */
	s[1].type = GV_REC_UPDATE;
	s[1].upd = (gv_wire_update){.priority = 0};
	/* Longest region and name, IPv6. */
	s[2].type = GV_REC_MEMBER;
	s[2].mem = (gv_wire_member){
		.state = GV_MEMBER_LEFT,
		.node = UINT64_MAX,
		.incarnation = UINT32_MAX,
		.accuser = UINT64_MAX - 1,
		.addr = {.family = 6, .port = 65535,
			 .addr = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}},
		.region = key,
		.region_len = GV_WIRE_MAX_REGION,
		.name = key,
		.name_len = GV_WIRE_MAX_NAME,
	};
	/* Empty region and name, IPv4. */
	s[3].type = GV_REC_MEMBER;
	s[3].mem = (gv_wire_member){
		.addr = {.family = 4, .port = 7946, .addr = {10, 0, 0, 1}},
	};
	/* Widest fan-out. */
	s[4].type = GV_REC_MERKLE_RESP;
	s[4].fan_log2 = 8;
	s[4].count = 20;
	s[4].idx = idx;
	s[4].u64 = dig;
	s[4].session = UINT32_MAX;
	s[4].level = 255;
	/* Empty arrays. */
	s[5].type = GV_REC_MERKLE_REQ;
	s[6].type = GV_REC_ENTRIES_REQ;
	s[6].kind = GV_ENTRIES_KEYS;
	s[7].type = GV_REC_PULL_DIGEST;
	s[7].bucket = GV_PULL_RECENT;
	s[8].type = GV_REC_TOMB_ACK;
	/* Every flag, extreme session. */
	s[9].type = GV_REC_SYNC_REQ;
	s[9].sync = (gv_wire_sync_req){.session = UINT32_MAX,
				       .flags = GV_SYNC_FLAGS_ALL};
	/* Longest purge key, and an empty one. */
	s[10].type = GV_REC_PURGE;
	s[10].purge = (gv_wire_purge){.ver = {UINT64_MAX, UINT64_MAX - 1},
				      .key = key,
				      .klen = GV_MAX_KEY};
	s[11].type = GV_REC_PURGE;
	/* A long tomb ack. */
	s[12].type = GV_REC_TOMB_ACK;
	s[12].count = 800;
	s[12].u64 = dig;
	for (size_t i = 0; i < ARRAY_LEN(s); i++)
		assert_int_equal(put_spec(&w, &s[i]), 0);
	size_t len = finish(&w);
	assert_true(len > 60000);

	gv_wire_record rec[ARRAY_LEN(s) + 1];
	gv_wire_header h;
	assert_int_equal(decode_all(buf, len, &h, rec, ARRAY_LEN(rec)),
			 ARRAY_LEN(s));
	for (size_t i = 0; i < ARRAY_LEN(s); i++)
		check_spec(&rec[i], &s[i]);
	assert_int_equal(h.version, GV_WIRE_VERSION);
	assert_int_equal(h.flags, 0);
	assert_int_equal(h.cluster, CLUSTER);
	assert_int_equal(h.shard, UINT16_MAX);
	assert_true(h.sender == UINT64_MAX);
	assert_int_equal(h.incarnation, UINT32_MAX);
	assert_true(h.seq == UINT64_MAX);
	assert_int_equal(walk(buf, len, NULL), 0);
}

static void
test_wire_roundtrip_random(void **state)
{
	(void)state;
	fill_pools();
	static spec specs[MAX_SPECS];
	static size_t offs[MAX_SPECS + 1];
	static gv_wire_record recs[MAX_SPECS + 1];
	uint8_t buf[MTU];
	gv_rng g;
	gv_rng_seed(&g, 2);
	for (int trial = 0; trial < 3000; trial++) {
		size_t cap = GV_WIRE_MIN_MTU + gv_rng_below(&g, MTU - 511);
		size_t n;
		size_t len = build_random(&g, buf, cap, specs, &n, offs);
		assert_true(len <= cap);
		assert_int_equal(len, offs[n]);
		gv_wire_header h;
		assert_int_equal(decode_all(buf, len, &h, recs, MAX_SPECS + 1),
				 n);
		for (size_t i = 0; i < n; i++)
			check_spec(&recs[i], &specs[i]);
		assert_int_equal(h.cluster, CLUSTER);
		assert_int_equal(h.shard, 3);
		assert_true(h.sender == UINT64_C(0x1122334455667788));
		assert_int_equal(h.incarnation, 7);
	}
}

static void
test_wire_empty_datagram(void **state)
{
	(void)state;
	uint8_t buf[64];
	gv_wire_writer w;
	begin(&w, buf, sizeof(buf));
	assert_int_equal(gv_wire_finish(&w), GV_WIRE_HEADER_LEN);
	assert_int_equal(gv_wire_finish(&w), GV_WIRE_HEADER_LEN);
	size_t n = 99;
	assert_int_equal(walk(buf, GV_WIRE_HEADER_LEN, &n), 0);
	assert_int_equal(n, 0);
}

/* The maximum number of records of one kind that fit in 1400 bytes. */
static void
fill_max(const spec *s, size_t recsize)
{
	uint8_t buf[MTU];
	gv_wire_writer w;
	begin(&w, buf, sizeof(buf));
	size_t n = 0;
	int rc;
	while ((rc = put_spec(&w, s)) == 0)
		n++;
	assert_int_equal(rc, GV_ENOBUFS);
	assert_int_equal(n, (MTU - GV_WIRE_HEADER_LEN) / recsize);
	assert_int_equal(w.records, n);
	size_t len = finish(&w);
	assert_int_equal(len, GV_WIRE_HEADER_LEN + n * recsize);
	static gv_wire_record recs[MTU / 3];
	gv_wire_header h;
	assert_int_equal(decode_all(buf, len, &h, recs, MTU / 3), n);
	for (size_t i = 0; i < n; i++)
		check_spec(&recs[i], s);
}

static void
test_wire_roundtrip_max_fit(void **state)
{
	(void)state;
	spec s;
	memset(&s, 0, sizeof(s));
	s.type = GV_REC_PING;
	s.ping = (gv_wire_ping){.probe = 5, .target = 6};
	fill_max(&s, 15); /* 90 records */
	s.type = GV_REC_ACK;
	s.ack = (gv_wire_ack){.probe = 5, .flags = GV_ACK_NACK};
	fill_max(&s, 8); /* 170 records, exactly 1400 bytes */
	s.type = GV_REC_ENTRIES_RESP;
	s.eresp = (gv_wire_entries_resp){.session = 1, .count = 2};
	fill_max(&s, 10);
	s.type = GV_REC_UPDATE;
	s.upd = (gv_wire_update){.klen = 0};
	fill_max(&s, gv_wire_update_size(0, 0));
	s.upd = (gv_wire_update){.key = (const uint8_t *)"k", .klen = 1,
				 .val = (const uint8_t *)"v", .vlen = 1};
	fill_max(&s, gv_wire_update_size(1, 1));
	s.type = GV_REC_SYNC_REQ;
	s.sync = (gv_wire_sync_req){.session = 7, .flags = GV_SYNC_JOIN};
	fill_max(&s, 10); /* 136 records */
	s.type = GV_REC_TOMB_ACK;
	fill_max(&s, gv_wire_tomb_ack_size(0));
	s.type = GV_REC_PURGE;
	s.purge = (gv_wire_purge){.ver = {1, 2}};
	fill_max(&s, gv_wire_purge_size(0));
	s.purge = (gv_wire_purge){.ver = {1, 2},
				  .key = (const uint8_t *)"key",
				  .klen = 3};
	fill_max(&s, gv_wire_purge_size(3));
}

/* The encoded size of a record: the wire.h helpers where there is one,
 * otherwise the layout of wire.h counted by hand. */
static size_t
spec_size(const spec *s)
{
	switch (s->type) {
	case GV_REC_UPDATE:
		return gv_wire_update_size(s->upd.klen, s->upd.vlen);
	case GV_REC_PING:
		return 3 + 12;
	case GV_REC_ACK:
		return 3 + 5;
	case GV_REC_PING_REQ:
		return 3 + 12 + 3 + (s->preq.addr.family == 4 ? 4 : 16);
	case GV_REC_MEMBER:
		return gv_wire_member_size(&s->mem);
	case GV_REC_MERKLE_REQ:
		return gv_wire_merkle_req_size(s->count);
	case GV_REC_MERKLE_RESP:
		return gv_wire_merkle_resp_size(s->fan_log2, s->count);
	case GV_REC_ENTRIES_REQ:
		return gv_wire_entries_req_size(s->count);
	case GV_REC_ENTRIES_RESP:
		return 3 + 7;
	case GV_REC_PULL_DIGEST:
		return gv_wire_pull_digest_size(s->count);
	case GV_REC_SYNC_REQ:
		return 3 + 7;
	case GV_REC_TOMB_ACK:
		return gv_wire_tomb_ack_size(s->count);
	case GV_REC_PURGE:
		return gv_wire_purge_size(s->purge.klen);
	}
	fail();
	return 0;
}

static void
test_wire_sizes(void **state)
{
	(void)state;
	fill_pools();

	/* The helpers against the layout in wire.h, counted by hand. */
	for (unsigned c = 0; c <= UINT16_MAX; c += 1 + c / 3) {
		uint16_t n = (uint16_t)c;
		assert_int_equal(gv_wire_merkle_req_size(n), 3 + 7 + 4 * c);
		assert_int_equal(gv_wire_entries_req_size(n), 3 + 7 + 8 * c);
		assert_int_equal(gv_wire_pull_digest_size(n),
				 3 + 10 + 24 * c);
		assert_int_equal(gv_wire_tomb_ack_size(n), 3 + 2 + 24 * c);
		for (uint8_t f = 1; f <= 8; f++)
			assert_int_equal(gv_wire_merkle_resp_size(f, n),
					 3 + 8 + c * (4 + 8 * (1u << f)));
		assert_int_equal(gv_wire_merkle_resp_size(0, n), SIZE_MAX);
		assert_int_equal(gv_wire_merkle_resp_size(9, n), SIZE_MAX);
		assert_int_equal(gv_wire_merkle_resp_size(255, n), SIZE_MAX);
	}
	assert_int_equal(gv_wire_tomb_ack_size(UINT16_MAX), 5 + 24 * 65535u);
	assert_int_equal(gv_wire_purge_size(0), 3 + 18);
	assert_int_equal(gv_wire_purge_size(GV_MAX_KEY), 3 + 18 + GV_MAX_KEY);

	/*
	 * Every type, against what the encoder writes. Each record also goes
	 * into a writer with exactly its size of room (it fits, leaving 0)
	 * and one byte less (GV_ENOBUFS, writer and buffer untouched).
	 */
	gv_rng g;
	gv_rng_seed(&g, 3);
	static uint8_t buf[GV_WIRE_MAX_MTU], snap[GV_WIRE_MAX_MTU];
	unsigned seen[NTYPES + 1] = {0};
	for (int i = 0; i < 6000; i++) {
		spec s;
		gv_wire_writer w, w0;
		rand_spec(&g, &s, 0);
		size_t want = spec_size(&s);
		begin(&w, buf, MTU);
		assert_int_equal(gv_wire_room(&w), MTU - GV_WIRE_HEADER_LEN);
		int rc = put_spec(&w, &s);
		if (rc == GV_ENOBUFS) {
			assert_true(want > MTU - GV_WIRE_HEADER_LEN);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(w.len - GV_WIRE_HEADER_LEN, want);
			assert_int_equal(gv_wire_room(&w),
					 MTU - GV_WIRE_HEADER_LEN - want);
		}

		begin(&w, buf, GV_WIRE_HEADER_LEN + want);
		assert_int_equal(put_spec(&w, &s), 0);
		assert_int_equal(gv_wire_room(&w), 0);
		assert_int_equal(walk(buf, finish(&w), NULL), 0);

		memset(buf, 0xa5, GV_WIRE_HEADER_LEN + want);
		begin(&w, buf, GV_WIRE_HEADER_LEN + want - 1);
		w0 = w;
		memcpy(snap, buf, GV_WIRE_HEADER_LEN + want);
		assert_int_equal(put_spec(&w, &s), GV_ENOBUFS);
		assert_memory_equal(&w, &w0, sizeof(w));
		assert_memory_equal(buf, snap, GV_WIRE_HEADER_LEN + want);
		seen[s.type]++;
	}
	for (size_t t = 1; t <= NTYPES; t++)
		assert_true(seen[t] > 100);
}

/*
 * Chunking as the protocol does it: with some room left, the largest
 * count whose size fits is accepted and leaves exactly room - size; one
 * more item is GV_ENOBUFS and changes nothing.
 */
static void
test_wire_room_chunking(void **state)
{
	(void)state;
	fill_pools();
	static const uint8_t types[] = {
		GV_REC_MERKLE_REQ, GV_REC_MERKLE_RESP, GV_REC_ENTRIES_REQ,
		GV_REC_PULL_DIGEST, GV_REC_TOMB_ACK,
	};
	gv_rng g;
	gv_rng_seed(&g, 8);
	uint8_t buf[MTU], snap[MTU];
	for (int trial = 0; trial < 2000; trial++) {
		gv_wire_writer w, w0;
		size_t cap = GV_WIRE_MIN_MTU + gv_rng_below(&g, MTU - 511);
		begin(&w, buf, cap);
		gv_wire_ping ping = {.probe = 1};
		for (size_t k = gv_rng_below(&g, 40); k > 0; k--)
			if (gv_wire_put_ping(&w, &ping) != 0)
				break;
		size_t room = gv_wire_room(&w);
		assert_int_equal(room, w.cap - w.len);

		spec s;
		memset(&s, 0, sizeof(s));
		s.type = types[gv_rng_below(&g, ARRAY_LEN(types))];
		s.session = (uint32_t)gv_rng_next(&g);
		s.kind = GV_ENTRIES_KEYS;
		s.fan_log2 = (uint8_t)(1 + gv_rng_below(&g, 8));
		s.idx = u32_pool;
		s.u64 = u64_pool;
		s.count = 0;
		if (spec_size(&s) > room) {
			assert_int_equal(put_spec(&w, &s), GV_ENOBUFS);
			continue;
		}
		for (;;) {
			s.count++;
			if (spec_size(&s) > room)
				break;
		}
		/* One item too many. */
		w0 = w;
		memcpy(snap, buf, sizeof(buf));
		assert_int_equal(put_spec(&w, &s), GV_ENOBUFS);
		assert_memory_equal(&w, &w0, sizeof(w));
		assert_memory_equal(buf, snap, sizeof(buf));
		/* The largest that fits. */
		s.count--;
		size_t size = spec_size(&s);
		assert_int_equal(put_spec(&w, &s), 0);
		assert_int_equal(gv_wire_room(&w), room - size);
		size_t len = finish(&w);
		static gv_wire_record recs[MTU / 3];
		gv_wire_header h;
		size_t n = decode_all(buf, len, &h, recs, MTU / 3);
		assert_int_equal(n, w.records);
		check_spec(&recs[n - 1], &s);
	}

	/* Invalid writers have no room. */
	gv_wire_writer z = {0};
	assert_int_equal(gv_wire_room(NULL), 0);
	assert_int_equal(gv_wire_room(&z), 0);
	begin(&z, buf, sizeof(buf));
	z.len = z.cap + 1;
	assert_int_equal(gv_wire_room(&z), 0);
}

/* Insert a raw record of @type with a @blen-byte body at @at. */
static size_t
insert_raw(uint8_t *buf, size_t len, size_t at, uint8_t type, size_t blen)
{
	memmove(buf + at + 3 + blen, buf + at, len - at);
	buf[at] = type;
	st16(buf + at + 1, (uint16_t)blen);
	for (size_t i = 0; i < blen; i++)
		buf[at + 3 + i] = (uint8_t)(0xa0 + i);
	return len + 3 + blen;
}

static void
test_wire_unknown_record_skipped(void **state)
{
	(void)state;
	uint8_t buf[MTU];
	gv_wire_writer w;
	begin(&w, buf, sizeof(buf));
	gv_wire_ping ping = {.probe = 1, .target = 2};
	gv_wire_ack ack = {.probe = 3};
	gv_wire_update upd = {.key = (const uint8_t *)"key", .klen = 3};
	assert_int_equal(gv_wire_put_ping(&w, &ping), 0);
	size_t mid = w.len;
	assert_int_equal(gv_wire_put_ack(&w, &ack), 0);
	size_t mid2 = w.len;
	assert_int_equal(gv_wire_put_update(&w, &upd), 0);
	size_t len = finish(&w);

	/* Unknown types in the middle (with a body, with none, type 0 and
	 * 255) and at the end, including one as long as a known record. */
	len = insert_raw(buf, len, mid2, 200, 40);
	len = insert_raw(buf, len, mid2, 0, 0);
	len = insert_raw(buf, len, mid, FIRST_UNKNOWN, 5);
	len = insert_raw(buf, len, mid, 255, 300);
	len = insert_raw(buf, len, len, 77, 1);

	gv_wire_reader r;
	gv_wire_header h;
	assert_int_equal(gv_wire_open(&r, &h, buf, len, CLUSTER),
			 GV_ECHECKSUM);
	fix_checksum(buf, len);
	gv_wire_record rec[4];
	assert_int_equal(decode_all(buf, len, &h, rec, 4), 3);
	assert_int_equal(rec[0].type, GV_REC_PING);
	assert_int_equal(rec[0].u.ping.probe, 1);
	assert_int_equal(rec[1].type, GV_REC_ACK);
	assert_int_equal(rec[1].u.ack.probe, 3);
	assert_int_equal(rec[2].type, GV_REC_UPDATE);
	assert_memory_equal(rec[2].u.update.key, "key", 3);

	/* A datagram holding only unknown records is empty. */
	uint8_t only[64];
	begin(&w, only, sizeof(only));
	len = finish(&w);
	len = insert_raw(only, len, len, 99, 4);
	fix_checksum(only, len);
	size_t n = 9;
	assert_int_equal(walk(only, len, &n), 0);
	assert_int_equal(n, 0);

	/* An unknown record whose length runs past the end still fails. */
	st16(only + 41, 5);
	fix_checksum(only, len);
	assert_int_equal(walk(only, len, &n), GV_ETRUNCATED);
}

/* Several valid datagrams for the truncation and flip tests. */
static size_t
sample(int which, uint8_t *buf, size_t *offs, size_t *n)
{
	static spec specs[MAX_SPECS];
	gv_rng g;
	gv_rng_seed(&g, 100 + (uint64_t)which);
	switch (which) {
	case 0: { /* one small record */
		gv_wire_writer w;
		gv_wire_ping ping = {.probe = 9, .target = 10};
		begin(&w, buf, MTU);
		offs[0] = w.len;
		assert_int_equal(gv_wire_put_ping(&w, &ping), 0);
		offs[1] = w.len;
		*n = 1;
		return finish(&w);
	}
	case 1: { /* every type once */
		gv_wire_writer w;
		begin(&w, buf, MTU);
		for (uint8_t t = 1; t <= NTYPES; t++) {
			spec s;
			rand_spec(&g, &s, t);
			shrink_spec(&s);
			offs[t - 1] = w.len;
			assert_int_equal(put_spec(&w, &s), 0);
		}
		offs[NTYPES] = w.len;
		*n = NTYPES;
		return finish(&w);
	}
	default: /* random and full */
		return build_random(&g, buf, MTU, specs, n, offs);
	}
}

static void
test_wire_truncation_every_offset(void **state)
{
	(void)state;
	fill_pools();
	for (int which = 0; which < 5; which++) {
		uint8_t buf[MTU], cut[MTU];
		size_t offs[MAX_SPECS + 1], n;
		size_t len = sample(which, buf, offs, &n);
		assert_int_equal(walk(buf, len, NULL), 0);
		for (size_t l = 0; l < len; l++) {
			/* As received: the checksum must catch it. */
			int rc = walk(buf, l, NULL);
			assert_int_equal(rc, l < GV_WIRE_HEADER_LEN
						     ? GV_ETRUNCATED
						     : GV_ECHECKSUM);
			if (l < GV_WIRE_HEADER_LEN)
				continue;
			/* With a checksum that agrees, the records must. */
			memcpy(cut, buf, l);
			fix_checksum(cut, l);
			size_t got;
			rc = walk(cut, l, &got);
			size_t whole = 0;
			while (whole < n && offs[whole + 1] <= l)
				whole++;
			assert_int_equal(got, whole);
			if (offs[whole] == l)
				assert_int_equal(rc, 0);
			else
				assert_int_equal(rc, GV_ETRUNCATED);
		}
	}
}

/* Change 1..4 distinct bytes to different values. */
static void
flip(gv_rng *g, uint8_t *buf, size_t len)
{
	size_t pos[4];
	size_t k = 1 + gv_rng_below(g, 4);
	if (k > len)
		k = len;
	for (size_t i = 0; i < k; i++) {
		bool dup;
		do {
			pos[i] = gv_rng_below(g, len);
			dup = false;
			for (size_t j = 0; j < i; j++)
				dup |= pos[j] == pos[i];
		} while (dup);
		buf[pos[i]] ^= (uint8_t)(1 + gv_rng_below(g, 255));
	}
}

static void
test_wire_flips_caught_by_checksum(void **state)
{
	(void)state;
	fill_pools();
	gv_rng g;
	gv_rng_seed(&g, 4);
	for (int which = 0; which < 5; which++) {
		uint8_t buf[MTU], bad[MTU];
		size_t offs[MAX_SPECS + 1], n;
		size_t len = sample(which, buf, offs, &n);
		for (int trial = 0; trial < 8000; trial++) {
			memcpy(bad, buf, len);
			flip(&g, bad, len);
			int rc = walk(bad, len, NULL);
			assert_true(rc < 0);
		}
	}
}

static void
test_wire_flips_with_fixed_checksum(void **state)
{
	(void)state;
	fill_pools();
	gv_rng g;
	gv_rng_seed(&g, 5);
	size_t ok = 0, errs = 0;
	for (int which = 0; which < 8; which++) {
		uint8_t buf[MTU], bad[MTU];
		size_t offs[MAX_SPECS + 1], n;
		size_t len = sample(which, buf, offs, &n);
		for (int trial = 0; trial < 8000; trial++) {
			memcpy(bad, buf, len);
			/* Mostly hit the records, sometimes the header. */
			if (gv_rng_below(&g, 8))
				flip(&g, bad + 40, len - 40);
			else
				flip(&g, bad, len);
			fix_checksum(bad, len);
			int rc = walk(bad, len, NULL);
			if (rc == 0)
				ok++;
			else
				errs++;
		}
	}
	/* Both outcomes occur: the test exercises the record decoder. */
	assert_true(ok > 0);
	assert_true(errs > 0);
}

/* A datagram with a known-good layout for the hand-made corruptions. */
struct lay {
	uint8_t buf[MTU];
	size_t len;
	size_t at[NTYPES]; /* record offset per type (index type - 1) */
};

static void
layout(struct lay *l)
{
	static const uint32_t idx[3] = {1, 2, 3};
	static const uint64_t u64[3 * 4 * 2] = {1, 2, 3, 4, 5, 6};
	gv_wire_writer w;
	begin(&w, l->buf, sizeof(l->buf));
	gv_wire_update upd = {.key = (const uint8_t *)"key", .klen = 3,
			      .val = (const uint8_t *)"value", .vlen = 5};
	gv_wire_ping ping = {.probe = 1};
	gv_wire_ack ack = {.probe = 2};
	gv_wire_ping_req pr = {.probe = 3, .addr = {.family = 4}};
	gv_wire_member m = {.state = GV_MEMBER_SUSPECT,
			    .addr = {.family = 6},
			    .region = (const uint8_t *)"eu",
			    .region_len = 2,
			    .name = (const uint8_t *)"n1",
			    .name_len = 2};
	gv_wire_entries_resp er = {.session = 9, .count = 1};
	gv_wire_sync_req sr = {.session = 10, .flags = GV_SYNC_JOIN};
	gv_wire_purge pg = {.ver = {11, 12},
			    .key = (const uint8_t *)"key",
			    .klen = 3};
	l->at[0] = w.len;
	assert_int_equal(gv_wire_put_update(&w, &upd), 0);
	l->at[1] = w.len;
	assert_int_equal(gv_wire_put_ping(&w, &ping), 0);
	l->at[2] = w.len;
	assert_int_equal(gv_wire_put_ack(&w, &ack), 0);
	l->at[3] = w.len;
	assert_int_equal(gv_wire_put_ping_req(&w, &pr), 0);
	l->at[4] = w.len;
	assert_int_equal(gv_wire_put_member(&w, &m), 0);
	l->at[5] = w.len;
	assert_int_equal(gv_wire_put_merkle_req(&w, 1, 2, idx, 3), 0);
	l->at[6] = w.len;
	assert_int_equal(gv_wire_put_merkle_resp(&w, 1, 2, 2, idx, u64, 2),
			 0);
	l->at[7] = w.len;
	assert_int_equal(gv_wire_put_entries_req(&w, 1, 0, u64, 3), 0);
	l->at[8] = w.len;
	assert_int_equal(gv_wire_put_entries_resp(&w, &er), 0);
	l->at[9] = w.len;
	assert_int_equal(gv_wire_put_pull_digest(&w, 1, 2, u64, 2), 0);
	l->at[10] = w.len;
	assert_int_equal(gv_wire_put_sync_req(&w, &sr), 0);
	l->at[11] = w.len;
	assert_int_equal(gv_wire_put_tomb_ack(&w, u64, 2), 0);
	l->at[12] = w.len;
	assert_int_equal(gv_wire_put_purge(&w, &pg), 0);
	l->len = finish(&w);
	assert_int_equal(walk(l->buf, l->len, NULL), 0);
}

/* Patch the record of @type at body offset @off to @v (1 or 2 bytes), fix
 * the checksum, and expect @err after the records that precede it. */
static void
expect_bad(uint8_t type, size_t off, unsigned v, int width, int err)
{
	struct lay l;
	layout(&l);
	uint8_t *p = l.buf + l.at[type - 1] + 3 + off;
	if (width == 1)
		*p = (uint8_t)v;
	else
		st16(p, (uint16_t)v);
	fix_checksum(l.buf, l.len);
	size_t n;
	assert_int_equal(walk(l.buf, l.len, &n), err);
	assert_int_equal(n, (size_t)(type - 1));
}

/* Make the body of the record of @type @delta bytes longer (its length
 * field too), filling with zeros, and expect MALFORMED there. */
static void
expect_slack(uint8_t type, size_t delta)
{
	struct lay l;
	layout(&l);
	size_t at = l.at[type - 1];
	size_t end = type < NTYPES ? l.at[type] : l.len;
	memmove(l.buf + end + delta, l.buf + end, l.len - end);
	memset(l.buf + end, 0, delta);
	st16(l.buf + at + 1, (uint16_t)(ld16(l.buf + at + 1) + delta));
	l.len += delta;
	fix_checksum(l.buf, l.len);
	size_t n;
	assert_int_equal(walk(l.buf, l.len, &n), GV_EMALFORMED);
	assert_int_equal(n, (size_t)(type - 1));
}

static void
test_wire_bad_lengths(void **state)
{
	(void)state;
	struct lay l;
	layout(&l);

	/* Record length past the end of the datagram. */
	uint8_t *last = l.buf + l.at[NTYPES - 1];
	st16(last + 1, (uint16_t)(ld16(last + 1) + 1));
	fix_checksum(l.buf, l.len);
	size_t n;
	assert_int_equal(walk(l.buf, l.len, &n), GV_ETRUNCATED);
	assert_int_equal(n, NTYPES - 1);
	st16(last + 1, 0xffff);
	fix_checksum(l.buf, l.len);
	assert_int_equal(walk(l.buf, l.len, &n), GV_ETRUNCATED);
	/* Only part of a record header at the end. */
	layout(&l);
	l.buf[l.len] = GV_REC_PING;
	l.buf[l.len + 1] = 0;
	fix_checksum(l.buf, l.len + 2);
	assert_int_equal(walk(l.buf, l.len + 2, &n), GV_ETRUNCATED);
	assert_int_equal(n, NTYPES);
	/* An earlier record's length running into the next record. */
	layout(&l);
	st16(l.buf + l.at[1] + 1, 13);
	fix_checksum(l.buf, l.len);
	assert_int_equal(walk(l.buf, l.len, &n), GV_EMALFORMED);
	assert_int_equal(n, 1);

	/* klen / vlen past the body, or short of it. */
	expect_bad(GV_REC_UPDATE, 35, 4, 2, GV_EMALFORMED);
	expect_bad(GV_REC_UPDATE, 37, 6, 2, GV_EMALFORMED);
	expect_bad(GV_REC_UPDATE, 35, 0xffff, 2, GV_EMALFORMED);
	expect_bad(GV_REC_UPDATE, 37, 0xffff, 2, GV_EMALFORMED);
	expect_bad(GV_REC_UPDATE, 37, 4, 2, GV_EMALFORMED);
	/* Counts too large or too small. */
	expect_bad(GV_REC_MERKLE_REQ, 5, 4, 2, GV_EMALFORMED);
	expect_bad(GV_REC_MERKLE_REQ, 5, 0xffff, 2, GV_EMALFORMED);
	expect_bad(GV_REC_MERKLE_REQ, 5, 2, 2, GV_EMALFORMED);
	expect_bad(GV_REC_MERKLE_RESP, 6, 3, 2, GV_EMALFORMED);
	expect_bad(GV_REC_MERKLE_RESP, 6, 0xffff, 2, GV_EMALFORMED);
	expect_bad(GV_REC_MERKLE_RESP, 5, 3, 1, GV_EMALFORMED);
	expect_bad(GV_REC_ENTRIES_REQ, 5, 4, 2, GV_EMALFORMED);
	expect_bad(GV_REC_ENTRIES_REQ, 5, 0xffff, 2, GV_EMALFORMED);
	expect_bad(GV_REC_PULL_DIGEST, 8, 3, 2, GV_EMALFORMED);
	expect_bad(GV_REC_PULL_DIGEST, 8, 0xffff, 2, GV_EMALFORMED);
	expect_bad(GV_REC_TOMB_ACK, 0, 3, 2, GV_EMALFORMED);
	expect_bad(GV_REC_TOMB_ACK, 0, 1, 2, GV_EMALFORMED);
	expect_bad(GV_REC_TOMB_ACK, 0, 0, 2, GV_EMALFORMED);
	expect_bad(GV_REC_TOMB_ACK, 0, 0xffff, 2, GV_EMALFORMED);
	/* PURGE klen past the body, or short of it. */
	expect_bad(GV_REC_PURGE, 16, 4, 2, GV_EMALFORMED);
	expect_bad(GV_REC_PURGE, 16, 2, 2, GV_EMALFORMED);
	expect_bad(GV_REC_PURGE, 16, 0, 2, GV_EMALFORMED);
	expect_bad(GV_REC_PURGE, 16, 0xffff, 2, GV_EMALFORMED);
	/* Region / name lengths running past the body. */
	expect_bad(GV_REC_MEMBER, 21 + 19, 3, 1, GV_EMALFORMED);
	expect_bad(GV_REC_MEMBER, 21 + 19 + 3, 3, 1, GV_EMALFORMED);
	/* IPv4 family on an IPv6-sized address leaves slack. */
	expect_bad(GV_REC_MEMBER, 21, 4, 1, GV_EMALFORMED);
	expect_bad(GV_REC_PING_REQ, 12, 6, 1, GV_EMALFORMED);
	/* Bodies longer than their fields, for every known type. */
	for (uint8_t t = 1; t <= NTYPES; t++) {
		expect_slack(t, 1);
		expect_slack(t, 8);
	}
}

static void
test_wire_bad_fields(void **state)
{
	(void)state;
	/* Unknown update flags, priority > 3, tombstone with a value. */
	expect_bad(GV_REC_UPDATE, 32, 0x08, 1, GV_EMALFORMED);
	expect_bad(GV_REC_UPDATE, 32, 0x80, 1, GV_EMALFORMED);
	expect_bad(GV_REC_UPDATE, 33, 4, 1, GV_EMALFORMED);
	expect_bad(GV_REC_UPDATE, 33, 255, 1, GV_EMALFORMED);
	expect_bad(GV_REC_UPDATE, 32, GV_UPD_TOMBSTONE, 1, GV_EMALFORMED);
	/* Address families. */
	expect_bad(GV_REC_PING_REQ, 12, 0, 1, GV_EMALFORMED);
	expect_bad(GV_REC_PING_REQ, 12, 5, 1, GV_EMALFORMED);
	expect_bad(GV_REC_MEMBER, 21, 2, 1, GV_EMALFORMED);
	/* Member state. */
	expect_bad(GV_REC_MEMBER, 0, 4, 1, GV_EMALFORMED);
	expect_bad(GV_REC_MEMBER, 0, 255, 1, GV_EMALFORMED);
	/* fan_log2 outside 1..8. */
	expect_bad(GV_REC_MERKLE_RESP, 5, 0, 1, GV_EMALFORMED);
	expect_bad(GV_REC_MERKLE_RESP, 5, 9, 1, GV_EMALFORMED);
	expect_bad(GV_REC_MERKLE_RESP, 5, 255, 1, GV_EMALFORMED);
	/* Unknown ack flags, entries kind and entries flags. */
	expect_bad(GV_REC_ACK, 4, 2, 1, GV_EMALFORMED);
	expect_bad(GV_REC_ENTRIES_REQ, 4, 2, 1, GV_EMALFORMED);
	expect_bad(GV_REC_ENTRIES_RESP, 4, 2, 1, GV_EMALFORMED);
	/* Unknown sync flags. */
	expect_bad(GV_REC_SYNC_REQ, 4, 0x08, 1, GV_EMALFORMED);
	expect_bad(GV_REC_SYNC_REQ, 4, 0x80, 1, GV_EMALFORMED);
	expect_bad(GV_REC_SYNC_REQ, 4, 0xff, 1, GV_EMALFORMED);

	/* A key longer than GV_MAX_KEY, its lengths otherwise consistent. */
	static uint8_t buf[4096];
	static uint8_t key[GV_MAX_KEY];
	gv_wire_writer w;
	begin(&w, buf, sizeof(buf));
	gv_wire_update u = {.key = key, .klen = GV_MAX_KEY, .val = key,
			    .vlen = 1};
	assert_int_equal(gv_wire_put_update(&w, &u), 0);
	size_t len = finish(&w);
	assert_int_equal(walk(buf, len, NULL), 0);
	st16(buf + 40 + 3 + 35, GV_MAX_KEY + 1);
	st16(buf + 40 + 3 + 37, 0);
	fix_checksum(buf, len);
	assert_int_equal(walk(buf, len, NULL), GV_EMALFORMED);

	/* Region and name of 64 bytes, lengths consistent. */
	for (int which = 0; which < 2; which++) {
		gv_wire_member m = {.addr = {.family = 4},
				    .region = key,
				    .region_len = 63,
				    .name = key,
				    .name_len = 63};
		begin(&w, buf, sizeof(buf));
		assert_int_equal(gv_wire_put_member(&w, &m), 0);
		len = finish(&w);
		/* Move one byte from one string to the other, so that the
		 * lengths still add up and only the maximum is broken. */
		uint8_t *body = buf + 43;
		size_t rl = 21 + 7; /* region_len, after an IPv4 address */
		uint8_t first = which ? 62 : 64;
		body[rl] = first;
		body[rl + 1 + first] = (uint8_t)(126 - first);
		fix_checksum(buf, len);
		assert_int_equal(walk(buf, len, NULL), GV_EMALFORMED);
	}

	/* A PURGE key of GV_MAX_KEY + 1 bytes, klen agreeing with the body;
	 * the same record one byte shorter decodes. */
	for (size_t klen = GV_MAX_KEY + 1; klen >= GV_MAX_KEY; klen--) {
		begin(&w, buf, sizeof(buf));
		len = insert_raw(buf, finish(&w), GV_WIRE_HEADER_LEN,
				 GV_REC_PURGE, 18 + klen);
		st16(buf + GV_WIRE_HEADER_LEN + 3 + 16, (uint16_t)klen);
		fix_checksum(buf, len);
		size_t n;
		assert_int_equal(walk(buf, len, &n),
				 klen > GV_MAX_KEY ? GV_EMALFORMED : 0);
		assert_int_equal(n, klen > GV_MAX_KEY ? 0 : 1);
	}
}

/* Header checks, each with the checksum fixed so that only it fails. */
static void
expect_open(const uint8_t *good, size_t len, size_t off, uint8_t v,
	    uint32_t cluster, int err)
{
	uint8_t buf[MTU];
	memcpy(buf, good, len);
	buf[off] = v;
	if (off < 32)
		fix_checksum(buf, len);
	gv_wire_reader r, r0;
	gv_wire_header h, h0;
	memset(&r, 0xab, sizeof(r));
	memset(&h, 0xab, sizeof(h));
	r0 = r;
	h0 = h;
	assert_int_equal(gv_wire_open(&r, &h, buf, len, cluster), err);
	/* Out-params untouched on error. */
	assert_memory_equal(&r, &r0, sizeof(r));
	assert_memory_equal(&h, &h0, sizeof(h));
}

static void
test_wire_bad_header(void **state)
{
	(void)state;
	uint8_t buf[MTU];
	size_t offs[MAX_SPECS + 1], n;
	size_t len = sample(1, buf, offs, &n);
	assert_int_equal(walk(buf, len, NULL), 0);

	expect_open(buf, len, 0, 0x00, CLUSTER, GV_EBADMAGIC);
	expect_open(buf, len, 1, 0x67, CLUSTER, GV_EBADMAGIC);
	expect_open(buf, len, 2, 0, CLUSTER, GV_EVERSION);
	expect_open(buf, len, 2, GV_WIRE_VERSION + 1, CLUSTER, GV_EVERSION);
	expect_open(buf, len, 3, GV_WIRE_FLAG_SEALED, CLUSTER, GV_EMALFORMED);
	expect_open(buf, len, 3, 0x80, CLUSTER, GV_EMALFORMED);
	expect_open(buf, len, 10, 1, CLUSTER, GV_EMALFORMED);
	expect_open(buf, len, 11, 0x80, CLUSTER, GV_EMALFORMED);
	expect_open(buf, len, 40, buf[40] ^ 1, CLUSTER, GV_ECHECKSUM);
	expect_open(buf, len, 32, buf[32] ^ 1, CLUSTER, GV_ECHECKSUM);
	expect_open(buf, len, 0, buf[0], CLUSTER + 1, GV_ECLUSTER);
	expect_open(buf, len, 0, buf[0], 0, GV_ECLUSTER);
	/* A changed cluster id without a fixed checksum is corruption. */
	uint8_t c[MTU];
	memcpy(c, buf, len);
	c[4] ^= 1;
	gv_wire_reader r;
	assert_int_equal(gv_wire_open(&r, NULL, c, len, CLUSTER),
			 GV_ECHECKSUM);
	fix_checksum(c, len);
	assert_int_equal(gv_wire_open(&r, NULL, c, len, CLUSTER),
			 GV_ECLUSTER);
	assert_int_equal(gv_wire_open(&r, NULL, c, len, CLUSTER ^ 1), 0);

	/* Longer than GV_WIRE_MAX_MTU, even with a good checksum. */
	static uint8_t big[GV_WIRE_MAX_MTU + 1];
	gv_wire_writer w;
	begin(&w, big, sizeof(big));
	assert_int_equal(w.cap, GV_WIRE_MAX_MTU);
	assert_int_equal(finish(&w), GV_WIRE_HEADER_LEN);
	big[GV_WIRE_HEADER_LEN] = 99; /* an unknown record fills the rest */
	st16(big + GV_WIRE_HEADER_LEN + 1,
	     GV_WIRE_MAX_MTU + 1 - GV_WIRE_HEADER_LEN - 3);
	fix_checksum(big, GV_WIRE_MAX_MTU + 1);
	assert_int_equal(
		gv_wire_open(&r, NULL, big, GV_WIRE_MAX_MTU + 1, CLUSTER),
		GV_EMALFORMED);
	/* The same shape one byte shorter is fine. */
	st16(big + GV_WIRE_HEADER_LEN + 1,
	     GV_WIRE_MAX_MTU - GV_WIRE_HEADER_LEN - 3);
	fix_checksum(big, GV_WIRE_MAX_MTU);
	size_t cnt = 9;
	assert_int_equal(walk(big, GV_WIRE_MAX_MTU, &cnt), 0);
	assert_int_equal(cnt, 0);

	/* Arguments. */
	gv_wire_record rec;
	assert_int_equal(gv_wire_open(NULL, NULL, buf, len, CLUSTER),
			 GV_EINVAL);
	assert_int_equal(gv_wire_open(&r, NULL, NULL, 40, CLUSTER),
			 GV_EINVAL);
	assert_int_equal(gv_wire_open(&r, NULL, NULL, 0, CLUSTER),
			 GV_ETRUNCATED);
	assert_int_equal(gv_wire_next(NULL, &rec), GV_EINVAL);
	assert_int_equal(gv_wire_open(&r, NULL, buf, len, CLUSTER), 0);
	assert_int_equal(gv_wire_next(&r, NULL), GV_EINVAL);
}

/* Fill a writer until fewer than @room bytes are left, with pings. */
static void
fill_until(gv_wire_writer *w, size_t room)
{
	gv_wire_ping ping = {.probe = 1};
	while (w->cap - w->len >= room)
		assert_int_equal(gv_wire_put_ping(w, &ping), 0);
}

/* PAD: a datagram padded to a length decodes to the same records, the
 * pad skipped; gaps of 1-2 bytes and overlong targets are refused. */
static void
test_wire_pad(void **state)
{
	(void)state;
	uint8_t buf[MTU];
	gv_wire_writer w;
	begin(&w, buf, 1400);
	gv_wire_ping ping = {7, 9};
	assert_int_equal(gv_wire_put_ping(&w, &ping), 0);
	size_t len = w.len;
	assert_int_equal(gv_wire_pad_to(&w, len), 0); /* already there */
	assert_int_equal(gv_wire_pad_to(&w, len + 1), GV_ENOBUFS);
	assert_int_equal(gv_wire_pad_to(&w, len + 2), GV_ENOBUFS);
	assert_int_equal(gv_wire_pad_to(&w, 1401), GV_EINVAL);
	assert_int_equal(w.len, len);
	assert_int_equal(gv_wire_pad_to(&w, 1400), 0);
	assert_int_equal(w.len, 1400);
	assert_int_equal(w.records, 1);
	assert_int_equal(gv_wire_pad_to(&w, 1000), GV_ENOBUFS);
	assert_int_equal(finish(&w), 1400);
	size_t n;
	assert_int_equal(walk(buf, 1400, &n), 0);
	assert_int_equal(n, 1); /* the ping; the pad skipped */
}

static void
test_wire_enobufs_unchanged(void **state)
{
	(void)state;
	fill_pools();
	gv_rng g;
	gv_rng_seed(&g, 6);
	uint8_t buf[MTU], snap[MTU];
	int enobufs = 0;
	for (int trial = 0; trial < 4000; trial++) {
		gv_wire_writer w, w0;
		memset(buf, 0xa5, sizeof(buf));
		size_t cap = GV_WIRE_MIN_MTU + gv_rng_below(&g, MTU - 511);
		gv_wire_header h = make_header(1);
		assert_int_equal(gv_wire_begin(&w, buf, cap, &h), 0);
		fill_until(&w, 15 + gv_rng_below(&g, 200));
		for (int k = 0; k < 20; k++) {
			spec s;
			rand_spec(&g, &s, 0);
			w0 = w;
			memcpy(snap, buf, sizeof(buf));
			int rc = put_spec(&w, &s);
			if (rc == 0) {
				assert_int_equal(w.records, w0.records + 1);
				assert_true(w.len > w0.len && w.len <= cap);
				assert_memory_equal(buf, snap, w0.len);
				continue;
			}
			assert_int_equal(rc, GV_ENOBUFS);
			enobufs++;
			assert_memory_equal(&w, &w0, sizeof(w));
			assert_memory_equal(buf, snap, sizeof(buf));
		}
		size_t len = finish(&w);
		assert_int_equal(walk(buf, len, NULL), 0);
	}
	assert_true(enobufs > 1000);

	/* A record that needs exactly the room left fits; one more byte
	 * does not. */
	gv_wire_writer w;
	begin(&w, buf, 40 + 3 + GV_WIRE_UPDATE_FIXED + 10);
	gv_wire_update u = {.key = byte_pool, .klen = 11};
	assert_int_equal(gv_wire_put_update(&w, &u), GV_ENOBUFS);
	assert_int_equal(w.records, 0); /* could never fit this writer */
	u.klen = 10;
	assert_int_equal(gv_wire_put_update(&w, &u), 0);
	assert_int_equal(w.len, w.cap);
	gv_wire_ack a = {0};
	assert_int_equal(gv_wire_put_ack(&w, &a), GV_ENOBUFS);

	/* The largest body there is never fits a datagram. */
	static uint8_t val[65535];
	static uint8_t big[GV_WIRE_MAX_MTU];
	begin(&w, big, sizeof(big));
	u = (gv_wire_update){.val = val,
			     .vlen = 65535 - GV_WIRE_UPDATE_FIXED};
	assert_int_equal(gv_wire_put_update(&w, &u), GV_ENOBUFS);
	assert_int_equal(w.len, GV_WIRE_HEADER_LEN);
	u.vlen = GV_WIRE_MAX_MTU - GV_WIRE_HEADER_LEN - 3 -
		 GV_WIRE_UPDATE_FIXED;
	assert_int_equal(gv_wire_put_update(&w, &u), 0);
	assert_int_equal(w.len, GV_WIRE_MAX_MTU);
	size_t len = finish(&w);
	gv_wire_record rec[2];
	gv_wire_header h;
	assert_int_equal(decode_all(big, len, &h, rec, 2), 1);
	assert_int_equal(rec[0].u.update.vlen, u.vlen);
}

/* Expect GV_EINVAL and an untouched writer and buffer. */
#define EXPECT_EINVAL(call)                                                   \
	do {                                                                  \
		gv_wire_writer w0_ = w;                                       \
		memcpy(snap, buf, sizeof(buf));                               \
		assert_int_equal((call), GV_EINVAL);                          \
		assert_memory_equal(&w, &w0_, sizeof(w));                     \
		assert_memory_equal(buf, snap, sizeof(buf));                  \
	} while (0)

static void
test_wire_encoder_einval(void **state)
{
	(void)state;
	static uint8_t buf[GV_WIRE_MAX_MTU], snap[GV_WIRE_MAX_MTU];
	static uint8_t val[65535];
	static uint32_t idx[16384];
	static uint64_t u64[3 * 8192 + 8192];
	gv_wire_writer w;
	begin(&w, buf, sizeof(buf));
	gv_wire_ping ping = {0};
	assert_int_equal(gv_wire_put_ping(&w, &ping), 0);

	/* UPDATE */
	gv_wire_update u = {.key = val, .klen = GV_MAX_KEY + 1};
	EXPECT_EINVAL(gv_wire_put_update(&w, &u));
	u = (gv_wire_update){.flags = 0x80};
	EXPECT_EINVAL(gv_wire_put_update(&w, &u));
	u = (gv_wire_update){.priority = 4};
	EXPECT_EINVAL(gv_wire_put_update(&w, &u));
	u = (gv_wire_update){.flags = GV_UPD_TOMBSTONE, .val = val, .vlen = 1};
	EXPECT_EINVAL(gv_wire_put_update(&w, &u));
	u = (gv_wire_update){.klen = 1};
	EXPECT_EINVAL(gv_wire_put_update(&w, &u));
	u = (gv_wire_update){.vlen = 1};
	EXPECT_EINVAL(gv_wire_put_update(&w, &u));
	u = (gv_wire_update){.key = val, .klen = GV_MAX_KEY, .val = val,
			     .vlen = 65535};
	EXPECT_EINVAL(gv_wire_put_update(&w, &u));
	u = (gv_wire_update){.val = val, .vlen = 65535 - 38};
	EXPECT_EINVAL(gv_wire_put_update(&w, &u));
	EXPECT_EINVAL(gv_wire_put_update(&w, NULL));

	/* ACK, PING_REQ, MEMBER */
	gv_wire_ack a = {.flags = 0x02};
	EXPECT_EINVAL(gv_wire_put_ack(&w, &a));
	gv_wire_ping_req pr = {.addr = {.family = 0}};
	EXPECT_EINVAL(gv_wire_put_ping_req(&w, &pr));
	pr.addr.family = 5;
	EXPECT_EINVAL(gv_wire_put_ping_req(&w, &pr));
	gv_wire_member m = {.addr = {.family = 7}};
	EXPECT_EINVAL(gv_wire_put_member(&w, &m));
	m = (gv_wire_member){.state = 4, .addr = {.family = 4}};
	EXPECT_EINVAL(gv_wire_put_member(&w, &m));
	m = (gv_wire_member){.addr = {.family = 4}, .region = val,
			     .region_len = 64};
	EXPECT_EINVAL(gv_wire_put_member(&w, &m));
	m = (gv_wire_member){.addr = {.family = 4}, .name = val,
			     .name_len = 64};
	EXPECT_EINVAL(gv_wire_put_member(&w, &m));
	m = (gv_wire_member){.addr = {.family = 4}, .region_len = 1};
	EXPECT_EINVAL(gv_wire_put_member(&w, &m));

	/* Arrays: NULL with a count, bodies past 65535, bad fan/kind. */
	EXPECT_EINVAL(gv_wire_put_merkle_req(&w, 1, 0, NULL, 1));
	EXPECT_EINVAL(gv_wire_put_merkle_req(&w, 1, 0, idx, 16383));
	assert_int_equal(gv_wire_put_merkle_req(&w, 1, 0, idx, 16382),
			 GV_ENOBUFS);
	EXPECT_EINVAL(gv_wire_put_merkle_resp(&w, 1, 0, 0, idx, u64, 1));
	EXPECT_EINVAL(gv_wire_put_merkle_resp(&w, 1, 0, 9, idx, u64, 1));
	EXPECT_EINVAL(gv_wire_put_merkle_resp(&w, 1, 0, 2, NULL, u64, 1));
	EXPECT_EINVAL(gv_wire_put_merkle_resp(&w, 1, 0, 2, idx, NULL, 1));
	EXPECT_EINVAL(gv_wire_put_merkle_resp(&w, 1, 0, 8, idx, u64, 32));
	assert_int_equal(gv_wire_put_merkle_resp(&w, 1, 0, 8, idx, u64, 31),
			 0);
	EXPECT_EINVAL(gv_wire_put_entries_req(&w, 1, 2, u64, 1));
	EXPECT_EINVAL(gv_wire_put_entries_req(&w, 1, 0, NULL, 1));
	EXPECT_EINVAL(gv_wire_put_entries_req(&w, 1, 0, u64, 8192));
	assert_int_equal(gv_wire_put_entries_req(&w, 1, 0, u64, 8191),
			 GV_ENOBUFS);
	gv_wire_entries_resp er = {.flags = 0x02};
	EXPECT_EINVAL(gv_wire_put_entries_resp(&w, &er));
	EXPECT_EINVAL(gv_wire_put_pull_digest(&w, 1, 2, NULL, 1));
	EXPECT_EINVAL(gv_wire_put_pull_digest(&w, 1, 2, u64, 2731));
	assert_int_equal(gv_wire_put_pull_digest(&w, 1, 2, u64, 2730),
			 GV_ENOBUFS);

	/* SYNC_REQ, TOMB_ACK, PURGE */
	gv_wire_sync_req sr = {.flags = 0x08};
	EXPECT_EINVAL(gv_wire_put_sync_req(&w, &sr));
	sr.flags = 0x80 | GV_SYNC_JOIN;
	EXPECT_EINVAL(gv_wire_put_sync_req(&w, &sr));
	EXPECT_EINVAL(gv_wire_put_sync_req(&w, NULL));
	EXPECT_EINVAL(gv_wire_put_tomb_ack(&w, NULL, 1));
	EXPECT_EINVAL(gv_wire_put_tomb_ack(&w, u64, 2731));
	EXPECT_EINVAL(gv_wire_put_tomb_ack(&w, u64, UINT16_MAX));
	assert_int_equal(gv_wire_put_tomb_ack(&w, u64, 2730), GV_ENOBUFS);
	gv_wire_purge pg = {.key = val, .klen = GV_MAX_KEY + 1};
	EXPECT_EINVAL(gv_wire_put_purge(&w, &pg));
	pg = (gv_wire_purge){.key = val, .klen = UINT16_MAX};
	EXPECT_EINVAL(gv_wire_put_purge(&w, &pg));
	pg = (gv_wire_purge){.klen = 1};
	EXPECT_EINVAL(gv_wire_put_purge(&w, &pg));
	EXPECT_EINVAL(gv_wire_put_purge(&w, NULL));
	/* Validation comes before the space check. */
	gv_wire_writer full;
	uint8_t small[GV_WIRE_HEADER_LEN + 3];
	begin(&full, small, sizeof(small));
	sr.flags = 0x08;
	assert_int_equal(gv_wire_put_sync_req(&full, &sr), GV_EINVAL);
	assert_int_equal(gv_wire_put_tomb_ack(&full, NULL, 1), GV_EINVAL);
	pg = (gv_wire_purge){.key = val, .klen = GV_MAX_KEY + 1};
	assert_int_equal(gv_wire_put_purge(&full, &pg), GV_EINVAL);
	sr.flags = GV_SYNC_REPLY;
	assert_int_equal(gv_wire_put_sync_req(&full, &sr), GV_ENOBUFS);
	assert_int_equal(gv_wire_put_tomb_ack(&full, NULL, 0), GV_ENOBUFS);
	pg.klen = 0;
	assert_int_equal(gv_wire_put_purge(&full, &pg), GV_ENOBUFS);
	assert_int_equal(full.len, GV_WIRE_HEADER_LEN);
	assert_int_equal(full.records, 0);

	/* Empty arrays and keys may be NULL. */
	assert_int_equal(gv_wire_put_merkle_req(&w, 1, 0, NULL, 0), 0);
	assert_int_equal(gv_wire_put_entries_req(&w, 1, 0, NULL, 0), 0);
	assert_int_equal(gv_wire_put_pull_digest(&w, 1, 0, NULL, 0), 0);
	assert_int_equal(gv_wire_put_merkle_resp(&w, 1, 0, 1, NULL, NULL, 0),
			 0);
	assert_int_equal(gv_wire_put_tomb_ack(&w, NULL, 0), 0);
	pg = (gv_wire_purge){.klen = 0};
	assert_int_equal(gv_wire_put_purge(&w, &pg), 0);
	size_t len = finish(&w);
	size_t n;
	assert_int_equal(walk(buf, len, &n), 0);
	assert_int_equal(n, 8);

	/* Invalid writers. */
	assert_int_equal(gv_wire_put_ping(NULL, &ping), GV_EINVAL);
	gv_wire_writer z = {0};
	assert_int_equal(gv_wire_put_ping(&z, &ping), GV_EINVAL);
	assert_int_equal(gv_wire_finish(&z), GV_EINVAL);
	assert_int_equal(gv_wire_finish(NULL), GV_EINVAL);

	/* gv_wire_begin */
	gv_wire_header h = make_header(1);
	gv_wire_writer s, s0;
	memset(&s, 0x77, sizeof(s));
	s0 = s;
	assert_int_equal(gv_wire_begin(&s, buf, 42, &h), GV_EINVAL);
	assert_memory_equal(&s, &s0, sizeof(s));
	assert_int_equal(gv_wire_begin(&s, NULL, 1400, &h), GV_EINVAL);
	assert_int_equal(gv_wire_begin(&s, buf, 1400, NULL), GV_EINVAL);
	assert_int_equal(gv_wire_begin(NULL, buf, 1400, &h), GV_EINVAL);
	h.flags = GV_WIRE_FLAG_SEALED;
	assert_int_equal(gv_wire_begin(&s, buf, 1400, &h), GV_EINVAL);
	h.flags = 0x40;
	assert_int_equal(gv_wire_begin(&s, buf, 1400, &h), GV_EINVAL);
	assert_memory_equal(&s, &s0, sizeof(s));
	h.flags = 0;
	assert_int_equal(gv_wire_begin(&s, buf, 43, &h), 0);
	assert_int_equal(s.cap, 43);
	assert_int_equal(s.len, GV_WIRE_HEADER_LEN);
	assert_int_equal(s.records, 0);
	assert_int_equal(gv_wire_begin(&s, buf, SIZE_MAX, &h), 0);
	assert_int_equal(s.cap, GV_WIRE_MAX_MTU);
}

/* Random record bytes after a valid header with a matching checksum. */
static size_t
random_records(gv_rng *g, uint8_t *buf, size_t cap)
{
	gv_wire_writer w;
	begin(&w, buf, cap);
	size_t len = GV_WIRE_HEADER_LEN;
	size_t end = GV_WIRE_HEADER_LEN +
		     gv_rng_below(g, cap - GV_WIRE_HEADER_LEN + 1);
	if (gv_rng_below(g, 2)) {
		for (; len < end; len++)
			buf[len] = (uint8_t)gv_rng_next(g);
	} else {
		/* Record-shaped noise: plausible types and lengths. */
		while (len < end) {
			size_t left = end - len;
			if (left < 3) {
				buf[len++] = (uint8_t)gv_rng_next(g);
				continue;
			}
			size_t blen = gv_rng_below(g, 4)
					      ? gv_rng_below(g, left - 2)
					      : gv_rng_below(g, 80);
			buf[len] = (uint8_t)gv_rng_below(g, NTYPES + 3);
			st16(buf + len + 1, (uint16_t)blen);
			len += 3;
			for (size_t i = 0; i < blen && len < end; i++)
				buf[len++] = (uint8_t)(gv_rng_below(g, 3)
							  ? gv_rng_below(g, 5)
							  : gv_rng_next(g));
		}
	}
	fix_checksum(buf, len);
	return len;
}

static void
test_wire_random_bytes(void **state)
{
	(void)state;
	gv_rng g;
	gv_rng_seed(&g, 7);
	static uint8_t buf[1600];
	for (int trial = 0; trial < 20000; trial++) {
		size_t len = gv_rng_below(&g, 1501);
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)gv_rng_next(&g);
		if (trial % 4 == 0 && len >= 2) {
			/* Get past the magic now and then. */
			buf[0] = 0x67;
			buf[1] = 0x76;
		}
		assert_true(walk(buf, len, NULL) < 0);
	}
	size_t ok = 0, errs = 0, recs = 0;
	for (int trial = 0; trial < 20000; trial++) {
		size_t len = random_records(&g, buf, 1500);
		size_t n;
		int rc = walk(buf, len, &n);
		assert_true(rc <= 0);
		recs += n;
		if (rc == 0)
			ok++;
		else
			errs++;
	}
	assert_true(ok > 0 && errs > 0 && recs > 0);
}

/* TREE records: each kind round-trips; bad kinds and a count that
 * disagrees with the body are refused. */
static void
test_wire_tree(void **state)
{
	(void)state;
	uint8_t buf[GV_WIRE_DEFAULT_MTU];
	gv_wire_header h = {.cluster = 7, .sender = 42};
	gv_wire_writer w;
	uint64_t items[6] = {1, 2, 3, 4, UINT64_MAX, 0};
	assert_int_equal(gv_wire_begin(&w, buf, sizeof(buf), &h), 0);
	assert_int_equal(gv_wire_put_tree(&w, GV_TREE_IHAVE, items, 3), 0);
	assert_int_equal(gv_wire_put_tree(&w, GV_TREE_GRAFT, items + 2, 1), 0);
	assert_int_equal(gv_wire_put_tree(&w, GV_TREE_GRAFT, NULL, 0), 0);
	assert_int_equal(gv_wire_put_tree(&w, GV_TREE_IHAVE, NULL, 0), 0);
	assert_int_equal(gv_wire_put_tree(&w, 0, items, 1), GV_EINVAL);
	assert_int_equal(gv_wire_put_tree(&w, 3, items, 1), GV_EINVAL);
	assert_int_equal(gv_wire_put_tree(&w, GV_TREE_IHAVE, NULL, 1),
			 GV_EINVAL);
	assert_int_equal(gv_wire_tree_size(3), 3 + 3 + 3 * GV_TREE_ITEM);
	ssize_t len = gv_wire_finish(&w);
	assert_true(len > 0);
	gv_wire_reader r;
	gv_wire_header hd;
	gv_wire_record rec;
	assert_int_equal(gv_wire_open(&r, &hd, buf, (size_t)len, 7), 0);
	const uint8_t kinds[4] = {GV_TREE_IHAVE, GV_TREE_GRAFT, GV_TREE_GRAFT,
				  GV_TREE_IHAVE};
	const uint16_t counts[4] = {3, 1, 0, 0};
	for (int i = 0; i < 4; i++) {
		assert_int_equal(gv_wire_next(&r, &rec), 1);
		assert_int_equal(rec.type, GV_REC_TREE);
		assert_int_equal(rec.u.tree.kind, kinds[i]);
		assert_int_equal(rec.u.tree.count, counts[i]);
		for (uint16_t j = 0; j < counts[i]; j++) {
			uint64_t kh, hlc;
			gv_wire_tree_item(&rec.u.tree, j, &kh, &hlc);
			const uint64_t *e = i == 0 ? items : items + 2;
			assert_true(kh == e[2 * j] && hlc == e[2 * j + 1]);
		}
	}
	assert_int_equal(gv_wire_next(&r, &rec), 0);

	/* malformed bodies: each alone in a datagram */
	struct {
		uint8_t body[3 + GV_TREE_ITEM];
		size_t len;
	} bad[] = {
		{{0, 0, 0}, 3},                     /* kind 0 */
		{{3, 0, 0}, 3},                     /* kind past GRAFT */
		{{GV_TREE_IHAVE, 2, 0}, 3 + GV_TREE_ITEM}, /* count 2, 1 */
		{{GV_TREE_IHAVE, 0, 0}, 3 + GV_TREE_ITEM}, /* count 0, 1 */
		{{GV_TREE_GRAFT, 1, 0}, 2},         /* shorter than fixed */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(gv_wire_begin(&w, buf, sizeof(buf), &h), 0);
		uint8_t rec_raw[3 + 3 + GV_TREE_ITEM];
		rec_raw[0] = GV_REC_TREE;
		rec_raw[1] = (uint8_t)bad[i].len;
		rec_raw[2] = 0;
		memcpy(rec_raw + 3, bad[i].body, bad[i].len);
		assert_int_equal(gv_wire_put_raw(&w, rec_raw, 3 + bad[i].len),
				 0);
		len = gv_wire_finish(&w);
		assert_true(len > 0);
		assert_int_equal(gv_wire_open(&r, &hd, buf, (size_t)len, 7), 0);
		assert_int_equal(gv_wire_next(&r, &rec), GV_EMALFORMED);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_header_layout),
		cmocka_unit_test(test_wire_record_layout),
		cmocka_unit_test(test_wire_roundtrip_each_type),
		cmocka_unit_test(test_wire_roundtrip_extremes),
		cmocka_unit_test(test_wire_roundtrip_random),
		cmocka_unit_test(test_wire_empty_datagram),
		cmocka_unit_test(test_wire_roundtrip_max_fit),
		cmocka_unit_test(test_wire_sizes),
		cmocka_unit_test(test_wire_room_chunking),
		cmocka_unit_test(test_wire_unknown_record_skipped),
		cmocka_unit_test(test_wire_truncation_every_offset),
		cmocka_unit_test(test_wire_flips_caught_by_checksum),
		cmocka_unit_test(test_wire_flips_with_fixed_checksum),
		cmocka_unit_test(test_wire_bad_lengths),
		cmocka_unit_test(test_wire_bad_fields),
		cmocka_unit_test(test_wire_bad_header),
		cmocka_unit_test(test_wire_pad),
		cmocka_unit_test(test_wire_enobufs_unchanged),
		cmocka_unit_test(test_wire_encoder_einval),
		cmocka_unit_test(test_wire_random_bytes),
		cmocka_unit_test(test_wire_tree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
