/* SPDX-License-Identifier: MIT */
/*
 * test_sim_hash.c - Redis hashes merged field by field (core/hash.c), on
 * the simulated network, against a model computed from the full history
 * of writes in version order:
 *  - random HSET, HDEL, DEL, EXPIRE, PERSIST at random nodes under loss,
 *    duplication, reordering and a partition, then converge: every
 *    node's hash equals the model (a field lives if its newest write is
 *    an HSET newer than the key's newest DEL and not expired by the
 *    newest expiry register written after that DEL); HINCRBY at every
 *    node on hashes that are never deleted sums to the model;
 *  - the cases one by one: concurrent HSETs of different fields both
 *    survive (no conflict); one field written at two nodes resolves to
 *    the later write everywhere and is a conflict; a DEL concurrent
 *    with HSETs at a node cut off keeps exactly the fields written after
 *    it; anti-entropy repairs a partitioned node's hash field by field
 *    (the entries it moves are about the changed fields, not the hash);
 *    a SET concurrent with an HSET: the newer decides the type, counted
 *    in type_conflicts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/node_int.h"
#include "sim/cluster.h"

#define MS_US 1000ull

static gv_cluster *
cluster(size_t nodes, double loss, double dup, double reorder)
{
	gv_cluster_config cfg;
	gv_cluster_config_default(&cfg);
	cfg.nodes = nodes;
	cfg.seed = 17;
	cfg.node.ae_interval_ms = 200;
	cfg.net.loss = loss;
	cfg.net.dup = dup;
	cfg.net.reorder = reorder;
	gv_cluster *c;
	assert_int_equal(gv_cluster_new(&c, &cfg), 0);
	gv_cluster_run_for(c, 500 * MS_US);
	return c;
}

static gv_node *
node(gv_cluster *c, size_t i)
{
	return gv_cluster_node(c, i);
}

static void
converge(gv_cluster *c)
{
	gv_cluster_heal(c);
	gv_cluster_set_loss(c, 0);
	gv_cluster_run_until_roots_equal(c, 50 * MS_US,
					 gv_cluster_now(c) + 30000 * MS_US);
	assert_true(gv_cluster_roots_equal(c));
}

/* The reserved keys, as hash.c makes them. */
static size_t
fkey(uint8_t *out, const char *key, const char *field)
{
	size_t kl = strlen(key), fl = strlen(field);
	memcpy(out, GV_RESERVED_PREFIX, GV_RESERVED_LEN);
	out[4] = 'H';
	out[5] = (uint8_t)kl;
	out[6] = 0;
	memcpy(out + 7, key, kl);
	memcpy(out + 7 + kl, field, fl);
	return 7 + kl + fl;
}

static size_t
xkey(uint8_t *out, const char *key)
{
	memcpy(out, GV_RESERVED_PREFIX, GV_RESERVED_LEN);
	out[4] = 'X';
	memcpy(out + 5, key, strlen(key));
	return 5 + strlen(key);
}

static int
hset(gv_cluster *c, size_t i, const char *k, const char *f, const char *v)
{
	return gv_node_hset(node(c, i), gv_cluster_now(c), k, strlen(k), f,
			    strlen(f), v, strlen(v), GV_PRIO_NORMAL);
}

/* The hash at node i as "f=v,f=v" sorted by field. */
struct pairs {
	size_t n;
	char f[256][16];
	char v[256][24];
};

