/* SPDX-License-Identifier: MIT */
/*
 * test_counter.c - the counter CRDT (core/counter.c) and the store's
 * rules for counters and expiry (core/store.c): encoding round trips and
 * its refusals, the join's laws, Redis's number syntax and printing, and
 * merges in every order against a model (the sum of every increment).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/counter.h"
#include "core/store.h"
#include "core/wire.h"

static gv_counter
fresh(void)
{
	gv_counter c;
	memset(&c, 0, sizeof(c));
	return c;
}

static void
roundtrip(const gv_counter *c)
{
	uint8_t buf[GV_COUNTER_MAX_ENC];
	ssize_t n = gv_counter_encode(c, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal((size_t)n, gv_counter_size(c));
	gv_counter d;
	assert_int_equal(gv_counter_decode(buf, (size_t)n, &d), 0);
	uint8_t buf2[GV_COUNTER_MAX_ENC];
	ssize_t n2 = gv_counter_encode(&d, buf2, sizeof(buf2));
	assert_int_equal(n, n2);
	assert_memory_equal(buf, buf2, (size_t)n);
	gv_version a = gv_counter_ver(c), b = gv_counter_ver(&d);
	assert_int_equal(gv_version_cmp(&a, &b), 0);
}

static void
test_encode(void **state)
{
	(void)state;
	gv_counter c = fresh();
	roundtrip(&c);
	c.epoch = (gv_version){123, 456};
	c.base_i = -42;
	assert_int_equal(gv_counter_add(&c, 7, 1000, 5, 0, false), 0);
	assert_int_equal(gv_counter_add(&c, 3, 1001, -2, 0, false), 0);
	assert_int_equal(gv_counter_add(&c, 9, 1002, 0, 0.25L, true), 0);
	roundtrip(&c);
	assert_int_equal(c.nslots, 3);
	assert_true(c.slots[0].origin < c.slots[1].origin);
	c.base_float = true;
	c.base_f = 1.5L;
	roundtrip(&c);
	/* every bit of a long double survives, negative and tiny too */
	const long double ld[] = {-3.0e-5L, 1e400L, -1e-400L, 0.1L,
				  -12345.678901234567890L};
	for (size_t i = 0; i < sizeof(ld) / sizeof(ld[0]); i++) {
		c.base_f = ld[i];
		uint8_t tmp[GV_COUNTER_MAX_ENC];
		ssize_t m = gv_counter_encode(&c, tmp, sizeof(tmp));
		gv_counter e;
		assert_int_equal(gv_counter_decode(tmp, (size_t)m, &e), 0);
		assert_true(e.base_f == ld[i]);
	}
	c.base_f = 1.5L;

	/* refusals: truncation, leftovers, order, format */
	uint8_t buf[GV_COUNTER_MAX_ENC];
	ssize_t n = gv_counter_encode(&c, buf, sizeof(buf));
	gv_counter d;
	for (ssize_t i = 0; i < n; i++)
		assert_int_equal(gv_counter_decode(buf, (size_t)i, &d),
				 GV_EMALFORMED);
	uint8_t more[GV_COUNTER_MAX_ENC + 1];
	memcpy(more, buf, (size_t)n);
	more[n] = 0;
	assert_int_equal(gv_counter_decode(more, (size_t)n + 1, &d),
			 GV_EMALFORMED);
	buf[0] = 2;
	assert_int_equal(gv_counter_decode(buf, (size_t)n, &d), GV_EMALFORMED);
	assert_int_equal(gv_counter_encode(&c, buf, 10), GV_ENOBUFS);

	/* every slot taken: a new writer is refused */
	gv_counter f = fresh();
	for (unsigned i = 0; i < GV_COUNTER_MAX_SLOTS; i++)
		assert_int_equal(gv_counter_add(&f, 100 + i, 1, 1, 0, false),
				 0);
	assert_int_equal(gv_counter_add(&f, 1, 1, 1, 0, false), GV_EFULL);
	assert_int_equal(gv_counter_add(&f, 100, 2, 1, 0, false), 0);
	roundtrip(&f);
}

