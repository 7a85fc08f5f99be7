/* SPDX-License-Identifier: MIT */
/*
 * test_merkle.c - the Merkle tree: digests equal iff contents equal
 * (randomised), the diff helper against a brute-force set difference,
 * incremental updates equal a full rebuild, laziness, and argument checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/merkle.h"
#include "core/rng.h"
#include "test_mem.h"

struct ent {
	uint64_t hash;
	gv_version ver;
	bool tomb;
};

static uint64_t
digest_of(const struct ent *e)
{
	return gv_merkle_entry_digest(e->hash, &e->ver, e->tomb);
}

static void
build(gv_merkle *m, const struct ent *e, size_t n)
{
	gv_merkle_clear(m);
	for (size_t i = 0; i < n; i++)
		gv_merkle_update(m, e[i].hash, digest_of(&e[i]));
}

static void
test_merkle_init_args(void **state)
{
	gv_test_mem tm;
	gv_test_mem_init(&tm);
	gv_merkle m;
	assert_int_equal(gv_merkle_init(&m, &tm.mem, 0, 4), GV_EINVAL);
	assert_int_equal(gv_merkle_init(&m, &tm.mem, 9, 1), GV_EINVAL);
	assert_int_equal(gv_merkle_init(&m, &tm.mem, 4, 0), GV_EINVAL);
	assert_int_equal(gv_merkle_init(&m, &tm.mem, 4, 7), GV_EINVAL);
	assert_int_equal(gv_merkle_init(&m, NULL, 4, 4), GV_EINVAL);
	for (long n = 0; n < 2; n++) {
		gv_test_mem_fail_after(&tm, n, 0);
		assert_int_equal(gv_merkle_init(&m, &tm.mem, 4, 4), GV_ENOMEM);
		assert_int_equal(tm.live_bytes, 0);
	}
	gv_test_mem_no_fail(&tm);
	assert_int_equal(gv_merkle_init(&m, &tm.mem, 4, 4), 0);
	assert_int_equal(gv_merkle_nleaves(&m), 65536);
	assert_int_equal(gv_merkle_arity(&m), 16);
	assert_int_equal(gv_merkle_root(&m), 0);
	gv_merkle_fini(&m);
	assert_int_equal(tm.live_bytes, 0);
}

/* Two trees with equal root iff equal sets of entries; add then remove
 * returns to the empty digest; order of updates does not matter. */
static void
test_merkle_equal_iff_contents_equal(void **state)
{
	gv_rng rng;
	gv_rng_seed(&rng, 3);
	gv_merkle a, b;
	assert_int_equal(gv_merkle_init(&a, gv_mem_libc(), 4, 3), 0);
	assert_int_equal(gv_merkle_init(&b, gv_mem_libc(), 4, 3), 0);
	enum { N = 2000 };
	static struct ent e[N];
	for (int trial = 0; trial < 200; trial++) {
		size_t n = 1 + gv_rng_below(&rng, N);
		for (size_t i = 0; i < n; i++) {
			/* few distinct hashes: many entries share a leaf */
			e[i].hash = gv_rng_next(&rng) &
				    (trial % 2 ? ~0ull : 0xff00000000000000ull);
			e[i].ver.hlc = gv_rng_next(&rng);
			e[i].ver.origin = gv_rng_below(&rng, 4);
			e[i].tomb = gv_rng_below(&rng, 2);
		}
		build(&a, e, n);
		/* same set, reversed order */
		gv_merkle_clear(&b);
		for (size_t i = n; i-- > 0;)
			gv_merkle_update(&b, e[i].hash, digest_of(&e[i]));
		assert_int_equal(gv_merkle_root(&a), gv_merkle_root(&b));
		assert_int_not_equal(gv_merkle_root(&a), 0);
		/* change one field of one entry: roots differ */
		size_t k = gv_rng_below(&rng, n);
		struct ent saved = e[k];
		switch (trial % 4) {
		case 0: e[k].ver.hlc++; break;
		case 1: e[k].ver.origin ^= 1; break;
		case 2: e[k].tomb = !e[k].tomb; break;
		default: e[k].hash ^= 1; break;
		}
		build(&b, e, n);
		assert_int_not_equal(gv_merkle_root(&a), gv_merkle_root(&b));
		/* drop the last entry: differs; drop it from both: equal */
		e[k] = saved;
		build(&a, e, n);
		build(&b, e, n - 1);
		assert_int_not_equal(gv_merkle_root(&a), gv_merkle_root(&b));
		gv_merkle_update(&a, e[n - 1].hash, digest_of(&e[n - 1]));
		assert_int_equal(gv_merkle_root(&a), gv_merkle_root(&b));
		/* remove everything: back to the empty digest */
		for (size_t i = 0; i + 1 < n; i++)
			gv_merkle_update(&a, e[i].hash, digest_of(&e[i]));
		assert_int_equal(gv_merkle_root(&a), 0);
	}
	gv_merkle_fini(&a);
	gv_merkle_fini(&b);
}