static int
collect(void *ud, const uint8_t *f, size_t flen, const gv_record *r)
{
	struct pairs *p = ud;
	assert_true(p->n < 256);
	snprintf(p->f[p->n], sizeof(p->f[0]), "%.*s", (int)flen, f);
	if (r->kind == GV_KIND_COUNTER) {
		gv_counter ct;
		assert_int_equal(gv_counter_decode(r->val, r->vlen, &ct), 0);
		int64_t x;
		assert_int_equal(gv_counter_int(&ct, &x), 0);
		snprintf(p->v[p->n], sizeof(p->v[0]), "%lld", (long long)x);
	} else {
		snprintf(p->v[p->n], sizeof(p->v[0]), "%.*s", (int)r->vlen,
			 r->val);
	}
	p->n++;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
hash_str(gv_cluster *c, size_t i, const char *k, char *out, size_t cap)
{
	static struct pairs p;
	p.n = 0;
	gv_node_hash_foreach(node(c, i), gv_cluster_now(c), k, strlen(k),
			     collect, &p);
	assert_int_equal(gv_node_hlen(node(c, i), gv_cluster_now(c), k,
				      strlen(k)),
			 p.n);
	static char items[256][48];
	for (size_t j = 0; j < p.n; j++)
		snprintf(items[j], sizeof(items[j]), "%s=%s", p.f[j], p.v[j]);
	qsort(items, p.n, sizeof(items[0]), cmp_str);
	size_t used = 0;
	out[0] = 0;
	for (size_t j = 0; j < p.n; j++)
		used += (size_t)snprintf(out + used, cap - used, "%s%s",
					 j ? "," : "", items[j]);
}

static uint64_t
conflicts(gv_cluster *c)
{
	uint64_t k = 0;
	for (size_t i = 0; i < gv_cluster_size(c); i++) {
		const gv_node_stats *st = gv_node_get_stats(node(c, i));
		k += st->merge[GV_MERGE_CONFLICT_APPLIED] +
		     st->merge[GV_MERGE_CONFLICT_LOST];
	}
	return k;
}

/* ------------------------------------------------- the model test */

enum { NKEYS = 5, NFIELDS = 8, MAXOPS = 4096 };

struct op {
	int key;
	int field;      /* -1: the key (DEL) or its expiry register */
	char kind;      /* 's' HSET, 'd' HDEL, 'D' DEL, 'x' expiry */
	gv_version ver;
	uint64_t deadline; /* 'x': 0 is none */
	char val[16];
};

struct model {
	size_t n;
	struct op ops[MAXOPS];
};

static void
record(struct model *m, const struct op *o)
{
	for (size_t i = 0; i < m->n; i++)
		if (gv_version_cmp(&m->ops[i].ver, &o->ver) == 0 &&
		    m->ops[i].key == o->key && m->ops[i].kind == o->kind &&
		    m->ops[i].field == o->field)
			return;
	assert_true(m->n < MAXOPS);
	m->ops[m->n++] = *o;
}

/* The expiry register as node i holds it, recorded if node i wrote it
 * (an EXPIRE, PERSIST, or the PERSIST that starts a hash anew). */
static void
note_expiry(struct model *m, gv_cluster *c, size_t i, int key,
	    const char *k)
{
	uint8_t xk[64];
	gv_record r;
	if (gv_store_lookup(gv_node_store(node(c, i)), xk, xkey(xk, k), &r))
		return;
	if (r.ver.origin != gv_cluster_id(c, i))
		return;
	struct op o = {.key = key, .field = -1, .kind = 'x', .ver = r.ver,
		       .deadline = r.expire};
	record(m, &o);
}

/* The model's hash of key at cluster time now_ms. */
static void
model_str(const struct model *m, int key, uint64_t now_ms, char *out,
	  size_t cap)
{
	gv_version kill = {0, 0};
	for (size_t i = 0; i < m->n; i++)
		if (m->ops[i].key == key && m->ops[i].kind == 'D' &&
		    gv_version_cmp(&m->ops[i].ver, &kill) > 0)
			kill = m->ops[i].ver;
	const struct op *x = NULL;
	for (size_t i = 0; i < m->n; i++)
		if (m->ops[i].key == key && m->ops[i].kind == 'x' &&
		    gv_version_cmp(&m->ops[i].ver, &kill) > 0 &&
		    (!x || gv_version_cmp(&m->ops[i].ver, &x->ver) > 0))
			x = &m->ops[i];
	size_t used = 0;
	out[0] = 0;
	for (int f = 0; f < NFIELDS; f++) {
		const struct op *w = NULL;
		for (size_t i = 0; i < m->n; i++)
			if (m->ops[i].key == key && m->ops[i].field == f &&
			    (!w || gv_version_cmp(&m->ops[i].ver, &w->ver) > 0))
				w = &m->ops[i];
		if (!w || w->kind != 's' || gv_version_cmp(&w->ver, &kill) < 0)
			continue;
		if (x && x->deadline && x->deadline <= now_ms &&
		    gv_hlc_ms(w->ver.hlc) < x->deadline)
			continue;
		used += (size_t)snprintf(out + used, cap - used, "%sf%d=%s",
					 used ? "," : "", f, w->val);
	}
}

static void
random_ops(unsigned seed_groups)
{
	enum { N = 4, ROUNDS = 600 };
	gv_cluster *c = cluster(N, 0.05, 0.05, 0.2);
	static struct model m;
	memset(&m, 0, sizeof(m));
	int64_t sums[2] = {0, 0};
	unsigned groups[N] = {0, 0, 1, 1};
	if (seed_groups)
		groups[1] = 1;
	uint64_t x = 1234567 + seed_groups;
	for (int r = 0; r < ROUNDS; r++) {
		if (r == ROUNDS / 3)
			assert_int_equal(gv_cluster_partition(c, groups), 0);
		if (r == 2 * ROUNDS / 3)
			gv_cluster_heal(c);
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		size_t i = (size_t)(x >> 33) % N;
		int key = (int)((x >> 20) % NKEYS);
		int field = (int)((x >> 8) % NFIELDS);
		unsigned what = (unsigned)((x >> 40) % 100);
		char k[16], f[16];
		snprintf(k, sizeof(k), "h%d", key);
		snprintf(f, sizeof(f), "f%d", field);
		gv_node *nd = node(c, i);
		gv_time now = gv_cluster_now(c);
		uint8_t fk[64];
		gv_record rec;
		struct op o = {.key = key, .field = field};
		if (what < 10) {
			/* counters on hashes never deleted */
			int ck = (int)(x >> 50) % 2;
			char ckey[8];
			snprintf(ckey, sizeof(ckey), "c%d", ck);
			gv_incr by = {.di = (int64_t)((x >> 44) % 7) - 2};
			if (gv_node_hincr(nd, now, ckey, 2, "n", 1, &by,
					  GV_PRIO_NORMAL, NULL) == 0)
				sums[ck] += by.di;
		} else if (what < 60) {
			o.kind = 's';
			snprintf(o.val, sizeof(o.val), "v%d", r);
			assert_true(hset(c, i, k, f, o.val) >= 0);
			assert_int_equal(gv_store_lookup(gv_node_store(nd), fk,
							 fkey(fk, k, f), &rec),
					 0);
			o.ver = rec.ver;
			record(&m, &o);
		} else if (what < 78) {
			if (gv_node_hdel(nd, now, k, strlen(k), f, strlen(f),
					 GV_PRIO_NORMAL) == 1) {
				o.kind = 'd';
				assert_int_equal(
					gv_store_lookup(gv_node_store(nd), fk,
							fkey(fk, k, f), &rec),
					0);
				o.ver = rec.ver;
				record(&m, &o);
			}
		} else if (what < 86) {
			if (gv_node_delete(nd, now, k, strlen(k),
					   GV_PRIO_NORMAL) == 0) {
				o.kind = 'D';
				o.field = -1;
				assert_int_equal(
					gv_store_lookup(gv_node_store(nd), k,
							strlen(k), &rec),
					0);
				assert_true(rec.tombstone);
				o.ver = rec.ver;
				record(&m, &o);
			}
		} else {
			/* EXPIRE (50 ms to 1.5 s from now) or PERSIST */
			uint64_t d = 0;
			if (what < 96)
				d = gv_node_clock_ms(nd, now) + 50 +
				    (x >> 24) % 1450;
			gv_node_hash_expire(nd, now, k, strlen(k), d,
					    GV_PRIO_NORMAL);
		}
		note_expiry(&m, c, i, key, k);
		gv_cluster_run_for(c, 3 * MS_US);
	}
	/* let every deadline pass, then converge */
	gv_cluster_run_for(c, 1600 * MS_US);
	converge(c);
	for (size_t i = 0; i < N; i++) {
		uint64_t now_ms = gv_node_clock_ms(node(c, i),
						   gv_cluster_now(c));
		for (int key = 0; key < NKEYS; key++) {
			char k[16], got[1024], want[1024];
			snprintf(k, sizeof(k), "h%d", key);
			hash_str(c, i, k, got, sizeof(got));
			model_str(&m, key, now_ms, want, sizeof(want));
			if (strcmp(got, want))
				fprintf(stderr, "node %zu %s: got %s want %s\n",
					i, k, got, want);
			assert_string_equal(got, want);
			int t = gv_node_key_type(node(c, i), gv_cluster_now(c),
						 k, strlen(k));
			assert_int_equal(t, want[0] ? GV_TYPE_HASH
						    : GV_TYPE_NONE);
		}
		for (int ck = 0; ck < 2; ck++) {
			char ckey[8], got[64], want[64];
			snprintf(ckey, sizeof(ckey), "c%d", ck);
			hash_str(c, i, ckey, got, sizeof(got));
			snprintf(want, sizeof(want), "n=%lld",
				 (long long)sums[ck]);
			assert_string_equal(got, want);
		}
	}
	/* the run did what it is meant to test */
	size_t dels = 0, exps = 0;
	for (size_t j = 0; j < m.n; j++) {
		dels += m.ops[j].kind == 'D';
		exps += m.ops[j].kind == 'x' && m.ops[j].deadline;
	}
	size_t nonempty = 0;
	for (int key = 0; key < NKEYS; key++) {
		char want[1024];
		model_str(&m, key, gv_node_clock_ms(node(c, 0),
						    gv_cluster_now(c)),
			  want, sizeof(want));
		nonempty += want[0] != 0;
	}
	fprintf(stderr, "ops %zu dels %zu expires %zu hashes left %zu\n",
		m.n, dels, exps, nonempty);
	assert_true(dels >= 10);
	assert_true(exps >= 10);
	assert_true(nonempty >= 1);
	uint64_t killed = 0;
	for (size_t i = 0; i < N; i++)
		killed += gv_node_get_stats(node(c, i))->hash_fields_killed;
	assert_true(killed > 0);
	gv_cluster_del(c);
}

static void
test_model_random(void **state)
{
	(void)state;
	random_ops(0);
}

static void
test_model_random_split(void **state)
{
	(void)state;
	random_ops(1);
}

/* ------------------------------------------------- the cases */

static void
test_concurrent_fields(void **state)
{
	(void)state;
	gv_cluster *c = cluster(3, 0, 0, 0);
	unsigned groups[3] = {0, 1, 1};
	assert_int_equal(gv_cluster_partition(c, groups), 0);
	assert_int_equal(hset(c, 0, "k", "a", "1"), 1);
	assert_int_equal(hset(c, 1, "k", "b", "2"), 1);
	gv_cluster_run_for(c, 100 * MS_US);
	converge(c);
	for (size_t i = 0; i < 3; i++) {
		char got[256];
		hash_str(c, i, "k", got, sizeof(got));
		assert_string_equal(got, "a=1,b=2");
	}
	assert_int_equal(conflicts(c), 0);
	gv_cluster_del(c);
}

static void
test_same_field_conflict(void **state)
{
	(void)state;
	gv_cluster *c = cluster(3, 0, 0, 0);
	unsigned groups[3] = {0, 1, 1};
	assert_int_equal(gv_cluster_partition(c, groups), 0);
	assert_int_equal(hset(c, 0, "k", "f", "first"), 1);
	gv_cluster_run_for(c, 5 * MS_US);
	assert_int_equal(hset(c, 1, "k", "f", "second"), 1);
	gv_cluster_run_for(c, 100 * MS_US);
	converge(c);
	for (size_t i = 0; i < 3; i++) {
		char got[256];
		hash_str(c, i, "k", got, sizeof(got));
		assert_string_equal(got, "f=second");
	}
	assert_true(conflicts(c) >= 1);
	/* reported by key and field */
	gv_conflict_info ci[4];
	size_t k = gv_node_conflicts(node(c, 0), ci, 4);
	assert_true(k >= 1);
	assert_int_equal(ci[0].klen, 4);
	assert_memory_equal(ci[0].key, "k[f]", 4);
	gv_cluster_del(c);
}

static void
test_del_vs_hset(void **state)
{
	(void)state;
	gv_cluster *c = cluster(3, 0, 0, 0);
	assert_int_equal(hset(c, 0, "k", "a", "1"), 1);
	assert_int_equal(hset(c, 0, "k", "b", "1"), 1);
	gv_cluster_run_for(c, 100 * MS_US);
	unsigned groups[3] = {0, 0, 1};
	assert_int_equal(gv_cluster_partition(c, groups), 0);
	/* at the cut-off node: one field before the DEL, one after */
	assert_int_equal(hset(c, 2, "k", "before", "1"), 1);
	assert_int_equal(hset(c, 2, "k", "a", "2"), 0);
	gv_cluster_run_for(c, 5 * MS_US);
	assert_int_equal(gv_node_delete(node(c, 0), gv_cluster_now(c), "k", 1,
					GV_PRIO_NORMAL),
			 0);
	gv_cluster_run_for(c, 5 * MS_US);
	assert_int_equal(hset(c, 2, "k", "after", "1"), 1);
	assert_int_equal(hset(c, 1, "k", "new", "1"), 1);
	gv_cluster_run_for(c, 100 * MS_US);
	char got[256];
	hash_str(c, 2, "k", got, sizeof(got));
	assert_string_equal(got, "a=2,after=1,b=1,before=1");
	converge(c);
	for (size_t i = 0; i < 3; i++) {
		hash_str(c, i, "k", got, sizeof(got));
		assert_string_equal(got, "after=1,new=1");
	}
	gv_cluster_del(c);
}

static void
test_ae_repairs_fields(void **state)
{
	(void)state;
	enum { N = 3, F = 200 };
	gv_cluster *c = cluster(N, 0, 0, 0);
	char f[16], v[16];
	for (int j = 0; j < F; j++) {
		snprintf(f, sizeof(f), "f%d", j);
		assert_int_equal(hset(c, (size_t)j % 2, "big", f, "0"), 1);
	}
	gv_cluster_run_until_roots_equal(c, 10 * MS_US,
					 gv_cluster_now(c) + 5000 * MS_US);
	unsigned groups[N] = {0, 0, 1};
	assert_int_equal(gv_cluster_partition(c, groups), 0);
	for (int j = 0; j < 5; j++) {
		snprintf(f, sizeof(f), "f%d", j * 7);
		snprintf(v, sizeof(v), "new%d", j);
		assert_int_equal(hset(c, 0, "big", f, v), 0);
	}
	assert_int_equal(gv_node_hdel(node(c, 1), gv_cluster_now(c), "big", 3,
				      "f100", 4, GV_PRIO_NORMAL),
			 1);
	assert_int_equal(hset(c, 2, "big", "cut", "1"), 1);
	/* long enough for every rumor's budget to run out: only
	 * anti-entropy can repair node 2 */
	gv_cluster_run_for(c, 5000 * MS_US);
	uint64_t sent0 = 0;
	for (size_t i = 0; i < N; i++)
		sent0 += gv_node_get_stats(node(c, i))->ae_entries_sent;
	converge(c);
	uint64_t sent = 0;
	for (size_t i = 0; i < N; i++)
		sent += gv_node_get_stats(node(c, i))->ae_entries_sent;
	char want[8192], got[8192];
	hash_str(c, 0, "big", want, sizeof(want));
	assert_int_equal(gv_node_hlen(node(c, 0), gv_cluster_now(c), "big", 3),
			 F);
	for (size_t i = 1; i < N; i++) {
		hash_str(c, i, "big", got, sizeof(got));
		assert_string_equal(got, want);
	}
	assert_non_null(strstr(want, "f7=new1"));
	assert_non_null(strstr(want, "cut=1"));
	assert_null(strstr(want, "f100="));
	/* field by field: the 7 changed entries (and a few leaf
	 * neighbours), not the hash's 200 */
	assert_true(sent - sent0 >= 7);
	assert_true(sent - sent0 < F / 2);
	gv_cluster_del(c);
}

static void
test_type_conflict(void **state)
{
	(void)state;
	for (int hash_later = 0; hash_later < 2; hash_later++) {
		gv_cluster *c = cluster(3, 0, 0, 0);
		unsigned groups[3] = {0, 1, 1};
		assert_int_equal(gv_cluster_partition(c, groups), 0);
		if (hash_later) {
			assert_int_equal(gv_node_put(node(c, 0),
						     gv_cluster_now(c), "k", 1,
						     "str", 3, GV_PRIO_NORMAL),
					 0);
			gv_cluster_run_for(c, 5 * MS_US);
			assert_int_equal(hset(c, 1, "k", "f", "v"), 1);
		} else {
			assert_int_equal(hset(c, 1, "k", "f", "v"), 1);
			gv_cluster_run_for(c, 5 * MS_US);
			assert_int_equal(gv_node_put(node(c, 0),
						     gv_cluster_now(c), "k", 1,
						     "str", 3, GV_PRIO_NORMAL),
					 0);
		}
		gv_cluster_run_for(c, 100 * MS_US);
		converge(c);
		uint64_t tc = 0;
		for (size_t i = 0; i < 3; i++) {
			int t = gv_node_key_type(node(c, i), gv_cluster_now(c),
						 "k", 1);
			assert_int_equal(t, hash_later ? GV_TYPE_HASH
						       : GV_TYPE_STRING);
			tc += gv_node_get_stats(node(c, i))->type_conflicts;
		}
		/* each node saw the race once */
		assert_int_equal(tc, 3);
		gv_cluster_del(c);
	}
}

/* SET over a hash at the same node is no race; the hash is gone. */
static void
test_set_over_hash(void **state)
{
	(void)state;
	gv_cluster *c = cluster(3, 0, 0, 0);
	assert_int_equal(hset(c, 0, "k", "f", "v"), 1);
	gv_cluster_run_for(c, 50 * MS_US);
	assert_int_equal(gv_node_put(node(c, 1), gv_cluster_now(c), "k", 1,
				     "s", 1, GV_PRIO_NORMAL),
			 0);
	converge(c);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(gv_node_key_type(node(c, i),
						  gv_cluster_now(c), "k", 1),
				 GV_TYPE_STRING);
		assert_int_equal(
			gv_node_get_stats(node(c, i))->type_conflicts, 0);
		assert_int_equal(gv_node_hash_count(node(c, i)), 0);
	}
	gv_cluster_del(c);
}