/* Three writers' states: join in every order gives one state. */
static void
test_join_laws(void **state)
{
	(void)state;
	gv_counter s[3];
	for (int i = 0; i < 3; i++) {
		s[i] = fresh();
		for (int k = 0; k <= i; k++)
			gv_counter_add(&s[i], (gv_node_id)(10 + i), 100 + k, 1,
				       0, false);
	}
	/* b: s0 seen and one more increment of its own */
	gv_counter b = s[1];
	gv_counter_join(&b, &s[0]);
	gv_counter_add(&b, 11, 200, 10, 0, false);
	gv_counter parts[4] = {s[0], s[1], s[2], b};
	int perm[24][4], np = 0;
	for (int a = 0; a < 4; a++)
		for (int c = 0; c < 4; c++)
			for (int d = 0; d < 4; d++)
				for (int e = 0; e < 4; e++)
					if (a != c && a != d && a != e &&
					    c != d && c != e && d != e) {
						perm[np][0] = a, perm[np][1] = c;
						perm[np][2] = d, perm[np][3] = e;
						np++;
					}
	gv_version first = {0, 0};
	for (int p = 0; p < np; p++) {
		gv_counter j = parts[perm[p][0]];
		for (int k = 1; k < 4; k++) {
			gv_counter before = j;
			gv_version vb = gv_counter_ver(&before);
			assert_int_equal(gv_counter_join(&j, &parts[perm[p][k]]),
					 0);
			gv_version vj = gv_counter_ver(&j);
			/* a join never goes back */
			assert_true(gv_version_cmp(&vj, &vb) >= 0);
			/* idempotent */
			gv_counter again = j;
			gv_counter_join(&again, &parts[perm[p][k]]);
			gv_version va = gv_counter_ver(&again);
			assert_int_equal(gv_version_cmp(&va, &vj), 0);
		}
		int64_t v;
		assert_int_equal(gv_counter_int(&j, &v), 0);
		/* s0: 1, s1 (in b): 2 + 10, s2: 3 */
		assert_int_equal(v, 16);
		gv_version vj = gv_counter_ver(&j);
		if (p == 0)
			first = vj;
		assert_int_equal(gv_version_cmp(&vj, &first), 0);
	}
	/* a state that adds something outranks what it joined */
	gv_counter j = s[0];
	gv_counter_join(&j, &s[2]);
	gv_version v0 = gv_counter_ver(&s[0]), v2 = gv_counter_ver(&s[2]),
		   vj = gv_counter_ver(&j);
	assert_true(gv_version_cmp(&vj, &v0) > 0);
	assert_true(gv_version_cmp(&vj, &v2) > 0);
}

static void
test_numbers(void **state)
{
	(void)state;
	int64_t v;
	assert_true(gv_parse_i64("0", 1, &v) && v == 0);
	assert_true(gv_parse_i64("-9223372036854775808", 20, &v) &&
		    v == INT64_MIN);
	assert_true(gv_parse_i64("9223372036854775807", 19, &v) &&
		    v == INT64_MAX);
	assert_false(gv_parse_i64("9223372036854775808", 19, &v));
	assert_false(gv_parse_i64("01", 2, &v));
	assert_false(gv_parse_i64("+1", 2, &v));
	assert_false(gv_parse_i64(" 1", 2, &v));
	assert_false(gv_parse_i64("-", 1, &v));
	assert_false(gv_parse_i64("-0", 2, &v));
	assert_false(gv_parse_i64("1.0", 3, &v));
	assert_false(gv_parse_i64("", 0, &v));
	long double d;
	assert_true(gv_parse_ld("1.5", 3, &d) && d == 1.5L);
	assert_true(gv_parse_ld("-3e2", 4, &d) && d == -300.0L);
	assert_false(gv_parse_ld("1.5x", 4, &d));
	assert_false(gv_parse_ld(" 1", 2, &d));
	assert_false(gv_parse_ld("nan", 3, &d));
	assert_false(gv_parse_ld("", 0, &d));
	char buf[GV_COUNTER_STR_MAX];
	/* what redis-server answers to INCRBYFLOAT */
	gv_format_ld(10.5L, buf, sizeof(buf));
	assert_string_equal(buf, "10.5");
	gv_format_ld(0.1L, buf, sizeof(buf));
	assert_string_equal(buf, "0.1");
	gv_format_ld(5.0e3L, buf, sizeof(buf));
	assert_string_equal(buf, "5000");
	gv_format_ld(-0.0L, buf, sizeof(buf));
	assert_string_equal(buf, "0");
	gv_format_ld(3.0L, buf, sizeof(buf));
	assert_string_equal(buf, "3");

	/* a float path that prints as an integer is an integer */
	gv_counter c = fresh();
	gv_counter_add(&c, 1, 1, 0, 0.5L, true);
	gv_counter_add(&c, 2, 1, 0, 0.5L, true);
	assert_true(gv_counter_is_float(&c));
	assert_int_equal(gv_counter_int(&c, &v), 0);
	assert_int_equal(v, 1);
	gv_counter_add(&c, 2, 2, 0, 0.25L, true);
	assert_int_equal(gv_counter_int(&c, &v), GV_EINVAL);
	gv_counter_format(&c, buf, sizeof(buf));
	assert_string_equal(buf, "1.25");
	/* integer sums past 64 bits (concurrent increments): printed
	 * exactly, refused as an integer */
	gv_counter o = fresh();
	o.base_i = INT64_MAX;
	gv_counter_add(&o, 1, 1, 1, 0, false);
	assert_int_equal(gv_counter_int(&o, &v), GV_ERANGE);
	gv_counter_format(&o, buf, sizeof(buf));
	assert_string_equal(buf, "9223372036854775808");
}