/* Incremental updates (add, remove, overwrite) interleaved with reads
 * equal a rebuild from scratch, at every level. */
static void
test_merkle_incremental_equals_rebuild(void **state)
{
	gv_rng rng;
	gv_rng_seed(&rng, 9);
	gv_merkle inc, full;
	assert_int_equal(gv_merkle_init(&inc, gv_mem_libc(), 2, 6), 0);
	assert_int_equal(gv_merkle_init(&full, gv_mem_libc(), 2, 6), 0);
	enum { N = 1000 };
	static struct ent cur[N];
	static bool present[N];
	for (int i = 0; i < N; i++)
		cur[i].hash = gv_rng_next(&rng);
	for (int step = 0; step < 50000; step++) {
		int i = (int)gv_rng_below(&rng, N);
		if (present[i]) {
			struct ent old = cur[i];
			if (gv_rng_below(&rng, 3) == 0) {
				gv_merkle_update(&inc, old.hash,
						 digest_of(&old));
				present[i] = false;
			} else {
				cur[i].ver.hlc++;
				gv_merkle_update(&inc, old.hash,
						 digest_of(&old) ^
							 digest_of(&cur[i]));
			}
		} else {
			cur[i].ver.hlc++;
			present[i] = true;
			gv_merkle_update(&inc, cur[i].hash, digest_of(&cur[i]));
		}
		if (step % 997 == 0)
			(void)gv_merkle_digest(&inc, (unsigned)(step % 7),
					       0); /* partial reads */
		if (step % 5000 == 4999) {
			gv_merkle_clear(&full);
			for (int j = 0; j < N; j++)
				if (present[j])
					gv_merkle_update(&full, cur[j].hash,
							 digest_of(&cur[j]));
			for (unsigned l = 0; l <= inc.depth; l++)
				for (uint32_t x = 0;
				     x < gv_merkle_level_size(&inc, l); x++)
					assert_int_equal(
						gv_merkle_digest(&inc, l, x),
						gv_merkle_digest(&full, l, x));
		}
	}
	gv_merkle_fini(&inc);
	gv_merkle_fini(&full);
}

/* The diff helper against brute force, and a full descent that finds
 * exactly the leaves whose contents differ. */