/* FLUSHDB removes hashes too, and the index follows. */
static void
test_flush_hash(void **state)
{
	(void)state;
	gv_cluster *c = cluster(3, 0, 0, 0);
	assert_int_equal(hset(c, 0, "k", "f", "v"), 1);
	gv_cluster_run_for(c, 50 * MS_US);
	assert_int_equal(gv_node_flush(node(c, 1), gv_cluster_now(c),
				       GV_PRIO_NORMAL),
			 0);
	gv_cluster_run_for(c, 5 * MS_US);
	assert_int_equal(hset(c, 2, "k", "g", "w"), 1);
	converge(c);
	for (size_t i = 0; i < 3; i++) {
		char got[256];
		hash_str(c, i, "k", got, sizeof(got));
		assert_string_equal(got, "g=w");
		assert_int_equal(gv_node_hash_count(node(c, i)), 1);
	}
	gv_cluster_del(c);
}


/* HDEL's field tombstones and a DEL's are collected like any. */
static void
test_tombstones_collected(void **state)
{
	(void)state;
	gv_cluster *c = cluster(3, 0, 0, 0);
	for (int j = 0; j < 20; j++) {
		char f[8];
		snprintf(f, sizeof(f), "f%d", j);
		assert_int_equal(hset(c, 0, "k", f, "v"), 1);
	}
	gv_cluster_run_for(c, 100 * MS_US);
	assert_int_equal(gv_node_hdel(node(c, 1), gv_cluster_now(c), "k", 1,
				      "f3", 2, GV_PRIO_NORMAL),
			 1);
	assert_int_equal(gv_node_hdel(node(c, 1), gv_cluster_now(c), "k", 1,
				      "f3", 2, GV_PRIO_NORMAL),
			 0);
	/* until node 2 holds the field's tombstone: once every node holds
	 * it, it is collected within milliseconds (with 200 ms probes, ~28
	 * ms after the HDEL), so look every millisecond */
	for (int t = 0; t < 100 && !gv_node_store(node(c, 2))->tombstones;
	     t++)
		gv_cluster_run_for(c, MS_US);
	assert_true(gv_node_store(node(c, 2))->tombstones >= 1);
	assert_int_equal(gv_node_delete(node(c, 2), gv_cluster_now(c), "k", 1,
					GV_PRIO_NORMAL),
			 0);
	gv_cluster_run_for(c, 5000 * MS_US);
	for (size_t i = 0; i < 3; i++) {
		const gv_store *st = gv_node_store(node(c, i));
		assert_int_equal(st->tombstones, 0);
		assert_int_equal(st->count, st->reserved_live);
		assert_int_equal(gv_node_hash_count(node(c, i)), 0);
		assert_int_equal(gv_node_key_type(node(c, i), gv_cluster_now(c),
						  "k", 1),
				 GV_TYPE_NONE);
	}
	gv_cluster_del(c);
}