/* ------------------------------------------------------ store rules */

static gv_store
new_store(void)
{
	gv_store s;
	assert_int_equal(gv_store_init(&s, gv_mem_libc(), NULL), 0);
	s.self = 0x5e1f;
	return s;
}

static gv_record
counter_rec(const char *key, const gv_counter *c, uint8_t *buf)
{
	ssize_t n = gv_counter_encode(c, buf, GV_COUNTER_MAX_ENC);
	assert_true(n > 0);
	gv_record r = {.key = (const uint8_t *)key, .klen = strlen(key),
		       .val = buf, .vlen = (size_t)n,
		       .ver = gv_counter_ver(c), .kind = GV_KIND_COUNTER,
		       .expire = c->expire};
	return r;
}

static int64_t
store_value(gv_store *s, const char *key)
{
	gv_record r;
	assert_int_equal(gv_store_get(s, key, strlen(key), &r), 0);
	assert_int_equal(r.kind, GV_KIND_COUNTER);
	gv_counter c;
	assert_int_equal(gv_counter_decode(r.val, r.vlen, &c), 0);
	int64_t v;
	assert_int_equal(gv_counter_int(&c, &v), 0);
	return v;
}

/* Writers A, B, C increment one key concurrently; replicas receive every
 * state in different orders, with duplicates: all hold the sum. */
static void
test_store_counter_merge(void **state)
{
	(void)state;
	enum { W = 3, STEPS = 20 };
	static uint8_t bufs[W * STEPS][GV_COUNTER_MAX_ENC];
	gv_record recs[W * STEPS];
	gv_counter cur[W];
	int64_t model = 0;
	for (int w = 0; w < W; w++)
		cur[w] = fresh();
	int k = 0;
	for (int step = 0; step < STEPS; step++)
		for (int w = 0; w < W; w++) {
			int64_t d = (step * 7 + w) % 5 - 1;
			gv_counter_add(&cur[w], (gv_node_id)(100 + w),
				       (uint64_t)(1000 + step * 10 + w), d, 0,
				       false);
			model += d;
			/* sometimes a writer has seen another's state */
			if (step % 4 == 3)
				gv_counter_join(&cur[w], &cur[(w + 1) % W]);
			recs[k] = counter_rec("ctr", &cur[w], bufs[k]);
			k++;
		}
	uint64_t x = 12345;
	gv_version final = {0, 0};
	for (int rep = 0; rep < 8; rep++) {
		gv_store s = new_store();
		int order[W * STEPS];
		for (int i = 0; i < k; i++)
			order[i] = i;
		for (int i = k - 1; i > 0 && rep; i--) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			int j = (int)((x >> 33) % (uint64_t)(i + 1));
			int t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (int i = 0; i < k; i++) {
			assert_true(gv_store_merge(&s, &recs[order[i]], NULL,
						   NULL) >= 0);
			if (i % 3 == 0) /* a duplicate */
				assert_true(gv_store_merge(&s, &recs[order[i]],
							   NULL, NULL) >= 0);
		}
		assert_int_equal(store_value(&s, "ctr"), model);
		gv_record r;
		gv_store_get(&s, "ctr", 3, &r);
		if (rep == 0)
			final = r.ver;
		assert_int_equal(gv_version_cmp(&r.ver, &final), 0);
		assert_int_equal(s.merges[GV_MERGE_CONFLICT_APPLIED] +
					 s.merges[GV_MERGE_CONFLICT_LOST],
				 0);
		gv_store_fini(&s);
	}
}