static void
test_merkle_diff_finds_exact_buckets(void **state)
{
	gv_rng rng;
	gv_rng_seed(&rng, 21);
	uint64_t a[256], b[256];
	uint32_t out[256];
	for (int trial = 0; trial < 1000; trial++) {
		size_t n = 1 + gv_rng_below(&rng, 256);
		for (size_t i = 0; i < n; i++) {
			a[i] = gv_rng_below(&rng, 4);
			b[i] = gv_rng_below(&rng, 4);
		}
		size_t k = gv_merkle_diff(a, b, n, out);
		size_t j = 0;
		for (size_t i = 0; i < n; i++)
			if (a[i] != b[i]) {
				assert_true(j < k);
				assert_int_equal(out[j++], i);
			}
		assert_int_equal(j, k);
	}

	gv_merkle x, y;
	assert_int_equal(gv_merkle_init(&x, gv_mem_libc(), 4, 4), 0);
	assert_int_equal(gv_merkle_init(&y, gv_mem_libc(), 4, 4), 0);
	enum { N = 100000 };
	static struct ent e[N];
	for (int trial = 0; trial < 6; trial++) {
		gv_merkle_clear(&x);
		gv_merkle_clear(&y);
		for (int i = 0; i < N; i++) {
			e[i].hash = gv_rng_next(&rng);
			e[i].ver = (gv_version){gv_rng_next(&rng), 1};
			gv_merkle_update(&x, e[i].hash, digest_of(&e[i]));
			gv_merkle_update(&y, e[i].hash, digest_of(&e[i]));
		}
		/* d differences: changed, missing on one side, or extra */
		int d = (int[]){1, 2, 10, 100, 1000, 0}[trial];
		static bool want[65536];
		memset(want, 0, sizeof(want));
		for (int k = 0; k < d; k++) {
			struct ent *p = &e[gv_rng_below(&rng, N)];
			uint64_t old = digest_of(p);
			switch (k % 3) {
			case 0:
				p->ver.hlc++;
				gv_merkle_update(&y, p->hash,
						 old ^ digest_of(p));
				break;
			case 1:
				gv_merkle_update(&y, p->hash, old);
				break;
			default: {
				struct ent extra = {gv_rng_next(&rng),
						    {7, 7}, false};
				gv_merkle_update(&y, extra.hash,
						 digest_of(&extra));
				p = &extra;
				want[gv_merkle_leaf_of(&y, p->hash)] = true;
				continue;
			}
			}
			want[gv_merkle_leaf_of(&y, p->hash)] = true;
		}
		/* A changed-back entry (k%3==0 twice on the same entry) can
		 * cancel; recompute the expected leaves from the trees' leaf
		 * digests as the brute-force set difference. */
		for (uint32_t l = 0; l < 65536; l++)
			want[l] = gv_merkle_digest(&x, 4, l) !=
				  gv_merkle_digest(&y, 4, l);
		/* Descend: only into differing subtrees. */
		static uint32_t frontier[65536], next[65536];
		size_t nf = 1, visited = 0;
		frontier[0] = 0;
		for (unsigned level = 0; level < 4; level++) {
			size_t nn = 0;
			for (size_t f = 0; f < nf; f++) {
				uint64_t ca[16], cb[16];
				uint32_t idx[16];
				assert_int_equal(gv_merkle_children(
							 &x, level, frontier[f],
							 ca, 16),
						 16);
				assert_int_equal(gv_merkle_children(
							 &y, level, frontier[f],
							 cb, 16),
						 16);
				visited++;
				size_t k = gv_merkle_diff(ca, cb, 16, idx);
				for (size_t q = 0; q < k; q++)
					next[nn++] = frontier[f] * 16 + idx[q];
			}
			memcpy(frontier, next, nn * sizeof(uint32_t));
			nf = nn;
		}
		size_t expect = 0;
		for (uint32_t l = 0; l < 65536; l++)
			expect += want[l];
		assert_int_equal(nf, expect);
		for (size_t f = 0; f < nf; f++)
			assert_true(want[frontier[f]]);
		/* cost grows with differences, not with the 10^5 entries */
		assert_true(visited <= 1 + 3 * (size_t)d * 1 + (size_t)d);
		if (d == 0)
			assert_int_equal(gv_merkle_root(&x),
					 gv_merkle_root(&y));
	}
	gv_merkle_fini(&x);
	gv_merkle_fini(&y);
}

static void
test_merkle_children_args_and_laziness(void **state)
{
	gv_merkle m;
	assert_int_equal(gv_merkle_init(&m, gv_mem_libc(), 4, 2), 0);
	uint64_t out[16];
	assert_int_equal(gv_merkle_children(&m, 2, 0, out, 16), GV_EINVAL);
	assert_int_equal(gv_merkle_children(&m, 1, 16, out, 16), GV_EINVAL);
	assert_int_equal(gv_merkle_children(&m, 0, 0, out, 15), GV_ENOBUFS);
	assert_int_equal(gv_merkle_digest(&m, 3, 0), 0);
	/* One update dirties its path; reading the root recomputes exactly
	 * the dirty inner nodes (2 here), a second read recomputes nothing. */
	gv_merkle_update(&m, 0x1234000000000000ull, 42);
	uint64_t before = m.recomputed;
	uint64_t r1 = gv_merkle_root(&m);
	assert_int_equal(m.recomputed - before, 2);
	assert_int_equal(gv_merkle_root(&m), r1);
	assert_int_equal(m.recomputed - before, 2);
	/* Many updates to one leaf: marking stops at the first dirty node. */
	for (int i = 0; i < 1000; i++)
		gv_merkle_update(&m, 0x1234000000000000ull, (uint64_t)i + 1);
	before = m.recomputed;
	gv_merkle_root(&m);
	assert_int_equal(m.recomputed - before, 2);
	assert_int_equal(gv_merkle_leaf_of(&m, 0x1234000000000000ull), 0x12);
	gv_merkle_fini(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merkle_init_args),
		cmocka_unit_test(test_merkle_equal_iff_contents_equal),
		cmocka_unit_test(test_merkle_incremental_equals_rebuild),
		cmocka_unit_test(test_merkle_diff_finds_exact_buckets),
		cmocka_unit_test(test_merkle_children_args_and_laziness),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