/* EXPIRE of a hash: fields written before the deadline, at any node,
 * expire with it; one written after it starts a new hash, no TTL. */
static void
test_expiry(void **state)
{
	(void)state;
	gv_cluster *c = cluster(3, 0, 0, 0);
	assert_int_equal(hset(c, 0, "k", "a", "1"), 1);
	gv_cluster_run_for(c, 50 * MS_US);
	uint64_t d = gv_node_clock_ms(node(c, 0), gv_cluster_now(c)) + 300;
	unsigned groups[3] = {0, 0, 1};
	assert_int_equal(gv_cluster_partition(c, groups), 0);
	assert_int_equal(gv_node_hash_expire(node(c, 0), gv_cluster_now(c),
					     "k", 1, d, GV_PRIO_NORMAL),
			 0);
	/* concurrent, before the deadline, not having seen the EXPIRE */
	assert_int_equal(hset(c, 2, "k", "b", "2"), 1);
	gv_cluster_run_for(c, 100 * MS_US);
	assert_int_equal(gv_node_hash_deadline(node(c, 1), gv_cluster_now(c),
					       "k", 1),
			 d);
	assert_int_equal(gv_node_hash_deadline(node(c, 2), gv_cluster_now(c),
					       "k", 1),
			 0);
	gv_cluster_heal(c);
	gv_cluster_run_for(c, 100 * MS_US);
	char got[256];
	for (size_t i = 0; i < 3; i++) {
		hash_str(c, i, "k", got, sizeof(got));
		assert_string_equal(got, "a=1,b=2");
		assert_int_equal(gv_node_hash_deadline(node(c, i),
						       gv_cluster_now(c), "k",
						       1),
				 d);
	}
	gv_cluster_run_for(c, 200 * MS_US); /* past the deadline */
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(gv_node_key_type(node(c, i), gv_cluster_now(c),
						  "k", 1),
				 GV_TYPE_NONE);
		assert_int_equal(gv_node_hlen(node(c, i), gv_cluster_now(c),
					      "k", 1),
				 0);
	}
	assert_int_equal(hset(c, 1, "k", "c", "3"), 1);
	converge(c);
	for (size_t i = 0; i < 3; i++) {
		hash_str(c, i, "k", got, sizeof(got));
		assert_string_equal(got, "c=3");
		assert_int_equal(gv_node_hash_deadline(node(c, i),
						       gv_cluster_now(c), "k",
						       1),
				 0);
	}
	gv_cluster_del(c);
}