/* A counter whose version is not its state's is refused: versions must
 * keep identifying states on every replica. */
static void
test_store_counter_forged_version(void **state)
{
	(void)state;
	uint8_t buf[GV_COUNTER_MAX_ENC];
	gv_counter c = fresh();
	gv_counter_add(&c, 100, 5000, 3, 0, false);
	gv_record r = counter_rec("k", &c, buf);
	gv_store s = new_store();
	gv_record forged = r;
	forged.ver.hlc += 1;
	assert_int_equal(gv_store_merge(&s, &forged, NULL, NULL), GV_EINVAL);
	forged = r;
	forged.expire = 12345; /* the entry's deadline differs from the state's */
	assert_int_equal(gv_store_merge(&s, &forged, NULL, NULL), GV_EINVAL);
	assert_int_equal(gv_store_merge(&s, &r, NULL, NULL), GV_MERGE_APPLIED);
	gv_store_fini(&s);
}

/* A SET of another epoch against a counter: last write wins. */
static void
test_store_counter_vs_set(void **state)
{
	(void)state;
	uint8_t buf[GV_COUNTER_MAX_ENC];
	gv_counter c = fresh();
	gv_counter_add(&c, 100, 5000, 3, 0, false);
	gv_record cr = counter_rec("k", &c, buf);
	gv_record older = {.key = (const uint8_t *)"k", .klen = 1,
			   .val = (const uint8_t *)"x", .vlen = 1,
			   .ver = {4000, 7}};
	gv_record newer = older;
	newer.ver.hlc = 6000;
	for (int order = 0; order < 2; order++) {
		gv_store s = new_store();
		const gv_record *a = order ? &older : &cr;
		const gv_record *b = order ? &cr : &older;
		gv_store_merge(&s, a, NULL, NULL);
		gv_store_merge(&s, b, NULL, NULL);
		assert_int_equal(store_value(&s, "k"), 3);
		gv_store_merge(&s, &newer, NULL, NULL);
		gv_record r;
		assert_int_equal(gv_store_get(&s, "k", 1, &r), 0);
		assert_int_equal(r.kind, GV_KIND_BYTES);
		assert_memory_equal(r.val, "x", 1);
		gv_store_fini(&s);
	}
}