/* The index's memory is counted in the store's; --max-memory refuses
 * an HSET past it; a DEL gives the index's memory back. */
static void
test_memory(void **state)
{
	(void)state;
	gv_cluster_config cfg;
	gv_cluster_config_default(&cfg);
	cfg.nodes = 1;
	cfg.seed = 5;
	cfg.node.store.max_memory = 256 * 1024;
	gv_cluster *c;
	assert_int_equal(gv_cluster_new(&c, &cfg), 0);
	gv_node *n = node(c, 0);
	const gv_store *st = gv_node_store(n);
	size_t base = st->mem_used;
	int rc = 0, j;
	size_t entries = 0;
	for (j = 0; j < 100000; j++) {
		char f[16];
		snprintf(f, sizeof(f), "field%d", j);
		rc = hset(c, 0, "k", f, "value");
		if (rc < 0)
			break;
		entries += gv_store_entry_size(7 + 1 + strlen(f), 5);
	}
	assert_int_equal(rc, GV_ENOSPC);
	assert_true(j > 500);
	assert_true(st->mem_used <= cfg.node.store.max_memory);
	assert_true(n->hidx.bytes > (size_t)j * 8);
	assert_true(st->mem_used >= base + entries + n->hidx.bytes -
					    st->cap * sizeof(void *));
	assert_int_equal(gv_node_hlen(n, gv_cluster_now(c), "k", 1),
			 (size_t)j);
	assert_int_equal(gv_node_delete(n, gv_cluster_now(c), "k", 1,
					GV_PRIO_NORMAL),
			 0);
	assert_int_equal(n->hidx.bytes, n->hidx.cap * sizeof(void *));
	assert_int_equal(gv_node_hash_count(n), 0);
	assert_int_equal(st->reserved_live, 0);
	gv_cluster_del(c);
}

/* The index keeps arrival order through deletes (holes, compaction) and
 * finds every field after its tables grew: checked against a plain
 * array. */
struct order {
	size_t n;
	int f[2048];
};

static int
order_visit(void *ud, const uint8_t *f, size_t flen, const gv_record *r)
{
	(void)r;
	struct order *o = ud;
	char b[16];
	snprintf(b, sizeof(b), "%.*s", (int)flen, f);
	assert_true(o->n < 2048);
	o->f[o->n++] = atoi(b + 1);
	return 0;
}

static void
test_index_order(void **state)
{
	(void)state;
	gv_cluster *c = cluster(1, 0, 0, 0);
	static int model[4096];
	size_t m = 0;
	uint64_t x = 42;
	char f[16];
	for (int round = 0; round < 6000; round++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		int k = (int)((x >> 33) % 1500);
		snprintf(f, sizeof(f), "f%d", k);
		size_t at = m;
		for (size_t i = 0; i < m; i++)
			if (model[i] == k)
				at = i;
		if ((x >> 60) < 7) { /* HSET: new fields go last */
			int rc = hset(c, 0, "k", f, "v");
			assert_int_equal(rc, at == m);
			if (at == m)
				model[m++] = k;
		} else {
			int rc = gv_node_hdel(node(c, 0), gv_cluster_now(c),
					      "k", 1, f, strlen(f),
					      GV_PRIO_NORMAL);
			assert_int_equal(rc, at < m);
			if (at < m) {
				memmove(&model[at], &model[at + 1],
					(m - at - 1) * sizeof(model[0]));
				m--;
			}
		}
	}
	static struct order o;
	o.n = 0;
	gv_node_hash_foreach(node(c, 0), gv_cluster_now(c), "k", 1,
			     order_visit, &o);
	assert_int_equal(o.n, m);
	assert_int_equal(gv_node_hlen(node(c, 0), gv_cluster_now(c), "k", 1),
			 m);
	for (size_t i = 0; i < m; i++)
		assert_int_equal(o.f[i], model[i]);
	gv_cluster_del(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_fields),
		cmocka_unit_test(test_same_field_conflict),
		cmocka_unit_test(test_del_vs_hset),
		cmocka_unit_test(test_ae_repairs_fields),
		cmocka_unit_test(test_type_conflict),
		cmocka_unit_test(test_set_over_hash),
		cmocka_unit_test(test_flush_hash),
		cmocka_unit_test(test_tombstones_collected),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_index_order),
		cmocka_unit_test(test_model_random),
		cmocka_unit_test(test_model_random_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