/* Expiry: reads, reclaim, digests, already-expired arrivals. */
static void
test_store_expiry(void **state)
{
	(void)state;
	gv_store s = new_store();
	gv_merkle m;
	assert_int_equal(gv_merkle_init(&m, gv_mem_libc(), 4, 4), 0);
	gv_store_set_merkle(&s, &m);
	gv_store t = new_store();
	gv_merkle mt;
	assert_int_equal(gv_merkle_init(&mt, gv_mem_libc(), 4, 4), 0);
	gv_store_set_merkle(&t, &mt);

	s.now_ms = t.now_ms = 1000;
	gv_version v = {gv_hlc_make(900, 0), 1};
	assert_int_equal(gv_store_put_ex(&s, "k", 1, "val", 3, 0, 2000, false, &v,
					 NULL),
			 0);
	/* a deadline already passed is refused */
	gv_version v2 = {gv_hlc_make(950, 0), 1};
	assert_int_equal(gv_store_put_ex(&s, "p", 1, "v", 1, 0, 999, false, &v2,
					 NULL),
			 GV_EINVAL);
	gv_record r;
	assert_int_equal(gv_store_get(&s, "k", 1, &r), 0);
	assert_int_equal(r.expire, 2000);
	assert_int_equal(s.expiring, 1);
	assert_int_equal(gv_store_merge(&t, &r, NULL, NULL), GV_MERGE_APPLIED);
	assert_int_equal(gv_merkle_root(&m), gv_merkle_root(&mt));

	/* past the deadline: absent, though still stored */
	s.now_ms = t.now_ms = 2000;
	assert_int_equal(gv_store_get(&s, "k", 1, &r), GV_ENOTFOUND);
	assert_int_equal(gv_store_lookup(&s, "k", 1, &r), 0);
	/* s reclaims, t does not yet: same digests */
	size_t cur = 0;
	assert_int_equal(gv_store_reclaim(&s, &cur, s.cap, NULL, NULL), 1);
	assert_int_equal(s.expiring, 0);
	assert_int_equal(gv_store_lookup(&s, "k", 1, &r), 0);
	assert_true(r.tombstone);
	assert_int_equal(r.expire, 2000);
	assert_int_equal(gv_merkle_root(&m), gv_merkle_root(&mt));
	/* each copy merged into the other is a duplicate */
	assert_int_equal(gv_store_merge(&t, &r, NULL, NULL),
			 GV_MERGE_DUPLICATE);
	gv_record live;
	assert_int_equal(gv_store_lookup(&t, "k", 1, &live), 0);
	assert_int_equal(gv_store_merge(&s, &live, NULL, NULL),
			 GV_MERGE_DUPLICATE);
	/* an older write cannot come back over the expired one */
	gv_record old = {.key = (const uint8_t *)"k", .klen = 1,
			 .val = (const uint8_t *)"old", .vlen = 3,
			 .ver = {gv_hlc_make(800, 0), 2}};
	assert_true(gv_store_merge(&s, &old, NULL, NULL) >= 0);
	assert_int_equal(gv_store_get(&s, "k", 1, &r), GV_ENOTFOUND);
	/* a write that arrives expired is stored as its tombstone */
	gv_store u = new_store();
	u.now_ms = 5000;
	assert_int_equal(gv_store_merge(&u, &live, NULL, NULL),
			 GV_MERGE_APPLIED);
	assert_int_equal(gv_store_lookup(&u, "k", 1, &r), 0);
	assert_true(r.tombstone);
	assert_int_equal(u.expiring, 0);
	/* purge takes the reclaimed and the unreclaimed alike */
	assert_int_equal(gv_store_purge(&t, "k", 1, &live.ver), 0);
	assert_int_equal(gv_store_purge(&s, "k", 1, &live.ver), 0);
	gv_store_fini(&u);
	gv_store_fini(&s);
	gv_store_fini(&t);
	gv_merkle_fini(&m);
	gv_merkle_fini(&mt);
}

/* The wire carries kind and expiry. */
static void
test_wire_meta(void **state)
{
	(void)state;
	uint8_t dg[1400];
	gv_wire_writer w;
	gv_wire_header h = {.version = GV_WIRE_VERSION, .cluster = 1,
			    .sender = 2, .seq = 3};
	assert_int_equal(gv_wire_begin(&w, dg, sizeof(dg), &h), 0);
	gv_wire_update u = {.ver = {10, 1}, .key = (const uint8_t *)"key",
			    .klen = 3, .val = (const uint8_t *)"v", .vlen = 1,
			    .kind = GV_KIND_COUNTER, .expire = 777};
	assert_int_equal(gv_wire_put_update(&w, &u), 0);
	gv_wire_update t = {.ver = {11, 1}, .flags = GV_UPD_TOMBSTONE,
			    .key = (const uint8_t *)"key", .klen = 3,
			    .expire = 778};
	assert_int_equal(gv_wire_put_update(&w, &t), 0);
	ssize_t len = gv_wire_finish(&w);
	assert_true(len > 0);
	gv_wire_reader rd;
	assert_int_equal(gv_wire_open(&rd, &h, dg, (size_t)len, 1), 0);
	gv_wire_record rec;
	assert_int_equal(gv_wire_next(&rd, &rec), 1);
	assert_int_equal(rec.u.update.kind, GV_KIND_COUNTER);
	assert_int_equal(rec.u.update.expire, 777);
	assert_int_equal(rec.u.update.vlen, 1);
	assert_memory_equal(rec.u.update.val, "v", 1);
	assert_int_equal(rec.u.update.flags & GV_UPD_META, 0);
	assert_int_equal(gv_wire_next(&rd, &rec), 1);
	assert_int_equal(rec.u.update.expire, 778);
	assert_true(rec.u.update.flags & GV_UPD_TOMBSTONE);
	assert_int_equal(rec.u.update.vlen, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_join_laws),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_store_counter_merge),
		cmocka_unit_test(test_store_counter_vs_set),
		cmocka_unit_test(test_store_counter_forged_version),
		cmocka_unit_test(test_store_expiry),
		cmocka_unit_test(test_wire_meta),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
